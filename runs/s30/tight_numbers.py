"""Diagnostic: numbers of 2-4 MNIST test digits side by side (1-3 px apart at 28 px), plain or bold (ink dilated),
cut tight to their ink box (light ink on black, nothing else done), scaled to a line 16-64 px high, read by
mnist_advanced through the Numbers path (serving.numbers.read_number, the committed number reader), with the cut-tight
fallback in numbers.ink_picture and without it (preprocess.cut_tight monkeypatched away: the tree before).
python runs/s30/tight_numbers.py [--n 200]"""
import argparse

import cv2
import numpy as np

from digitlab import data, preprocess
from digitlab.files import png_bytes
from digitlab.serving import numbers, runtime

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=200)
a = p.parse_args()
m = data.load()
rng = np.random.default_rng(0)
clf = runtime.load("mnist_advanced")


def line(k: int, bold: bool) -> tuple[np.ndarray, str]:
    idx = rng.choice(len(m.x_test), k, replace=False)
    parts = []
    for i in idx:
        d = m.x_test[i]
        if bold:
            d = cv2.dilate(d, np.ones((3, 3), np.uint8))
        xs = np.nonzero(d.max(0) > 30)[0]
        parts += [d[:, xs.min(): xs.max() + 1], np.zeros((28, int(rng.integers(1, 4))), np.uint8)]
    row = np.concatenate(parts[:-1], 1)
    ys, xs = np.nonzero(row > 30)
    return row[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1], "".join(str(m.y_test[i]) for i in idx)


def at_height(c: np.ndarray, h: int) -> np.ndarray:
    s = h / c.shape[0]
    return cv2.resize(c, (max(1, round(c.shape[1] * s)), h), interpolation=cv2.INTER_AREA)


fallback = preprocess.cut_tight
print(f"{'numbers cut tight':28s} {'without':>8s} {'(no ink)':>9s} {'with':>7s} {'(no ink)':>9s}")
for bold in (False, True):
    lines = [line(int(rng.integers(2, 5)), bold) for _ in range(a.n)]
    for h in (16, 24, 32, 64):
        files = [png_bytes(at_height(c, h)) for c, _ in lines]
        row = []
        for fn in (lambda *args, **kw: None, fallback):
            preprocess.cut_tight = fn
            reads = [numbers.read_number(f, clf) for f in files]
            row += [np.mean([r.number == t for r, (_, t) in zip(reads, lines)]), sum(not r.digits for r in reads)]
        print(f"{'bold' if bold else 'plain'}, {h} px high{'':13s} {row[0]:8.1%} {row[1]:9d} {row[2]:7.1%} {row[3]:9d}", flush=True)
