"""Pictures of handwritten numbers made from real MNIST test digits, for the numbers dev benchmark
(``evaluation/numbers.py``) and the tests: every picture knows its number and each digit's box.

    gap class   how far apart neighbouring digits are (d: the digit's height)
      wide      0.25-0.5 d of clear space between their ink boxes
      narrow    0.05-0.15 d of clear space between their ink boxes (still a visible gap)
      touching  the strokes just meet: the next digit is moved left until its ink touches the last one
      overlap   moved on by 0.02-0.05 d more (1-4 px), so the strokes cross by a few pixels
    layout      every digit 0.8-1.15 of the number's height, the baseline tilted by up to 8 degrees and
                jittered by 5% of the height per digit, every digit sheared (italic) by up to 0.2
    render
      canvas    white ink on black, as the app's dark canvas returns it: (H, W, 3) uint8
      photo     dark ink on off-white paper under uneven light with sensor noise, as JPEG bytes

Each case is a function of (digits, seed): the same inputs give the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from digitlab.data import photo_cases

GAPS = ("wide", "narrow", "touching", "overlap")
VISIBLE = ("wide", "narrow")  # the gap classes with clear space between the digits
RENDERS = ("canvas", "photo")
BENCHMARK_LENGTHS = (2, 3, 4, 5, 6, 7, 8)  # the numbers dev benchmark's defaults (evaluation/numbers.py)
BENCHMARK_PER_CELL = 40
BENCHMARK_FOUR = 250  # numbers per (gap, render) of 4 digits, the target's length
GAP_RANGE = {"wide": (0.25, 0.5), "narrow": (0.05, 0.15), "overlap": (0.02, 0.05)}  # fractions of the number's height


@dataclass(frozen=True)
class NumberCase:
    """One picture of a number.

    picture  canvas: (H, W, 3) uint8 RGB, white ink on black; photo: JPEG bytes
    boxes    each digit's ink box (x0, y0, x1, y1) in the picture's pixels, x1 and y1 exclusive, in reading order
    """

    number: str
    gap: str
    render: str
    picture: np.ndarray | bytes
    boxes: tuple[tuple[int, int, int, int], ...]


def _ink_crop(digit: np.ndarray) -> np.ndarray:
    """A (28, 28) uint8 MNIST digit -> float32 [0, 1] cropped to its ink."""
    rows = np.flatnonzero(digit.max(axis=1) > 0)
    cols = np.flatnonzero(digit.max(axis=0) > 0)
    return digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32) / 255


def _shaped(crop: np.ndarray, height: int, shear: float) -> np.ndarray:
    """The crop scaled to ``height`` px (aspect kept) and sheared (x += shear * (rows above the bottom))."""
    h, w = crop.shape
    nw = max(1, round(w * height / h))
    big = np.clip(cv2.resize(crop, (nw, height), interpolation=cv2.INTER_CUBIC), 0, 1)
    extra = int(np.ceil(abs(shear) * height))
    m = np.float32([[1, -shear, shear * height if shear > 0 else 0], [0, 1, 0]])  # the bottom row stays put
    out = cv2.warpAffine(big, m, (nw + extra, height), flags=cv2.INTER_LINEAR)
    cols = np.flatnonzero(out.max(axis=0) > 0.05)
    return out[:, cols[0] : cols[-1] + 1] if cols.size else out


def _contact_shift(left: np.ndarray, right: np.ndarray) -> int:
    """How far ``right`` (placed with its box just after ``left``'s, both on one canvas's rows) may move left
    before any row of its ink meets a row of ``left``'s: the smallest row-wise gap between the two inks."""
    a, b = left > 0.25, right > 0.25
    rows = np.flatnonzero(a.any(axis=1) & b.any(axis=1))
    if rows.size == 0:  # no shared row: the gap between the boxes is all there is (0: they are already side by side)
        return 0
    w = a.shape[1]
    last = w - 1 - np.argmax(a[rows, ::-1], axis=1)  # rightmost ink column of ``left`` per shared row
    first = np.argmax(b[rows], axis=1)  # leftmost ink column of ``right`` per row, relative to its own start
    return int(np.min(first + (w - last - 1)))


def compose(digits: list[np.ndarray], gap: str, rng: np.random.Generator, height: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """MNIST digits (each (28, 28) uint8) -> (ink (H, W) float32 in [0, 1] with a margin, their boxes)."""
    if gap not in GAPS:
        raise ValueError(f"unknown gap class {gap!r}; choose from {', '.join(GAPS)}")
    tilt = np.tan(np.radians(rng.uniform(-8, 8)))
    shear = rng.uniform(-0.2, 0.2)
    glyphs = [_shaped(_ink_crop(d), int(round(height * rng.uniform(0.8, 1.15))), shear + rng.normal(0, 0.04)) for d in digits]
    margin = height // 2
    width = sum(g.shape[1] for g in glyphs) + int(0.5 * height * len(glyphs)) + 2 * margin
    rise = int(abs(tilt) * width) + height
    canvas = np.zeros((2 * margin + rise + int(1.2 * height), width), np.float32)
    base0 = margin + (rise - height if tilt > 0 else 0) + int(0.15 * height)  # top of the first digit's row band
    boxes: list[tuple[int, int, int, int]] = []
    x = margin
    for i, g in enumerate(glyphs):
        gh, gw = g.shape
        bottom = base0 + height - int(round(tilt * (x - margin))) + int(round(rng.normal(0, 0.05 * height)))
        top = bottom - gh
        if i > 0:
            if gap in ("wide", "narrow"):
                x = boxes[-1][2] + max(1, int(round(rng.uniform(*GAP_RANGE[gap]) * height)))
            else:
                x = boxes[-1][2]
                probe = np.zeros((canvas.shape[0], gw), np.float32)
                probe[top : top + gh] = g
                x -= _contact_shift(canvas[:, : x], probe)
                if gap == "overlap":
                    x -= max(1, int(round(rng.uniform(*GAP_RANGE["overlap"]) * height)))
                x = max(x, boxes[-1][0] + 1)
        canvas[top : top + gh, x : x + gw] = np.maximum(canvas[top : top + gh, x : x + gw], g)
        boxes.append((x, top, x + gw, top + gh))
    used = np.flatnonzero(canvas.max(axis=1) > 0)
    y0, y1 = max(0, used[0] - margin), min(canvas.shape[0], used[-1] + 1 + margin)
    x1 = max(b[2] for b in boxes) + margin
    return canvas[y0:y1, :x1], [(a, b - y0, c, d - y0) for a, b, c, d in boxes]


def canvas(digits: list[np.ndarray], gap: str, seed: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A drawing on the app's dark canvas: (H, W, 3) uint8 white on black, digits 50-90 px tall."""
    rng = np.random.default_rng(seed)
    ink, boxes = compose(digits, gap, rng, int(rng.integers(50, 91)))
    return np.repeat((ink * 255).astype(np.uint8)[..., None], 3, axis=2), boxes


def photo(digits: list[np.ndarray], gap: str, seed: int) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """A photo of the number written on paper: JPEG bytes, dark ink on off-white paper under uneven light
    (a brightness gradient and a soft shadow), sensor noise; digits 40-80 px tall with a wider page around."""
    rng = np.random.default_rng(seed)
    ink, boxes = compose(digits, gap, rng, int(rng.integers(40, 81)))
    h, w = ink.shape
    pad_y, pad_x = int(rng.integers(20, 80)), int(rng.integers(20, 80))
    page = np.pad(ink, ((pad_y, pad_y), (pad_x, pad_x)))
    ph, pw = page.shape
    yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
    angle, offset = rng.uniform(0, np.pi), rng.uniform(-0.5, 0.5) * max(ph, pw)
    d = (xx - pw / 2) * np.cos(angle) + (yy - ph / 2) * np.sin(angle) - offset
    shade = 1 - rng.uniform(0.0, 0.3) / (1 + np.exp(-d / rng.uniform(20, 80)))  # a soft shadow over part of the page
    grey = photo_cases._light(ph, pw, rng) * shade * (1 - rng.uniform(0.65, 0.8) * page) + rng.normal(0, 0.02, page.shape)
    boxes = [(a + pad_x, b + pad_y, c + pad_x, d + pad_y) for a, b, c, d in boxes]
    return photo_cases._jpeg(grey, rng), boxes


def make(digits: list[np.ndarray], labels, gap: str, render: str, seed: int) -> NumberCase:
    """One picture of the number written with ``digits`` ((28, 28) uint8 MNIST digits, their ``labels``)."""
    if render not in RENDERS:
        raise ValueError(f"unknown render {render!r}; choose from {', '.join(RENDERS)}")
    if not 1 <= len(digits) == len(labels):
        raise ValueError(f"{len(digits)} digits for {len(labels)} labels")
    picture, boxes = (canvas if render == "canvas" else photo)(list(digits), gap, seed)
    return NumberCase("".join(str(int(v)) for v in labels), gap, render, picture, tuple(boxes))


def cases(x: np.ndarray, y: np.ndarray, lengths, gaps=GAPS, renders=RENDERS, per_cell: int = 10, seed: int = 0):
    """``per_cell`` numbers for every (length, gap, render), digits drawn at random from MNIST test digits
    ``x`` (N, 28, 28) uint8 with labels ``y``: yields (index list, NumberCase)."""
    rng = np.random.default_rng(seed)
    k = 0
    for length in lengths:
        for gap in gaps:
            for render in renders:
                for _ in range(per_cell):
                    idx = rng.choice(len(x), int(length), replace=False)
                    yield [int(i) for i in idx], make([x[i] for i in idx], y[idx], gap, render, seed * 1_000_003 + k)
                    k += 1


def benchmark(x: np.ndarray, y: np.ndarray, lengths=BENCHMARK_LENGTHS, per_cell: int = BENCHMARK_PER_CELL,
              four: int = BENCHMARK_FOUR, seed: int = 0) -> list:
    """The numbers dev benchmark's cases: ``per_cell`` numbers for every (length, gap, render) from ``seed``,
    then, when ``four`` and 4 is among ``lengths``, ``four`` per (gap, render) of 4 digits from ``seed + 1``
    instead of ``per_cell``.  With the defaults: 3,920 numbers, as ``evaluation/numbers.py`` reads them."""
    lengths = list(lengths)
    out = list(cases(x, y, [n for n in lengths if n != 4 or not four], per_cell=per_cell, seed=seed))
    if four and 4 in lengths:
        out += list(cases(x, y, [4], per_cell=four, seed=seed + 1))
    return out
