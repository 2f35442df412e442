"""Shared by the browser conftest and tests: paths, Chromium flags, the app server, the latency probe, timings,
and where the screenshots and measured figures go (``docs_out``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import link_models  # noqa: F401  (the browser tests' fixtures use it from here)

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
DOCS = ROOT / "docs"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
TIMINGS: dict = {}  # filled by the tests, written to <docs_out>/browser_timings.json at the end
REFRESH_DOCS = "DIGITLAB_REFRESH_DOCS"  # =1: the screenshots and figures replace the committed ones in docs/

# Records when the pointer is released and when a caption containing window.__want first appears,
# both on the page's own clock, so the latency does not include Playwright's polling.
LATENCY_PROBE = """
window.__up = null; window.__want = null; window.__seen = null;
window.addEventListener('pointerup', () => { window.__up = performance.now(); }, true);
new MutationObserver(() => {
  if (window.__want === null || window.__seen !== null) return;
  for (const el of document.querySelectorAll('[data-testid="stCaptionContainer"]')) {
    if (el.textContent.includes(window.__want)) { window.__seen = performance.now(); return; }
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def require(missing: str | None, what: str = "browser tests") -> None:
    """Skip when something the tests need is ``missing``; fail instead under DIGITLAB_REQUIRE_BROWSER=1 (CI)."""
    if missing:
        if os.environ.get("DIGITLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{what} required (DIGITLAB_REQUIRE_BROWSER=1) but {missing}")
        pytest.skip(f"{what} skipped: {missing}")


def docs_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder for what the browser tests produce for the docs: screenshots (<name>.png),
    browser_timings.json and web_page.json.

    docs/ itself, tracked by git, only under DIGITLAB_REFRESH_DOCS=1, the command that refreshes it
    (`DIGITLAB_REFRESH_DOCS=1 python -m pytest -q tests/browser`); otherwise a pytest scratch folder,
    so an ordinary test run never rewrites committed files.  The browser conftest calls this once
    per session (the ``docs_out`` fixture)."""
    if os.environ.get(REFRESH_DOCS) == "1":
        DOCS.mkdir(exist_ok=True)
        return DOCS
    return tmp_path_factory.mktemp("docs")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_app(env: dict[str, str], log: Path, timeout: float = 120) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run app/Home.py` on a free localhost port, with ``env`` added to the environment
    (scratch DIGITLAB_* folders); yields (url, process) once the server answers its health check,
    the server's output going to ``log``.  On exit it stops that server, and only it."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app/Home.py",
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    # A scratch user models folder unless the test gives one: a user's own fine-tuned models never change what a test sees
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", "DIGITLAB_USER_MODELS": str(log.parent / "user_models"), **env}
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer on {url} within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server we started, and only it
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def canvas_box(page, index: int = 0) -> dict:
    """The bounding box of the drawable canvas (waits until it is laid out: Clear remounts it)."""
    canvas = page.locator("canvas.upper-canvas").nth(index)
    for _ in range(100):
        canvas.wait_for(state="visible", timeout=30_000)
        box = canvas.bounding_box()
        if box is not None:
            return box
        page.wait_for_timeout(100)
    raise AssertionError("the canvas never appeared")


CANVAS_SETTLED = """() => {
  const canvases = [];
  for (const host of document.querySelectorAll("*"))
    if (host.shadowRoot) canvases.push(...host.shadowRoot.querySelectorAll("canvas.upper-canvas"));
  return canvases.length === 1 && canvases[0].isConnected && canvases[0].getBoundingClientRect().width > 0;
}"""


def canvas_ready(page, timeout: float = 30_000) -> None:
    """Wait until exactly one drawable canvas is on the page (Clear replaces it: a stroke dispatched while
    the old one is being swapped for the new one lands on neither) and give its component a moment."""
    page.wait_for_function(CANVAS_SETTLED, timeout=timeout)
    page.wait_for_timeout(300)


def stroke(page, points, steps: int = 5, touch: bool = False) -> None:
    """One stroke through ``points`` (canvas pixels) with the mouse, or with a finger (``touch``: Chrome
    DevTools touch events; the page's context must have ``has_touch=True``), which has no hover."""
    box = canvas_box(page)
    at = [(box["x"] + x, box["y"] + y) for x, y in points]
    if not touch:
        page.mouse.move(*at[0])
        page.mouse.down()
        for x, y in at[1:]:
            page.mouse.move(x, y, steps=steps)
        page.mouse.up()
        return
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": at[0][0], "y": at[0][1]}]})
        for (xa, ya), (xb, yb) in zip(at, at[1:]):
            for k in range(1, steps + 1):
                x, y = xa + (xb - xa) * k / steps, ya + (yb - ya) * k / steps
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished running the script (stApp's data-test-script-state)."""
    page.wait_for_function(
        "() => document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state') === 'notRunning'",
        timeout=timeout,
    )


def screenshot(page, path: Path, idle_timeout: float = 60_000) -> None:
    """A PNG of the whole page at ``path`` (<docs_out>/<name>.png): Streamlit scrolls inside its main block, so the
    viewport is stretched to the content's height for the shot."""
    measure = "() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer]')].map(e => e.scrollHeight), 800)"
    for _ in range(2):  # images below the fold load once they are in view, which can grow the page
        page.set_viewport_size({"width": VIEWPORT["width"], "height": min(int(page.evaluate(measure)) + 60, 5000)})
        page.wait_for_timeout(600)
    wait_idle(page, idle_timeout)
    page.screenshot(path=str(path))
    page.set_viewport_size(VIEWPORT)

