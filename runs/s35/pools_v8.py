"""python runs/s35/pools_v8.py OUT.npz          -> pools of 3,000 re-drawn MNIST digits by this tree's stroke edits
python runs/s35/pools_v8.py --compare A.npz B.npz  -> how many drawings differ, by class

Stroke edits v7 against v8 (the note's check): the first form in a worktree of the commit before v8
(`git worktree add /tmp/v7 d5f2caf^`, run there with PYTHONPATH=/tmp/v7) and in this tree, then the second form.
Each pool: conventions 1.0, pen path 0.5 or 1.0, classes 01479 (the committed recipes') or 014789, seed 3, no cache."""

import sys

import numpy as np


def pools(out: str) -> None:
    from digitlab.data import mnist
    from digitlab.data import stroke_augment as sa

    m = mnist.load()
    x, y = m.x_train[:6000] / 255.0, m.y_train[:6000]
    arrays = {}
    for classes in ["01479", "014789"]:
        for pen in [0.5, 1.0]:
            r = sa.Redraw(size=3000, conventions=1.0, pen_path=pen, classes=classes, seed=3, brush_min=0.06, brush_max=0.14)
            arrays[f"{classes}_{pen}"], arrays[f"{classes}_{pen}_y"] = sa.pool(x, y, r, cache_dir=None, log=None)
    np.savez(out, **arrays)


def compare(a_path: str, b_path: str) -> None:
    a, b = np.load(a_path), np.load(b_path)
    for k in a.files:
        if k.endswith("_y"):
            assert (a[k] == b[k]).all(), k
            continue
        diff = np.flatnonzero((a[k] != b[k]).any((1, 2)))
        print(f"classes {k.split('_')[0]}, pen path {k.split('_')[1]}: {len(diff)} of {len(a[k])} differ, by class "
              f"{np.bincount(a[k + '_y'][diff], minlength=10).tolist()}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"] and len(sys.argv) == 4:
        compare(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2:
        pools(sys.argv[1])
    else:
        sys.exit(__doc__)
