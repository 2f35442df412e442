"""python runs/s39/form_line.py [--n 200] [--model mnist_advanced]

RULE36's condition 1: the form_line photo case (digitlab.data.photo_cases.form_line) drawn two ways, every digit
apart from the line and every digit touching it, on N MNIST test digits from --start: accuracy through the predict
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
    p.add_argument("--start", type=int, default=0, help="first MNIST test digit (default 0)")
    p.add_argument("--seed", type=int, default=0, help="added to each digit's index for its photo's seed (default 0)")
    p.add_argument("--without-rule-line", action="store_true", help="preprocessing's drop_rule_line off (as 1.8)")
    p.add_argument("--without-line-under", action="store_true", help="preprocessing's drop_line_under off (as 1.10)")
    a = p.parse_args()
    if a.without_rule_line:
        preprocess.drop_rule_line = lambda ink: ink
    if a.without_line_under:
        preprocess.drop_line_under = lambda ink: ink
    classifier = runtime.load(a.model)
    m = mnist.load()
    x, y = m.x_test[a.start : a.start + a.n], m.y_test[a.start : a.start + a.n]
    print(f"preprocessing {preprocess.PREPROCESS_VERSION}{' without drop_rule_line' if a.without_rule_line else ''}{' without drop_line_under' if a.without_line_under else ''}, {classifier.name}, MNIST test {a.start}-{a.start + len(x) - 1}, seeds + {a.seed}")
    for touch in (False, True):
        prepared = [preprocess.prepare(photo_cases.form_line(x[i], a.seed + a.start + i, touch=touch)) for i in range(len(x))]
        read = classifier.predict_prepared(prepared)
        right = np.mean([r.label == int(t) for r, t in zip(read, y)])
        print(f"form_line, {'touching the line' if touch else 'apart from the line'}: {right:.1%} of {len(x)} (no ink {sum(q.no_ink for q in prepared)})")


if __name__ == "__main__":
    main()
