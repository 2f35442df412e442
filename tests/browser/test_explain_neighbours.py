"""Explain's "what it thinks yours looks like" in a real browser: a real MNIST test digit uploaded on Home,
its 12 nearest training digits in the model's feature space, and the map of the test set with the digit on
it, hover included.  The features are computed by the app server itself, into the tests' scratch cache.

    DIGITLAB_REQUIRE_BROWSER=1 python -m pytest -q tests/browser/test_explain_neighbours.py
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from _support import screenshot, wait_idle
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real browser against a real app server

MODEL = "mnist_baseline"  # its features are the pixels: the page's work without a minute of forward passes


def test_neighbours_and_map_of_an_uploaded_digit(page, mnist_test, docs_out):
    x, y = mnist_test
    index = int(np.flatnonzero(y == 4)[0])
    buf = io.BytesIO()
    Image.fromarray(x[index]).save(buf, format="PNG")
    page.get_by_text("Upload", exact=True).click()
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.wait_for(state="attached", timeout=20_000)
    uploader.set_input_files(files=[{"name": "four.png", "mimeType": "image/png", "buffer": buf.getvalue()}])
    page.get_by_text("upload: four.png").wait_for(timeout=30_000)
    page.locator('[data-testid="stSidebar"] label', has_text=MODEL).first.click()
    page.get_by_text(f"Model: {MODEL}").wait_for(timeout=30_000)
    wait_idle(page)
    assert page.locator('[data-testid="stMetricValue"]').inner_text().strip() == "4"

    page.locator('[data-testid="stSidebarNav"] a', has_text="Explain").click()
    page.get_by_text("What it thinks yours looks like").wait_for(timeout=90_000)
    page.get_by_role("button", name="Find the nearest training digits and draw the map").click()
    verdict = page.get_by_text("closest training digits are")
    verdict.wait_for(timeout=240_000)  # computed now: 20,000 training and 10,000 test digits
    text = verdict.inner_text()
    count, label = map(int, re.search(r"(\d+) of the 12 closest training digits are (\d)s", text).groups())
    assert label == 4 and count >= 9, text
    # the verdict and the 12 pictures arrive as separate deltas: wait for the pictures themselves
    page.wait_for_function(
        r"""() => [...document.querySelectorAll('[data-testid="stImageCaption"]')]
                 .filter(el => /^\d · \d\.\d{3}$/.test(el.textContent.trim())).length >= 12""",
        timeout=30_000,
    )
    captions = page.locator('[data-testid="stImageCaption"]').all_inner_texts()
    shown = [c for c in captions if re.fullmatch(r"\d · \d\.\d{3}", c.strip())]
    assert len(shown) == 12, captions
    distances = [float(c.split("·")[1]) for c in shown]
    assert distances == sorted(distances) and 0 <= distances[0] < 0.5, distances

    chart = page.locator('[data-testid="stVegaLiteChart"]')
    chart.wait_for(timeout=30_000)
    wait_idle(page)
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 300
    tooltip = page.locator("#vg-tooltip-element")
    seen = None
    for fy in np.linspace(0.2, 0.8, 9):  # hover across the chart until a point answers
        for fx in np.linspace(0.15, 0.85, 9):
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            page.wait_for_timeout(40)
            if tooltip.count() and tooltip.is_visible() and "digit" in tooltip.inner_text():
                seen = tooltip.inner_text()
                break
        if seen:
            break
    assert seen and re.search(r"digit\s*\d", seen) and "model says" in seen, seen
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, docs_out / "neighbours.png")
