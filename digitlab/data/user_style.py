"""A stand-in for one person's handwriting, for measuring fine-tuning without real users.

We have no real non-MNIST handwriting on this machine, so this draws digits the way one
imaginary person ("the user") writes them: pen strokes on the app's 280x280 light canvas
(black ink on white, opaque RGBA, like ``st_canvas``' image data), slanted to the right, with
a felt pen of varying width, and with personal habits that MNIST writers rarely have:

    0  slashed zero whose slash runs past the outline (Ø)        MNIST models read 8
    1  European 1: a long up-stroke flag, no base                 read 7
    2  Z-shaped 2 with a bar across the middle                    read 8 or 2
    3  flat-topped 3                                              read 3
    4  closed, triangular 4                                       read 4
    5  rounded 5                                                  read 5
    6  boxy 6 (straight sides, square loop)                       read 5
    7  crossed 7                                                  read 7
    8  "snowman" 8: two separate loops, the lower one larger      read 8
    9  9 with a hooked tail, like a g                            read 9

Every sample varies the way one hand does (size, place, slant, rotation, pen width, and a
smooth wobble of each stroke), so held-out samples are new drawings, not copies.  It is a
synthetic persona, not real handwriting: it shows whether fine-tuning can learn a consistent
style from ~20 examples, not how much it helps a given real person.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlab.data import CANVAS, polylines


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> list[tuple[float, float]]:
    """Points on an ellipse from angle a0 to a1 (degrees, counter-clockwise, y pointing down)."""
    t = np.deg2rad(np.linspace(a0, a1, n))
    return [(cx + rx * np.cos(a), cy - ry * np.sin(a)) for a in t]


# Strokes of each digit in a box x 0..0.7, y 0..1 (top to bottom), in drawing order.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.35, 0.5, 0.28, 0.45, 90, 450), [(-0.05, 1.05), (0.75, -0.05)]],
    1: [[(0.0, 0.42), (0.5, 0.0), (0.5, 1.0)]],
    2: [[(0.0, 0.0), (0.6, 0.0), (0.0, 1.0), (0.65, 1.0)], [(0.1, 0.5), (0.5, 0.5)]],
    3: [[(0.0, 0.0), (0.6, 0.0), (0.25, 0.4), *_arc(0.3, 0.7, 0.3, 0.3, 110, -160, 20)]],
    4: [[(0.45, 1.0), (0.45, 0.0), (0.0, 0.65), (0.7, 0.65)]],
    5: [[(0.62, 0.02), (0.12, 0.02)], [(0.12, 0.02), (0.08, 0.45), *_arc(0.33, 0.68, 0.3, 0.3, 140, -150, 20)]],
    6: [[(0.65, 0.0), (0.05, 0.0), (0.05, 1.0), (0.65, 1.0), (0.65, 0.5), (0.05, 0.5)]],
    7: [[(0.05, 0.14), (0.05, 0.0), (0.7, 0.0), (0.25, 1.0)], [(0.18, 0.5), (0.62, 0.5)]],
    8: [_arc(0.35, 0.2, 0.2, 0.2, -90, 270, 24), _arc(0.35, 0.68, 0.3, 0.3, 90, 450, 28)],
    9: [_arc(0.33, 0.25, 0.28, 0.24, 0, 360, 28), [(0.61, 0.25), (0.61, 0.8), *_arc(0.36, 0.8, 0.25, 0.2, 0, -180, 12)[1:]]],
}
HARD = (1, 2, 6)  # the habits the committed mnist_advanced still misreads: the European 1's up-stroke flag from the
# middle of the height, the Z-shaped 2 with a bar, the boxy 6 (30%, 10% and 0% of 10 drawings each, seed 500)
SLANT = 0.3  # x shift per unit of height: the user leans to the right
PEN = 14  # pen width in px for a 180 px tall digit


def _resample(points: np.ndarray, step: float = 0.01) -> np.ndarray:
    """A polyline (K, 2) -> points every ``step`` along it, so a wobble bends it smoothly."""
    s = polylines.lengths(points)
    return polylines.at_lengths(points, s, np.linspace(0, s[-1], max(2, int(s[-1] / step) + 1)))


def draw(label: int, rng: np.random.Generator, side: int = CANVAS) -> np.ndarray:
    """One drawing of ``label`` in the user's style: (side, side, 4) uint8 RGBA, black ink on opaque white."""
    ink = np.zeros((side, side), np.uint8)
    height = rng.uniform(0.45, 0.8) * side
    centre = side / 2 + rng.uniform(-0.12, 0.12, 2) * side
    slant = SLANT + rng.uniform(-0.08, 0.08)
    angle = np.deg2rad(rng.uniform(-5, 5))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pen = max(3, round(PEN * height / 180 * rng.uniform(0.7, 1.4)))
    for stroke in STROKES[int(label)]:
        p = _resample(np.asarray(stroke, float))
        # A smooth wobble: two slow sine waves along the stroke, a few % of the height.
        u = np.linspace(0, 1, len(p))[:, None]
        for _ in range(2):
            p = p + rng.normal(0, 0.015, 2) * np.sin(2 * np.pi * (rng.uniform(0.5, 1.5) * u + rng.uniform()))
        p = p - [0.35, 0.5]
        p[:, 0] -= slant * p[:, 1]  # y points down, so the top moves right
        p = (p @ rot.T) * height + centre
        cv2.polylines(ink, [np.round(p * 4).astype(np.int32)], False, 255, pen, cv2.LINE_AA, shift=2)
    rgba = np.empty((side, side, 4), np.uint8)
    rgba[..., :3] = (255 - ink)[..., None]
    rgba[..., 3] = 255
    return rgba


def drawings(per_class: int, seed: int = 0, side: int = CANVAS) -> tuple[list[np.ndarray], np.ndarray]:
    """``per_class`` drawings of every digit: (pictures, labels (10 * per_class,) int64), digit by digit."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), per_class)
    return [draw(int(d), rng, side) for d in labels], labels


def save_drawings(folder, per_class: int, seed: int = 0) -> int:
    """``drawings(per_class, seed)`` saved into ``folder`` as the Collect page saves a person's digits
    (``user_digits.save``, one subfolder per digit): a stand-in user's folder.  Returns how many were saved."""
    from digitlab.data import user_digits

    pictures, labels = drawings(per_class, seed)
    for picture, label in zip(pictures, labels):
        user_digits.save(picture, int(label), folder, invert="yes", drawn_on=1.0)
    return len(pictures)
