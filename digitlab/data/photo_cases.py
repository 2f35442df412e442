"""Generated photos of handwritten digits under the conditions that break background removal:
MNIST test digits written on paper and photographed (or scanned), as JPEG (or PNG) bytes, dark ink on light paper.

    plain        even light falling off across the page (``synthetic.photo``'s conditions)
    half_shadow  a hard-edged shadow (a hand, a phone) over part of the page, often across the digit
    desk_corner  the page does not fill the frame: a dark desk in one or two corners
    lined_paper  ruled lines (blue or grey) and a margin line, behind and through the digit
    pencil       faint grey strokes with paper grain
    phone        a 3000x4000 phone photo with a small digit (~6% of the width), a dark corner and vignetting
    marker       a digit in a fat marker cropped tight: it fills the frame, strokes ~a fifth of its side
    scan_tight   a scanned digit size-normalised into a small square (16-64 px), its longer side end to end, as postal
                 digit sets keep them: an 8-bit grey PNG, not a JPEG
    form_box     a form's printed box around the digit: one box, or one cell of a comb field of 3-4 boxes side by
                 side; the digit fills 60-85% of its cell and may touch the lines
    form_line    a form's printed answer line under the digit, 1.5-4 times its size long, tilted up to 3 degrees; a
                 third of the time the digit reaches down to it and touches it

Each case is a function of (digit, seed): the same inputs give the same bytes.  Used by
``evaluation/photo_cases.py`` (per-case accuracy through the predict path) and the tests.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

CASES = ("plain", "half_shadow", "desk_corner", "lined_paper", "pencil", "phone", "marker", "scan_tight", "form_box", "form_line")


def encode(grey: np.ndarray, tint=(0.98, 0.95, 0.9), fmt: str = "JPEG", quality: int = 85) -> bytes:
    """A grey photo ((H, W) float in [0, 1], paper light) as a file's bytes: each colour channel a little dimmer
    (``tint``: paper is never neutral grey), in ``fmt`` (JPEG at ``quality``, or PNG).  Every photographed
    benchmark picture is encoded here."""
    from PIL import Image

    rgb = np.clip(np.stack([grey * tint[0], grey * tint[1], grey * tint[2]], -1) * 255, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _jpeg(grey: np.ndarray, rng: np.random.Generator, tint=(0.98, 0.95, 0.9), quality: int = 85) -> bytes:
    return encode(grey, tint, "JPEG", quality)


def _ink_layer(digit: np.ndarray, side: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int]]:
    """The digit (uint8, 255 = ink) scaled to ``size`` px at a random place of a side x side page: coverage in [0, 1]."""
    ink = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    page = np.zeros((side, side), np.float32)
    margin = max(4, side // 12)
    top, left = rng.integers(margin, side - size - margin, size=2)
    page[top : top + size, left : left + size] = np.clip(ink, 0, 1)
    return page, (int(top + size // 2), int(left + size // 2))


def _light(side_h: int, side_w: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:side_h, 0:side_w].astype(np.float32)
    yy, xx = yy / side_h, xx / side_w
    a, b = rng.uniform(-0.25, 0.25, size=2)
    return np.clip(0.82 + a * (xx - 0.5) + b * (yy - 0.5), 0.45, 1.0)


def plain(digit: np.ndarray, seed: int, side: int = 360) -> bytes:
    rng = np.random.default_rng(seed)
    ink, _ = _ink_layer(digit, side, int(rng.integers(90, 150)), rng)
    grey = _light(side, side, rng) * (1 - 0.75 * ink) + rng.normal(0, 0.02, ink.shape)
    return _jpeg(grey, rng)


def half_shadow(digit: np.ndarray, seed: int, side: int = 360) -> bytes:
    rng = np.random.default_rng(seed)
    ink, (cy, cx) = _ink_layer(digit, side, int(rng.integers(90, 150)), rng)
    # a straight shadow edge through (or near) the digit, at a random angle, darkening one side
    angle = rng.uniform(0, np.pi)
    offset = rng.uniform(-0.25, 0.25) * side
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    d = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle) - offset
    edge = rng.uniform(1.0, 4.0)  # a hard edge: a few pixels of penumbra
    shadow = 1 - rng.uniform(0.4, 0.6) / (1 + np.exp(-d / edge))
    grey = _light(side, side, rng) * shadow * (1 - 0.7 * ink) + rng.normal(0, 0.02, ink.shape)
    return _jpeg(grey, rng)


def desk_corner(digit: np.ndarray, seed: int, side: int = 480) -> bytes:
    rng = np.random.default_rng(seed)
    ink, _ = _ink_layer(digit, side, int(rng.integers(70, 120)), rng)
    grey = _light(side, side, rng) * (1 - 0.75 * ink)
    # the page's edge cuts off one or two corners: dark, textured desk beyond it
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    desk = np.zeros((side, side), bool)
    for _ in range(int(rng.integers(1, 3))):
        corner = rng.integers(0, 4)
        x0 = xx if corner in (0, 2) else side - 1 - xx
        y0 = yy if corner in (0, 1) else side - 1 - yy
        reach = rng.uniform(0.12, 0.3) * side
        desk |= (x0 + y0 * rng.uniform(0.6, 1.6)) < reach
    wood = rng.uniform(0.08, 0.3) + 0.04 * np.sin(xx / rng.uniform(3, 9) + rng.normal(0, 0.5, (side, side)))
    grey = np.where(desk, wood, grey) + rng.normal(0, 0.02, grey.shape)
    return _jpeg(cv2.GaussianBlur(grey.astype(np.float32), (3, 3), 0.8), rng)


def lined_paper(digit: np.ndarray, seed: int, side: int = 400) -> bytes:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(90, 140))
    ink, _ = _ink_layer(digit, side, size, rng)
    paper = _light(side, side, rng)
    lines = np.zeros((side, side), np.float32)
    gap, phase = int(size * rng.uniform(0.55, 1.0)), int(rng.integers(0, 20))  # a digit spans one or two lines
    lines[phase::gap] = rng.uniform(0.12, 0.25)
    lines = cv2.GaussianBlur(lines, (3, 3), 0.7)
    margin = int(rng.integers(20, 60))
    lines[:, margin : margin + 2] = 0.2
    grey = paper * (1 - lines) * (1 - 0.75 * ink) + rng.normal(0, 0.015, ink.shape)
    return _jpeg(grey, rng, tint=(0.9, 0.93, 0.98) if rng.random() < 0.5 else (0.97, 0.96, 0.94))


def pencil(digit: np.ndarray, seed: int, side: int = 360) -> bytes:
    rng = np.random.default_rng(seed)
    ink, _ = _ink_layer(digit, side, int(rng.integers(90, 150)), rng)
    grain = cv2.GaussianBlur(rng.normal(0, 1, ink.shape).astype(np.float32), (0, 0), 1.2)
    strength = rng.uniform(0.3, 0.45) * np.clip(1 + 0.35 * grain, 0.3, 1.6)  # graphite: faint and uneven
    grey = _light(side, side, rng) * (1 - strength * ink) + rng.normal(0, 0.015, ink.shape)
    return _jpeg(grey, rng, tint=(0.97, 0.97, 0.97))


def phone(digit: np.ndarray, seed: int, size: tuple[int, int] = (3000, 4000)) -> bytes:
    rng = np.random.default_rng(seed)
    w, h = size
    small = 4  # drawn at 1/4 and enlarged: a 12-megapixel page without 12 megapixels of work per pixel
    sw, sh = w // small, h // small
    ink_page, _ = _ink_layer(digit, min(sw, sh), int(rng.integers(40, 60)), rng)
    ink = np.zeros((sh, sw), np.float32)
    oy = int(rng.integers(0, sh - ink_page.shape[0] + 1))
    ink[oy : oy + ink_page.shape[0], : ink_page.shape[1]] = ink_page
    grey = _light(sh, sw, rng) * (1 - 0.75 * ink)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    vignette = 1 - 0.35 * (((xx - sw / 2) / sw) ** 2 + ((yy - sh / 2) / sh) ** 2)
    corner = rng.integers(0, 4)
    x0 = xx if corner in (0, 2) else sw - 1 - xx
    y0 = yy if corner in (0, 1) else sh - 1 - yy
    grey = np.where(x0 + y0 < rng.uniform(0.1, 0.2) * sw, rng.uniform(0.05, 0.2), grey * vignette)
    grey = grey + rng.normal(0, 0.02, grey.shape)  # sensor noise, smoothed by the enlargement as a phone's denoiser would
    rgb = np.clip(np.stack([grey * 0.98, grey * 0.95, grey * 0.9], -1) * 255, 0, 255).astype(np.uint8)
    big = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)  # uint8 all the way: 12 megapixels in ~0.1 s
    ok, jpeg = cv2.imencode(".jpg", big[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return jpeg.tobytes()


def marker(digit: np.ndarray, seed: int) -> bytes:
    """A marker's strokes (the digit's grown by a pixel at 28x28: ~5 of its 20 px) filling 85% of a 160-320 px
    crop: strokes wider than a twelfth of the picture are not thin to the polarity rule (``preprocess.ink_is_dark``)."""
    rng = np.random.default_rng(seed)
    side = int(rng.integers(160, 321))
    bold = cv2.dilate(digit, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    ys, xs = np.nonzero(bold > 40)
    bold = bold[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    scale = 0.85 * side / max(bold.shape)
    h, w = max(1, round(bold.shape[0] * scale)), max(1, round(bold.shape[1] * scale))
    ink = np.zeros((side, side), np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    ink[top : top + h, left : left + w] = np.clip(cv2.resize(bold, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255, 0, 1)
    grey = _light(side, side, rng) * (1 - 0.8 * ink) + rng.normal(0, 0.02, ink.shape)
    return _jpeg(grey, rng)


def scan_tight(digit: np.ndarray, seed: int) -> bytes:
    """A scanned digit size-normalised into a 16-64 px square, its ink's longer side end to end (a postal code's digit,
    a form's field cut to its ink): dark ink on light paper with a scanner's slight noise, as an 8-bit grey PNG.  A bold
    digit's ink then covers half the picture or more, where a photo's paper is most of it."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    side = int(rng.integers(16, 65))
    ys, xs = np.nonzero(digit > 40)
    crop = digit[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    scale = side / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    shrink = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    ink = np.zeros((side, side), np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    ink[top : top + h, left : left + w] = np.clip(cv2.resize(crop, (w, h), interpolation=shrink).astype(np.float32) / 255, 0, 1)
    grey = rng.uniform(0.85, 0.97) * (1 - 0.85 * ink) + rng.normal(0, 0.01, ink.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(grey * 255, 0, 255).round().astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def form_box(digit: np.ndarray, seed: int) -> bytes:
    """A form's field: printed lines 1-3 px wide, 45-85% dark, around a square cell 100-150 px wide; 40% of the time the
    cell is one of a comb field of 3-4 cells sharing their sides (the others empty).  The digit is drawn at 60-85% of the
    cell, anywhere inside it, so a large one touches or crosses the lines; even light, noise and a JPEG as ``plain``."""
    rng = np.random.default_rng(seed)
    cell = int(rng.integers(100, 151))
    cells = int(rng.integers(3, 5)) if rng.random() < 0.4 else 1
    mine = int(rng.integers(0, cells))
    margin = int(rng.integers(30, 70))
    h, w = cell + 2 * margin, cells * cell + 2 * margin
    lines = np.zeros((h, w), np.float32)
    dark, width = float(rng.uniform(0.45, 0.85)), int(rng.integers(1, 4))
    cv2.rectangle(lines, (margin, margin), (margin + cells * cell, margin + cell), dark, width)
    for k in range(1, cells):
        cv2.line(lines, (margin + k * cell, margin), (margin + k * cell, margin + cell), dark, width)
    size = int(cell * rng.uniform(0.6, 0.85))
    ink = np.zeros((h, w), np.float32)
    top = margin + int(rng.integers(0, cell - size + 1))
    left = margin + mine * cell + int(rng.integers(0, cell - size + 1))
    ink[top : top + size, left : left + size] = np.clip(cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255, 0, 1)
    grey = _light(h, w, rng) * (1 - lines) * (1 - 0.75 * ink) + rng.normal(0, 0.02, ink.shape)
    return _jpeg(grey, rng)


def form_line(digit: np.ndarray, seed: int, touch: bool | None = None) -> bytes:
    """A form's answer line: printed, 1-3 px wide, 45-85% dark, 1.5-4 times the digit's 28-px box long, tilted up to 3
    degrees, under the digit: 4-15% of the box below its ink all across the digit, or (``touch``; None: a third of the
    time, by the seed) through the ink's lowest rows at the digit's middle.  Even light, noise and a JPEG as ``plain``."""
    rng = np.random.default_rng(seed)
    size = int(rng.integers(90, 141))
    length = int(size * rng.uniform(1.5, 4.0))
    touches = bool(rng.random() < 1 / 3) if touch is None else touch
    h, w = size + 120, length + 80
    top, left = 40, 40 + int(rng.integers(0, length - size + 1))
    ink = np.zeros((h, w), np.float32)
    ink[top : top + size, left : left + size] = np.clip(cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255, 0, 1)
    ys = np.flatnonzero(ink.max(1) > 0.3)
    slope = float(np.tan(np.radians(rng.uniform(-3, 3))))
    # the line's row under the digit's middle column: through the ink's lowest rows, or below them by 4-15% of the box
    # and by the rise across the box, so that it stays below the ink over the digit's whole width
    y = ys[-1] - size * rng.uniform(0.0, 0.04) if touches else ys[-1] + size * rng.uniform(0.04, 0.15) + abs(slope) * size / 2
    middle = left + size / 2
    lines = np.zeros((h, w), np.float32)
    ends = [(x, int(round(y + slope * (x - middle)))) for x in (40, 40 + length)]
    cv2.line(lines, ends[0], ends[1], float(rng.uniform(0.45, 0.85)), int(rng.integers(1, 4)))
    grey = _light(h, w, rng) * (1 - lines) * (1 - 0.75 * ink) + rng.normal(0, 0.02, ink.shape)
    return _jpeg(grey, rng)


MAKERS = {"plain": plain, "half_shadow": half_shadow, "desk_corner": desk_corner, "lined_paper": lined_paper, "pencil": pencil, "phone": phone,
          "marker": marker, "scan_tight": scan_tight, "form_box": form_box, "form_line": form_line}


def make(case: str, digit: np.ndarray, seed: int) -> bytes:
    """One photo of ``digit`` (28x28 uint8, 255 = ink) under ``case``, as JPEG bytes (``scan_tight``: PNG)."""
    if case not in MAKERS:
        raise ValueError(f"unknown photo case {case!r}; choose from {', '.join(CASES)}")
    return MAKERS[case](digit, seed)
