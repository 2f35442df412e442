"""The Robustness and Leaderboard pages in a real browser (Playwright + Debian Chromium).

Its own `streamlit run app/Home.py`, on a models folder of links to two committed models and a
scratch reports folder ($DIGITLAB_REPORTS_DIR), so every number on screen is measured here and
nothing is written into evaluation/reports/.

    DIGITLAB_REQUIRE_BROWSER=1 python -m pytest -q tests/browser/test_browser_stress.py
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from _support import VIEWPORT, link_models, screenshot, streamlit_app, wait_idle
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real browser against a real app server

MODEL_NAMES = ("mnist_robust", "mnist_baseline")  # committed; one adversarially trained, one small: a quick leaderboard


@pytest.fixture(scope="module")
def stress_app(browser, tmp_path_factory, committed_models):
    assert set(MODEL_NAMES) <= {e.name for e in committed_models}  # the fixture fails first when one is missing
    base = tmp_path_factory.mktemp("stress")
    models, reports = base / "models", base / "reports"
    link_models(models, MODEL_NAMES, gate=False)
    reports.mkdir()
    env = {"DIGITLAB_MODELS_DIR": str(models), "DIGITLAB_REPORTS_DIR": str(reports)}
    with streamlit_app(env, base / "streamlit.log") as (url, _):
        yield url, reports


@pytest.fixture
def page(browser, stress_app):
    context = browser.new_context(viewport=VIEWPORT)
    yield context.new_page()
    context.close()


def coloured_pixels(png: bytes) -> int:
    """Strongly coloured pixels in a screenshot: a chart's lines and points, not its grey axes and text."""
    hsv = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").convert("HSV"))
    return int(((hsv[..., 1] > 120) & (hsv[..., 2] > 80)).sum())


def assert_no_errors(page) -> None:
    for testid in ("stException", "stAlertContentError"):
        found = page.locator(f'[data-testid="{testid}"]')
        assert found.count() == 0, found.all_inner_texts()


def test_robustness_page_draws_the_curve_and_the_attacked_digit(page, stress_app, docs_out):
    url, _ = stress_app
    page.goto(url + "/Robustness")
    page.get_by_text("Your digit under attack").wait_for(timeout=180_000)
    wait_idle(page, 180_000)
    assert_no_errors(page)
    assert page.get_by_text("No digit drawn or uploaded on Home yet").count() == 1, "an MNIST digit stands in for a drawing"
    # The server's first run, opened at a page's own URL, still goes through the entry point: the shared sidebar.
    assert page.locator('[data-testid="stSidebar"]').get_by_text("mnist_robust").count() == 1
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    chart.wait_for(timeout=30_000)
    box = chart.bounding_box()
    assert box and box["height"] > 150 and box["width"] > 300
    assert coloured_pixels(chart.screenshot()) > 400, "the accuracy-vs-severity curve is drawn, not an empty frame"
    table = page.locator('[data-testid="stDataFrame"]')
    table.first.wait_for(timeout=30_000)  # the grid is a lazily loaded component: it can land after the chart (CI, stop 62)
    assert table.count() == 1
    assert page.get_by_text("ε 0.3 →").count() == 0, "no attack (and no TensorFlow) until asked for"
    page.get_by_text("Attack this digit").click()
    page.get_by_text("ε 0.3 →").first.wait_for(timeout=180_000)
    wait_idle(page, 180_000)
    # The digit under the corruption (clean + 5 levels) and under FGSM and PGD (6 strengths each), as pictures.
    tiles = page.locator('[data-testid="stImage"] img')
    assert tiles.count() == 6 + 2 * 6
    # Every tile at one size, whatever its caption: an image as wide as its caption grew with it (captions of
    # different lengths made pictures of different sizes in one row).
    widths = {round(tiles.nth(k).bounding_box()["width"]) for k in range(tiles.count())}
    assert widths == {96}, widths
    assert page.get_by_text("ε 0.3 →").count() == 2
    screenshot(page, docs_out / "robustness.png", 180_000)


def test_leaderboard_page_measures_and_shows_a_row_per_model(page, stress_app, docs_out):
    url, reports = stress_app
    page.goto(url + "/Leaderboard")
    page.get_by_text("Not measured yet with these settings").wait_for(timeout=180_000)
    page.get_by_text("Quick look", exact=False).click()
    measure = page.get_by_role("button", name=f"Measure {len(MODEL_NAMES)} models")
    measure.wait_for(timeout=60_000)
    measure.click()
    page.get_by_text("Adversarially trained: mnist_robust").wait_for(timeout=300_000)
    wait_idle(page, 180_000)
    assert_no_errors(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(timeout=30_000)
    box = grid.bounding_box()
    assert box and box["height"] > 60, "the table has rows"
    assert page.get_by_role("button", name="Measure every model again").count() == 1
    assert sorted(p.name.split(".")[0] for p in (reports / "leaderboard").glob("*.json")) == sorted(MODEL_NAMES), "one cached row per model"
    page.get_by_text("Accuracy on each MNIST-C-style corruption").click()
    page.locator('[data-testid="stDataFrame"]').nth(1).wait_for(timeout=30_000)
    screenshot(page, docs_out / "leaderboard.png", 180_000)


def test_a_long_measurement_shows_that_it_runs_and_can_be_stopped(page, stress_app):
    """The "Running…" status widget and its Stop are shown (config.toml's toolbarMode) and Stop ends a
    standard leaderboard measurement, which would take minutes, at once; the page still works after it."""
    url, _ = stress_app
    page.goto(url + "/Leaderboard")
    page.get_by_text("Standard (as evaluation/leaderboard.py)").click()
    measure = page.locator(".st-key-lb_measure button")
    measure.wait_for(timeout=180_000)
    measure.click()
    status = page.locator('[data-testid="stStatusWidget"]')
    status.wait_for(timeout=30_000)
    status.get_by_role("button", name="Stop").click()
    wait_idle(page, 60_000)  # a measurement Stop did not end would still run here, minutes from its end
    assert_no_errors(page)
    page.locator(".st-key-lb_measure button").wait_for(timeout=30_000)  # not everything was measured: it can start again
