"""The Data page in a real browser: class counts, samples, the training augmentation applied live (TensorFlow
loaded on request), and the user's digits from a scratch folder (never the repository's my_digits/).

    DIGITLAB_REQUIRE_BROWSER=1 python -m pytest -q tests/browser/test_browser_data.py
"""

from __future__ import annotations

import pytest
from _support import VIEWPORT, link_models, screenshot, streamlit_app, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real browser against a real app server


@pytest.fixture(scope="module")
def data_app(browser, tmp_path_factory, committed_models, mnist_test):
    """`streamlit run app/Home.py` with a scratch models folder and a scratch my_digits holding three real
    MNIST test digits saved as the Collect page saves them; yields the url."""
    from digitlab.data import synthetic, user_digits

    work = tmp_path_factory.mktemp("data_page")
    models, my_digits = link_models(work / "models", [e.name for e in committed_models]), work / "my_digits"
    x, y = mnist_test
    for i in range(3):  # a 7, a 2 and a 1
        user_digits.save(synthetic.canvas_picture(x[i], 280), int(y[i]), my_digits)
    env = {"DIGITLAB_MODELS_DIR": str(models), "DIGITLAB_MY_DIGITS": str(my_digits)}
    with streamlit_app(env, work / "streamlit.log", timeout=90) as (url, _):
        yield url


def test_the_data_page(browser, data_app, docs_out):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(f"{data_app}/Data")
        page.get_by_text("Digits of each class").wait_for(timeout=90_000)
        page.get_by_text("12 random training digits of each class").wait_for(timeout=30_000)
        tables = page.locator('[data-testid="stDataFrame"]')
        tables.nth(1).wait_for(timeout=30_000)  # the grid is lazily loaded: it can land after the text around it
        assert tables.count() == 2  # the class counts, your digits' counts
        assert page.locator('[data-testid="stVegaLiteChart"]').count() == 1
        page.get_by_text("3 picture(s) in").wait_for(timeout=30_000)  # the scratch folder, not my_digits/
        assert page.get_by_text("still short").count() == 1
        page.get_by_role("button", name="Augment it").click()
        page.get_by_text("16 augmented copies (seed 0)").wait_for(timeout=120_000)  # TensorFlow is imported now
        page.get_by_role("button", name="Augment again").click()
        page.get_by_text("16 augmented copies (seed 1)").wait_for(timeout=60_000)
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0
        screenshot(page, docs_out / "data.png")
    finally:
        context.close()
