"""python runs/s40/numbers_on_a_line.py [--n 100] [--seed 1] [--model mnist_advanced] [--without-step]

Numbers of 3-5 MNIST test digits written on a form's printed line and photographed, read through the Numbers path
(``serving.numbers.read_number``): how many whole numbers are read right, with the digits touching the line (each
digit's bottom from 10% of its height above the line to 6% below it, so most touch or cross it) and with the same
digits apart from it (the line 6-15% of the height under the lowest bottom).  The line is 1-3 px, 45-85% dark,
1.1-1.6 times the number's width, tilted up to 2 degrees; the paper lit unevenly, with noise, as a JPEG.
``--without-step``: the numbers path's line step (RULE41) off.  Digits are drawn from MNIST test by the seed.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from digitlab.data import mnist, photo_cases
from digitlab.data.number_cases import _ink_crop
from digitlab.serving import numbers, runtime


def on_a_line(digits: list[np.ndarray], rng: np.random.Generator, touch: bool) -> bytes:
    height = int(rng.integers(40, 81))
    glyphs = []
    for d in digits:
        crop = _ink_crop(d)
        h = int(round(height * rng.uniform(0.85, 1.1)))
        w = max(1, int(round(crop.shape[1] * h / crop.shape[0])))
        glyphs.append(np.clip(cv2.resize(crop, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1))
    gaps = [int(round(height * rng.uniform(0.08, 0.4))) for _ in glyphs[1:]]
    width = sum(g.shape[1] for g in glyphs) + sum(gaps)
    length = int(width * rng.uniform(1.1, 1.6))
    page_w, page_h = length + 2 * int(rng.integers(30, 80)), 3 * height + 60
    ink, lines = np.zeros((page_h, page_w), np.float32), np.zeros((page_h, page_w), np.float32)
    line_y, start = 2 * height + 10, (page_w - length) // 2
    slope = float(np.tan(np.radians(rng.uniform(-2, 2))))
    x = start + int(rng.integers(0, length - width + 1))
    bottoms = []
    for g, gap in zip(glyphs, [0, *gaps]):
        x += gap
        at = line_y + slope * (x + g.shape[1] / 2 - start)
        bottom = int(round(at - height * (rng.uniform(-0.06, 0.1) if touch else 0)))
        ink[bottom - g.shape[0] : bottom, x : x + g.shape[1]] = np.maximum(ink[bottom - g.shape[0] : bottom, x : x + g.shape[1]], g)
        bottoms.append(bottom - at)
        x += g.shape[1]
    drop = 0.0 if touch else max(bottoms) + height * rng.uniform(0.06, 0.15)
    ends = [(px, int(round(line_y + drop + slope * (px - start)))) for px in (start, start + length)]
    cv2.line(lines, ends[0], ends[1], float(rng.uniform(0.45, 0.85)), int(rng.integers(1, 4)))
    grey = photo_cases._light(page_h, page_w, rng) * (1 - lines) * (1 - 0.75 * ink) + rng.normal(0, 0.02, ink.shape)
    return photo_cases._jpeg(grey, rng)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--model", default="mnist_advanced")
    p.add_argument("--without-step", action="store_true")
    a = p.parse_args()
    if a.without_step and hasattr(numbers, "drop_number_line"):
        numbers.drop_number_line = lambda ink: ink
    classifier = runtime.load(a.model)
    m = mnist.load()
    rng = np.random.default_rng(a.seed)
    draws = [rng.choice(len(m.x_test), int(rng.integers(3, 6)), replace=False) for _ in range(a.n)]
    print(f"{classifier.name}, seed {a.seed}, {a.n} numbers{', the line step off' if a.without_step else ''}")
    for touch in (True, False):
        right = 0
        for k, idx in enumerate(draws):
            picture = on_a_line([m.x_test[i] for i in idx], np.random.default_rng([a.seed, k, touch]), touch)
            truth = "".join(str(int(m.y_test[i])) for i in idx)
            right += numbers.read_number(picture, classifier).number == truth
        print(f"digits {'touching' if touch else 'apart from'} the line: {right} of {a.n} whole numbers right ({right / a.n:.0%})")


if __name__ == "__main__":
    main()
