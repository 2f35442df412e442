"""A stroke started anywhere on a canvas reaches the model: every corner, mouse and touch, Home and Collect.

The drawable canvas' toolbar (undo, redo, clear) used to sit, invisible, over the canvas's top-right
strip while the pointer was outside it: a stroke started there was silently dropped (a 7 lost its bar
and read as 1), and with touch, which has no hover, always.  Each stroke here starts a few pixels
inside one corner and runs towards the centre; the page's stroke count is what Python received.

    DIGITLAB_REQUIRE_BROWSER=1 python -m pytest -q tests/browser/test_canvas_corners.py
"""

from __future__ import annotations

import pytest
from _support import VIEWPORT, canvas_ready, stroke, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real browser against a real app server

SIDE = 280  # both canvases
INSET = 6  # px from the edges: inside the canvas, where the toolbar used to float
CORNERS = {
    "top-left": (INSET, INSET),
    "top-right": (SIDE - INSET, INSET),
    "bottom-left": (INSET, SIDE - INSET),
    "bottom-right": (SIDE - INSET, SIDE - INSET),
}


def inward(corner: tuple[float, float]) -> list[tuple[float, float]]:
    """From the corner two thirds of the way to the centre, in a few coarse steps."""
    (x0, y0), c = corner, SIDE / 2
    return [(x0 + (c - x0) * k / 6, y0 + (c - y0) * k / 6) for k in range(5)]


def reached(page, what: str) -> None:
    """The page says "(1 stroke)": the stroke reached Python."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_text("(1 stroke)").wait_for(timeout=30_000)
    except PlaywrightTimeout:
        pytest.fail(f"{what} was lost: the page never counted it")


@pytest.fixture(params=["mouse", "touch"])
def input_kind(request) -> str:
    return request.param


@pytest.fixture
def page_for(browser, app, input_kind):
    contexts = []

    def open_page(path: str = ""):
        context = browser.new_context(viewport=VIEWPORT, has_touch=input_kind == "touch")
        contexts.append(context)
        page = context.new_page()
        page.goto(app.url + path)
        page.locator("canvas.upper-canvas").first.wait_for(timeout=60_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def test_home_canvas_takes_strokes_from_every_corner(page_for, input_kind):
    page = page_for()
    page.get_by_text("the prediction appears here").wait_for(timeout=60_000)
    for name, corner in CORNERS.items():
        page.get_by_role("button", name="Clear").click()
        page.get_by_text("the prediction appears here").wait_for(timeout=30_000)
        wait_idle(page)
        canvas_ready(page)
        stroke(page, inward(corner), touch=input_kind == "touch")
        reached(page, f"a {input_kind} stroke from the {name} corner")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_collect_canvas_takes_strokes_from_every_corner(page_for, input_kind):
    page = page_for("/Collect")
    for name, corner in CORNERS.items():
        page.locator(".st-key-collect_clear button").click()
        page.get_by_text("(1 stroke)").wait_for(state="detached", timeout=30_000)
        wait_idle(page)
        canvas_ready(page)
        stroke(page, inward(corner), touch=input_kind == "touch")
        reached(page, f"a {input_kind} stroke from the {name} corner")
    assert page.locator('[data-testid="stException"]').count() == 0
