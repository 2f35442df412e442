"""python runs/s39/frame_checks.py

RULE35's condition 3: every MNIST test digit (10,000) prepared with preprocessing's frame step (drop_frame) and
without it (as 1.7): how many 28x28 inputs differ.
"""
from __future__ import annotations

import numpy as np

from digitlab import preprocess
from digitlab.data import mnist


def main() -> None:
    x = mnist.load().x_test
    with_frame = np.stack([p.image if not p.no_ink else np.full((28, 28), -1, np.float32) for p in map(preprocess.prepare, x)])
    keep = preprocess.drop_frame
    preprocess.drop_frame = lambda ink: ink
    try:
        without = np.stack([p.image if not p.no_ink else np.full((28, 28), -1, np.float32) for p in map(preprocess.prepare, x)])
    finally:
        preprocess.drop_frame = keep
    changed = np.flatnonzero(np.abs(with_frame - without).reshape(len(x), -1).max(1) > 0)
    print(f"MNIST test: {len(changed)} of {len(x)} inputs differ with the frame step (preprocessing {preprocess.PREPROCESS_VERSION}): {changed[:20].tolist()}")


if __name__ == "__main__":
    main()
