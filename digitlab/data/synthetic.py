"""Synthetic pictures made from real MNIST digits, for measurements and tests.

``restroke`` redraws an MNIST digit the way a canvas user draws it: a solid,
uniform-width brush stroke along the digit's centre line, on a 280x280 canvas,
with the stroke width chosen relative to the digit's height (thin pen to fat
brush).  It is not real handwriting; it isolates one thing drawn digits differ
in, stroke width, while keeping MNIST's labels.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlab.data import CANVAS


def canvas_picture(digit: np.ndarray, side: int = CANVAS, background: str = "white", ink: str | None = None) -> np.ndarray:
    """An MNIST digit (28, 28) uint8 (light ink on black) as a picture of the app's canvas: (side, side, 4)
    RGBA uint8, upscaled smoothly (bicubic).

    background "white": black ink on opaque white (the light canvas, as the canvas component returns a drawing:
    ``image_data`` is opaque); "black": white ink on opaque black (the dark canvas); "transparent": ``ink``
    ("white", the default, or "black") strokes on a transparent background (a drawing saved with transparency).
    """
    big = cv2.resize(np.asarray(digit, np.uint8), (side, side), interpolation=cv2.INTER_CUBIC)
    rgba = np.empty((side, side, 4), np.uint8)
    if background == "transparent":
        rgba[..., :3] = 0 if ink == "black" else 255
        rgba[..., 3] = big
        return rgba
    if background not in ("white", "black"):
        raise ValueError(f"background must be white, black or transparent, not {background!r}")
    rgba[..., :3] = (big if background == "black" else 255 - big)[..., None]
    rgba[..., 3] = 255
    return rgba


def centre_line(digit: np.ndarray, side: int = CANVAS) -> np.ndarray:
    """(28, 28) uint8 digit -> (side, side) bool ridge of its distance transform (~ the pen's path)."""
    up = cv2.resize(digit, (side, side), interpolation=cv2.INTER_LINEAR)
    mask = (up > 127).astype(np.uint8)
    dt = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    ridge = (dt >= cv2.dilate(dt, np.ones((3, 3), np.uint8)) - 1e-3) & (dt > 1)
    # the discrete ridge has pinholes where the stroke bends; a 5 px pen bridges them
    return cv2.dilate(ridge.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))).astype(bool)


def restroke(digit: np.ndarray, width_fraction: float, seed: int | None = None, side: int = CANVAS) -> np.ndarray:
    """Redraw ``digit`` with a brush ``width_fraction`` of the digit's height wide.

    With a ``seed``, the digit is drawn the way people use a canvas: at a random size (35-90 %
    of the canvas height) and a random place, not centred like MNIST.
    Returns (side, side, 4) uint8 RGBA, white ink on a transparent background: the strokes as a drawing saved with
    transparency gives them, and, read with ``drawn_on``, what the app's canvas gives (docs/evaluation.md).
    MNIST strokes are ~0.11 of the digit height.
    """
    ridge = centre_line(digit, side).astype(np.uint8)
    height = side * 20 / 28  # MNIST digits are 20 px tall in the 28 px frame
    if seed is not None:
        rng = np.random.default_rng(seed)
        scale = rng.uniform(0.35, 0.9) * side / height
        height *= scale
        free = side - height * 28 / 20
        shift = rng.uniform(min(0, free), max(0, free), size=2) if free else np.zeros(2)
        m = np.float32([[scale, 0, shift[0]], [0, scale, shift[1]]])
        ridge = cv2.warpAffine(ridge, m, (side, side), flags=cv2.INTER_NEAREST)
    width = max(1, round(width_fraction * height))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    ink = cv2.dilate(ridge, kernel) * 255
    rgba = np.zeros((side, side, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = ink
    return rgba


def photo(digit: np.ndarray, seed: int, side: int = 360) -> bytes:
    """A synthetic phone photo of an MNIST digit, as JPEG bytes: dark ink on off-white paper,
    small and off-centre, a shadow across the page, sensor noise, JPEG compression."""
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    ink = cv2.resize(digit, (120, 120), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    page = np.zeros((side, side), np.float32)
    top, left = rng.integers(30, side - 150, size=2)
    page[top : top + 120, left : left + 120] = ink
    yy, xx = np.mgrid[0:side, 0:side] / side
    light = 0.85 - 0.25 * xx + 0.1 * yy
    grey = light * (1 - 0.75 * page) + rng.normal(0, 0.02, page.shape)
    rgb = np.clip(np.stack([grey * 0.98, grey * 0.95, grey * 0.9], -1) * 255, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def naive_input(picture) -> np.ndarray:
    """What most digit apps do: the whole picture, grey, squashed to 28x28 (inverted when the
    paper is light).  Kept only to measure what the MNIST recipe gains over it."""
    from digitlab import preprocess

    grey, _, _ = preprocess.load_picture(picture)
    small = cv2.resize(grey, (28, 28), interpolation=cv2.INTER_AREA)
    return (1 - small if np.median(grey) > 0.5 else small).astype(np.float32)
