"""Stroke-domain augmentation for TRAINING: MNIST training digits re-drawn the way a canvas draws them.

MNIST digits are pen-on-paper scans: strokes of varying width with soft edges, smooth curves.
Canvas drawings are one uniform brush along polylines sampled by a mouse or a tablet, often from a
few points (angular loops), and some writers follow conventions MNIST's writers rarely do.  This
module turns a digit into such a drawing, once per run, into a pool the training pipeline mixes into
its batches (``digitlab.training.recipe``):

    skeleton   hit-or-miss thinning (8 Golay kernels, OpenCV), many digits at once in one mosaic
    edit       writing conventions, label-preserving (``EDITS``): a crossbar on a 7, a flag and a foot
               on a 1, the top of a 4 closed, a gap in the loop of a 9 or a 0, a slash or a dot in a 0, an 8
               as two circles (only when asked: ``Redraw.classes``)
    pen path   for ``pen_path`` of the digits, the pen's moves between strokes drawn as lines (a tablet
               trajectory replayed as one line: a crossed 7's bar joined to the end of its stem)
    polyline   the skeleton's contours simplified by ``cv2.approxPolyDP``: a fine tolerance (smooth)
               or, for ``few_points`` (and pen-path) digits, a coarse one (a few points, straight between)
    elastic    a smooth random displacement of the densified polylines (a different hand)
    brush      one uniform anti-aliased brush, its width a random fraction of the digit's height
    prepare    the picture through ``digitlab.preprocess.prepare``, like every picture a model sees

``edit_pool`` is writing-convention synthesis on its own: the same edits painted onto the MNIST digit
with a pen like MNIST's, so the digit keeps its scanned look and only the convention is new.

The benchmark's generator (``digitlab.data.handwriting_test``) is separate on purpose: another
thinning algorithm, other parameters and seeds, and its styles are drawn from templates, not MNIST.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import cv2
import numpy as np

from digitlab.data import polylines

UP = 2  # skeletons are taken at 2x (56 px), where an MNIST stroke is ~4-5 px wide
SIDE = 84  # the re-drawn digit's canvas (prepare crops and scales it like any drawing)
HEIGHT = 48.0  # the digit's height on it: a wide margin, so no brush reaches the edge (ink at the edge of a
# picture larger than 64 px makes preprocess take the paper as uneven and lift wide strokes off it)


@dataclass(frozen=True)
class Redraw:
    """How the pool is drawn (``TrainConfig.redraw_*`` fields; written into the model card)."""

    size: int = 12000  # training digits re-drawn once per run
    few_points: float = 0.3  # share drawn from a few points (coarse polyline tolerance)
    elastic: float = 0.0  # amplitude of the smooth displacement, as a fraction of the digit height; 0 = off
    brush_min: float = 0.06  # brush width as a fraction of the digit height (MNIST's strokes: ~0.11)
    brush_max: float = 0.22
    conventions: float = 0.0  # share of the digits of ``classes`` given a writing-convention edit
    pen_path: float = 0.0  # share drawn as one pen path through few points: the moves between strokes drawn too
    seed: int = 0
    classes: str = "01479"  # the digits a convention edit may be given (of EDITS' 0, 1, 4, 7, 8, 9)


# ----------------------------------------------------------------------------- skeleton (hit-or-miss thinning)

_K1 = np.array([[-1, -1, -1], [0, 1, 0], [1, 1, 1]], np.int32)
_K2 = np.array([[0, -1, -1], [1, 1, -1], [0, 1, 0]], np.int32)
KERNELS = [np.ascontiguousarray(np.rot90(k, r)) for r in range(4) for k in (_K1, _K2)]


def thin(mask: np.ndarray, max_iter: int = 40) -> np.ndarray:
    """Binary uint8 image (0/255), any size -> its skeleton (0/255) by iterated hit-or-miss thinning."""
    img = mask.copy()
    for _ in range(max_iter):
        before = img.copy()
        for k in KERNELS:
            img = cv2.subtract(img, cv2.morphologyEx(img, cv2.MORPH_HITMISS, k))
        if np.array_equal(img, before):
            break
    return img


def skeletons(x: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """(N, 28, 28) float [0, 1] digits -> (N, 56, 56) uint8 skeletons (0/255), thinned as mosaics of
    ``chunk`` digits (one OpenCV call per kernel for the whole mosaic: ~100x fewer calls)."""
    side, pad = 28 * UP, 2
    out = np.zeros((len(x), side, side), np.uint8)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk]
        cols = int(np.ceil(np.sqrt(len(part))))
        rows = int(np.ceil(len(part) / cols))
        tile = side + pad
        mosaic = np.zeros((rows * tile, cols * tile), np.uint8)
        for i, d in enumerate(part):
            big = cv2.resize(d.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
            r, c = divmod(i, cols)
            mosaic[r * tile : r * tile + side, c * tile : c * tile + side] = (big > 0.4) * 255
        thinned = thin(mosaic)
        for i in range(len(part)):
            r, c = divmod(i, cols)
            out[start + i] = thinned[r * tile : r * tile + side, c * tile : c * tile + side]
    return out


# ----------------------------------------------------------------------------- writing-convention edits


def _box(sk: np.ndarray):
    ys, xs = np.nonzero(sk)
    return ys, xs, ys.min(), ys.max(), xs.min(), xs.max()


def _crossbar_7(sk, rng):
    ys, xs, top, bottom, left, right = _box(sk)
    h = bottom - top + 1
    y = int(top + rng.uniform(0.4, 0.72) * h)  # people cross anywhere from just above the middle to low on the stem
    near = np.abs(ys - y) <= 1
    if not near.any():
        return None
    x = float(np.median(xs[near]))
    half = rng.uniform(0.16, 0.36) * h
    tilt = rng.uniform(-0.05, 0.05) * h
    start = (round(x - half * rng.uniform(0.9, 1.8)), round(y + tilt))  # a bar often reaches further left
    cv2.line(sk, start, (round(x + half * rng.uniform(0.8, 1.1)), round(y - tilt)), 255, 1)
    low = int(np.argmax(ys))
    return [((int(xs[low]), int(ys[low])), start)]  # the pen's move: from the end of the stem to the bar


def _flag_foot_1(sk, rng):
    ys, xs, top, bottom, left, right = _box(sk)
    h = bottom - top + 1
    tx = float(np.mean(xs[ys <= top + 1]))
    bx = float(np.mean(xs[ys >= bottom - 1]))
    # the flag: from a short tick to a long diagonal reaching half-way down (continental ones), turned
    # 30-65 degrees to the left of the stem's own direction, so a slanted 1's flag does not lie along it
    # (flatter and long, it is a 7's bar)
    down = np.array([bx - tx, float(h)]) / np.hypot(bx - tx, h)
    turn = np.deg2rad(rng.uniform(30, 65))
    turned = [np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ down for a in (turn, -turn)]
    flag = min(turned, key=lambda v: v[0]) * rng.uniform(0.2, 0.75) * h
    cv2.line(sk, (round(tx), int(top)), (round(tx + flag[0]), round(top + flag[1])), 255, 1)
    if rng.uniform() < 0.5:
        half = rng.uniform(0.15, 0.3) * h
        start = (round(bx - half), int(bottom))
        cv2.line(sk, start, (round(bx + half), int(bottom)), 255, 1)
        return [((round(bx), int(bottom)), start)]  # the pen's move: from the end of the stem to the foot
    return []


def _close_4(sk, rng):
    """A closed 4: the arm's top joined to the stem's top, when the stem is the taller (an apex, not
    a flat lid) and the bar reaches past the stem (else the closed 4 is a 9)."""
    ys, xs, top, bottom, left, right = _box(sk)
    h, mid = bottom - top + 1, (left + right) / 2
    upper = ys <= top + 0.45 * h
    arm, stem = upper & (xs < mid), upper & (xs >= mid)
    if not arm.any() or not stem.any():
        return None
    a, s = np.argmin(np.where(arm, ys, 10**6)), np.argmin(np.where(stem, ys, 10**6))
    bar_right = (ys >= top + 0.4 * h) & (ys <= top + 0.85 * h) & (xs > xs[s] + 0.12 * h)
    if ys[s] > ys[a] - 0.08 * h or not bar_right.any():  # no apex, or no bar past the stem: closed, it would read 9
        return None
    cv2.line(sk, (int(xs[a]), int(ys[a])), (int(xs[s]), int(ys[s])), 255, 1)
    return []


def _gap(lo: float, hi: float, side: str = "any"):
    """An edit that opens a loop: erase the skeleton around a random point between ``lo`` and ``hi``
    of the digit's height (from the top), on its ``side`` ("right" half, or "any")."""

    def edit(sk, rng):
        ys, xs, top, bottom, left, right = _box(sk)
        h, mid = bottom - top + 1, (left + right) / 2
        inside = (ys >= top + lo * h) & (ys <= top + hi * h)
        if side == "right":
            inside &= xs >= mid
        band = np.flatnonzero(inside)
        if band.size == 0:
            return None
        i = rng.choice(band)
        cv2.circle(sk, (int(xs[i]), int(ys[i])), max(2, round(rng.uniform(0.04, 0.09) * h)), 0, -1)
        return []

    return edit


def _slash_0(sk, rng):
    """A slash through the 0 (Scandinavian, engineering and computing forms: Ø), corner to corner and a
    little past the oval; now and then the other way round (\\)."""
    ys, xs, top, bottom, left, right = _box(sk)
    h, w = bottom - top + 1, right - left + 1
    if w < 0.25 * h:  # a 0 drawn as a bar: no oval to cross
        return None
    over = rng.uniform(0.0, 0.15, 2) * (w, h)
    a, b = (left - over[0], bottom + over[1]), (right + over[0], top - over[1])
    if rng.uniform() < 0.25:
        a, b = (left - over[0], top - over[1]), (right + over[0], bottom + over[1])
    a, b = (tuple(int(np.clip(round(v), 0, sk.shape[0] - 1)) for v in end) for end in (a, b))
    cv2.line(sk, a, b, 255, 1)
    end = int(np.argmin(ys))  # an oval is begun and closed at its top: the pen leaves it there for the slash
    return [((int(xs[end]), int(ys[end])), a)]


def _dot_0(sk, rng):
    """A dot in the middle of the 0 (typewriter and programmer's zero)."""
    ys, xs, top, bottom, left, right = _box(sk)
    h, w = bottom - top + 1, right - left + 1
    if w < 0.3 * h:
        return None
    c = np.array([(left + right) / 2, (top + bottom) / 2]) + rng.normal(0, 0.05, 2) * (w, h)
    r = max(1.0, rng.uniform(0.02, 0.05) * h)
    a, b = (round(c[0]), round(c[1])), (round(c[0] + r), round(c[1] + r * 0.5))
    cv2.line(sk, a, b, 255, 1)
    return []


def _two_circles_8(sk, rng):
    """The 8 as two circles, one over the other, apart or just touching (school scripts that build the 8 from two round
    loops): the skeleton cut at its waist, each half redrawn as the ellipse that fits its outer edge (a thinning leaves
    spurs there), the halves 0-8% of the height apart (``polylines.two_circles``, the real strokes' cut too).  Drawn
    as one pen path, the pen's move from the top circle to the bottom one is drawn as well: a circle is begun and closed
    at its top (as the 0's oval, ``_slash_0``), so the move runs from the top circle's top, across it, to the bottom one's."""
    ys, xs, top, bottom, left, right = _box(sk)
    loops = polylines.two_circles(np.stack([xs, ys], -1).astype(np.float64), rng, rounded=True)
    if loops is None:
        return None
    sk[:] = 0
    loops = [np.clip(np.round(loop), 0, sk.shape[0] - 1).astype(np.int32) for loop in loops]
    for loop in loops:
        cv2.polylines(sk, [loop], False, 255, 1)
    return [tuple(tuple(int(v) for v in loop[int(np.argmin(loop[:, 1]))]) for loop in loops)]


def _one_of(*choices):
    """An edit that applies one of ``choices`` ((edit, weight), ...), drawn by weight."""
    edits, weights = zip(*choices)
    p = np.asarray(weights, float) / sum(weights)

    def edit(sk, rng):
        return edits[int(rng.choice(len(edits), p=p))](sk, rng)

    return edit


# Each edit draws into the skeleton in place and returns None when it does not apply, else the pen's
# moves between strokes it implies [((x, y) from, (x, y) to)], drawn only for digits drawn as one pen path.
# Where loops are left open: a 0 at the top, a 9 where its loop meets the stem (right; elsewhere an open
# 9 reads 4 or 5).  An open 6 was tried and dropped: cut anywhere but its curl it reads L or b.
EDITS = {0: _one_of((_gap(0.0, 0.25), 0.5), (_slash_0, 0.35), (_dot_0, 0.15)), 1: _flag_foot_1, 4: _close_4, 7: _crossbar_7,
         8: _two_circles_8, 9: _gap(0.0, 0.3, "right")}
EDITS_VERSION = 8  # part of every cached pool's key: 2 turned a 1's flag away from its stem, let a 7's bar reach further left;
# 3 let a 1's flag reach 0.75 of the height (was 0.6), turned at most 65 degrees (was 70);
# 4 a 0 is slashed or dotted as often as it is opened; 5 the pen's move to a 0's slash starts at the oval's top;
# 7 the 8 as two circles, given only when asked (the classes; 6 was a branch's, never kept); 8 the pen's move between
# the 8's two circles starts at the top circle's top


# ----------------------------------------------------------------------------- skeleton -> drawing


def _polylines(sk: np.ndarray, epsilon: float) -> list[np.ndarray]:
    contours, _ = cv2.findContours(sk, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    out = []
    for c in contours:
        if len(c) >= 3:
            p = cv2.approxPolyDP(c, epsilon, True)[:, 0].astype(np.float64)
            out.append(np.vstack([p, p[:1]]))
    return out


def _elastic(lines: list[np.ndarray], amplitude: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Densify every polyline (a point every 2 px) and move it by a smooth random field: two sine
    waves per axis, wavelength about the digit height, ``amplitude`` x the height at most."""
    if amplitude <= 0:
        return lines
    h = 28.0 * UP
    waves = [(rng.uniform(0.4, 1.2, 2) / h * 2 * np.pi * rng.choice([-1, 1], 2), rng.uniform(0, 2 * np.pi), rng.uniform(0, amplitude * h / 2))
             for _ in range(4)]
    out = []
    for p in lines:
        s = polylines.lengths(p)
        q = polylines.at_lengths(p, s, np.linspace(0, s[-1], max(2, int(s[-1] / 2) + 1)))
        d = np.zeros_like(q)
        for k, (f, phase, a) in enumerate(waves):
            d[:, k % 2] += a * np.sin(q @ f + phase)
        out.append(q + d)
    return out


def _piece_moves(sk: np.ndarray) -> list:
    """The pen's moves between the separate pieces of a skeleton, top piece first: from the lowest
    point of one (where a stroke usually ends) to the top-left point of the next (where one starts)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(sk, connectivity=8)
    pieces = sorted((i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= 3), key=lambda i: stats[i, cv2.CC_STAT_TOP])
    moves = []
    for a, b in zip(pieces, pieces[1:]):
        ya, xa = np.nonzero(labels == a)
        yb, xb = np.nonzero(labels == b)
        end, start = int(np.argmax(ya)), int(np.argmin(yb + xb))
        moves.append(((int(xa[end]), int(ya[end])), (int(xb[start]), int(yb[start]))))
    return moves


def redraw_one(sk: np.ndarray, label: int, r: Redraw, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """One skeleton (56, 56) uint8 -> (the drawing (SIDE, SIDE) uint8, white on black; edited?)."""
    sk = sk.copy()
    moves = EDITS[label](sk, rng) if label in EDITS and str(label) in r.classes and rng.uniform() < r.conventions and sk.any() else None
    edited = moves is not None
    if edited:  # an opened loop can leave crumbs of skeleton that a wide brush would turn into blots
        n, labels, stats, _ = cv2.connectedComponentsWithStats(sk, connectivity=8)
        sk[np.isin(labels, np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < 5))] = 0
    if rng.uniform() < r.pen_path:  # one pen path: the moves between strokes drawn too, few points
        for a, b in moves or []:  # the edit's own first: a move that joins two pieces leaves none between them
            cv2.line(sk, a, b, 255, 1)
        for a, b in _piece_moves(sk):
            cv2.line(sk, a, b, 255, 1)
        eps = rng.uniform(3.0, 7.0)
    else:
        eps = rng.uniform(2.5, 6.0) if rng.uniform() < r.few_points else rng.uniform(0.6, 1.5)  # 56-px units; the digit is ~40 px tall
    lines = _elastic(_polylines(sk, eps), r.elastic, rng)
    scale = HEIGHT / 40.0
    brush = max(1, round(rng.uniform(r.brush_min, r.brush_max) * HEIGHT))
    offset = (SIDE - 56 * scale) / 2
    ink = np.zeros((SIDE, SIDE), np.uint8)
    for p in lines:
        cv2.polylines(ink, [np.round((p * scale + offset) * 4).astype(np.int32)], False, 255, brush, cv2.LINE_AA, shift=2)
    return ink, edited


def _digits(x: np.ndarray, y: np.ndarray) -> None:
    """Refuse what the pools cannot draw from: ``x`` must be (N, 28, 28) floats in [0, 1] (MNIST's uint8 0-255
    would be thinned and painted as if every pixel were full ink), ``y`` (N,) labels."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype.kind != "f":
        raise ValueError(f"x: expected (N, 28, 28) floats in [0, 1], got {x.dtype} {x.shape} (divide MNIST's uint8 by 255)")
    if x.size and (float(x.min()) < 0 or float(x.max()) > 1):
        raise ValueError(f"x: expected floats in [0, 1], got values from {float(x.min()):g} to {float(x.max()):g}")
    if np.shape(y) != x.shape[:1]:
        raise ValueError(f"y: expected {x.shape[0]} labels, one per digit of x, got shape {np.shape(y)}")


def _cached(kind: str, x: np.ndarray, y: np.ndarray, params: dict, cache_dir, build) -> tuple[np.ndarray, np.ndarray]:
    """``build()`` -> (uint8 inputs, labels), kept in ``<cache_dir>/<kind>-<key>.npz`` (key: the digits,
    ``params`` and the preprocessing version) and reused by the next run with the same key."""
    from digitlab import preprocess

    key = hashlib.sha256(np.ascontiguousarray(x).tobytes() + np.asarray(y).tobytes()
                         + json.dumps({**params, "preprocess": preprocess.PREPROCESS_VERSION, "edits": EDITS_VERSION}, sort_keys=True).encode())
    from digitlab.files import cached_arrays

    return cached_arrays(None if cache_dir is None else cache_dir / f"{kind}-{key.hexdigest()[:16]}.npz", build)


def _redrawn(sk: np.ndarray, label: int, r: Redraw, rng: np.random.Generator):
    """One skeleton re-drawn (``redraw_one``) and prepared as the app reads its canvas (strokes on the black canvas):
    (``preprocess.prepare``'s result, given a writing-convention edit?)."""
    from digitlab import preprocess

    drawing, edited = redraw_one(sk, label, r, rng)
    return preprocess.prepare(drawing, invert="no", drawn_on=0.0), edited


def pool(x: np.ndarray, y: np.ndarray, r: Redraw, cache_dir=None, log=print) -> tuple[np.ndarray, np.ndarray]:
    """``r.size`` training digits (a seeded sample of ``x`` (N, 28, 28) float [0, 1], ``y`` (N,)) re-drawn
    and prepared: ((P, 28, 28) uint8 model inputs x 255, (P,) labels); cached in ``cache_dir`` (``_cached``)."""
    _digits(x, y)

    def build():
        t0 = time.time()
        rng = np.random.default_rng([r.seed, 1312])
        pick = rng.choice(len(x), size=min(r.size, len(x)), replace=False)
        sks = skeletons(x[pick])
        out = np.zeros((len(pick), 28, 28), np.uint8)
        edited = 0
        for i, (sk, label) in enumerate(zip(sks, y[pick])):
            p, e = _redrawn(sk, int(label), r, rng)
            edited += e
            out[i] = x[pick[i]] * 255 if p.no_ink else np.round(p.image * 255)  # no ink: keep the digit itself
        if log:
            log(f"stroke pool: {len(out)} digits re-drawn ({edited} with a writing-convention edit) in {time.time() - t0:.1f} s")
        return out, np.asarray(y[pick])

    from digitlab.files import cache_params

    return _cached("redraw", x, y, {**cache_params(r), "drawn_on": 0.0}, cache_dir, build)  # read as drawings since 2026-11-26


def redraw_copies(digit: np.ndarray, label: int, r: Redraw, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` re-drawings of one digit ((28, 28) float in [0, 1], labelled ``label``) as ``pool`` draws its digits, each
    prepared as the app reads its canvas: ((n, 28, 28) float32 in [0, 1], (n,) bool: given a writing-convention edit).
    To see what a recipe trains on (the app's Data page); ``r.size`` is not used."""
    _digits(np.asarray(digit)[None], np.asarray([label]))
    [sk] = skeletons(np.asarray(digit)[None])
    rng = np.random.default_rng([seed, 1312])
    out, edited = np.zeros((n, 28, 28), np.float32), np.zeros(n, bool)
    for i in range(n):
        p, edited[i] = _redrawn(sk, int(label), r, rng)
        out[i] = digit if p.no_ink else p.image
    return out, edited


def paint_edit(digit: np.ndarray, sk: np.ndarray, edited: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An edit made on the skeleton (``sk`` -> ``edited``, 56 px) painted onto the digit itself (28 px,
    float [0, 1]) with a pen like MNIST's: added strokes 3.5-5.5 px wide at 56 px (MNIST's ~2.3 px at 28),
    soft-edged; erased skeleton erased with its stroke.  An edit that both adds and erases redraws the digit (an 8 as
    two circles): its old strokes are erased first, then the whole edited skeleton is painted.  Returns the 28 px
    picture (not yet prepared)."""
    big = cv2.resize(digit.astype(np.float32), (56, 56), interpolation=cv2.INTER_LINEAR)
    added = ((edited > 0) & (sk == 0)).astype(np.uint8)
    removed = ((sk > 0) & (edited == 0)).astype(np.uint8)
    w = int(rng.integers(4, 6))
    ink = float(big.max())

    def paint(big, mask):
        pen = cv2.GaussianBlur(cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (w, w))).astype(np.float32), (0, 0), 0.8)
        return np.maximum(big, np.clip(pen * 1.2, 0, 1) * ink)

    def erase(big):
        big[cv2.dilate(removed, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (w + 5, w + 5))) > 0] = 0
        return big

    if added.any() and removed.any():
        big = paint(erase(big), (edited > 0).astype(np.uint8))
    elif added.any():
        big = paint(big, added)
    elif removed.any():
        big = erase(big)
    return np.clip(cv2.resize(big, (28, 28), interpolation=cv2.INTER_AREA), 0, 1)


def edit_pool(x: np.ndarray, y: np.ndarray, size: int, seed: int, classes=tuple(EDITS), cache_dir=None,
              log=print) -> tuple[np.ndarray, np.ndarray]:
    """Writing-convention synthesis: ``size`` training digits of ``classes`` (of those ``EDITS`` knows:
    0, 1, 4, 7, 8, 9), each given an edit painted with MNIST's own pen (``paint_edit``: the digit keeps its
    scan look) and prepared: ((P, 28, 28) uint8 model inputs x 255, (P,) labels); cached like ``pool``.
    ``x`` (N, 28, 28) float [0, 1], as ``pool``'s."""
    _digits(x, y)
    classes = sorted(set(int(c) for c in classes) & set(EDITS))
    from digitlab import preprocess

    def build():
        t0 = time.time()
        rng = np.random.default_rng([seed, 2718])
        eligible = np.flatnonzero(np.isin(y, classes))
        pick = rng.choice(eligible, size=min(int(size * 1.3) + 8, len(eligible)), replace=False)  # some edits do not apply
        sks = skeletons(x[pick])
        out, labels = [], []
        for i, sk in zip(pick, sks):
            edited = sk.copy()
            if not sk.any() or EDITS[int(y[i])](edited, rng) is None:
                continue
            p = preprocess.prepare(paint_edit(x[i], sk, edited, rng), invert="no")
            if not p.no_ink:
                out.append(np.round(p.image * 255).astype(np.uint8))
                labels.append(int(y[i]))
            if len(out) == size:
                break
        if log:
            log(f"convention pool: {len(out)} digits edited in {time.time() - t0:.1f} s")
        return np.stack(out) if out else np.zeros((0, 28, 28), np.uint8), np.asarray(labels, np.int64)

    return _cached("edits", x, y, {"size": size, "seed": seed, "classes": classes}, cache_dir, build)
