"""Pen strokes as polylines in a unit box (x right, y down, as on a screen): the primitives the procedural
drawings are made of.  The benchmark's conventions (``handwriting_test``) and the gate's handwritten letters
(``nondigits``) draw with them; each keeps its own shapes, parameters and seeds.  ``two_circles`` is the training
edits' 8 as two circles, for a real writer's pen path (``unipen``) and for an MNIST digit's skeleton
(``stroke_augment``) alike."""

from __future__ import annotations

import numpy as np


def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 32) -> np.ndarray:
    """(n, 2) points on an ellipse from a0 to a1 degrees (counter-clockwise on screen: y grows downwards)."""
    t = np.deg2rad(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(t), cy - ry * np.sin(t)], -1)


def lengths(points: np.ndarray) -> np.ndarray:
    """(K,) arc length along a polyline (K, 2) at each of its points: 0 at the first."""
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def at_lengths(points: np.ndarray, s: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(len(at), 2) points at arc lengths ``at`` along the polyline ``points``, whose own arc lengths are ``s``
    (``lengths``): straight between its points."""
    return np.stack([np.interp(at, s, points[:, 0]), np.interp(at, s, points[:, 1])], -1)


def line(*points) -> np.ndarray:
    """(k, 2) points through ``points``: straight between them."""
    return np.asarray(points, np.float64)


def join(*parts) -> np.ndarray:
    """One stroke through every part in turn (the pen does not lift)."""
    return np.concatenate([np.asarray(p, np.float64) for p in parts])


def outline(points: np.ndarray, rng: np.random.Generator, bins: int = 24) -> np.ndarray:
    """The outer edge of a cloud of (x, y) points as a closed loop: around its centre, in each of ``bins`` directions
    its farthest point, in order of direction (a tail or a crossing inside is left out), started at a random direction
    and turned either way, as a pen draws a circle."""
    c = points.mean(0)
    d = points - c
    angle = np.arctan2(d[:, 1], d[:, 0])
    k = np.minimum(((angle + np.pi) / (2 * np.pi) * bins).astype(int), bins - 1)
    r = np.hypot(d[:, 0], d[:, 1])
    far = [int(np.flatnonzero(k == b)[np.argmax(r[k == b])]) for b in range(bins) if np.any(k == b)]
    loop = points[far]
    loop = np.roll(loop, -int(rng.integers(len(loop))), axis=0)
    if rng.uniform() < 0.5:
        loop = loop[::-1]
    return np.concatenate([loop, loop[:1]])


def round_loop(loop: np.ndarray, rng: np.random.Generator, n: int = 24) -> np.ndarray:
    """A closed loop made round: the ellipse that fits it best (its centre, size and tilt; ``cv2.fitEllipse``) as ``n``
    points, started at a random direction and turned either way, as a pen draws a circle."""
    import cv2

    (cx, cy), (w, h), angle = cv2.fitEllipse(loop.astype(np.float32))
    t = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, n + 1) * (1 if rng.uniform() < 0.5 else -1)
    a, c, sa, ca = w / 2, h / 2, np.sin(np.deg2rad(angle)), np.cos(np.deg2rad(angle))
    return np.stack([cx + a * np.cos(t) * ca - c * np.sin(t) * sa, cy + a * np.cos(t) * sa + c * np.sin(t) * ca], -1)


def two_circles(points: np.ndarray, rng: np.random.Generator, gap: float = 0.08, box=None,
                rounded: bool = False) -> list[np.ndarray] | None:
    """An 8, given as the (x, y) points along its ink (a point at least every 1-3% of its height), drawn as two
    circles one over the other, as school scripts build the 8 from two round loops: cut at its waist (the narrowest
    row of its middle), each half drawn as its ``outline``, the halves moved apart by 0 to ``gap`` of the height;
    [top circle, bottom circle].  None when a half is too narrow or too small to be a loop.  ``box`` ((x, y) min, max):
    the ink's own box, when the points are resampled and may miss its extremes (default: the points').  ``rounded``:
    each circle the ellipse that fits its half's outline (``round_loop``), for ink whose outline carries a thinning's
    spurs (a skeleton's); None too when an ellipse is not one of an 8's two circles (wider than 0.9 or taller than 0.75
    of the height: a spur drew it out; narrower than 0.15 or lower than 0.2: a dot), and two that would cross are
    moved apart until they just touch."""
    lo, hi = (points.min(0), points.max(0)) if box is None else box
    h = max(hi[1] - lo[1], 1e-6)
    rows = lo[1] + h * np.linspace(0.3, 0.7, 17)
    width = [np.ptp(near[:, 0]) if len(near := points[np.abs(points[:, 1] - y) < 0.02 * h]) >= 2 else np.inf for y in rows]
    waist = rows[int(np.argmin(width))]
    apart = rng.uniform(0.0, gap) * h
    halves = [points[points[:, 1] < waist], points[points[:, 1] >= waist]]
    if min(len(half) for half in halves) < 12 or min(np.ptp(half[:, 0]) for half in halves) < 0.15 * h:
        return None  # a half with no width holds no loop
    loops = [outline(half, rng) for half in halves]
    if rounded:
        loops = [round_loop(loop, rng) for loop in loops]
        if any(not 0.15 * h <= np.ptp(loop[:, 0]) <= 0.9 * h or not 0.2 * h <= np.ptp(loop[:, 1]) <= 0.75 * h for loop in loops):
            return None  # a spur drew an ellipse out, or a half was a dot: not two circles of an 8
        overlap = loops[0][:, 1].max() - loops[1][:, 1].min()
        if overlap > 0:  # ellipses rounder than their halves cross: one over the other, just touching
            loops = [loops[0] - np.array([0.0, overlap / 2]), loops[1] + np.array([0.0, overlap / 2])]
    return [loop + np.array([0.0, shift]) for loop, shift in zip(loops, (-apart / 2, apart / 2))]
