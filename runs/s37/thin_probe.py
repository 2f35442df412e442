"""Probe: real strokes drawn as a tablet's raw plot would show them, not as the canvas draws them: black lines of 1-4 px
on a white 500x500 picture (the pendigits tablet's range), saved as PNG and read as an upload (invert auto), the
predict CLI's path.  Every sample (pen-ups kept) and 8 points along the pen's whole path.  The validation writers only.
python runs/s37/thin_probe.py [--sides 500] [--widths 1 2 4] [--no-hairline]

--no-hairline: preprocess.thicken_hairline turned off, which is preprocessing 1.5 (the only change of 1.6)."""

import argparse

import cv2
import numpy as np

from digitlab import preprocess
from digitlab.data import unipen
from digitlab.files import png_bytes
from digitlab.serving import classifiers


def plot(strokes, width: int, side: int = 500) -> np.ndarray:
    lo, hi = unipen._box(strokes)
    scale = 0.8 * side / max(hi[0] - lo[0], hi[1] - lo[1], 1e-9)
    off = (side - (hi - lo) * scale) / 2
    img = np.full((side, side), 255, np.uint8)
    for s in strokes:
        q = np.round(((np.asarray(s, np.float64) - lo) * scale + off) * 4).astype(np.int32)
        if len(q) == 1:
            cv2.circle(img, tuple(int(v) for v in q[0]), width * 2, 0, -1, cv2.LINE_AA, shift=2)
        else:
            cv2.polylines(img, [q], False, 0, width, cv2.LINE_AA, shift=2)
    return img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sides", type=int, nargs="+", default=[500])
    ap.add_argument("--widths", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--no-hairline", action="store_true")
    a = ap.parse_args()
    if a.no_hairline:
        preprocess.thicken_hairline = lambda crop: crop
    items = unipen.split(unipen.load(unipen.default_path())).val
    y = np.asarray([i.label for i in items])
    models = classifiers.load_classifiers(["mnist_advanced", "mnist_cnn"])
    for side in a.sides:
        for k in (None, 8):
            for width in a.widths:
                x = np.zeros((len(items), 28, 28), np.float32)
                for j, it in enumerate(items):
                    strokes = it.strokes if k is None else unipen.resample_path(it.strokes, k)
                    p = preprocess.prepare(png_bytes(plot(strokes, width, side)), invert="auto")
                    x[j] = 0 if p.no_ink else p.image
                accs = " | ".join(f"{m.name} {np.mean(m.predict_proba(x).argmax(1) == y):.2%}" for m in models)
                print(f"{side} px page, {'every sample, pen-ups kept' if k is None else f'{k} points'}, {width} px lines: {accs}", flush=True)


if __name__ == "__main__":
    main()
