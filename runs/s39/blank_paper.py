"""python runs/s39/blank_paper.py [--save FILE | --against FILE]

Preprocessing 1.7's two measurements, run on the tree before and after the change:
1. Blank paper photographed (a page lit unevenly, tinted, with sensor noise) and JPEG-compressed at qualities 20-92:
   how many of 24 pages per quality come out with "ink" (every one should be no ink).
2. What the change costs: every photo of photo_cases (8 cases, the first 200 MNIST test digits, seed 0) read as it is
   (dark ink on paper) and inverted (light ink on a dark board): the prepared 28x28 pictures and no-ink answers,
   saved (--save) and compared with another tree's (--against): how many differ, by case and polarity.
"""
from __future__ import annotations

import argparse
import hashlib
import io

import cv2
import numpy as np
from PIL import Image

from digitlab import preprocess
from digitlab.data import mnist, photo_cases

QUALITIES = (20, 30, 45, 60, 75, 92)


def blank_pages(n: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        h, w = 600, 800
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        base = 0.80 + 0.1 * rng.random() + 0.08 * (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1))
        grey = np.clip(base + rng.normal(0, 0.012, (h, w)), 0, 1)
        yield (np.clip(grey[..., None] * np.array([1.0, 0.97, 0.92]), 0, 1) * 255).astype(np.uint8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--save")
    p.add_argument("--against")
    a = p.parse_args()
    print(f"preprocessing {preprocess.PREPROCESS_VERSION}")
    pages = list(blank_pages())
    for q in QUALITIES:
        inked = []
        for page in pages:
            b = io.BytesIO()
            Image.fromarray(page).save(b, "JPEG", quality=q)
            r = preprocess.prepare(b.getvalue())
            inked.append(not r.no_ink)
        print(f"blank paper, JPEG quality {q}: {sum(inked)} of {len(pages)} read as ink")
    x = mnist.load().x_test[:200]
    out = {}
    for case in photo_cases.CASES:
        for light in (False, True):
            images = []
            for i in range(len(x)):
                grey = cv2.imdecode(np.frombuffer(photo_cases.make(case, x[i], i), np.uint8), cv2.IMREAD_GRAYSCALE)
                r = preprocess.prepare(255 - grey if light else grey)
                images.append(np.zeros((28, 28), np.float32) - 1 if r.no_ink else r.image)
            out[f"{case}|{'light' if light else 'dark'}"] = np.stack(images)
    if a.save:
        np.savez_compressed(a.save, **out)
    if a.against:
        old = np.load(a.against)
        for k, v in out.items():
            if k not in old:
                print(f"{k:22s} not in {a.against}")
                continue
            diff = np.abs(old[k] - v).reshape(len(v), -1).max(1)
            print(f"{k:22s} changed {int((diff > 0).sum()):3d} of {len(v)} (no ink before {int((old[k] < 0).all((1, 2)).sum())}, after {int((v < 0).all((1, 2)).sum())})")
    digest = hashlib.sha256(b"".join(out[k].tobytes() for k in sorted(out))).hexdigest()[:16]
    print(f"photo cases, both polarities: sha256 {digest}")


if __name__ == "__main__":
    main()
