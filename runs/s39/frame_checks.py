"""python runs/s39/frame_checks.py [--step drop_frame | drop_rule_line | drop_line_under]

RULE35's condition 3 (and RULE36-38's): every MNIST test digit (10,000) prepared with one of preprocessing's form
steps (drop_frame, 1.8; drop_rule_line, 1.9) and without it: how many 28x28 inputs differ.
"""
from __future__ import annotations

import argparse

import numpy as np

from digitlab import preprocess
from digitlab.data import mnist


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--step", default="drop_frame", choices=["drop_frame", "drop_rule_line", "drop_line_under"])
    a = p.parse_args()
    x = mnist.load().x_test
    with_frame = np.stack([p.image if not p.no_ink else np.full((28, 28), -1, np.float32) for p in map(preprocess.prepare, x)])
    keep = getattr(preprocess, a.step)
    setattr(preprocess, a.step, lambda ink: ink)
    try:
        without = np.stack([p.image if not p.no_ink else np.full((28, 28), -1, np.float32) for p in map(preprocess.prepare, x)])
    finally:
        setattr(preprocess, a.step, keep)
    changed = np.flatnonzero(np.abs(with_frame - without).reshape(len(x), -1).max(1) > 0)
    print(f"MNIST test: {len(changed)} of {len(x)} inputs differ with {a.step} (preprocessing {preprocess.PREPROCESS_VERSION}): {changed[:20].tolist()}")


if __name__ == "__main__":
    main()
