"""Shared by the in-browser page's tests (web/): its static server, the page opened with every request
kept on localhost, drawing on its canvas with the mouse, and reading what it predicted."""

from __future__ import annotations

import base64
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import numpy as np
import pytest
from _support import ROOT, require

WEB = ROOT / "web"
MODEL_DIR = WEB / "model"
ORT_MJS = WEB / "node_modules" / "onnxruntime-web" / "dist" / "ort.wasm.min.mjs"
TFJS_JS = WEB / "node_modules" / "@tensorflow" / "tfjs" / "dist" / "tf.min.js"


def ellipse(cx, cy, rx, ry, start, end, n=24):
    """Canvas points along an elliptic arc from ``start`` to ``end`` degrees."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a))) for a in np.linspace(start, end, n)]


@contextmanager
def web_server() -> Iterator[str]:
    """`python web/serve.py --port 0`: yields the page's URL; stops that server, and only it, afterwards."""
    missing = [p for p in (ORT_MJS, TFJS_JS) if not p.is_file()]
    require(f"{', '.join(str(p.relative_to(ROOT)) for p in missing)} missing (npm ci --prefix web)" if missing else None, "web page tests")
    proc = subprocess.Popen([sys.executable, str(WEB / "serve.py"), "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+/", line)
        if not match:
            proc.kill()
            pytest.fail(f"web/serve.py did not start: {line}{proc.stderr.read()[-2000:]}")
        yield match.group(0)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def open_page(browser, site: str, viewport=None, locale: str = "en-US"):
    """The page in a new browser context whose language is ``locale``, ready with its model; every request recorded
    (page.requests), anything off localhost aborted (page.blocked), page errors kept (page.errors).  Close page.context after."""
    host = urlparse(site).netloc
    requests, blocked, errors = [], [], []
    context = browser.new_context(viewport=viewport or {"width": 1200, "height": 1000}, locale=locale)

    def gate(route):
        url = route.request.url
        if urlparse(url).scheme in ("data", "blob") or urlparse(url).netloc == host:
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", gate)
    page = context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site)
    wait_ready(page)
    page.requests, page.blocked, page.errors, page.host = requests, blocked, errors, host
    return page


def wait_ready(page, timeout: float = 60_000) -> str:
    """Wait until the page has loaded its model (or failed); returns the status line, which must say ready."""
    page.wait_for_function("document.getElementById('status').dataset.state !== 'loading'", timeout=timeout)
    status = page.inner_text("#status")
    assert page.get_attribute("#status", "data-state") == "ready", f"the page did not load its model: {status} {getattr(page, 'errors', '')}"
    return status


def last(page, pixels: bool = True) -> dict:
    """Wait for the prediction of the canvas (or the uploaded picture) as it is now; the page's result plus
    the pixels it prepared (``pixels``: a 12-megapixel photo's take longer to carry over than to predict)."""
    rgba = "window.digitlab.lastRGBABase64()" if pixels else "null"
    out = page.evaluate(f"window.digitlab.schedule().then(() => ({{...window.digitlab.last, rgba: {rgba}, "
                        "shown: document.getElementById('label').textContent}))")
    if pixels:
        out["rgba"] = np.frombuffer(base64.b64decode(out["rgba"]), np.uint8).reshape(out["height"], out["width"], 4)
    return out


def draw(page, brush: int, strokes) -> dict:
    """Clear the canvas and draw ``strokes`` (lists of canvas points) with the mouse; the page's result."""
    page.click("#clear")
    page.locator("#brush").fill(str(brush))
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
        page.mouse.down()
        for (ax, ay), (bx, by) in zip(stroke, stroke[1:]):
            n = max(2, int(math.hypot(bx - ax, by - ay) / 8))
            for i in range(1, n + 1):
                page.mouse.move(box["x"] + ax + (bx - ax) * i / n, box["y"] + ay + (by - ay) * i / n)
        page.mouse.up()
    return last(page)
