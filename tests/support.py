"""Helpers the test files import (pytest puts tests/ and app/ on the path: pyproject.toml, pythonpath)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from digitlab.paths import ROOT

MODELS = ROOT / "models"


def load_script(relpath: str):
    """A repo script (e.g. "evaluation/predict.py") as a module, to call its main(argv) in this process:
    TensorFlow is loaded once per test file instead of once per run (the ``run_script`` fixture runs a
    real process instead)."""
    path = ROOT / relpath
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def link_models(folder: Path, names, gate: bool = True) -> Path:
    """``folder`` made a models folder of links to the named committed models (model, card, side files)
    and (``gate``) the digit gate and the number reader, never to anything else in models/ (a user's own
    models change no test)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in MODELS.iterdir():
        if (gate and f.name in ("gate", "reader")) or f.name.split(".")[0] in set(names):
            (folder / f.name).symlink_to(f)
    return folder


def drawn_face(side: int = 320) -> np.ndarray:
    """A drawn face, (side, side, 3) uint8 RGB: a skin-coloured oval with a dark outline, two eyes and a mouth on a
    sky-blue background.  At 28x28 it is a clean 0; its outline encloses skin, not the paper."""
    rgb = np.full((side, side, 3), (120, 190, 230), np.uint8)
    c, (ax, ay) = (side // 2, side // 2 + side // 64), (side // 4, side * 11 // 32)
    cv2.ellipse(rgb, c, (ax, ay), 0, 0, 360, (228, 180, 140), -1)
    cv2.ellipse(rgb, c, (ax, ay), 0, 0, 360, (25, 20, 20), max(2, side // 50), cv2.LINE_AA)
    for dx in (-ax // 2, ax // 2):
        cv2.circle(rgb, (c[0] + dx, c[1] - ay // 4), max(2, side // 40), (30, 30, 30), -1, cv2.LINE_AA)
    cv2.ellipse(rgb, (c[0], c[1] + ay // 3), (ax // 3, ay // 8), 0, 20, 160, (150, 40, 40), max(2, side // 80), cv2.LINE_AA)
    return rgb


def fat_drawings(x: np.ndarray) -> list[np.ndarray]:
    """MNIST test digits drawn as the canvas draws them (white ink on transparency) with a fat brush (0.3 of the digit's
    height), those whose strokes cover most of the picture or run off the canvas along a fifth of its border."""
    from digitlab import preprocess
    from digitlab.data import synthetic

    out = []
    for i, d in enumerate(x):
        rgba = synthetic.restroke(d, 0.3, seed=i)
        ink = rgba[..., 3] > 127
        if ink.mean() > 0.5 or preprocess._border(ink.astype(np.float32)).mean() > 0.2:
            out.append(rgba)
    return out


def on_canvas(rgba: np.ndarray, tone: float) -> np.ndarray:
    """Ink drawn on transparency (``fat_drawings``) as the app's opaque canvas hands it over: black ink on its white
    background (``tone`` 1.0, the Light theme, the Collect page) or white on black (0.0, the Dark theme)."""
    cover = rgba[..., 3]
    grey = 255 - cover if tone == 1.0 else cover
    return np.dstack([grey] * 3 + [np.full_like(grey, 255)])


def long_flag_ones(classifier, n: int = 3, tries: int = 600, seed: int = 29, upload: bool = False) -> list[np.ndarray]:
    """``n`` of the conventions benchmark's long-flag 1s (white strokes on the dark canvas, (280, 280) uint8, sampled as a
    coarse tablet samples them) that ``classifier`` reads as 7 by default, not as a close call with a runner-up, and as 1
    with the writing "continental": the drawings the setting is for (``digitlab.serving.writing``).  Read as the dark canvas hands them over, or (``upload``)
    as Home reads them uploaded as PNG files, the ink detected.  Fewer when ``tries`` drawings hold fewer."""
    from digitlab import preprocess
    from digitlab.data import handwriting_test as hw
    from digitlab.files import png_bytes

    rng, found = np.random.default_rng(seed), []
    for _ in range(tries):
        grey = (hw.draw_style("1 long flag", rng, "coarse tablet") * 255).round().astype(np.uint8)
        prepared = preprocess.prepare(png_bytes(grey)) if upload else preprocess.prepare(grey, invert="no", drawn_on=0.0)
        default, continental = (classifier.predict_prepared([prepared], w)[0] for w in ("default", "continental"))
        if default.label == 7 and not default.close and continental.label == 1 and not continental.abstain:
            found.append(grey)
            if len(found) == n:
                break
    return found


def scanned_close(digit: np.ndarray, side: int, seed: int) -> bytes:
    """An MNIST digit (light on black) as a scan cut close to it, no margin: dark ink on paper with the scanner's grain
    and blur, its longer side ``side`` px, JPEG.  The grain makes it a photo to the preprocessing; a bold digit leaves
    thin paper between its strokes."""
    import io

    from PIL import Image

    ys, xs = np.nonzero(digit > 30)
    crop = digit[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1].astype(np.float32) / 255
    s = side / max(crop.shape)
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))), interpolation=cv2.INTER_CUBIC)
    grey = 240 - 190 * np.clip(crop, 0, 1) + np.random.default_rng(seed).normal(0, 3, crop.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 0.7), 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def cut_tight_square(digit: np.ndarray, side: int) -> np.ndarray:
    """(side, side) uint8: an MNIST digit's ink box size-normalised into a square, its longer side end to end, light ink
    on black: a bold digit's ink is then most of the picture."""
    ys, xs = np.nonzero(digit > 40)
    crop = digit[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    s = side / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * s)), max(1, round(crop.shape[1] * s))
    square = np.zeros((side, side), np.uint8)
    square[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
    return square


def form_box_page(digit: np.ndarray | None, cells: int = 1, mine: int = 0, cell: int = 120, touch: bool = False) -> np.ndarray:
    """A grey page with a printed box (or a comb field of ``cells`` boxes side by side) around ``digit`` (MNIST, 28x28,
    drawn in box ``mine``; None: nothing written), dark ink on light paper.  ``touch``: the digit drawn as large as
    the cell, so it crosses the lines."""
    margin = 40
    page = np.full((cell + 2 * margin, cells * cell + 2 * margin), 232, np.uint8)
    cv2.rectangle(page, (margin, margin), (margin + cells * cell, margin + cell), 40, 2)
    for k in range(1, cells):
        cv2.line(page, (margin + k * cell, margin), (margin + k * cell, margin + cell), 40, 2)
    if digit is not None:
        size = cell + 10 if touch else int(cell * 0.75)
        ink = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
        top, left = margin + (cell - size) // 2, margin + mine * cell + (cell - size) // 2
        region = page[top : top + size, left : left + size].astype(np.float32)
        page[top : top + size, left : left + size] = (region * (1 - 0.8 * np.clip(ink, 0, 1))).astype(np.uint8)
    return page


def form_line_page(digit: np.ndarray | None, gap: int = 12, length: int = 300, tilt: float = 0.0, width: int = 2) -> np.ndarray:
    """A grey page with ``digit`` (MNIST, 28x28, drawn 100 px; None: nothing written) written above a printed line
    ``length`` px long (``tilt``: its slope), ``gap`` px below the digit's ink (negative: through it), dark ink on light
    paper."""
    page = np.full((220, length + 60), 232, np.uint8)
    left = 30 + (length - 100) // 2
    bottom = 30
    if digit is not None:
        ink = cv2.resize(digit, (100, 100), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
        region = page[30:130, left : left + 100].astype(np.float32)
        page[30:130, left : left + 100] = (region * (1 - 0.8 * np.clip(ink, 0, 1))).astype(np.uint8)
        bottom = 30 + int(np.flatnonzero(ink.max(1) > 0.3)[-1])
    y, middle = bottom + gap, left + 50
    cv2.line(page, (30, round(y + tilt * (30 - middle))), (30 + length, round(y + tilt * (30 + length - middle))), 40, width)
    return page


def number_on_a_line_page(digits: list[np.ndarray], dips: list[int], size: int = 70) -> np.ndarray:
    """A grey page with MNIST ``digits`` (28x28) written side by side, ``size`` px each, on a form's printed line
    (2 px, across the page): each digit's lowest ink row ``dips`` px below the line (negative: above it), so that
    most touch or cross it; dark ink on light paper."""
    page = np.full((size + 80, size * len(digits) + 120), 232, np.uint8)
    line = 30 + size
    for k, (digit, dip) in enumerate(zip(digits, dips)):
        ink = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
        top, left = line + dip - int(np.flatnonzero(ink.max(1) > 0.3)[-1]), 60 + k * size
        region = page[top : top + size, left : left + size].astype(np.float32)
        page[top : top + size, left : left + size] = (region * (1 - 0.8 * np.clip(ink, 0, 1))).astype(np.uint8)
    cv2.line(page, (20, line), (page.shape[1] - 20, line), 40, 2)
    return page


CLERK_MARKS = ("underline", "touching", "stop", "cross", "ruling", "neighbour")  # what a clerk's crop may carry (clerk_page)


def clerk_page(digit: np.ndarray, marks: tuple[str, ...] = (), seed: int = 0, side: int = 40, pen: int = 2) -> np.ndarray:
    """An MNIST digit (28x28) as a digit cut from a scanned register: dark ink ``side`` px tall on grey paper with grain,
    (side + 24, side + 40) uint8 grey (small, as the crops are: no photo), with ``marks`` drawn beside it in the same ink
    with a ``pen`` px pen: "underline" (apart, under the digit and past it on both sides), "touching" (an underline the
    digit's lowest ink rests on), "stop" (a full stop at its foot, right), "cross" (a small x beside it, right), "ruling"
    (a ruling line along the picture's right edge), "neighbour" (an arc of the next cell's ink at the left edge)."""
    h, w = side + 24, side + 40
    ink = np.zeros((h, w), np.float32)
    d = cv2.resize(digit, (side, side), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    top, left = 8, 10
    ink[top : top + side, left : left + side] = d
    rows, cols = np.flatnonzero(d.max(1) > 0.3), np.flatnonzero(d.max(0) > 0.3)
    b, lo, r = top + int(rows[-1]), left + int(cols[0]), left + int(cols[-1])  # the digit's bottom, left and right
    m = np.zeros((h, w), np.uint8)
    for mark in marks:
        if mark == "underline":
            cv2.line(m, (lo - 6, b + 5), (r + 8, b + 4), 255, pen)
        elif mark == "touching":
            cv2.line(m, (lo - 8, b + 1), (r + 8, b), 255, pen)
        elif mark == "stop":
            cv2.circle(m, (r + 5, b - 2), 2, 255, -1)
        elif mark == "cross":
            cx, cy = r + 12, b - 6
            cv2.line(m, (cx - 5, cy - 5), (cx + 5, cy + 5), 255, pen)
            cv2.line(m, (cx - 5, cy + 5), (cx + 5, cy - 5), 255, pen)
        elif mark == "ruling":
            cv2.line(m, (w - 2, 0), (w - 2, h - 1), 255, pen)
        elif mark == "neighbour":
            cv2.ellipse(m, (-4, h // 2), (8, 12), 0, -60, 60, 255, pen)
        else:
            raise ValueError(f"no mark {mark!r}: {', '.join(CLERK_MARKS)}")
    ink = np.maximum(ink, m.astype(np.float32) / 255)
    paper = 205 + np.random.default_rng(seed).normal(0, 3, (h, w))
    return np.clip(paper * (1 - 0.75 * ink), 0, 255).astype(np.uint8)


SLANTED_1 = [[(40, 8), (22, 54)]]  # a 1 leaning right, as the registers' clerks wrote it: its top is right of its foot
SLANTED_1_STOP = [*SLANTED_1, [(33, 51), (34, 51)]]  # and a full stop beside its foot, under its top: inside its box


def clerk_strokes(strokes: list[list[tuple[int, int]]], pen: int = 2, seed: int = 0) -> np.ndarray:
    """Pen strokes (each a polyline of (x, y) points on a 64x80 page) in dark ink on grey paper with grain, as
    ``clerk_page`` draws its digits: a digit whose parts are drawn apart (a 7's bar, a 5's hat) or meet (a 1's foot)."""
    m = np.zeros((64, 80), np.uint8)
    for s in strokes:
        cv2.polylines(m, [np.array(s, np.int32)], False, 255, pen)
    paper = 205 + np.random.default_rng(seed).normal(0, 3, m.shape)
    return np.clip(paper * (1 - 0.75 * m.astype(np.float32) / 255), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- crops of the real-paper dev registers
# (parish_dev: file names only, the pictures stay outside the repository) that the paper rules were chosen on

# 0s of the registers written with a fine pen on grainy paper, whose faint side broke into pieces under one noise floor
# (looked at by eye: each is a whole oval on the page)
FAINT_ZEROS = ("p00727.png", "p00919.png", "p00915.png", "p00895.png", "p01208.png", "p01211.png", "p01154.png", "p01083.png")

# 0s whose faint side reaches farther from the stroke's darker part than the pixel or two kept as its anti-aliased edge
# (looked at by eye: each is a whole oval on the page)
FAR_FAINT_ZEROS = ("p00274.png", "p00367.png", "p00415.png", "p00428.png", "p00724.png", "p00918.png", "p01201.png")

# a clerk's underline the digit touches, running far past it on both sides: a little thick for UNDER_THIN in a small
# crop, or curling up at an end (looked at by eye: a 9, a 4 and four 3s, each with a line under it)
FAR_UNDERLINES = {"p00001.png": 9, "p00064.png": 4, "p02074.png": 3, "p02142.png": 3, "p02257.png": 3, "p02275.png": 3}
