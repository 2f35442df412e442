"""Diagnostic: MNIST test digits as a scan cut close to the digit (dark ink on paper with grain, blur, JPEG), 80-200 px,
a margin of 0-5% of the side: the single-digit path reads them as photos (the paper is no exact tone), whose ink blobs
at the edge it drops when another blob holds the digit.  Read by mnist_advanced as committed, and with that drop off
(preprocess._drop_border as the identity), to see what the drop costs a digit in pieces cut close.
python runs/s30/tight_scans.py [--n 500]"""
import argparse
import io

import cv2
import numpy as np
from PIL import Image

from digitlab import data, preprocess
from digitlab.serving import runtime

ROWS = [(side, margin) for side in (80, 120, 200) for margin in (0.0, 0.02, 0.05)]


def scan(d: np.ndarray, side: int, margin: float, rng) -> bytes:
    ys, xs = np.nonzero(d > 30)
    c = d[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1].astype(np.float32) / 255
    s = side / max(c.shape)
    c = cv2.resize(c, (max(1, round(c.shape[1] * s)), max(1, round(c.shape[0] * s))), interpolation=cv2.INTER_CUBIC)
    pad = int(margin * side)
    page = np.pad(np.clip(c, 0, 1), pad)
    grey = 240 - 190 * page + rng.normal(0, 3, page.shape)
    grey = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 0.7)
    buf = io.BytesIO()
    Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def scans(x: np.ndarray, side: int, margin: float) -> list[bytes]:
    """The row's pictures: its own seed, as every run of this diagnostic draws them."""
    rng = np.random.default_rng(side * 100 + int(margin * 100))
    return [scan(d, side, margin, rng) for d in x]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=500)
    a = p.parse_args()
    m = data.load()
    x, y = m.x_test[: a.n], m.y_test[: a.n]
    clf = runtime.load("mnist_advanced")
    drop = preprocess._drop_border
    print(f"{'scan cut close':26s} {'as committed':>13s} {'(no ink)':>9s} {'no edge drop':>13s} {'(no ink)':>9s}")
    for side, margin in ROWS:
        files = scans(x, side, margin)
        row = []
        for fn in (drop, lambda ink, line=False: ink):
            preprocess._drop_border = fn
            preds = clf.predict_prepared([preprocess.prepare(f) for f in files])
            row += [np.mean([q.label == t for q, t in zip(preds, y)]), sum(q.no_ink for q in preds)]
        preprocess._drop_border = drop
        print(f"{side} px, margin {margin:<14.0%} {row[0]:13.1%} {row[1]:9d} {row[2]:13.1%} {row[3]:9d}", flush=True)


if __name__ == "__main__":
    main()
