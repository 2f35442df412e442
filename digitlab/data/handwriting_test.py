"""The pictures of the real-handwriting dev benchmark (``digitlab.evaluation.handwriting``): TEST ONLY.

Nothing here is used for training, and nothing here imports the training augmentation
(``digitlab.data.stroke_augment``): its own code path (Zhang-Suen thinning here, hit-or-miss
thinning there), its own parameters and its own seeds (``SEED_OFFSET``), so the benchmark does not
merely test the training generator.

    load_digits_uploads    scikit-learn's bundled digits (1,797 real 8x8 digits by 43 writers, no
                           download) as uploaded photos: dark ink on light paper, upscaled smoothly,
                           off-centre, blurred, noisy, PNG or JPEG bytes
    load_digits_canvas     the same digits as canvas drawings, white ink on black, at a given size
    conventions            digits drawn procedurally as canvas strokes in writing conventions MNIST
                           rarely has (crossed 7, 1 with flag and foot, closed 4, straight-stem 9, 2
                           with a loop, open 6 and 9 loops, 5 in one stroke...), sampled like a mouse,
                           from few points (angular), or as a tablet trajectory replayed as one line
                           through 8-12 points; uniform brush, sizes and places as people draw on
                           the app's 280x280 canvas
    conventions_stream     the same drawings, a number of every style, a chunk at a time (a precise
                           measure per style, ``evaluation/conventions.py``)
    mnist_strokes          MNIST test digits re-drawn as strokes: skeleton (Zhang-Suen) -> simplified
                           polyline (``cv2.approxPolyDP``) -> uniform brush on the canvas

Canvas pictures are (280, 280, 4) uint8 RGBA, white ink on opaque black (the app's "Dark" canvas),
or (280, 280) uint8 grey; uploads are encoded bytes.  Labels are int64.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from digitlab.data import CANVAS, photo_cases, polylines

SEED_OFFSET = 7_000_003  # every generator here seeds from seed + SEED_OFFSET: never a training seed
BRUSHES = (8, 12, 15, 18, 20, 20, 20, 24, 28, 32, 36)  # px, the app's brush slider (6-40, default 20), as people set it
CANVAS_SIZES = {"small": (0.22, 0.32), "medium": (0.45, 0.6), "large": (0.75, 0.92)}  # digit height / canvas side


DARK_CANVAS = 0.0  # the canvas sets' background, as the app tells preprocess.prepare (``drawn_on``) for its dark canvas


@dataclass
class PictureSet:
    """Pictures of one benchmark set with their labels; ``styles`` names each picture's style and
    ``sampling`` how its strokes were sampled or saved (or ""); ``invert`` is how the app reads them
    (canvas drawings "no", uploads "auto"), and ``drawn_on`` what it tells the preprocessing of a canvas drawing:
    the tone the strokes are drawn on (0.0, the dark canvas; None for uploads: found out from the picture).  ``writers``
    names each picture's writer ("site/writer") where the set knows it (the real strokes), else it is empty."""

    name: str
    pictures: list
    labels: np.ndarray
    invert: str
    styles: list[str] = field(default_factory=list)
    sampling: list[str] = field(default_factory=list)
    about: str = ""
    drawn_on: float | None = None
    writers: list[str] = field(default_factory=list)


def _rng(seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed + SEED_OFFSET, salt])


# ----------------------------------------------------------------------------- scikit-learn's digits


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled handwritten digits: (1797, 8, 8) float in [0, 1] (ink light), (1797,) int64."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def _upscale(digit: np.ndarray, side: int) -> np.ndarray:
    """(8, 8) float [0, 1] -> (side, side) float [0, 1], smooth (bicubic via a 4x Lanczos step: no blocks)."""
    padded = np.pad(digit, 1)  # the 8x8 frame is tight: give the interpolation a dark margin
    mid = cv2.resize(padded, (40, 40), interpolation=cv2.INTER_LANCZOS4)
    big = cv2.resize(cv2.GaussianBlur(mid, (0, 0), 1.2), (side, side), interpolation=cv2.INTER_CUBIC)
    return np.clip(big, 0, 1)


def load_digits_uploads(n: int | None = None, seed: int = 0) -> PictureSet:
    """The sklearn digits as uploaded photos of paper: dark ink on light, uneven paper; the digit
    18-45 % of the picture, off-centre; blur, sensor noise; PNG or JPEG bytes."""

    images, labels = sklearn_digits()
    n = len(labels) if n is None else min(n, len(labels))
    rng = _rng(seed, 1)
    pictures, sampling = [], []
    for digit in images[:n]:
        side = int(rng.integers(220, 420))
        box = int(side * rng.uniform(0.18, 0.45))
        ink = _upscale(digit, box)
        ink = np.clip((ink - 0.15) / 0.6, 0, 1)  # pen ink is solid where the scan is dark
        page = np.zeros((side, side), np.float32)
        top, left = (int(rng.integers(0, side - box)) for _ in range(2))
        page[top : top + box, left : left + box] = ink
        paper = rng.uniform(0.72, 0.95)
        yy, xx = np.mgrid[0:side, 0:side] / side
        light = paper + rng.uniform(-0.08, 0.08) * (xx - 0.5) + rng.uniform(-0.08, 0.08) * (yy - 0.5)
        grey = light * (1 - rng.uniform(0.55, 0.85) * page)
        grey = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), rng.uniform(0.4, 2.0))
        grey = grey + rng.normal(0, rng.uniform(0.005, 0.04), grey.shape)
        tint = rng.uniform(0.9, 1.0, 3)
        sampling.append("JPEG" if rng.uniform() < 0.6 else "PNG")
        pictures.append(photo_cases.encode(grey, tint, sampling[-1], int(rng.integers(60, 95)) if sampling[-1] == "JPEG" else 0))
    return PictureSet("load_digits upload", pictures, labels[:n], "auto", [], sampling,
                      "scikit-learn's 8x8 digits as photos: dark ink on light paper, off-centre, blur, noise, JPEG/PNG")


def load_digits_canvas(size: str, n: int | None = None, seed: int = 0) -> PictureSet:
    """The sklearn digits drawn on the dark canvas at ``size`` (CANVAS_SIZES): upscaled smoothly and
    given solid, anti-aliased ink like a brush; white on opaque black RGBA, somewhere on the canvas."""
    images, labels = sklearn_digits()
    n = len(labels) if n is None else min(n, len(labels))
    lo, hi = CANVAS_SIZES[size]
    rng = _rng(seed, 2 + list(CANVAS_SIZES).index(size))
    pictures = []
    for digit in images[:n]:
        box = int(CANVAS * rng.uniform(lo, hi))
        ink = _upscale(digit, box)
        ink = np.clip((ink - 0.3) / 0.15, 0, 1)  # solid strokes with a soft edge, like the canvas' brush
        canvas = np.zeros((CANVAS, CANVAS), np.float32)
        top, left = (int(rng.integers(0, CANVAS - box + 1)) for _ in range(2))
        canvas[top : top + box, left : left + box] = ink
        pictures.append(_as_canvas(canvas, rng))
    return PictureSet(f"load_digits canvas {size}", pictures, labels[:n], "no", [], [], drawn_on=DARK_CANVAS, about=
                      f"scikit-learn's 8x8 digits as solid strokes on the dark canvas, {lo:.0%}-{hi:.0%} of its height")


def _as_canvas(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(280, 280) float ink in [0, 1] -> what the dark canvas gives: RGBA white on opaque black (3 in 4) or grey."""
    grey = np.round(np.clip(ink, 0, 1) * 255).astype(np.uint8)
    if rng.uniform() < 0.25:
        return grey
    rgba = np.empty((*grey.shape, 4), np.uint8)
    rgba[..., :3] = grey[..., None]
    rgba[..., 3] = 255
    return rgba


# ----------------------------------------------------------------------------- drawing strokes like a mouse


_arc, _line, _join = polylines.arc, polylines.line, polylines.join


def _bezier(p0, p1, p2, n: int = 24) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    p0, p1, p2 = (np.asarray(p, np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _dense(stroke: np.ndarray, step: float = 0.004) -> np.ndarray:
    """A polyline resampled every ``step`` (unit-box units) of its length."""
    s = polylines.lengths(stroke)
    if s[-1] <= 0:
        return stroke[:1]
    return polylines.at_lengths(stroke, s, np.linspace(0, s[-1], max(2, int(s[-1] / step) + 1)))


# Each style: label and a function rng -> strokes in a unit box (x about 0..0.7, y 0..1 downwards),
# in drawing order.  Written from how people write digits, not from MNIST or the training generator.
def _u(rng, a, b):
    return float(rng.uniform(a, b))


# Where the conventions come from: continental European school scripts (German Schulausgangsschrift, French
# ecriture scolaire, Swiss Schnurlischrift) teach the 1 with a long up-stroke, the crossed 7, the open 4 and the
# 9 with a curved tail; engineering lettering (ISO 3098, ANSI Y14.2) and printed forms give the 1 with a foot,
# the flat-topped 3 and the Z-shaped 2; computing and Scandinavian forms the slashed zero (and typewriter
# faces the dotted one); primary-school "snowman" eights are two circles; cursive hands loop the 2.
STYLES: dict[str, tuple[int, Callable]] = {
    "0 oval": (0, lambda r: [_arc(0.35, 0.5, 0.3, 0.48, 95, 95 + 360 + _u(r, 0, 25))]),
    "0 slashed": (0, lambda r: [_arc(0.35, 0.5, 0.3, 0.48, 95, 95 + 360 + _u(r, 0, 15)),
                                _line((_u(r, -0.08, 0.05), _u(r, 0.95, 1.08)), (_u(r, 0.65, 0.78), _u(r, -0.08, 0.05)))]),
    "0 slashed backwards": (0, lambda r: [_arc(0.35, 0.5, 0.28, 0.48, 95, 95 + 360 + _u(r, 0, 15)),
                                          _line((_u(r, 0.0, 0.08), _u(r, -0.05, 0.05)), (_u(r, 0.62, 0.72), _u(r, 0.95, 1.05)))]),
    "0 dotted": (0, lambda r: [_arc(0.35, 0.5, 0.3, 0.48, 95, 95 + 360 + _u(r, 0, 15)),
                               _line((0.35 + _u(r, -0.03, 0.03), 0.5 + _u(r, -0.04, 0.04)), (0.37, 0.51))]),
    "0 narrow, open": (0, lambda r: [_arc(0.3, 0.5, 0.2, 0.48, 80, 80 + 360 - _u(r, 5, 25))]),
    "1 bare stroke": (1, lambda r: [_line((0.35 + _u(r, -0.05, 0.08), 0.0), (0.35, 1.0))]),
    "1 flag and foot": (1, lambda r: [_line((0.12, _u(r, 0.2, 0.35)), (0.4, 0.0), (0.4, 1.0)), _line((0.1, 1.0), (0.7, 1.0))]),
    "1 foot only": (1, lambda r: [_line((0.4, 0.0), (0.4, 1.0)), _line((_u(r, 0.1, 0.2), 1.0), (_u(r, 0.6, 0.7), 1.0))]),
    "1 long flag": (1, lambda r: [_line((_u(r, 0.0, 0.1), _u(r, 0.35, 0.5)), (0.45, 0.0), (0.45, 1.0))]),
    "1 caret flag and foot": (1, lambda r: [_line((0.0, _u(r, 0.45, 0.65)), (0.4, 0.0), (0.4, 1.0)), _line((_u(r, 0.05, 0.15), 1.0), (0.72, 1.0))]),
    "2 plain": (2, lambda r: [_join(_arc(0.35, 0.27, 0.3, 0.25, 165, -30), _line((0.0, 1.0), (0.7, 1.0)))]),
    "2 with a loop": (2, lambda r: [_join(_arc(0.35, 0.27, 0.3, 0.25, 165, -30), _line((0.25, 0.76)),
                                          _arc(0.15, 0.84, 0.13, 0.12, 40, 330, 18), _line((0.45, 0.96), (0.72, 0.94)))]),
    "2 Z-shaped": (2, lambda r: [_line((0.02, _u(r, 0.0, 0.1)), (0.7, 0.0), (0.02, 1.0), (0.72, 1.0))]),
    "3 round": (3, lambda r: [_join(_arc(0.32, 0.26, 0.28, 0.24, 150, -90), _arc(0.32, 0.74, 0.32, 0.26, 90, -150))]),
    "3 flat top": (3, lambda r: [_join(_line((0.0, 0.0), (0.62, 0.0), (0.25, 0.42)), _arc(0.3, 0.71, 0.33, 0.29, 100, -155))]),
    "4 open top": (4, lambda r: [_line((_u(r, 0.2, 0.35), 0.0), (0.0, 0.62), (0.74, 0.62)), _line((0.52, _u(r, 0.15, 0.35)), (0.52, 1.0))]),
    "4 closed": (4, lambda r: [_line((0.52, 1.0), (0.52, 0.0), (0.0, 0.64), (0.74, 0.64))]),
    "4 closed, short stem": (4, lambda r: [_line((0.52, _u(r, 0.8, 0.9)), (0.52, 0.0), (0.0, 0.68), (0.7, 0.68))]),
    "5 one stroke": (5, lambda r: [_join(_line((0.64, 0.02), (0.12, 0.02), (0.08, 0.45)), _arc(0.33, 0.69, 0.3, 0.29, 140, -150))]),
    "5 two strokes": (5, lambda r: [_join(_line((0.1, 0.0), (0.07, 0.45)), _arc(0.33, 0.69, 0.3, 0.29, 140, -150)),
                                    _line((0.1, 0.0), (0.64, 0.0))]),
    "6 closed loop": (6, lambda r: [_join(_bezier((0.6, 0.0), (0.05, 0.2), (0.07, 0.72)), _arc(0.35, 0.72, 0.28, 0.27, 180, 540 - 15))]),
    "6 open loop": (6, lambda r: [_join(_bezier((0.6, 0.0), (0.05, 0.2), (0.07, 0.72)), _arc(0.35, 0.72, 0.28, 0.27, 180, 180 + 360 - _u(r, 70, 110)))]),
    "7 plain": (7, lambda r: [_line((0.0, 0.0), (0.7, 0.0), (0.25, 1.0))]),
    "7 crossed": (7, lambda r: [_line((0.0, 0.0), (0.7, 0.0), (0.25, 1.0)), _line((0.22, _u(r, 0.45, 0.58)), (0.7, _u(r, 0.45, 0.58)))]),
    "7 crossed low, long bar": (7, lambda r: [_line((0.0, 0.0), (0.7, 0.0), (0.25, 1.0)), _line((_u(r, -0.08, 0.05), _u(r, 0.55, 0.7)), (0.62, _u(r, 0.5, 0.65)))]),
    "7 hooked, crossed": (7, lambda r: [_line((0.0, _u(r, 0.12, 0.25)), (0.03, 0.0), (0.7, 0.0), (0.3, 1.0)), _line((0.15, 0.52), (0.66, 0.5))]),
    "7 curved stem": (7, lambda r: [_join(_line((0.0, 0.02), (0.7, 0.0)), _bezier((0.7, 0.0), (_u(r, 0.3, 0.45), 0.4), (_u(r, 0.2, 0.35), 1.0)))]),
    "7 crossed, curved stem": (7, lambda r: [_join(_line((0.0, 0.02), (0.7, 0.0)), _bezier((0.7, 0.0), (0.38, 0.4), (0.3, 1.0))),
                                             _line((0.25, 0.5), (0.7, 0.48))]),
    "8 one stroke": (8, lambda r: [np.stack([0.35 + 0.3 * np.sin(2 * t), 0.5 - 0.48 * np.cos(t)], -1)
                                   for t in [np.linspace(0, 2 * np.pi + 0.2, 60)]]),
    "8 two loops": (8, lambda r: [_arc(0.35, 0.24, 0.22, 0.22, -90, 270), _arc(0.35, 0.72, 0.3, 0.27, 90, 450)]),
    "8 two circles apart": (8, lambda r: [_arc(0.35, 0.22, 0.2, 0.21, 90, 450), _arc(0.35, 0.73, 0.27, 0.26, 90, 450)]),
    "9 straight stem": (9, lambda r: [_join(_arc(0.33, 0.26, 0.28, 0.24, 10, 370), _line((0.61, 1.0)))]),
    "9 curled": (9, lambda r: [_join(_arc(0.33, 0.26, 0.28, 0.24, 10, 370), _line((0.6, 0.75)), _arc(0.38, 0.78, 0.22, 0.2, 0, -160, 14))]),
    "9 open loop": (9, lambda r: [_join(_arc(0.33, 0.28, 0.28, 0.24, _u(r, 40, 70), 360), _line((0.61, 0.1), (0.6, 1.0)))]),
    "9 angular loop": (9, lambda r: [_line((0.6, 0.32), (0.6, 0.02), (0.03, _u(r, 0.05, 0.2)), (_u(r, 0.15, 0.3), 0.46), (0.6, 0.32), (0.58, 1.0))]),
    "9 curved tail": (9, lambda r: [_join(_arc(0.36, 0.26, 0.27, 0.24, 10, 370), _bezier((0.63, 0.3), (0.66, 0.95), (_u(r, 0.1, 0.25), 0.98)))]),
    "9 slanted stem": (9, lambda r: [_join(_arc(0.36, 0.26, 0.26, 0.24, 10, 370), _line((0.4, 1.0)))]),
}
SAMPLING = {  # how the pen's path reaches the picture: share of drawings, points every this share of the height (None: mouse)
    "mouse": (0.4, None),  # a mouse or a finger: a point every 3-24 px, the hand speeding up and slowing down
    "few points": (0.25, (0.14, 0.3)),  # a quick hand on a coarse tablet: corners cut, loops polygons
    "coarse tablet": (0.15, (0.3, 0.5)),  # fewer still: loops become triangles
    "pen path, 8-12 points": (0.2, "path"),  # a tablet trajectory replayed as one line: the pen's moves between
    # strokes drawn too (a 7's crossbar joined to the end of its stem), 8-12 points spread evenly along it
}
PATH_POINTS = (8, 12)


def _mouse_points(stroke: np.ndarray, height: float, rng: np.random.Generator, sampling: str) -> np.ndarray:
    """Unit-box stroke -> the points the input device reports along it (px offsets before placing):
    irregular steps for a mouse, sparse points (``SAMPLING``) for a coarse tablet; a pixel of jitter;
    straight lines between them."""
    dense = _dense(stroke) * height
    s = polylines.lengths(dense)
    spacing = SAMPLING[sampling][1]
    if spacing == "path":  # evenly spread along the whole path, no jitter of the hand: a resampled trajectory
        at = np.linspace(0, s[-1], int(rng.integers(PATH_POINTS[0], PATH_POINTS[1] + 1)))
    elif spacing:
        step = rng.uniform(*spacing) * height
        at = np.arange(rng.uniform(0, 0.3) * step, s[-1], step) + rng.uniform(-0.2, 0.2) * step
        at = np.concatenate([[0.0], np.clip(at[1:], 0, s[-1]), [s[-1]]])
    else:
        steps = rng.uniform(3, 24, size=int(s[-1] / 3) + 2)
        at = np.concatenate([[0.0], np.cumsum(steps)])
        at = np.concatenate([at[at < s[-1]], [s[-1]]])
    pts = polylines.at_lengths(dense, s, at)
    return pts + rng.normal(0, 0.8, pts.shape)


def _sampling(rng: np.random.Generator) -> str:
    return str(rng.choice(list(SAMPLING), p=[share for share, _ in SAMPLING.values()]))


def draw_style(style: str, rng: np.random.Generator, sampling: str | None = None) -> np.ndarray:
    """One canvas drawing of ``style`` sampled as ``sampling`` (``SAMPLING``; None: drawn at random):
    (280, 280) float ink in [0, 1] (white on black)."""
    label, make = STYLES[style]
    strokes = [np.asarray(s, np.float64) for s in make(rng)]
    sampling = _sampling(rng) if sampling is None else sampling
    # the writer's hand: control-point wobble, width, slant, a little rotation
    strokes = [s + rng.normal(0, 0.012, 2) + rng.normal(0, 0.006, s.shape) for s in strokes]
    allp = np.concatenate(strokes)
    centre = (allp.min(0) + allp.max(0)) / 2
    aspect = rng.uniform(0.75, 1.3)
    slant = rng.uniform(-0.12, 0.32)
    angle = np.deg2rad(rng.uniform(-8, 8))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = []
    for s in strokes:
        p = s - centre
        p[:, 0] = p[:, 0] * aspect - slant * p[:, 1]
        moved.append(p @ rot.T)
    height = CANVAS * rng.uniform(0.3, 0.88)
    brush = int(min(rng.choice(BRUSHES), max(6, 0.25 * height)))
    if SAMPLING[sampling][1] == "path":
        moved = [np.concatenate(moved)]  # one pen path: the moves between strokes become lines
    pts = [_mouse_points(p, height, rng, sampling) for p in moved]
    allp = np.concatenate(pts)
    lo, hi = allp.min(0) - brush / 2, allp.max(0) + brush / 2
    free = CANVAS - (hi - lo)
    shift = np.array([rng.uniform(0, f) if f > 0 else f / 2 for f in free]) - lo
    ink = np.zeros((CANVAS, CANVAS), np.uint8)
    for p in pts:
        q = np.round((p + shift) * 4).astype(np.int32)
        cv2.polylines(ink, [q], False, 255, brush, cv2.LINE_AA, shift=2)
    return ink.astype(np.float32) / 255


def _conventions_drawings(n: int, seed: int, styles: list[str] | None = None) -> Iterator[tuple[str, str, np.ndarray]]:
    """The conventions set's drawings one at a time, cycling through STYLES (or ``styles`` of them only, checked by the
    caller): (style, sampling, canvas picture)."""
    rng = _rng(seed, 10)
    names = list(STYLES) if styles is None else list(styles)
    for i in range(n):
        style, sampling = names[i % len(names)], _sampling(rng)
        yield style, sampling, _as_canvas(draw_style(style, rng, sampling), rng)


def _conventions_set(drawn: list[tuple[str, str, np.ndarray]]) -> PictureSet:
    styles, sampling, pictures = (list(column) for column in zip(*drawn)) if drawn else ([], [], [])
    return PictureSet("conventions", pictures, np.asarray([STYLES[s][0] for s in styles], np.int64), "no", styles, sampling,
                      f"{len(STYLES)} writing conventions as canvas strokes (" + ", ".join(f"{share:.0%} {k}" for k, (share, _) in SAMPLING.items())
                      + "), white on black", DARK_CANVAS)


def conventions(n: int = 2000, seed: int = 0) -> PictureSet:
    """``n`` drawings cycling through every style of STYLES (balanced by style)."""
    return _conventions_set(list(_conventions_drawings(n, seed)))


def check_styles(styles: list[str]) -> list[str]:
    """``styles`` if each is a style of STYLES, named once; else ValueError naming the unknown ones and the styles."""
    unknown = [s for s in styles if s not in STYLES]
    if unknown or not styles or len(set(styles)) < len(styles):
        why = f"no such style: {', '.join(map(repr, unknown))}" if unknown else "name each style once"
        raise ValueError(f"{why} (the styles: {', '.join(STYLES)})")
    return list(styles)


def conventions_stream(per_style: int, seed: int = 0, chunk: int = 256, styles: list[str] | None = None) -> Iterator[PictureSet]:
    """``per_style`` drawings of every style of STYLES (or of ``styles`` only: another draw than the whole set's),
    ``chunk`` pictures at a time: the pictures of ``conventions(per_style * len(STYLES), seed)``, in its order,
    without holding them all (a canvas picture is up to 313 kB: 300 of every style would hold about 3 GB)."""
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, not {chunk}")
    names = list(STYLES) if styles is None else check_styles(styles)
    drawings = _conventions_drawings(per_style * len(names), seed, names)
    while part := list(itertools.islice(drawings, chunk)):
        yield _conventions_set(part)


# ----------------------------------------------------------------------------- MNIST test digits as strokes


def zhang_suen(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean (H, W) mask -> a one-pixel-wide skeleton (bool)."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            c = img[1:-1, 1:-1]
            p2, p3, p4, p5 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:], img[2:, 2:]
            p6, p7, p8, p9 = img[2:, 1:-1], img[2:, :-2], img[1:-1, :-2], img[:-2, :-2]
            ring = (p2, p3, p4, p5, p6, p7, p8, p9, p2)
            b = sum(p.astype(np.int16) for p in ring[:8])
            a = sum(((ring[k] == 0) & (ring[k + 1] == 1)).astype(np.int16) for k in range(8))
            if step == 0:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            drop = (c == 1) & (b >= 2) & (b <= 6) & (a == 1) & side
            if drop.any():
                c[drop] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def stroke_paths(digit: np.ndarray, epsilon: float, up: int = 4) -> list[np.ndarray]:
    """(28, 28) uint8 digit -> simplified polylines of its skeleton, in 28-px units: upscaled ``up``x,
    thinned (Zhang-Suen), traced (every contour of the one-pixel skeleton runs along it and back),
    simplified by ``cv2.approxPolyDP`` with ``epsilon`` (28-px units)."""
    big = cv2.resize(np.asarray(digit, np.uint8), (28 * up, 28 * up), interpolation=cv2.INTER_CUBIC)
    skel = zhang_suen(big > 110).astype(np.uint8)
    contours, _ = cv2.findContours(skel, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    paths = []
    for c in contours:
        if len(c) < 3:
            continue
        poly = cv2.approxPolyDP(c, epsilon * up, True)[:, 0].astype(np.float64) / up
        paths.append(np.vstack([poly, poly[:1]]))
    return paths


def mnist_strokes(x: np.ndarray, y: np.ndarray, seed: int = 0) -> PictureSet:
    """MNIST digits (N, 28, 28) uint8 re-drawn on the canvas: skeleton -> simplified polyline (0.3-1.2 px
    of 28 tolerance: smooth to angular) -> one uniform brush, at a size and place people draw at."""
    rng = _rng(seed, 20)
    pictures, sampling = [], []
    for digit in x:
        eps = rng.uniform(0.3, 1.2)
        paths = stroke_paths(digit, eps)
        height = CANVAS * rng.uniform(0.3, 0.88)
        scale = height / 20  # an MNIST digit is ~20 px tall in its 28 px frame
        brush = int(min(rng.choice(BRUSHES), max(6, 0.2 * height)))
        allp = np.concatenate(paths) * scale if paths else np.zeros((1, 2))
        lo, hi = allp.min(0) - brush / 2, allp.max(0) + brush / 2
        free = CANVAS - (hi - lo)
        shift = np.array([rng.uniform(0, f) if f > 0 else f / 2 for f in free]) - lo
        ink = np.zeros((CANVAS, CANVAS), np.uint8)
        for p in paths:
            cv2.polylines(ink, [np.round((p * scale + shift) * 4).astype(np.int32)], False, 255, brush, cv2.LINE_AA, shift=2)
        pictures.append(_as_canvas(ink.astype(np.float32) / 255, rng))
        sampling.append("angular (tolerance > 0.8 px)" if eps > 0.8 else "smooth")
    return PictureSet("MNIST strokes", pictures, np.asarray(y, np.int64), "no", [], sampling,
                      "MNIST test digits: skeleton -> simplified polyline -> uniform brush on the dark canvas", DARK_CANVAS)
