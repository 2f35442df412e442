"""Generated pictures for the "not a digit" rule: non-digits (scribbles, letters rendered from fonts,
blank-ish textures, shapes) and, as their counterpart, digits that do not come from MNIST (printed
from fonts, redrawn with a canvas brush).

Every picture is made at the app's canvas size (280x280) and returned as the app receives one
(``as_picture``), so it reaches a model only through ``preprocess.prepare`` (``prepare_pictures``).

The generators come in two disjoint splits, so that a detector trained on one can be measured on
pictures made by generators it never saw (``SPLITS``):

    split    fonts       letters                   shapes                                     scribbles       textures
    train    DejaVu      TRAIN_LETTERS             TRAIN_SHAPES, random doodles, SYMBOLS      smooth splines  sensor noise, smudges, specks
    heldout  Liberation  LETTERS (incl. 9 unseen)  HELDOUT_SHAPES                             zigzags, coils  paper: shading, grain, ruled lines
    fresh    Liberation  CYRILLIC                  FRESH_SHAPES                               hatching, yarn  halftone patches

The digit gate (``digitlab.serving.gate``) trains on "train" pictures from its own seeds only; the
"in-distribution" figures use the train generators with another seed, the "held-out" figures the
heldout generators.  The heldout figures of a first gate were looked at while the training
generators were improved (doodles and symbols were added after it rejected no hearts or smileys), so
"fresh" was written before that change and measured once, on the final gate: it is the unbiased one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from digitlab.data import CANVAS, polylines

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
# Letters that *are* digits in shape are not "non-digits": a model that reads O as 0 or l as 1 is right to.
# O o (0), I l i (1), Z z (2), S s (5), B (8), b (6), g q (9), and Q: its tail through the ring is a slashed zero (Ø).
DIGIT_LIKE_LETTERS = set("OoIliZzSsBbgqQ")
LETTERS = "".join(ch for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if ch not in DIGIT_LIKE_LETTERS)
HELDOUT_LETTERS = "EKRWaekmw"  # never drawn for training, in either case, so "unseen letters" can be measured
TRAIN_LETTERS = "".join(ch for ch in LETTERS if ch not in HELDOUT_LETTERS)
KINDS = ("scribble", "letter", "noise", "shape")
TRAIN_SHAPES = ("triangle", "square", "star", "cross", "plus", "hash", "arrow", "wave")
HELDOUT_SHAPES = ("filled_square", "spiral", "smiley", "heart", "house", "checkmark")
FRESH_SHAPES = ("moon", "sun", "flower", "cloud", "eye", "fish")
SHAPES = TRAIN_SHAPES + HELDOUT_SHAPES + FRESH_SHAPES
# Symbols printed from the training fonts, as more negatives.  Left out: digit-like ones ($ & § ! ∂ ∫ β ε ¶ ♦),
# and ones that are a held-out or fresh kind in another form (√ checkmark, ♥ heart, ☺ smiley, ■ square, @ spiral, ☀ sun, α 'a'),
# and Φ φ: a ring with a bar through it is how many people write a zero (slashed zero).
SYMBOLS = "#%*?<>{}[]~^€£¥∞≈≠∑∏∇∆γλμπψωΓΔΛΞΠΣΨΩ←↑→↓↔↕⇒⇔♠♣♪♫©®±×÷"
CYRILLIC = "ЖЯДЛФЦЩШЮИЙжяфцщшю"  # none digit-like (З Ч б Ь О Э are left out)


@dataclass(frozen=True)
class Generators:
    """Which variants of each kind a split draws from."""

    font_family: str  # font file names starting with this
    letters: str
    shapes: tuple[str, ...]
    scribbles: tuple[str, ...]
    textures: tuple[str, ...]
    symbols: str = ""  # printed symbols, a third of the "shape" pictures when given
    doodles: bool = False  # random compositions of strokes, a third of the "shape" pictures


SPLITS = {
    "train": Generators("DejaVu", TRAIN_LETTERS, TRAIN_SHAPES, ("spline",), ("sensor",), SYMBOLS, True),
    "heldout": Generators("Liberation", LETTERS, HELDOUT_SHAPES, ("zigzag", "coil"), ("paper",)),
    "fresh": Generators("Liberation", CYRILLIC, FRESH_SHAPES, ("hatching", "yarn"), ("halftone",)),
}


def _split(split: str) -> Generators:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, not {split!r}")
    return SPLITS[split]


def fonts(split: str) -> list[Path]:
    """The split's installed .ttf fonts (empty when the family is not installed: PIL's default font is used)."""
    family = _split(split).font_family
    return sorted(p for d in FONT_DIRS if d.is_dir() for p in d.glob(f"{family}*.ttf") if "Math" not in p.name)


@lru_cache(maxsize=512)
def _font(path: str | None, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)


@lru_cache(maxsize=4096)
def _has_glyph(path: str, ch: str) -> bool:
    """False when ``path`` would draw its "missing glyph" box for ``ch`` (a box would be a square, not the symbol)."""
    font = _font(path, 40)
    return bytes(font.getmask(ch)) != bytes(font.getmask("\U000F0000"))


def _pen(rng) -> int:
    return int(rng.integers(10, 28))  # the app's canvas strokes are ~10-28 px wide on 280 px


# ----------------------------------------------------------------------------- scribbles


def _curve(points: np.ndarray, n: int = 120) -> np.ndarray:
    """Catmull-Rom spline through (K, 2) points -> (n, 2) int32 polyline."""
    p = np.concatenate([points[:1], points, points[-1:]])
    out = []
    for i in range(1, len(p) - 2):
        t = np.linspace(0, 1, max(2, n // (len(p) - 3)))[:, None]
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    return np.concatenate(out).astype(np.int32)


def scribble(rng: np.random.Generator, style: str = "spline") -> np.ndarray:
    """Someone testing the pen. (280, 280) uint8 ink.

    spline: 2-4 smooth random strokes crossing each other; zigzag: 1-2 strokes of straight segments
    with sharp turns; coil: a row of 3-7 loops (like "eeee"), tilted at random."""
    img = np.zeros((CANVAS, CANVAS), np.uint8)
    w = _pen(rng)
    if style == "spline":
        for _ in range(int(rng.integers(2, 5))):
            pts = rng.uniform(30, CANVAS - 30, (int(rng.integers(4, 8)), 2))
            cv2.polylines(img, [_curve(pts)], False, 255, w, cv2.LINE_AA)
    elif style == "zigzag":
        for _ in range(int(rng.integers(1, 3))):
            pts = rng.uniform(30, CANVAS - 30, (int(rng.integers(6, 11)), 2)).astype(np.int32)
            cv2.polylines(img, [pts], False, 255, w, cv2.LINE_AA)
    elif style == "coil":
        loops = int(rng.integers(3, 8))
        t = np.linspace(0, 2 * np.pi * loops, 60 * loops)
        length, radius = rng.uniform(160, 230), rng.uniform(25, 45)
        x = t / t[-1] * length + radius * 1.3 * np.cos(t + np.pi)
        y = radius * np.sin(t)
        a = rng.uniform(-0.5, 0.5)
        xy = np.stack([x * np.cos(a) - y * np.sin(a), x * np.sin(a) + y * np.cos(a)], -1)
        xy += CANVAS / 2 - (xy.min(0) + xy.max(0)) / 2 + rng.uniform(-15, 15, 2)
        cv2.polylines(img, [xy.astype(np.int32)], False, 255, max(8, w - 6), cv2.LINE_AA)
    elif style == "hatching":  # shading marks: short parallel strokes
        a, n = rng.uniform(0, np.pi), int(rng.integers(5, 13))
        along, across = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
        half, gap = rng.uniform(40, 90), rng.uniform(26, 40)
        for k in range(n):
            mid = CANVAS / 2 + across * (k - (n - 1) / 2) * gap + along * rng.uniform(-10, 10)
            cv2.line(img, tuple((mid - along * half).astype(int)), tuple((mid + along * half).astype(int)), 255, max(6, w - 12), cv2.LINE_AA)
    elif style == "yarn":  # a ball of small overlapping loops
        p = np.array([CANVAS / 2, CANVAS / 2])
        for _ in range(int(rng.integers(8, 16))):
            p = np.clip(p + rng.normal(0, 25, 2), 70, CANVAS - 70)
            cv2.ellipse(img, tuple(p.astype(int)), (int(rng.uniform(20, 45)), int(rng.uniform(15, 35))), float(rng.uniform(0, 180)),
                        0, 360, 255, max(6, w - 10), cv2.LINE_AA)
    else:
        raise ValueError(f"unknown scribble style {style!r}")
    return img


# ----------------------------------------------------------------------------- letters and printed digits


def glyph(ch: str, rng: np.random.Generator, font_list: list[Path]) -> np.ndarray:
    """``ch`` rendered at a random size and place from a random font of ``font_list`` that has it (PIL's
    default font when none has), then slanted and stretched a little, as fonts and handwriting vary.
    (280, 280) uint8 ink."""
    from PIL import Image, ImageDraw

    size = int(rng.integers(120, 220))
    having = [p for p in font_list if _has_glyph(str(p), ch)]
    font = _font(str(having[int(rng.integers(len(having)))]) if having else None, size)
    im = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(im)
    left, top, right, bottom = draw.textbbox((0, 0), ch, font=font)
    pos = ((CANVAS - (right - left)) / 2 - left + rng.uniform(-30, 30), (CANVAS - (bottom - top)) / 2 - top + rng.uniform(-30, 30))
    draw.text(pos, ch, fill=255, font=font)
    shear, stretch = rng.uniform(-0.2, 0.2), rng.uniform(0.8, 1.2)
    c = CANVAS / 2
    m = np.float32([[stretch, shear, c - stretch * c - shear * c], [0, 1, 0]])
    return cv2.warpAffine(np.asarray(im), m, (CANVAS, CANVAS), flags=cv2.INTER_LINEAR)


def letter(rng: np.random.Generator, font_list: list[Path], letters: str = LETTERS) -> tuple[np.ndarray, str]:
    """A letter that does not look like a digit. (280, 280) uint8 ink and the letter."""
    ch = letters[int(rng.integers(len(letters)))]
    return glyph(ch, rng, font_list), ch


# ----------------------------------------------------------------------------- textures


def noise(rng: np.random.Generator, style: str = "sensor") -> np.ndarray:
    """Blank-ish pictures. (280, 280) uint8 ink (bright = ink).

    sensor: faint sensor noise, a soft smudge, a few specks; paper: a photo of an empty page,
    uneven light, grain, and often ruled lines.  (No single crease: one straight line is a 1.)"""
    if style == "sensor":
        img = rng.normal(rng.uniform(0, 30), rng.uniform(2, 20), (CANVAS, CANVAS))
        if rng.random() < 0.5:  # a soft smudge
            blob = np.zeros((CANVAS, CANVAS), np.float32)
            cv2.circle(blob, tuple(int(v) for v in rng.uniform(40, 240, 2)), int(rng.uniform(20, 70)), float(rng.uniform(20, 60)), -1)
            img = img + cv2.GaussianBlur(blob, (0, 0), 15)
        for _ in range(int(rng.integers(0, 6))):  # specks
            cv2.circle(img, tuple(int(v) for v in rng.uniform(0, CANVAS, 2)), int(rng.integers(1, 4)), float(rng.uniform(80, 255)), -1)
    elif style == "paper":
        yy, xx = np.mgrid[0:CANVAS, 0:CANVAS] / CANVAS
        gx, gy = rng.uniform(-40, 40, 2)
        img = rng.uniform(5, 40) + gx * xx + gy * yy + rng.normal(0, rng.uniform(1, 8), (CANVAS, CANVAS))
        if rng.random() < 0.6:  # ruled lines
            gap, level, tilt = rng.uniform(25, 50), rng.uniform(25, 90), rng.uniform(-3, 3)
            for y0 in np.arange(rng.uniform(5, gap), CANVAS, gap):
                cv2.line(img, (0, int(y0)), (CANVAS, int(y0 + tilt)), float(level), int(rng.integers(1, 4)), cv2.LINE_AA)
    elif style == "halftone":  # a printed grey patch: a grid of dots, on grainy paper
        img = rng.normal(rng.uniform(0, 20), rng.uniform(1, 6), (CANVAS, CANVAS))
        step, a = rng.uniform(7, 14), rng.uniform(0, np.pi / 2)
        x0, y0 = rng.uniform(20, 120, 2)
        x1, y1 = x0 + rng.uniform(80, 150), y0 + rng.uniform(80, 150)
        level, dot = float(rng.uniform(60, 200)), int(rng.integers(1, 4))
        u, v = np.meshgrid(np.arange(-CANVAS, CANVAS, step), np.arange(-CANVAS, CANVAS, step))
        x, y = CANVAS / 2 + u * np.cos(a) - v * np.sin(a), CANVAS / 2 + u * np.sin(a) + v * np.cos(a)  # a turned grid
        inside = (x0 <= x) & (x <= x1) & (y0 <= y) & (y <= y1)
        for px, py in zip(x[inside], y[inside]):
            cv2.circle(img, (int(px), int(py)), dot, level, -1, cv2.LINE_AA)
    else:
        raise ValueError(f"unknown texture style {style!r}")
    return np.clip(img, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- shapes


def shape(rng: np.random.Generator, names: tuple[str, ...] = SHAPES) -> tuple[np.ndarray, str]:
    """A geometric shape or symbol drawn with the pen. (280, 280) uint8 ink and its name.
    Circles and single straight lines are left out: they are a 0 and a 1."""
    name = names[int(rng.integers(len(names)))]
    img = np.zeros((CANVAS, CANVAS), np.uint8)
    w = _pen(rng)
    c = np.array([CANVAS / 2, CANVAS / 2]) + rng.uniform(-25, 25, 2)
    r = rng.uniform(60, 110)
    rot = rng.uniform(0, 2 * np.pi)

    def poly(angles, radii, closed=True, fill=False):
        pts = np.stack([c[0] + radii * np.cos(angles + rot), c[1] + radii * np.sin(angles + rot)], -1).astype(np.int32)
        if fill:
            cv2.fillPoly(img, [pts], 255, cv2.LINE_AA)
        else:
            cv2.polylines(img, [pts], closed, 255, w, cv2.LINE_AA)

    def path(points, closed=False):  # points in units of r around c, turned by a small angle
        a = rot * 0.1
        m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        cv2.polylines(img, [(c + np.asarray(points) @ m.T * r).astype(np.int32)], closed, 255, w, cv2.LINE_AA)

    if name == "triangle":
        poly(np.arange(3) * 2 * np.pi / 3, np.full(3, r))
    elif name == "square":
        poly(np.arange(4) * np.pi / 2 + np.pi / 4, np.full(4, r))
    elif name == "filled_square":
        poly(np.arange(4) * np.pi / 2 + np.pi / 4, np.full(4, r * 0.8), fill=True)
    elif name == "star":
        poly(np.arange(10) * np.pi / 5, np.where(np.arange(10) % 2 == 0, r, r * 0.4))
    elif name in ("cross", "plus"):
        base = np.pi / 4 if name == "cross" else 0.0
        for a in (base, base + np.pi / 2):
            d = r * np.array([np.cos(a + rot * 0.1), np.sin(a + rot * 0.1)])
            cv2.line(img, tuple((c - d).astype(int)), tuple((c + d).astype(int)), 255, w, cv2.LINE_AA)
    elif name == "hash":
        for k in (-1, 1):
            o = k * r / 3
            cv2.line(img, (int(c[0] + o), int(c[1] - r)), (int(c[0] + o), int(c[1] + r)), 255, w, cv2.LINE_AA)
            cv2.line(img, (int(c[0] - r), int(c[1] + o)), (int(c[0] + r), int(c[1] + o)), 255, w, cv2.LINE_AA)
    elif name == "arrow":
        tail, head = c - [r, 0], c + [r, 0]
        cv2.line(img, tuple(tail.astype(int)), tuple(head.astype(int)), 255, w, cv2.LINE_AA)
        for s in (-1, 1):
            cv2.line(img, tuple(head.astype(int)), (int(head[0] - r / 2), int(head[1] + s * r / 2)), 255, w, cv2.LINE_AA)
    elif name == "spiral":
        t = np.linspace(0, 5 * np.pi, 200)
        poly(t, r * t / t[-1], closed=False)
    elif name == "smiley":
        cv2.circle(img, tuple(c.astype(int)), int(r), 255, w, cv2.LINE_AA)
        for s in (-1, 1):
            cv2.circle(img, (int(c[0] + s * r / 2.5), int(c[1] - r / 3)), max(3, w // 2), 255, -1, cv2.LINE_AA)
        cv2.ellipse(img, tuple(c.astype(int)), (int(r / 2), int(r / 3)), 0, 20, 160, 255, w, cv2.LINE_AA)
    elif name == "wave":
        xs = np.linspace(c[0] - r, c[0] + r, 100)
        ys = c[1] + r / 3 * np.sin((xs - xs[0]) / (2 * r) * 2 * np.pi * rng.uniform(1.5, 3))
        cv2.polylines(img, [np.stack([xs, ys], -1).astype(np.int32)], False, 255, w, cv2.LINE_AA)
    elif name == "heart":
        t = np.linspace(0, 2 * np.pi, 100)
        hx = 16 * np.sin(t) ** 3
        hy = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([c[0] + hx * r / 17, c[1] + hy * r / 17], -1).astype(np.int32)
        cv2.polylines(img, [pts], True, 255, w, cv2.LINE_AA)
    elif name == "house":  # a square with a roof
        path([(-0.8, 0.9), (0.8, 0.9), (0.8, -0.1), (0, -0.9), (-0.8, -0.1)], closed=True)
    elif name == "checkmark":
        path([(-0.7, 0.0), (-0.2, 0.6), (0.8, -0.8)])
    elif name == "moon":  # a crescent: an outer arc and an inner one, offset
        t = np.linspace(0.3 * np.pi, 1.7 * np.pi, 60)
        inner = np.linspace(1.55 * np.pi, 0.45 * np.pi, 60)
        pts = np.r_[np.c_[np.cos(t), np.sin(t)], np.c_[0.45 + 0.75 * np.cos(inner), 0.75 * np.sin(inner)]]
        path(pts, closed=True)
    elif name == "sun":
        cv2.circle(img, tuple(c.astype(int)), int(r * 0.4), 255, w, cv2.LINE_AA)
        for a in np.arange(8) * np.pi / 4 + rot:
            d = np.array([np.cos(a), np.sin(a)])
            cv2.line(img, tuple((c + d * r * 0.65).astype(int)), tuple((c + d * r).astype(int)), 255, w, cv2.LINE_AA)
    elif name == "flower":  # a five-petal rose curve
        t = np.linspace(0, 2 * np.pi, 300)
        poly(t, r * np.abs(np.cos(2.5 * t)))
    elif name == "cloud":
        t = np.linspace(0, 2 * np.pi, 200)
        rad = 0.6 + 0.12 * np.abs(np.sin(3.5 * t))
        path(np.c_[1.5 * rad * np.cos(t), rad * np.sin(t)] * 0.8, closed=True)
    elif name == "eye":
        t = np.linspace(0, np.pi, 40)
        path(np.r_[np.c_[np.cos(t), 0.5 * np.sin(t)], np.c_[np.cos(t[::-1]), -0.5 * np.sin(t[::-1])]], closed=True)
        cv2.circle(img, tuple(c.astype(int)), int(r * 0.3), 255, -1, cv2.LINE_AA)
    elif name == "fish":
        t = np.linspace(0, 2 * np.pi, 80)
        path(np.c_[0.7 * np.cos(t) - 0.2, 0.4 * np.sin(t)], closed=True)
        path([(0.5, 0.0), (1.0, -0.4), (1.0, 0.4)], closed=True)
    else:
        raise ValueError(f"unknown shape {name!r}")
    return img, name


def doodle(rng: np.random.Generator) -> np.ndarray:
    """2-4 random strokes put together: lines, arcs, ellipses, small polygons, dots.  Teaches the gate
    about shapes in general rather than a list of them; some combinations can look like a digit
    (a loop and a line make a 6), which is noise in the training labels the threshold absorbs.
    (280, 280) uint8 ink."""
    img = np.zeros((CANVAS, CANVAS), np.uint8)
    w = _pen(rng)
    for _ in range(int(rng.integers(2, 5))):
        c = tuple(int(v) for v in rng.uniform(70, CANVAS - 70, 2))
        size = rng.uniform(25, 95)
        what = int(rng.integers(5))
        if what == 0:
            d = rng.normal(0, 1, 2)
            d = d / np.linalg.norm(d) * size
            cv2.line(img, (int(c[0] - d[0]), int(c[1] - d[1])), (int(c[0] + d[0]), int(c[1] + d[1])), 255, w, cv2.LINE_AA)
        elif what in (1, 2):  # an arc, or a whole ellipse
            start = float(rng.uniform(0, 360))
            span = float(rng.uniform(90, 270)) if what == 1 else 360.0
            cv2.ellipse(img, c, (int(size), int(size * rng.uniform(0.4, 1))), float(rng.uniform(0, 180)), start, start + span, 255, w,
                        cv2.LINE_AA)
        elif what == 3:
            pts = (np.array(c) + rng.uniform(-size, size, (int(rng.integers(3, 6)), 2))).astype(np.int32)
            cv2.polylines(img, [pts], True, 255, w, cv2.LINE_AA)
        else:
            cv2.circle(img, c, int(rng.uniform(w / 2, 2 * w)), 255, -1, cv2.LINE_AA)
    return img


# ----------------------------------------------------------------------------- pictures


def as_picture(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink (280, 280) uint8 -> a picture as the app receives one: half the time a canvas drawing
    (RGBA, white ink on transparent), half the time dark ink on light paper (RGB)."""
    if rng.random() < 0.5:
        return as_picture_canvas(ink)
    paper = rng.uniform(200, 250)
    grey = np.clip(paper - ink.astype(np.float32) * rng.uniform(0.6, 0.9) + rng.normal(0, 3, ink.shape), 0, 255)
    return np.repeat(grey.astype(np.uint8)[..., None], 3, -1)


Picture = tuple[str, str, np.ndarray]  # (kind, detail, picture)


def non_digit_pictures(n: int = 400, seed: int = 0, split: str = "train") -> Iterator[Picture]:
    """Yields ``n`` generated non-digit pictures from ``split``'s generators, kinds in turn
    (scribble, letter, noise, shape): (kind, detail, picture).  Deterministic per (seed, split).
    One at a time: thousands of 280x280 pictures would take gigabytes."""
    g = _split(split)
    rng = np.random.default_rng(seed)
    font_list = fonts(split)
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        if kind == "scribble":
            style = g.scribbles[int(rng.integers(len(g.scribbles)))]
            ink, detail = scribble(rng, style), style
        elif kind == "letter":
            ink, detail = letter(rng, font_list, g.letters)
        elif kind == "noise":
            style = g.textures[int(rng.integers(len(g.textures)))]
            ink, detail = noise(rng, style), style
        else:
            pick = rng.random() * 3 if (g.symbols or g.doodles) else 0.0
            if pick >= 2 and g.symbols:
                ink, detail = glyph(g.symbols[int(rng.integers(len(g.symbols)))], rng, font_list), "symbol"
            elif pick >= 1 and g.doodles:
                ink, detail = doodle(rng), "doodle"
            else:
                ink, detail = shape(rng, g.shapes)
        yield kind, detail, as_picture(ink, rng)


def printed_digit_pictures(n: int, seed: int = 0, split: str = "train") -> Iterator[Picture]:
    """Yields ``n`` digits 0-9 (in turn) printed from ``split``'s fonts: ("printed", "<digit>", picture)."""
    rng = np.random.default_rng(seed)
    font_list = fonts(split)
    for i in range(n):
        yield "printed", str(i % 10), as_picture(glyph(str(i % 10), rng, font_list), rng)


def drawn_digit_pictures(digits: np.ndarray, labels: np.ndarray, seed: int = 0, widths: tuple[float, float] = (0.04, 0.25)) -> Iterator[Picture]:
    """MNIST digits (N, 28, 28) uint8 redrawn the way the canvas draws them (``synthetic.restroke``: a
    uniform brush ``widths`` of the digit height wide, from a thin pen to a fat brush; MNIST's own
    strokes are ~0.11), at a random size and place.  Yields ("drawn", "<label>", picture)."""
    from digitlab.data import synthetic

    rng = np.random.default_rng(seed)
    for i, (d, y) in enumerate(zip(digits, labels)):
        rgba = synthetic.restroke(d, float(rng.uniform(*widths)), seed=seed * 1_000_003 + i)
        yield "drawn", str(int(y)), as_picture(rgba[..., 3], rng)


def prepare_images(pictures: Iterable, invert: str = "auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Send pictures through ``preprocess.prepare`` -> (images (M, 28, 28), no_ink (M,) bool, refused (M,) bool by
    preprocessing's own check, ``Prepared.refusal``: a face).  No-ink pictures get an all-zero image."""
    from digitlab import preprocess

    images, no_ink, refused = [], [], []
    for pic in pictures:
        p = preprocess.prepare(pic, invert=invert)
        no_ink.append(p.no_ink)
        refused.append(p.refusal is not None)
        images.append(np.zeros((28, 28), np.float32) if p.no_ink else p.image)
    return (np.stack(images) if images else np.zeros((0, 28, 28), np.float32)), np.array(no_ink, bool), np.array(refused, bool)


def prepare_pictures(pictures: Iterable[Picture]) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """``prepare_images`` of (kind, detail, picture) triples -> (images (M, 28, 28), no_ink (M,) bool, kinds, details)."""
    pictures = list(pictures)
    images, no_ink, _ = prepare_images(pic for _, _, pic in pictures)
    return images, no_ink, [kind for kind, _, _ in pictures], [detail for _, detail, _ in pictures]


# ----------------------------------------------------------------------------- what people upload instead of a digit
#
# The generators above draw one pen's ink on the 280x280 canvas.  People also upload whole pictures: a
# cartoon face at 600x600 reached the app and was read as "0, 78.1 %".  The generators below
# make such pictures in six categories, in colour and at the sizes uploads come in, or as canvas
# drawings, and return them as the app receives them; ``prepare_pictures`` sends them through
# ``preprocess.prepare`` like any upload.  They use the "train" split's fonts, letters and shapes, so
# the "held_out" and "fresh" measurements above stay about generators the gate never saw; the gate's
# benchmark (``digitlab.evaluation.gate``) measures these categories on seeds no training picture uses.

UPLOAD_CATEGORIES = ("faces", "emoji", "letters", "scribbles", "shapes", "text")
TRAIN_SEEDS_FROM = 1000  # training pictures come from seeds >= this, every measurement from seeds below it
_UPLOAD_SALT = 25  # seeds the upload generators' streams apart from the pen generators' above for the same seed
HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
           cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX)
SKIN = ((255, 224, 189), (255, 205, 148), (241, 194, 125), (234, 192, 134), (224, 172, 105), (198, 134, 66),
        (170, 110, 60), (141, 85, 36), (110, 65, 35), (92, 51, 23))  # RGB, light to dark
HAIR = ((20, 20, 20), (60, 40, 25), (110, 70, 35), (180, 130, 60), (230, 200, 120), (170, 60, 20), (150, 150, 150),
        (240, 240, 235), (200, 40, 120), (40, 90, 200))  # black, browns, blond, red, grey, white, dyed


def _colour(rng, lo: int = 0, hi: int = 255) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi + 1, 3))


def _jitter(rgb, rng, by: int = 18) -> tuple[int, int, int]:
    return tuple(int(np.clip(v + rng.integers(-by, by + 1), 0, 255)) for v in rgb)


def _upload_side(rng) -> tuple[int, int]:
    """(height, width) of an uploaded picture: 600x600 (the reported face) two times in five, else 160-900 px, any aspect."""
    if rng.random() < 0.4:
        return 600, 600
    h = int(rng.integers(160, 901))
    return h, int(np.clip(h * rng.uniform(0.6, 1.6), 160, 1200))


def _background(rng, h: int, w: int) -> np.ndarray:
    """(h, w, 3) uint8 RGB behind a face or an emoji: white, a plain colour, a gradient, stripes or a noisy photo-like wash."""
    kind = int(rng.integers(5))
    if kind == 0:
        return np.full((h, w, 3), int(rng.integers(225, 256)), np.uint8)
    if kind == 1:
        return np.full((h, w, 3), _colour(rng), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    if kind == 2:
        t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / max(h, w)
        t = (t - t.min()) / max(1e-6, t.max() - t.min())
        return (a + (b - a) * t[..., None]).astype(np.uint8)
    if kind == 3:
        period = rng.uniform(20, 120)
        t = (np.sin((xx * rng.uniform(-1, 1) + yy) / period * 2 * np.pi) > 0).astype(np.float32)
        return (a + (b - a) * t[..., None]).astype(np.uint8)
    base = a + rng.normal(0, rng.uniform(3, 25), (h, w, 1)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(base, (0, 0), rng.uniform(0.5, 4)), 0, 255).astype(np.uint8)


def _finish(rgb: np.ndarray, rng) -> np.ndarray | bytes:
    """An RGB picture as uploaded: sometimes blurred or noisy, a third of the time JPEG bytes (the rest the array)."""
    if rng.random() < 0.3:
        rgb = cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.5, 2.0))
    if rng.random() < 0.3:
        rgb = np.clip(rgb + rng.normal(0, rng.uniform(2, 10), rgb.shape), 0, 255).astype(np.uint8)
    if rng.random() < 1 / 3:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 95))])
        return buf.tobytes()
    return rgb


def face(rng: np.random.Generator, layout: dict | None = None) -> tuple[np.ndarray | bytes, str]:
    """A cartoon face (the face once read as "0, 78.1 %" and its relatives): a skin-coloured ellipse, two eyes,
    a nose, a mouth, hair (or none), sometimes ears, eyebrows, an outline, shoulders; on a varied background.
    RGB array or JPEG bytes, and the hair style.  ``layout``, when given, is filled with where things are
    (centre, axes, skin, eyes as (x, y, radius)), for tests."""
    h, w = _upload_side(rng)
    img = _background(rng, h, w)
    s = min(h, w)
    c = np.array([w / 2, h / 2]) + rng.uniform(-0.08, 0.08, 2) * s
    ax = s * rng.uniform(0.18, 0.33)
    ay = ax * rng.uniform(1.05, 1.4)
    skin = _jitter(SKIN[int(rng.integers(len(SKIN)))], rng) if rng.random() < 0.9 else _colour(rng)  # a few green or blue cartoons
    hair = _jitter(HAIR[int(rng.integers(len(HAIR)))], rng)
    dark = (int(rng.integers(0, 60)),) * 3
    line = max(2, int(s * rng.uniform(0.006, 0.02)))
    outline = rng.random() < 0.5
    cx, cy, iax, iay = int(c[0]), int(c[1]), int(ax), int(ay)
    if rng.random() < 0.4:  # shoulders
        cv2.ellipse(img, (cx, int(cy + ay * 1.9)), (int(ax * 1.8), int(ay * 0.9)), 0, 180, 360, _colour(rng), -1, cv2.LINE_AA)
    style = ("bald", "cap", "long", "spiky", "curly", "bun")[int(rng.integers(6))]
    if style == "long":  # behind the face
        cv2.rectangle(img, (int(cx - ax * 1.15), int(cy - ay * 0.6)), (int(cx + ax * 1.15), int(cy + ay * rng.uniform(0.5, 1.1))), hair, -1)
    if rng.random() < 0.5:  # ears
        for sx in (-1, 1):
            cv2.ellipse(img, (int(cx + sx * ax), cy), (int(ax * 0.18), int(ay * 0.22)), 0, 0, 360, skin, -1, cv2.LINE_AA)
    cv2.ellipse(img, (cx, cy), (iax, iay), 0, 0, 360, skin, -1, cv2.LINE_AA)
    if outline:
        cv2.ellipse(img, (cx, cy), (iax, iay), 0, 0, 360, dark, line, cv2.LINE_AA)
    top = (cx, int(cy - ay * 0.45))
    if style in ("cap", "long", "bun"):
        cv2.ellipse(img, top, (int(ax * 1.05), int(ay * rng.uniform(0.5, 0.75))), 0, 180, 360, hair, -1, cv2.LINE_AA)
        if style == "bun":
            cv2.circle(img, (cx, int(cy - ay * 1.15)), int(ax * 0.35), hair, -1, cv2.LINE_AA)
    elif style == "spiky":
        n = int(rng.integers(5, 11))
        xs = np.linspace(cx - ax, cx + ax, n + 1)
        for x0, x1 in zip(xs[:-1], xs[1:]):
            tip = ((x0 + x1) / 2, cy - ay * rng.uniform(1.1, 1.45))
            cv2.fillPoly(img, [np.array([(x0, cy - ay * 0.55), tip, (x1, cy - ay * 0.55)], np.int32)], hair, cv2.LINE_AA)
        cv2.ellipse(img, top, (iax, int(ay * 0.55)), 0, 180, 360, hair, -1, cv2.LINE_AA)
    elif style == "curly":
        for a in np.linspace(np.pi * 1.05, np.pi * 1.95, int(rng.integers(6, 12))):
            p = (int(cx + ax * 0.95 * np.cos(a)), int(cy + ay * 0.95 * np.sin(a)))
            cv2.circle(img, p, int(ax * rng.uniform(0.2, 0.32)), hair, -1, cv2.LINE_AA)
    ex, ey, er = ax * rng.uniform(0.3, 0.45), cy - ay * rng.uniform(0.05, 0.25), max(3, ax * rng.uniform(0.08, 0.18))
    eyes = int(rng.integers(3))
    if layout is not None:
        layout.update(size=(h, w), centre=(cx, cy), axes=(ax, ay), skin=skin, eyes=[(cx - ex, ey, er), (cx + ex, ey, er)])
    for sx in (-1, 1):
        p = (int(cx + sx * ex), int(ey))
        if eyes == 0:  # white with a pupil
            cv2.circle(img, p, int(er), (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(img, (p[0] + int(rng.uniform(-0.3, 0.3) * er), p[1]), int(er * rng.uniform(0.4, 0.6)), dark, -1, cv2.LINE_AA)
        elif eyes == 1:  # dots
            cv2.circle(img, p, int(er * 0.6), dark, -1, cv2.LINE_AA)
        else:  # closed, or a smiling arc
            cv2.ellipse(img, p, (int(er), int(er * 0.5)), 0, 180 if rng.random() < 0.5 else 0, 360 if rng.random() < 0.5 else 180, dark, line,
                        cv2.LINE_AA)
        if rng.random() < 0.5:  # eyebrow
            cv2.line(img, (int(p[0] - er), int(p[1] - er * 1.8)), (int(p[0] + er), int(p[1] - er * rng.uniform(1.5, 2.2))), hair, line, cv2.LINE_AA)
    shade = tuple(int(v * 0.75) for v in skin)
    nose = int(rng.integers(3))
    ny = cy + ay * rng.uniform(0.08, 0.2)
    if nose == 0:
        cv2.line(img, (cx, int(ey + er)), (int(cx - ax * 0.08), int(ny)), shade, line, cv2.LINE_AA)
    elif nose == 1:
        cv2.circle(img, (cx, int(ny)), int(ax * rng.uniform(0.06, 0.12)), shade if rng.random() < 0.7 else (220, 60, 60), -1, cv2.LINE_AA)
    else:
        cv2.polylines(img, [np.array([(cx, ey + er), (cx - ax * 0.1, ny), (cx + ax * 0.05, ny)], np.int32)], False, shade, line, cv2.LINE_AA)
    my, mw = int(cy + ay * rng.uniform(0.4, 0.6)), int(ax * rng.uniform(0.25, 0.5))
    mouth = int(rng.integers(3))
    red = _jitter((170, 40, 50), rng, 40)
    if mouth == 0:
        cv2.ellipse(img, (cx, my), (mw, int(mw * rng.uniform(0.2, 0.5))), 0, 0, 180, red, line, cv2.LINE_AA)
    elif mouth == 1:
        cv2.ellipse(img, (cx, my), (mw, int(mw * rng.uniform(0.3, 0.6))), 0, 0, 180, (90, 20, 30), -1, cv2.LINE_AA)
        cv2.line(img, (cx - mw, my), (cx + mw, my), (250, 250, 250), line, cv2.LINE_AA)
    else:
        cv2.line(img, (cx - mw, my), (cx + mw, my + int(rng.uniform(-0.1, 0.1) * mw)), red, line, cv2.LINE_AA)
    return _finish(img, rng), style


def emoji(rng: np.random.Generator) -> tuple[np.ndarray | bytes, str]:
    """An emoji-like face: a yellow disc (sometimes outlined), eyes, a mouth; on a varied background.
    RGB array or JPEG bytes, and which face."""
    h, w = _upload_side(rng) if rng.random() < 0.8 else (int(rng.integers(64, 160)),) * 2
    img = _background(rng, h, w)
    s = min(h, w)
    c = (int(w / 2 + rng.uniform(-0.05, 0.05) * s), int(h / 2 + rng.uniform(-0.05, 0.05) * s))
    r = int(s * rng.uniform(0.3, 0.47))
    yellow = _jitter((255, 204, 60), rng, 25)
    cv2.circle(img, c, r, yellow, -1, cv2.LINE_AA)
    dark = _jitter((70, 45, 20), rng, 30)
    line = max(2, int(r * rng.uniform(0.04, 0.09)))
    if rng.random() < 0.4:
        cv2.circle(img, c, r, tuple(int(v * 0.7) for v in yellow), line, cv2.LINE_AA)
    which = ("smile", "grin", "wink", "hearts", "sunglasses", "sad", "surprised", "tears")[int(rng.integers(8))]
    ex, ey = r * rng.uniform(0.3, 0.42), c[1] - r * rng.uniform(0.15, 0.35)
    for sx in (-1, 1):
        p = (int(c[0] + sx * ex), int(ey))
        if which == "hearts":
            t = np.linspace(0, 2 * np.pi, 40)
            k = r * 0.012
            pts = np.stack([p[0] + 16 * np.sin(t) ** 3 * k, p[1] - (13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)) * k], -1)
            cv2.fillPoly(img, [pts.astype(np.int32)], (230, 30, 60), cv2.LINE_AA)
        elif which == "wink" and sx > 0:
            cv2.ellipse(img, p, (int(r * 0.13), int(r * 0.08)), 0, 180, 360, dark, line, cv2.LINE_AA)
        elif which != "sunglasses":
            cv2.ellipse(img, p, (int(r * rng.uniform(0.07, 0.1)), int(r * rng.uniform(0.12, 0.18))), 0, 0, 360, dark, -1, cv2.LINE_AA)
    if which == "sunglasses":
        g = int(r * 0.2)
        cv2.rectangle(img, (int(c[0] - ex - g), int(ey - g * 0.7)), (int(c[0] + ex + g), int(ey + g * 0.7)), (20, 20, 20), -1)
    my, mw = int(c[1] + r * rng.uniform(0.2, 0.35)), int(r * rng.uniform(0.35, 0.55))
    if which in ("smile", "wink", "hearts", "sunglasses", "tears"):
        cv2.ellipse(img, (c[0], my), (mw, int(mw * rng.uniform(0.35, 0.6))), 0, 0, 180, dark, line, cv2.LINE_AA)
    elif which == "grin":
        cv2.ellipse(img, (c[0], my), (mw, int(mw * 0.6)), 0, 0, 180, (90, 30, 30), -1, cv2.LINE_AA)
        cv2.rectangle(img, (c[0] - mw + line, my), (c[0] + mw - line, my + int(mw * 0.2)), (255, 255, 255), -1)
    elif which == "sad":
        cv2.ellipse(img, (c[0], my + int(mw * 0.4)), (mw, int(mw * 0.4)), 0, 180, 360, dark, line, cv2.LINE_AA)
    else:  # surprised
        cv2.ellipse(img, (c[0], my), (int(mw * 0.35), int(mw * 0.45)), 0, 0, 360, dark, -1, cv2.LINE_AA)
    if which == "tears":
        for sx in (-1, 1):
            cv2.ellipse(img, (int(c[0] + sx * ex * 1.2), int(ey + r * 0.3)), (int(r * 0.08), int(r * 0.16)), 0, 0, 360, (80, 170, 240), -1,
                        cv2.LINE_AA)
    return _finish(img, rng), which


# Handwritten letters as pen strokes in a unit box (x about 0..0.8, y 0..1 downwards), drawn like the digits of
# ``handwriting_test``'s conventions: wobble, slant, a mouse's sampling, the canvas brush.  Left out, besides
# DIGIT_LIKE_LETTERS: handwritten G (a 6), J (a 1 with a hook), L (a 1 with a foot), f (a crossed 7 mirrored,
# with a curved stem), p (a 9 mirrored), y (an open 4 or a 4 with a curved tail): people write digits that
# way, and the gate must not learn to refuse them.  HELDOUT_LETTERS are drawn too, but never for training.
def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 28) -> np.ndarray:
    return polylines.arc(cx, cy, rx, ry, a0, a1, n)


_pl, _cat = polylines.line, polylines.join


HANDWRITTEN: dict[str, list[np.ndarray]] = {
    "A": [_pl((0, 1), (0.35, 0), (0.7, 1)), _pl((0.15, 0.6), (0.55, 0.6))],
    "C": [_arc(0.4, 0.5, 0.38, 0.5, 45, 315)],
    "E": [_pl((0.65, 0), (0, 0), (0, 1), (0.65, 1)), _pl((0, 0.5), (0.5, 0.5))],
    "F": [_pl((0.65, 0), (0, 0), (0, 1)), _pl((0, 0.5), (0.5, 0.5))],
    "H": [_pl((0, 0), (0, 1)), _pl((0.65, 0), (0.65, 1)), _pl((0, 0.5), (0.65, 0.5))],
    "K": [_pl((0, 0), (0, 1)), _pl((0.65, 0), (0, 0.55), (0.65, 1))],
    "M": [_pl((0, 1), (0, 0), (0.4, 0.6), (0.8, 0), (0.8, 1))],
    "N": [_pl((0, 1), (0, 0), (0.65, 1), (0.65, 0))],
    "P": [_cat(_pl((0, 1), (0, 0), (0.3, 0)), _arc(0.3, 0.25, 0.3, 0.25, 90, -90), _pl((0, 0.5)))],
    "R": [_cat(_pl((0, 1), (0, 0), (0.3, 0)), _arc(0.3, 0.25, 0.3, 0.25, 90, -90), _pl((0, 0.5), (0.25, 0.5), (0.65, 1)))],
    "T": [_pl((0, 0), (0.7, 0)), _pl((0.35, 0), (0.35, 1))],
    "U": [_cat(_pl((0, 0), (0, 0.65)), _arc(0.33, 0.65, 0.33, 0.35, 180, 360), _pl((0.66, 0)))],
    "V": [_pl((0, 0), (0.35, 1), (0.7, 0))],
    "W": [_pl((0, 0), (0.2, 1), (0.4, 0.3), (0.6, 1), (0.8, 0))],
    "X": [_pl((0, 0), (0.7, 1)), _pl((0.7, 0), (0, 1))],
    "Y": [_pl((0, 0), (0.35, 0.5), (0.7, 0)), _pl((0.35, 0.5), (0.35, 1))],
    "a": [_cat(_arc(0.3, 0.55, 0.28, 0.42, 40, 395), _pl((0.6, 0.1), (0.6, 0.9), (0.75, 1.0)))],
    "c": [_arc(0.35, 0.5, 0.33, 0.48, 50, 310)],
    "d": [_arc(0.3, 0.7, 0.28, 0.3, 10, 370), _pl((0.58, 0), (0.58, 1))],
    "e": [_cat(_pl((0.05, 0.55), (0.62, 0.55)), _arc(0.33, 0.55, 0.3, 0.45, 0, 310))],
    "h": [_pl((0, 0), (0, 1)), _cat(_arc(0.28, 0.65, 0.28, 0.25, 180, 0), _pl((0.56, 1)))],
    "k": [_pl((0, 0), (0, 1)), _pl((0.5, 0.45), (0, 0.75), (0.55, 1))],
    "m": [_pl((0, 0.2), (0, 1)), _cat(_arc(0.2, 0.4, 0.2, 0.2, 180, 0), _pl((0.4, 1))), _cat(_arc(0.6, 0.4, 0.2, 0.2, 180, 0), _pl((0.8, 1)))],
    "n": [_pl((0, 0.1), (0, 1)), _cat(_arc(0.3, 0.4, 0.3, 0.3, 180, 0), _pl((0.6, 1)))],
    "r": [_pl((0, 0), (0, 1)), _arc(0.35, 0.35, 0.35, 0.3, 180, 45)],
    "t": [_cat(_pl((0.25, 0), (0.25, 0.85)), _arc(0.45, 0.85, 0.2, 0.15, 180, 300)), _pl((0, 0.3), (0.55, 0.3))],
    "u": [_cat(_pl((0, 0), (0, 0.7)), _arc(0.3, 0.7, 0.3, 0.3, 180, 360), _pl((0.6, 0))), _pl((0.6, 0), (0.6, 1))],
    "v": [_pl((0, 0), (0.3, 1), (0.6, 0))],
    "w": [_pl((0, 0), (0.18, 1), (0.36, 0.3), (0.54, 1), (0.72, 0))],
    "x": [_pl((0, 0), (0.6, 1)), _pl((0.6, 0), (0, 1))],
}

TRAIN_HANDWRITTEN = "".join(ch for ch in HANDWRITTEN if ch not in HELDOUT_LETTERS)


def handwritten_letter(ch: str, rng: np.random.Generator) -> np.ndarray:
    """``ch`` (a key of HANDWRITTEN) drawn with the canvas brush like a hand would: control-point wobble,
    slant, aspect, a little rotation, sampled by a mouse (a point every 3-20 px).  (280, 280) uint8 ink."""
    strokes = [s + rng.normal(0, 0.012, 2) + rng.normal(0, 0.006, s.shape) for s in HANDWRITTEN[ch]]
    allp = np.concatenate(strokes)
    centre = (allp.min(0) + allp.max(0)) / 2
    aspect, slant, a = rng.uniform(0.75, 1.3), rng.uniform(-0.15, 0.35), np.deg2rad(rng.uniform(-8, 8))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    height = CANVAS * rng.uniform(0.3, 0.85)
    brush = int(min(_pen(rng), max(6, 0.25 * height)))
    pts = []
    for s in strokes:
        p = s - centre
        p[:, 0] = p[:, 0] * aspect - slant * p[:, 1]
        p = p @ rot.T * height
        d = polylines.lengths(p)
        at = np.concatenate([np.arange(0, d[-1], rng.uniform(3, 20)), [d[-1]]])
        pts.append(polylines.at_lengths(p, d, at) + rng.normal(0, 0.8, (len(at), 2)))
    allp = np.concatenate(pts)
    lo, hi = allp.min(0) - brush / 2, allp.max(0) + brush / 2
    shift = np.array([rng.uniform(0, f) if f > 0 else f / 2 for f in CANVAS - (hi - lo)]) - lo
    ink = np.zeros((CANVAS, CANVAS), np.uint8)
    for p in pts:
        cv2.polylines(ink, [np.round((p + shift) * 4).astype(np.int32)], False, 255, brush, cv2.LINE_AA, shift=2)
    return ink


def printed(text: str, rng: np.random.Generator, font_list: list[Path], shape: tuple[int, int] = (CANVAS, CANVAS)) -> np.ndarray:
    """``text`` printed in a random font: one of ``font_list`` (PIL), PIL's default font, or one of OpenCV's
    Hershey fonts (``cv2.putText``), as big as fits, somewhere in a (h, w) uint8 ink picture."""
    h, w = shape
    which = rng.random()
    if which < 0.35:
        img = np.zeros((h, w), np.uint8)
        font = HERSHEY[int(rng.integers(len(HERSHEY)))] | (cv2.FONT_ITALIC if rng.random() < 0.25 else 0)
        thick = int(rng.integers(1, 4))
        (tw, th), base = cv2.getTextSize(text, font, 1.0, thick)
        scale = min((w * 0.9) / tw, (h * 0.85) / (th + base)) * rng.uniform(0.5, 1.0)
        thick = max(1, int(thick * scale * rng.uniform(0.6, 1.2)))
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        org = (int(rng.uniform(0, max(1, w - tw))), int(th + rng.uniform(0, max(1, h - th - base))))
        cv2.putText(img, text, org, font, scale, 255, thick, cv2.LINE_AA)
        return img
    from PIL import Image, ImageDraw

    path = None
    if which < 0.85 and font_list:
        having = [p for p in font_list if all(_has_glyph(str(p), ch) for ch in text if not ch.isspace())]
        path = str(having[int(rng.integers(len(having)))]) if having else None
    probe = _font(path, 100)
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=probe)
    size = int(100 * min((w * 0.9) / max(1, right - left), (h * 0.85) / max(1, bottom - top)) * rng.uniform(0.5, 1.0))
    font = _font(path, max(8, size))
    im = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(im)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text((rng.uniform(0, max(1, w - (right - left))) - left, rng.uniform(0, max(1, h - (bottom - top))) - top), text, fill=255, font=font)
    return np.asarray(im)


WORDS = ("hello", "cat", "dog", "name", "test", "yes", "ok", "thanks", "happy", "tree", "house", "apple", "Monday", "Anna", "Peter",
         "Hi there", "how are you", "TODO", "Math", "draw", "paper", "water", "sun", "Mark", "help", "Quick brown fox", "CAPS",
         "Hey!", "Nice", "Tuesday", "Dear Sir", "Total:", "Name:", "Date:", "My dog", "the end", "love", "party", "coffee", "cheers",
         "Kate", "room", "wait", "team", "next", "start", "stop", "exit", "menu", "photo")


def _word(rng) -> str:
    """A word or short line: from WORDS, or random letters; never one made mostly of digit-shaped letters (``lol`` is 101)."""
    while True:
        if rng.random() < 0.6:
            text = WORDS[int(rng.integers(len(WORDS)))]
        else:
            alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            text = "".join(alphabet[int(i)] for i in rng.integers(len(alphabet), size=int(rng.integers(3, 9))))
        letters = [ch for ch in text if ch.isalpha()]
        if len(letters) >= 2 and sum(ch not in DIGIT_LIKE_LETTERS for ch in letters) >= max(2, len(letters) / 2):
            return text


def handwritten_word(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """3-6 handwritten letters side by side, like a word written on the canvas.  (h, w) uint8 ink."""
    letters = [handwritten_letter(TRAIN_HANDWRITTEN[int(rng.integers(len(TRAIN_HANDWRITTEN)))], rng) for _ in range(int(rng.integers(3, 7)))]
    crops = []
    for ink in letters:
        ys, xs = np.nonzero(ink > 40)
        crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        k = 100 / crop.shape[0]
        crops.append(cv2.resize(crop, (max(1, int(crop.shape[1] * k)), 100), interpolation=cv2.INTER_AREA))
    gap = int(rng.integers(5, 30))
    row = np.zeros((100, sum(c.shape[1] for c in crops) + gap * (len(crops) - 1)), np.uint8)
    x = 0
    for c in crops:
        row[:, x : x + c.shape[1]] = np.maximum(row[:, x : x + c.shape[1]], c)
        x += c.shape[1] + gap
    return _fit(row, shape, rng)


def _fit(ink: np.ndarray, shape: tuple[int, int], rng, fill: tuple[float, float] = (0.5, 0.95)) -> np.ndarray:
    """``ink`` scaled (aspect kept) to ``fill`` of an (h, w) picture, somewhere in it."""
    h, w = shape
    k = min(h / ink.shape[0], w / ink.shape[1]) * rng.uniform(*fill)
    small = cv2.resize(ink, (max(1, int(ink.shape[1] * k)), max(1, int(ink.shape[0] * k))), interpolation=cv2.INTER_AREA)
    out = np.zeros((h, w), np.uint8)
    y, x = int(rng.uniform(0, h - small.shape[0] + 1)), int(rng.uniform(0, w - small.shape[1] + 1))
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def as_upload(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray | bytes:
    """(h, w) uint8 ink -> a picture as the app receives one, three ways in turn of chance:
    a canvas drawing, white ink on transparent (``as_picture``) or on the dark canvas (opaque black RGBA),
    both 280x280; or a photo or scan of paper, dark ink (black, blue, red, green, pencil grey) on light
    paper at an upload's size (600x600 two times in five), uneven light, noise, sometimes JPEG bytes."""
    r = rng.random()
    if r < 0.5:
        square = ink if ink.shape == (CANVAS, CANVAS) else _fit(ink, (CANVAS, CANVAS), rng, (0.8, 1.0))
        if r < 0.25:
            return as_picture_canvas(square)
        rgba = np.full((CANVAS, CANVAS, 4), 255, np.uint8)
        rgba[..., :3] = square[..., None]
        return rgba
    h, w = _upload_side(rng)
    if ink.shape[1] > 1.8 * ink.shape[0]:  # a line of text: a wide picture
        w = max(w, int(h * ink.shape[1] / ink.shape[0] * rng.uniform(0.7, 1.0)))
    ink = _fit(ink, (h, w), rng, (0.35, 0.9)).astype(np.float32) / 255
    paper = np.array(_jitter((238, 236, 228), rng, 17), np.float32)
    pen = np.array(((20, 20, 25), (25, 40, 150), (170, 30, 30), (30, 110, 50), (90, 90, 90))[int(rng.integers(5))], np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1 + rng.uniform(-0.12, 0.12) * (xx / w - 0.5) + rng.uniform(-0.12, 0.12) * (yy / h - 0.5)
    rgb = (paper * (1 - ink[..., None]) + pen * ink[..., None]) * light[..., None]
    return _finish(np.clip(rgb, 0, 255).astype(np.uint8), rng)


def as_picture_canvas(ink: np.ndarray) -> np.ndarray:
    """(280, 280) ink -> the canvas' RGBA: white ink on transparent (``as_picture``'s canvas half)."""
    rgba = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = ink
    return rgba


def upload_picture(category: str, rng: np.random.Generator) -> tuple[str, np.ndarray | bytes]:
    """One picture of ``category`` (UPLOAD_CATEGORIES) as the app receives it: (detail, picture)."""
    g = SPLITS["train"]
    font_list = fonts("train")
    if category == "faces":
        pic, detail = face(rng)
        return detail, pic
    if category == "emoji":
        pic, detail = emoji(rng)
        return detail, pic
    if category == "letters":
        if rng.random() < 0.5:
            ch = TRAIN_HANDWRITTEN[int(rng.integers(len(TRAIN_HANDWRITTEN)))]
            return f"handwritten {ch}", as_upload(handwritten_letter(ch, rng), rng)
        ch = g.letters[int(rng.integers(len(g.letters)))]
        return f"printed {ch}", as_upload(printed(ch, rng, font_list), rng)
    if category == "text":
        if rng.random() < 0.3:
            return "handwritten word", as_upload(handwritten_word(rng, (140, 500)), rng)
        text = _word(rng)
        return "printed " + ("line" if " " in text else "word"), as_upload(printed(text, rng, font_list, (100, int(100 * max(3, len(text) * 0.6)))), rng)
    if category == "scribbles":
        style = ("spline", "spline", "scrawl")[int(rng.integers(3))]
        if style == "scrawl":  # one long random walk of the mouse, turning smoothly
            heading, p = rng.uniform(0, 2 * np.pi), rng.uniform(80, 200, 2)
            pts = [p]
            for _ in range(int(rng.integers(40, 120))):
                heading += rng.normal(0, 0.6)
                p = np.clip(p + 12 * np.array([np.cos(heading), np.sin(heading)]), 20, CANVAS - 20)
                pts.append(p)
            ink = np.zeros((CANVAS, CANVAS), np.uint8)
            cv2.polylines(ink, [np.array(pts, np.int32)], False, 255, _pen(rng), cv2.LINE_AA)
            return style, as_upload(ink, rng)
        return style, as_upload(scribble(rng, style), rng)
    if category == "shapes":
        if rng.random() < 0.3:  # a doodle of strokes
            return "doodle", as_upload(doodle(rng), rng)
        ink, name = shape(rng, g.shapes)
        if rng.random() < 0.3:  # a coloured, filled shape on a background, as clip art comes
            h, w = _upload_side(rng)
            img = _background(rng, h, w)
            mask = cv2.resize(cv2.dilate(ink, np.ones((9, 9), np.uint8)), (w, h)) > 127
            if name in ("triangle", "square", "star"):  # closed outlines: fill them
                contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                filled = np.zeros((h, w), np.uint8)
                cv2.drawContours(filled, contours, -1, 255, -1)
                mask = filled > 0
            img[mask] = _colour(rng)
            return f"clip art {name}", _finish(img, rng)
        return name, as_upload(ink, rng)
    raise ValueError(f"category must be one of {UPLOAD_CATEGORIES}, not {category!r}")


def upload_pictures(n: int, seed: int, categories: tuple[str, ...] = UPLOAD_CATEGORIES) -> Iterator[Picture]:
    """Yields ``n`` pictures of ``categories`` in turn: (category, detail, picture); deterministic per seed.
    Training uses seeds >= TRAIN_SEEDS_FROM, measurements seeds below it."""
    for c in categories:
        if c not in UPLOAD_CATEGORIES:
            raise ValueError(f"category must be one of {UPLOAD_CATEGORIES}, not {c!r}")
    rng = np.random.default_rng([seed, _UPLOAD_SALT])
    for i in range(n):
        category = categories[i % len(categories)]
        detail, pic = upload_picture(category, rng)
        yield category, detail, pic


TOUCH_GAP = (-0.3, 0.05)  # the gap between neighbours' ink boxes, x the digit height: overlapping (< 0) to just apart
TRIPLES = 0.2  # the share of groups of three digits (the rest are pairs)


def written_together(digits: np.ndarray, rng: np.random.Generator, width_fraction: float) -> np.ndarray:
    """MNIST digits (k, 28, 28) uint8 written on one line with no room between them -> (h, w) uint8 ink.

    Each digit is redrawn along its centre line (``synthetic.centre_line``) at about one height (+-12%), a
    little up or down, and placed ``TOUCH_GAP`` of the height from the previous one's ink box (overlapping by at
    most 60% of the narrower one's width), so most neighbours touch or cross: what a number looks like when
    its digits are written too close to part.  One brush ``width_fraction`` of the height wide draws them all."""
    from digitlab.data import synthetic

    height = 120
    parts = []
    for d in digits:
        ridge = synthetic.centre_line(d, 168).astype(np.uint8)  # MNIST's 20 of 28 px: 120 px tall
        ys, xs = np.nonzero(ridge)
        crop = ridge[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        k = height * rng.uniform(0.88, 1.12) / crop.shape[0]
        parts.append(cv2.resize(crop, (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k))), interpolation=cv2.INTER_NEAREST))
    margin = height // 2
    lefts, x = [], margin
    for i, part in enumerate(parts):
        if i:
            overlap = 0.6 * min(part.shape[1], parts[i - 1].shape[1])  # side by side still: a 1 never crosses its neighbour
            x = max(margin, x + int(max(rng.uniform(*TOUCH_GAP) * height, -overlap)))
        lefts.append(x)
        x += part.shape[1]
    ink = np.zeros((2 * height + 2 * margin, x + margin), np.uint8)
    for left, part in zip(lefts, parts):
        top = margin + height // 2 + int(rng.uniform(-0.1, 0.1) * height) - part.shape[0] // 2 + (height - part.shape[0]) // 4
        ink[top : top + part.shape[0], left : left + part.shape[1]] |= part
    brush = max(1, round(width_fraction * height))
    ink = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (brush, brush))) * 255
    ys, xs = np.nonzero(ink)
    return ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def touching_digits(digits: np.ndarray, labels: np.ndarray, n: int, seed: int, widths: tuple[float, float] = (0.04, 0.25)) -> Iterator[Picture]:
    """Yields ``n`` pictures of two (or, ``TRIPLES`` of the time, three) digits drawn from ``digits`` (N, 28, 28)
    written touching (``written_together``), as a canvas drawing or on paper (``as_picture``):
    ("touching digits", "<labels>", picture).  Not one digit: the gate learns to refuse them, so a number
    drawn on the one-digit canvas is refused and the Numbers reader cuts a pair it would read as one digit."""
    rng = np.random.default_rng([seed, _UPLOAD_SALT, 2])
    for _ in range(n):
        pick = rng.choice(len(digits), 3 if rng.random() < TRIPLES else 2, replace=False)
        ink = written_together(digits[pick], rng, float(rng.uniform(*widths)))
        canvas = _fit(ink, (CANVAS, CANVAS), rng, (0.5, 0.95))
        yield "touching digits", "".join(str(int(labels[i])) for i in pick), as_picture(canvas, rng)


def digit_uploads(digits: np.ndarray, labels: np.ndarray, n_printed: int, seed: int, widths: tuple[float, float] = (0.04, 0.25)) -> Iterator[Picture]:
    """The positives' counterpart of ``upload_pictures``: MNIST digits (N, 28, 28) redrawn with a canvas brush
    (``synthetic.restroke``), then ``n_printed`` digits 0-9 printed like the letters (``printed``), all rendered
    by ``as_upload`` like the non-digits, so that neither the paper, the size, the ink colour nor the font
    is what tells a non-digit apart.  Yields ("drawn upload" or "printed upload", "<digit>", picture)."""
    from digitlab.data import synthetic

    rng = np.random.default_rng([seed, _UPLOAD_SALT])
    for i, (d, y) in enumerate(zip(digits, labels)):
        rgba = synthetic.restroke(d, float(rng.uniform(*widths)), seed=seed * 1_000_003 + i)
        yield "drawn upload", str(int(y)), as_upload(rgba[..., 3], rng)
    font_list = fonts("train")
    for i in range(n_printed):
        yield "printed upload", str(i % 10), as_upload(printed(str(i % 10), rng, font_list), rng)
