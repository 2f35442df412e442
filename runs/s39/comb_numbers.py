"""python runs/s39/comb_numbers.py [--n 30]

Numbers of 4 MNIST test digits written one per cell of a printed comb field (tests/support.form_box_page: 90 px cells,
2 px lines), read by the predict path's number reader (`mnist_cnn`), with preprocessing's frame step (1.8) and
without it (as 1.7): how many whole numbers are read right.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from digitlab import paths, preprocess
from digitlab.data import mnist
from digitlab.serving import numbers, runtime

sys.path.insert(0, str(paths.ROOT / "tests"))
from support import form_box_page  # noqa: E402


def comb(x: np.ndarray, idx: np.ndarray, cell: int = 90) -> np.ndarray:
    page = form_box_page(None, len(idx), cell=cell)
    for k, i in enumerate(idx):
        page = np.minimum(page, form_box_page(x[i], len(idx), k, cell=cell))
    return page


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=30)
    a = p.parse_args()
    classifier = runtime.load("mnist_cnn")
    m = mnist.load()
    rng = np.random.default_rng(0)
    draws = [rng.choice(len(m.x_test), 4, replace=False) for _ in range(a.n)]
    keep = preprocess.drop_frame
    for on in (True, False):
        preprocess.drop_frame = keep if on else (lambda ink: ink)
        read = [numbers.read_number(comb(m.x_test, idx), classifier).number for idx in draws]
        right = sum(r == "".join(str(int(m.y_test[i])) for i in idx) for r, idx in zip(read, draws))
        print(f"frame step {'on (1.8)' if on else 'off (1.7)'}: {right} of {a.n} whole numbers right; first read {read[:3]}")
    preprocess.drop_frame = keep


if __name__ == "__main__":
    main()
