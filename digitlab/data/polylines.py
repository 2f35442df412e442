"""Pen strokes as polylines in a unit box (x right, y down, as on a screen): the primitives the procedural
drawings are made of.  The benchmark's conventions (``handwriting_test``) and the gate's handwritten letters
(``nondigits``) draw with them; each keeps its own shapes, parameters and seeds."""

from __future__ import annotations

import numpy as np


def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 32) -> np.ndarray:
    """(n, 2) points on an ellipse from a0 to a1 degrees (counter-clockwise on screen: y grows downwards)."""
    t = np.deg2rad(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(t), cy - ry * np.sin(t)], -1)


def line(*points) -> np.ndarray:
    """(k, 2) points through ``points``: straight between them."""
    return np.asarray(points, np.float64)


def join(*parts) -> np.ndarray:
    """One stroke through every part in turn (the pen does not lift)."""
    return np.concatenate([np.asarray(p, np.float64) for p in parts])
