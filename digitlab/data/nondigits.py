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

CANVAS = 280  # the app's drawing canvas side; pictures are drawn at this size
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
# Letters that *are* digits in shape are not "non-digits": a model that reads O as 0 or l as 1 is right to.
DIGIT_LIKE_LETTERS = set("OoIliZzSsBbgq")  # 0, 1, 2, 5, 8, 6, 9 in letter form
LETTERS = "".join(ch for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if ch not in DIGIT_LIKE_LETTERS)
HELDOUT_LETTERS = "EKRWaekmw"  # never drawn for training, in either case, so "unseen letters" can be measured
TRAIN_LETTERS = "".join(ch for ch in LETTERS if ch not in HELDOUT_LETTERS)
KINDS = ("scribble", "letter", "noise", "shape")
TRAIN_SHAPES = ("triangle", "square", "star", "cross", "plus", "hash", "arrow", "wave")
HELDOUT_SHAPES = ("filled_square", "spiral", "smiley", "heart", "house", "checkmark")
FRESH_SHAPES = ("moon", "sun", "flower", "cloud", "eye", "fish")
SHAPES = TRAIN_SHAPES + HELDOUT_SHAPES + FRESH_SHAPES
# Symbols printed from the training fonts, as more negatives.  Left out: digit-like ones ($ & § ! ∂ ∫ β ε ¶ ♦),
# and ones that are a held-out or fresh kind in another form (√ checkmark, ♥ heart, ☺ smiley, ■ square, @ spiral, ☀ sun, α 'a').
SYMBOLS = "#%*?<>{}[]~^€£¥∞≈≠∑∏∇∆γλμπφψωΓΔΛΞΠΣΦΨΩ←↑→↓↔↕⇒⇔♠♣♪♫©®±×÷"
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
        rgba = np.zeros((CANVAS, CANVAS, 4), np.uint8)
        rgba[..., :3] = 255
        rgba[..., 3] = ink
        return rgba
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


def prepare_pictures(pictures: Iterable[Picture]) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Send pictures through ``preprocess.prepare`` -> (images (M, 28, 28), no_ink (M,) bool, kinds, details).
    No-ink pictures get an all-zero image."""
    from digitlab import preprocess

    images, no_ink, kinds, details = [], [], [], []
    for kind, detail, pic in pictures:
        p = preprocess.prepare(pic)
        no_ink.append(p.no_ink)
        images.append(np.zeros((28, 28), np.float32) if p.no_ink else p.image)
        kinds.append(kind)
        details.append(detail)
    if not images:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, bool), [], []
    return np.stack(images), np.array(no_ink), kinds, details


# ----------------------------------------------------------------------------- the measurement sets


MEASURE_SEEDS = {"in_distribution": 1, "held_out": 2, "fresh": 3}  # the gate trains on seeds >= 1000
MEASURE_SPLITS = {"in_distribution": "train", "held_out": "heldout", "fresh": "fresh"}
DRAWN_WIDTHS = (0.04, 0.30)  # the brush range of evaluation/drawn_digits.py; training used up to 0.25


def measurement_sets(x_test_raw: np.ndarray, y_test: np.ndarray, n_non_digits: int = 400, n_digits: int = 1000) -> dict:
    """The pictures every "not a digit" figure is measured on, preprocessed:

    non_digits: {"in_distribution": train generators, seed 1; "held_out": heldout generators, seed 2;
                 "fresh": fresh generators, seed 3}
    digits:     {"drawn": MNIST *test* digits redrawn with a 0.04-0.30 brush, "printed": digits from the
                 held-out fonts}
    Each value is ``prepare_pictures``' (images, no_ink, kinds, details)."""
    rng = np.random.default_rng(MEASURE_SEEDS["held_out"])
    idx = np.sort(rng.choice(len(x_test_raw), min(n_digits, len(x_test_raw)), replace=False))
    return {
        "non_digits": {name: prepare_pictures(non_digit_pictures(n_non_digits, MEASURE_SEEDS[name], MEASURE_SPLITS[name]))
                       for name in MEASURE_SEEDS},
        "digits": {
            "drawn": prepare_pictures(drawn_digit_pictures(x_test_raw[idx], y_test[idx], MEASURE_SEEDS["held_out"], DRAWN_WIDTHS)),
            "printed": prepare_pictures(printed_digit_pictures(max(10, n_digits // 4), MEASURE_SEEDS["held_out"], "heldout")),
        },
    }


def rejection_summary(rejected: np.ndarray, no_ink: np.ndarray, kinds: list[str], details: list[str]) -> dict:
    """Share rejected overall, per kind, per detail, and of the letters no training picture showed."""
    rejected, kinds, details = np.asarray(rejected, bool), np.asarray(kinds), np.asarray(details)
    unseen = np.isin(details, list(HELDOUT_LETTERS)) & (kinds == "letter")
    return {
        "n": int(len(rejected)),
        "rejected": float(rejected.mean()) if len(rejected) else None,
        "no_ink": float(np.mean(no_ink)) if len(rejected) else None,
        "rejected_by_kind": {k: float(rejected[kinds == k].mean()) for k in dict.fromkeys(kinds.tolist())},
        "rejected_by_detail": {k: float(rejected[details == k].mean()) for k in sorted(set(details.tolist()))},
        "unseen_letters_rejected": float(rejected[unseen].mean()) if unseen.any() else None,
    }
