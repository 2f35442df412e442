"""Real-browser fixtures: Debian's Chromium (driven by Playwright) against `streamlit run app/Home.py`.

The app runs on a free localhost port with a scratch models folder of links to the real
models in models/, so uploads in the tests never write into the repository; a committed model
missing fails the tests (the ``committed_models`` fixture).  Screenshots and measured figures go
to a scratch folder, or to docs/ under DIGITLAB_REFRESH_DOCS=1 (``docs_out``).  Without
/usr/bin/chromium the tests skip, unless DIGITLAB_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import _support
import pytest
from _support import CHROMIUM, CHROMIUM_ARGS, LATENCY_PROBE, TIMINGS, VIEWPORT, link_models, require, streamlit_app


def _require_browser():
    missing = None
    if not CHROMIUM.is_file():
        missing = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright Python package is missing (pip install playwright; never `playwright install`)"
    require(missing)


@pytest.fixture(scope="session")
def docs_out(tmp_path_factory) -> Path:
    """Where screenshots and figures go: a scratch folder, docs/ under DIGITLAB_REFRESH_DOCS=1."""
    return _support.docs_out(tmp_path_factory)


@pytest.fixture(scope="session")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class App:
    def __init__(self, url: str, models_dir: Path, proc: subprocess.Popen, log: Path, my_digits: Path | None = None):
        self.url, self.models_dir, self.proc, self.log, self.my_digits = url, models_dir, proc, log, my_digits

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="session")
def app(browser, tmp_path_factory, committed_models, docs_out):
    """`streamlit run app/Home.py` on a free port; measures the cold start with the first page load.

    Cold start = from launching the server process to the Home page showing its canvas and
    prompt in the browser (TensorFlow imported, every model listed and the chosen one loaded).
    """
    scratch = link_models(tmp_path_factory.mktemp("browser") / "models", [e.name for e in committed_models])
    log = scratch.parent / "streamlit.log"
    t0 = time.monotonic()
    try:
        env = {"DIGITLAB_MODELS_DIR": str(scratch), "DIGITLAB_MY_DIGITS": str(scratch.parent / "my_digits")}  # never the user's
        with streamlit_app(env, log, timeout=90) as (url, proc):
            t_server = time.monotonic() - t0
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url)
            page.get_by_text("the prediction appears here").wait_for(timeout=90_000)
            page.locator("canvas.upper-canvas").wait_for(timeout=30_000)
            cold = time.monotonic() - t0
            page.close()
            TIMINGS["cold_start_s"] = round(cold, 2)
            TIMINGS["server_ready_s"] = round(t_server, 2)
            yield App(url, scratch, proc, log, scratch.parent / "my_digits")
    finally:
        if TIMINGS:
            TIMINGS["machine"] = {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2), "python": platform.python_version()}
            (docs_out / "browser_timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


@pytest.fixture
def page(browser, app):
    """A fresh browser context (its own Streamlit session) on the Home page, its language American English (the writing
    setting starts from the browser's language: the tests do not depend on the machine's)."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.add_init_script(LATENCY_PROBE)
    pg = context.new_page()
    pg.goto(app.url)
    pg.get_by_text("the prediction appears here").wait_for(timeout=60_000)
    yield pg
    context.close()


# ----------------------------------------------------------------------------- the static web page (web/)


@pytest.fixture(scope="module")
def site():
    """`python web/serve.py --port 0`: the page's URL, and the server stopped afterwards."""
    from _web import web_server

    with web_server() as url:
        yield url


@pytest.fixture(scope="module")
def web(browser, site):
    """One page for the test file, ready with its model (ONNX, the default runtime); every request recorded,
    anything off localhost aborted.  Tests that switch the runtime do it like a person, on this page."""
    from _web import open_page

    page = open_page(browser, site)
    yield page
    page.context.close()
