"""python runs/s39/line_numbers.py [--n 30]

Numbers of 4 MNIST test digits written side by side above a form's printed line (2 px, 1.5 times the number's width,
12 px under the digits), read by the number reader (`mnist_cnn`), with preprocessing's line step (1.9) and without it
(as 1.8): how many whole numbers are read right.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from digitlab import preprocess
from digitlab.data import mnist
from digitlab.serving import numbers, runtime


def on_a_line(x: np.ndarray, idx: np.ndarray, size: int = 90) -> np.ndarray:
    width = size * len(idx)
    page = np.full((size + 100, int(width * 1.5) + 60), 232, np.uint8)
    left0 = 30 + width // 4
    bottom = 0
    for k, i in enumerate(idx):
        ink = cv2.resize(x[i], (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
        region = page[30 : 30 + size, left0 + k * size : left0 + (k + 1) * size].astype(np.float32)
        page[30 : 30 + size, left0 + k * size : left0 + (k + 1) * size] = (region * (1 - 0.8 * np.clip(ink, 0, 1))).astype(np.uint8)
        bottom = max(bottom, 30 + int(np.flatnonzero(ink.max(1) > 0.3)[-1]))
    cv2.line(page, (30, bottom + 12), (page.shape[1] - 30, bottom + 12), 40, 2)
    return page


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=30)
    a = p.parse_args()
    classifier = runtime.load("mnist_cnn")
    m = mnist.load()
    rng = np.random.default_rng(0)
    draws = [rng.choice(len(m.x_test), 4, replace=False) for _ in range(a.n)]
    keep = preprocess.drop_rule_line
    for on in (True, False):
        preprocess.drop_rule_line = keep if on else (lambda ink: ink)
        read = [numbers.read_number(on_a_line(m.x_test, idx), classifier).number for idx in draws]
        right = sum(r == "".join(str(int(m.y_test[i])) for i in idx) for r, idx in zip(read, draws))
        print(f"line step {'on (1.9)' if on else 'off (1.8)'}: {right} of {a.n} whole numbers right; first read {read[:3]}")
    preprocess.drop_rule_line = keep


if __name__ == "__main__":
    main()
