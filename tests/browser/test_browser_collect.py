"""The Collect page in a real browser: draw a digit with the mouse, label it, save it.

The app runs with $DIGITLAB_MY_DIGITS and $DIGITLAB_MODELS_DIR pointing at scratch folders,
so the test never writes into the repository's my_digits/ or models/.

    DIGITLAB_REQUIRE_BROWSER=1 python -m pytest -q tests/browser/test_browser_collect.py
"""

from __future__ import annotations

import pytest
from _support import MODELS, VIEWPORT, canvas_ready, link_models, screenshot, streamlit_app, stroke

pytestmark = pytest.mark.browser

ONE = [(150, 40), (150, 240)]
SEVEN = [(70, 55), (210, 55), (120, 245)]


@pytest.fixture(scope="module")
def collect_app(browser, tmp_path_factory, committed_models):
    """`streamlit run app/Home.py` with scratch my_digits and models folders; yields (url, my_digits)."""
    work = tmp_path_factory.mktemp("collect")
    models, my_digits = link_models(work / "models", [e.name for e in committed_models]), work / "my_digits"
    env = {"DIGITLAB_MODELS_DIR": str(models), "DIGITLAB_MY_DIGITS": str(my_digits)}
    with streamlit_app(env, work / "streamlit.log", timeout=90) as (url, _):
        yield url, my_digits


def test_draw_label_and_save_a_digit(browser, collect_app, docs_out):
    from digitlab import preprocess
    from digitlab.data import user_digits
    from digitlab.serving import classifiers

    url, my_digits = collect_app
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(f"{url}/Collect")
        page.get_by_text("Draw, label, save").wait_for(timeout=90_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        for label, points in ((1, ONE), (7, SEVEN)):
            canvas_ready(page)  # a save remounts the canvas blank
            stroke(page, points, steps=8)
            page.get_by_text("(1 stroke)").wait_for(timeout=30_000)  # the stroke reached Python
            page.locator(".st-key-collect_label").get_by_role("radio", name=str(label), exact=True).click()
            page.locator(".st-key-collect_save button").click()
            page.get_by_text(f"Saved a {label} as").wait_for(timeout=30_000)
            page.get_by_text("(1 stroke)").wait_for(state="detached", timeout=30_000)  # a fresh, blank canvas
        assert page.locator('[data-testid="stException"]').count() == 0
        screenshot(page, docs_out / "collect.png")
        assert user_digits.counts(my_digits) == {d: int(d in (1, 7)) for d in range(10)}
        clf = classifiers.load_classifier("mnist_cnn", MODELS)
        for label in (1, 7):
            [path] = user_digits.samples(label, my_digits)
            prepared = preprocess.prepare(path)  # what fine-tuning will read
            assert not prepared.no_ink
            assert clf.predict_prepared([prepared])[0].label == label, f"the saved {label} is not the drawn digit"
    finally:
        context.close()
