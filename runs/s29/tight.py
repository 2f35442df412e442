"""Diagnostic: MNIST test digits cut tight into a square (their ink box, longer side end to end, light ink on black,
nothing else done to them), read by mnist_advanced through the one preprocessing path, with preprocess.cut_tight and
without it (monkeypatched away: the tree before the fallback).   python runs/s29/tight.py [--n 300]"""
import argparse

import cv2
import numpy as np

from digitlab import data, preprocess
from digitlab.files import png_bytes
from digitlab.serving import runtime

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=300)
a = p.parse_args()
m = data.load()
x, y = m.x_test[: a.n], m.y_test[: a.n]
clf = runtime.load("mnist_advanced")


def tight(d: np.ndarray, side: int, margin: int = 0) -> np.ndarray:
    ys, xs = np.nonzero(d > 30)
    c = d[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    s = (side - 2 * margin) / max(c.shape)
    c = cv2.resize(c, (max(1, round(c.shape[1] * s)), max(1, round(c.shape[0] * s))), interpolation=cv2.INTER_AREA)
    out = np.zeros((side, side), np.uint8)
    oy, ox = (side - c.shape[0]) // 2, (side - c.shape[1]) // 2
    out[oy: oy + c.shape[0], ox: ox + c.shape[1]] = c
    return out


fallback = preprocess.cut_tight
print(f"{'picture':24s} {'without':>9s} {'(no ink)':>9s} {'with':>7s} {'(no ink)':>9s}")
for side, margin in ((16, 0), (20, 0), (28, 0), (64, 0), (16, 2)):
    row = []
    for fn in (lambda *args, **kw: None, fallback):
        preprocess.cut_tight = fn
        preds = clf.predict_prepared([preprocess.prepare(png_bytes(tight(d, side, margin))) for d in x])
        row += [np.mean([q.label == t for q, t in zip(preds, y)]), sum(q.no_ink for q in preds)]
    print(f"{side} px, margin {margin:<11d} {row[0]:9.1%} {row[1]:9d} {row[2]:7.1%} {row[3]:9d}")
