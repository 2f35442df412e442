"""The camera on Home and on the Numbers page in a real browser, with a fake camera and not a mock: Chromium
plays a video file as its webcam (``--use-fake-device-for-media-stream --use-file-for-fake-video-capture``),
and the video is made here of real MNIST test digits written dark on light paper (one digit, or three side by
side as a number).  Streamlit's own ``st.camera_input`` takes the photo; the app reads it through the same path
as an upload.

    DIGITLAB_REQUIRE_BROWSER=1 python -m pytest -q tests/browser/test_camera.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from _support import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, screenshot, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real browser against a real app server

W, H, FRAMES = 640, 480, 6


def paper_frame(digits: np.ndarray | list[np.ndarray] | None, seed: int = 0) -> np.ndarray:
    """(H, W) uint8 luminance: light paper lit from one side, with ``digits`` (one or several 28x28 uint8 MNIST
    digits, 255 = ink) written in dark ink side by side, a little off centre, as a phone held over a page sees
    it: one digit ~260 px tall, a number's digits ~170 px."""
    rng = np.random.default_rng(seed)
    light = np.linspace(198, 236, W)[None, :] + np.linspace(-6, 6, H)[:, None]  # brighter towards the window
    page = light + rng.normal(0, 2.5, (H, W))  # paper grain and sensor noise
    if digits is not None:
        row = [digits] if isinstance(digits, np.ndarray) else list(digits)
        side = 260 if len(row) == 1 else 170
        y0, x0 = (H - side) // 2 + 10, (W - side * len(row)) // 2 - (30 if len(row) == 1 else 10)
        for i, digit in enumerate(row):  # MNIST's empty border leaves a gap between neighbours
            ink = cv2.resize(digit.astype(np.float32) / 255, (side, side), interpolation=cv2.INTER_CUBIC).clip(0, 1)
            region = page[y0 : y0 + side, x0 + i * side : x0 + (i + 1) * side]
            page[y0 : y0 + side, x0 + i * side : x0 + (i + 1) * side] = region + ink * (45 - region)  # ink of luminance ~45
    return page.clip(0, 255).astype(np.uint8)


def write_y4m(path: Path, frames: list[np.ndarray]) -> Path:
    """A YUV4MPEG2 video (I420: a Y plane, then U and V at half resolution) of grey ``frames``."""
    chroma = np.full((H // 2, W // 2), 128, np.uint8)  # no colour
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F30:1 Ip A1:1 C420jpeg\n".encode())
        for y in frames:
            f.write(b"FRAME\n")
            f.write(np.ascontiguousarray(y).tobytes())
            f.write(chroma.tobytes())
            f.write(chroma.tobytes())
    return path


def test_the_y4m_writer_writes_what_chromium_reads(tmp_path, mnist_test):
    x, _ = mnist_test
    video = write_y4m(tmp_path / "v.y4m", [paper_frame(x[0], s) for s in range(2)])
    raw = video.read_bytes()
    header, rest = raw.split(b"\n", 1)
    assert header == b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg"
    frame = W * H * 3 // 2
    assert len(rest) == 2 * (len(b"FRAME\n") + frame) and rest.startswith(b"FRAME\n")
    y = np.frombuffer(rest[6 : 6 + W * H], np.uint8).reshape(H, W)
    assert y.min() < 80 and np.median(y) > 190, "dark ink on light paper"


@pytest.fixture
def camera_page(browser, app):
    """``open_with(video, page_name)``: a page on Home (or the Numbers page), Camera chosen, in a Chromium of its
    own (launched by the session's Playwright) whose webcam plays ``video``: the fake camera needs its own
    launch flags."""
    opened = []

    def open_with(video: Path, page_name: str = "Home"):
        args = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}"]
        camera_browser = browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        opened.append(camera_browser)
        context = camera_browser.new_context(viewport=VIEWPORT, permissions=["camera"])
        page = context.new_page()
        page.goto(app.url)
        page.get_by_text("the prediction appears here").wait_for(timeout=60_000)
        if page_name != "Home":
            page.locator('[data-testid="stSidebarNav"] a', has_text=page_name).click()
            page.wait_for_url(f"**/{page_name}")
            wait_idle(page)
        page.get_by_text("Camera", exact=True).click()
        page.get_by_test_id("stCameraInput").wait_for(timeout=30_000)
        return page

    yield open_with
    for camera_browser in opened:
        camera_browser.close()


def take_photo(page) -> None:
    button = page.get_by_role("button", name="Take Photo")
    button.wait_for(timeout=30_000)
    page.wait_for_function(  # the stream is live once the video element has a frame
        "() => [...document.querySelectorAll('video')].some(v => v.readyState >= 2 && v.videoWidth > 0)", timeout=30_000)
    button.click()


def test_a_photo_of_a_written_digit_is_read(camera_page, mnist_test, tmp_path, docs_out):
    x, y = mnist_test
    index = 0  # a 7
    video = write_y4m(tmp_path / "digit.y4m", [paper_frame(x[index], s) for s in range(FRAMES)])
    page = camera_page(video)
    take_photo(page)
    page.get_by_text("input from the camera photo").wait_for(timeout=60_000)
    shown = page.locator('[data-testid="stMetricValue"]').inner_text().strip()
    assert shown == str(int(y[index])), f"photographed a {y[index]}, the app says {shown}"
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    wait_idle(page)
    screenshot(page, docs_out / "camera.png")


def test_a_photo_of_blank_paper_says_there_is_no_ink(camera_page, tmp_path):
    video = write_y4m(tmp_path / "blank.y4m", [paper_frame(None, s) for s in range(FRAMES)])
    page = camera_page(video)
    take_photo(page)
    page.get_by_text("No ink found").wait_for(timeout=60_000)
    assert page.locator('[data-testid="stMetricValue"]').count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_photo_of_a_written_number_is_read_on_the_numbers_page(camera_page, mnist_test, tmp_path):
    x, y = mnist_test
    indices = [0, 1, 2]  # MNIST's first three test digits: 7, 2, 1
    want = "".join(str(int(y[i])) for i in indices)
    video = write_y4m(tmp_path / "number.y4m", [paper_frame([x[i] for i in indices], s) for s in range(FRAMES)])
    page = camera_page(video, "Numbers")
    take_photo(page)
    page.get_by_text("camera photo").first.wait_for(timeout=60_000)
    wait_idle(page)
    shown = page.locator('[data-testid="stMetricValue"]').first.inner_text().strip()
    assert shown == want, f"photographed the number {want}, the Numbers page says {shown}"
    for n in range(1, len(want) + 1):
        assert page.get_by_text(f"Digit #{n}").count() >= 1, f"no panel for digit #{n}"
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
