"""The Numbers page in a real browser: write a number with the mouse on the wide canvas, upload a photo of a
number (made from MNIST test digits), and see the number read with a box per digit.

    DIGITLAB_REQUIRE_BROWSER=1 python -m pytest -q tests/browser/test_numbers_page.py
"""

from __future__ import annotations

import contextlib

import pytest
from _support import canvas_ready, screenshot, stroke, wait_idle

from digitlab.data import number_cases

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real browser against a real app server

# Strokes in canvas pixels (the Numbers canvas is 840x240): a 1, a 7 and a 4 (two strokes), 150 px tall.
ONE = [[(110, 45), (112, 195)]]
SEVEN = [[(230, 50), (330, 50), (265, 195)]]
FOUR = [[(470, 45), (405, 150), (515, 150)], [(475, 90), (475, 198)]]
ZERO = [[(640 + 45 * dx, 120 + 75 * dy) for dx, dy in
         [(0, -1), (-0.7, -0.7), (-1, 0), (-0.7, 0.7), (0, 1), (0.7, 0.7), (1, 0), (0.7, -0.7), (0, -1), (-0.3, -0.95)]]]


def open_numbers(page) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text="Numbers").click()
    page.wait_for_url("**/Numbers")
    page.get_by_text("Write a number on the canvas").wait_for(timeout=60_000)


def number_read(page, want: str, timeout: float = 30_000) -> str:
    """The number the page shows once it shows ``want`` (or whatever it shows when the wait ends)."""
    metric = page.locator('[data-testid="stMetricValue"]')
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # the caller's assertion says what was shown instead
        page.wait_for_function(
            "want => [...document.querySelectorAll('[data-testid=stMetricValue]')].some(e => e.textContent.trim() === want)",
            arg=want, timeout=timeout)
    return metric.first.inner_text().strip() if metric.count() else "(no number shown)"


def picture_shown(page) -> str:
    """The address of the boxed picture the page shows ("" before the first reading): a new drawing is a new
    picture, so a new address means the last stroke reached Python and was read."""
    return page.evaluate("() => document.querySelector('[data-testid=stImage] img')?.getAttribute('src') || ''")


def stroke_read(page, points, timeout: float = 60_000) -> None:
    """One stroke, then wait until the page has read the drawing with it (its boxed picture changed).  A fixed
    pause after each stroke is not enough on a loaded machine: a stroke sent while the page is still reading the
    previous one may not be the last drawing it reads before the final check."""
    before = picture_shown(page)
    stroke(page, points)
    page.wait_for_function(
        "before => (document.querySelector('[data-testid=stImage] img')?.getAttribute('src') || '') !== before",
        arg=before, timeout=timeout)


def assert_no_errors(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.all_inner_texts()


def test_write_a_number_with_the_mouse(page, docs_out):
    open_numbers(page)
    canvas_ready(page)
    for digit in (ONE, SEVEN, FOUR, ZERO):
        for points in digit:
            stroke_read(page, points)
    shown = number_read(page, "1740")
    assert shown == "1740", f"wrote 1740, the page says {shown}"
    # one expander per digit, with its 28x28 input.  The page sends the metric before the table and the expanders,
    # so on a loaded machine "1740" can be on screen while the expanders are still those of "174": wait for them
    page.get_by_text("Digit #4").first.wait_for(timeout=30_000)
    assert page.get_by_text("Digit #4").count() == 1
    assert_no_errors(page)
    wait_idle(page)
    screenshot(page, docs_out / "numbers.png")


def test_upload_a_photo_of_a_number(page, mnist_test):
    x, y = mnist_test
    case = number_cases.make([x[i] for i in (50, 51, 52, 53)], y[50:54], "wide", "photo", seed=3)
    open_numbers(page)
    page.get_by_text("Upload", exact=True).click()
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.wait_for(state="attached", timeout=20_000)
    uploader.set_input_files(files=[{"name": "number.jpg", "mimeType": "image/jpeg", "buffer": case.picture}])
    page.get_by_text("upload: number.jpg").first.wait_for(timeout=30_000)
    shown = number_read(page, case.number)
    assert shown == case.number, f"photo of {case.number}, the page says {shown}"
    assert_no_errors(page)
