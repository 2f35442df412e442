"""Probe: real strokes replayed as a pen-up-less trajectory resampled to K points evenly spaced along it (the UCI
pendigits protocol: 8 points), drawn with the canvas's brushes, read by the committed models.  Run:
python runs/s37/pendigits_probe.py [--k 8 12 16] [--sets val held]

(First run with its own copy of the resampling, which became ``unipen.resample_path``; the same figures since.)"""
import argparse

import numpy as np

from digitlab import preprocess
from digitlab.data import handwriting_test as hw
from digitlab.data import unipen
from digitlab.serving import classifiers


def pictures(items, k, seed):
    rng = np.random.default_rng([seed, k])
    imgs = np.zeros((len(items), 28, 28), np.float32)
    for j, it in enumerate(items):
        canvas = unipen.render(unipen.resample_path(it.strokes, k), rng, brush=float(rng.choice(hw.BRUSHES)))
        p = preprocess.prepare(canvas, invert="no", drawn_on=hw.DARK_CANVAS)
        imgs[j] = 0 if p.no_ink else p.image
    return imgs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, nargs="+", default=[8, 12, 16])
    ap.add_argument("--sets", nargs="+", default=["val"])
    ap.add_argument("--model", action="append")
    a = ap.parse_args()
    split = unipen.split(unipen.load(unipen.default_path()))
    models = classifiers.load_classifiers(a.model or ["mnist_advanced", "mnist_cnn"])
    for name in a.sets:
        items = {"val": split.val, "held": split.held_out}[name]
        y = np.asarray([i.label for i in items])
        for k in a.k:
            x = pictures(items, k, 37)
            row = []
            for m in models:
                pred = m.predict_proba(x).argmax(1)
                per = [f"{(pred[y == c] == c).mean() * 100:.0f}" for c in range(10)]
                row.append(f"{m.name} {np.mean(pred == y) * 100:.2f}% per class {' '.join(per)}")
            print(f"{name} (n={len(y)}) k={k}: " + " | ".join(row), flush=True)


if __name__ == "__main__":
    main()
