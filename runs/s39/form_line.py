"""python runs/s39/form_line.py [--n 200] [--model mnist_advanced]

RULE36's condition 1: the form_line photo case (digitlab.data.photo_cases.form_line) drawn two ways, every digit
apart from the line and every digit touching it, on the first N MNIST test digits: accuracy through the predict
path's model, and how many had no ink.
"""
from __future__ import annotations

import argparse

import numpy as np

from digitlab import preprocess
from digitlab.data import mnist, photo_cases
from digitlab.serving import runtime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--model", default="mnist_advanced")
    a = p.parse_args()
    classifier = runtime.load(a.model)
    m = mnist.load()
    x, y = m.x_test[: a.n], m.y_test[: a.n]
    print(f"preprocessing {preprocess.PREPROCESS_VERSION}, {classifier.name}")
    for touch in (False, True):
        prepared = [preprocess.prepare(photo_cases.form_line(x[i], i, touch=touch)) for i in range(len(x))]
        read = classifier.predict_prepared(prepared)
        right = np.mean([r.label == int(t) for r, t in zip(read, y)])
        print(f"form_line, {'touching the line' if touch else 'apart from the line'}: {right:.1%} of {len(x)} (no ink {sum(q.no_ink for q in prepared)})")


if __name__ == "__main__":
    main()
