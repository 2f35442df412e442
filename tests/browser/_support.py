"""Shared by the browser conftest and tests: paths, Chromium flags, the latency probe, timings."""

from __future__ import annotations

from pathlib import Path

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
TIMINGS: dict = {}  # filled by the tests, written to docs/browser_timings.json at the end

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
