"""What the app computes about an input besides the prediction.

* How MNIST-like a prepared (28, 28) input is: box size, centring, stroke width
  and ink, each against the typical range measured on real MNIST digits through the
  same recipe, with advice when it is off.
* Canvas helpers: the drawing canvas (streamlit-drawable-canvas 0.13) hands its
  picture over as a PNG data URL next to a Fabric.js JSON of the strokes.
* Display helpers: nearest-neighbour enlargement, so a 28x28 input shows as
  crisp squares instead of a browser-blurred smudge.

No streamlit here: the pages call these functions and lay out what they return.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass

import cv2
import numpy as np

from digitlab import preprocess
from digitlab.files import png_bytes

REFERENCE_SAMPLE = 2000  # first MNIST test digits behind the reference; ~1.5 s once per process


@functools.lru_cache(maxsize=4)
def mnist_reference(n: int = REFERENCE_SAMPLE, path: str | None = None) -> dict[str, dict[str, float]]:
    """Median and 5-95 % range of ``preprocess.shape_stats`` over the first ``n`` real MNIST test
    digits after the current preprocessing recipe (``prepare_batch``, what the models train on).

    Measured, not hard-coded, so it follows the recipe when the recipe changes (stroke-width
    normalisation, 1.1, moved the stroke-width band).  Cached per process.  Raises
    ``data.DataError`` when MNIST cannot be found (see ``digitlab.data`` for the lookup order).
    """
    from digitlab import data

    x, _ = data.load(path).inputs("test", indices=np.arange(n))
    return preprocess.reference_stats(x)


_LABELS = {
    "box_height": ("digit height", "px"),
    "box_width": ("digit width", "px"),
    "centre_offset": ("centre of mass off centre", "px"),
    "stroke_width": ("stroke width", "px"),
    "ink": ("ink (mean pixel)", ""),
}
_ADVICE = {
    ("stroke_width", "low"): "strokes are thinner than MNIST's: use a bigger brush",
    ("stroke_width", "high"): "strokes are thicker than MNIST's: use a smaller brush or draw the digit larger",
    ("ink", "low"): "little ink for the digit's size: thicker strokes look more like MNIST",
    ("ink", "high"): "a lot of ink: thinner strokes or a larger digit look more like MNIST",
    ("box_height", "low"): "the digit is wider than tall, so it was fitted by its width; MNIST digits are fitted by their height",
    ("box_width", "low"): "a very narrow digit (fine for a 1)",
    ("centre_offset", "high"): "the ink's centre of mass could not be centred well (the digit touches the frame)",
}


@dataclass(frozen=True)
class Likeness:
    """One quantity of the input against MNIST's typical range."""

    key: str
    label: str
    value: float
    median: float
    low: float  # 5th percentile of MNIST
    high: float  # 95th percentile of MNIST
    verdict: str  # "typical", "low" or "high"
    advice: str

    def as_row(self) -> dict[str, str]:
        unit = _LABELS[self.key][1]
        fmt = "{:.3f}" if self.key == "ink" else "{:.1f}"
        return {
            "quantity": self.label,
            "this input": fmt.format(self.value) + (f" {unit}" if unit else ""),
            "MNIST median": fmt.format(self.median),
            "MNIST typical (5-95 %)": f"{fmt.format(self.low)} - {fmt.format(self.high)}",
            "verdict": self.verdict,
            "advice": self.advice,
        }


def mnist_likeness(image: np.ndarray, reference: dict[str, dict[str, float]] | None = None) -> list[Likeness]:
    """Compare a prepared (28, 28) input in [0, 1] with MNIST, quantity by quantity.

    reference: as returned by ``mnist_reference`` (the default, measured on real MNIST).
    """
    image = np.asarray(image, np.float32)
    if image.shape != (preprocess.SIZE, preprocess.SIZE):
        raise ValueError(f"expected a prepared 28x28 input, got shape {image.shape}")
    reference = reference or mnist_reference()
    stats = preprocess.shape_stats(image)
    rows = []
    for key, (label, _) in _LABELS.items():
        ref, value = reference[key], stats[key]
        # Small tolerance: integer box sizes and float noise sit exactly on the percentiles.
        tol = 0.02 * max(abs(ref["p95"]), 1e-6)
        verdict = "low" if value < ref["p5"] - tol else "high" if value > ref["p95"] + tol else "typical"
        if key == "centre_offset" and verdict == "low":
            verdict = "typical"  # better centred than MNIST is no problem
        advice = _ADVICE.get((key, verdict), "" if verdict == "typical" else f"{verdict}er than most MNIST digits")
        rows.append(Likeness(key, label, value, ref["median"], ref["p5"], ref["p95"], verdict, advice))
    return rows


def likeness_score(rows: list[Likeness]) -> str:
    """One line summary: "MNIST-like" or which quantities are unusual."""
    odd = [f"{r.label} {r.verdict}" for r in rows if r.verdict != "typical"]
    return "MNIST-like: every quantity is in MNIST's typical range" if not odd else "unlike MNIST in: " + ", ".join(odd)


# ----------------------------------------------------------------------------- canvas


def data_url(picture: np.ndarray) -> str:
    """uint8 picture -> "data:image/png;base64,..." (what the canvas sends for its drawing)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(picture)).decode("ascii")


def canvas_state(picture: np.ndarray, objects: list[dict] | None = None) -> dict:
    """The state streamlit-drawable-canvas 0.13 keeps under its key after a stroke.

    ``{"drawing": {"raw": <Fabric.js JSON>, "data": <PNG data URL>}, "backgroundFit": None}``;
    putting this into session state before a run stands in for drawing (AppTest).
    """
    raw = {"version": "6", "objects": objects if objects is not None else [{"type": "Path"}]}
    return {"drawing": {"raw": raw, "data": data_url(picture)}, "backgroundFit": None}


def stroke_count(json_data: dict | None) -> int:
    """Number of objects (free-hand strokes, shapes) in the canvas' Fabric.js JSON."""
    if not json_data:
        return 0
    return len(json_data.get("objects") or [])


# ----------------------------------------------------------------------------- display


def enlarge(picture: np.ndarray, size: int = 168, square: bool = False, pad: int = 64) -> np.ndarray:
    """Any step picture (float [0, 1] or uint8; grey or RGB) -> uint8 whose longer side is ``size``.

    Small pictures grow by nearest neighbour (crisp pixels); large ones shrink by area.
    ``square`` centres the result on a size x size tile of grey ``pad``, so pictures of
    different shapes line up side by side and the crop's proportions stay visible.
    """
    a = np.asarray(picture)
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    h, w = a.shape[:2]
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    interp = cv2.INTER_NEAREST if s >= 1 else cv2.INTER_AREA
    out = cv2.resize(a, (nw, nh), interpolation=interp)
    if not square or (nh, nw) == (size, size):
        return out
    tile = np.full((size, size, *out.shape[2:]), pad, np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    tile[top : top + nh, left : left + nw] = out
    return tile
