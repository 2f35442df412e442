"""Probe, not a change: the photo steps' light window (preprocess.remove_background, k = max(15, min(h, w) // 4)) made
at least FACTOR stroke widths (measured on a first reading without the photo steps); FACTOR 0 is the code as
committed.  On runs/s30/tight_scans.py's scans (300 per row) and 100 pictures of four photo cases, mnist_advanced.
python runs/s30/light_window_probe.py"""
import cv2
import numpy as np
from tight_scans import scans

from digitlab import data, preprocess
from digitlab.data import photo_cases
from digitlab.serving import runtime

m = data.load()
x, y = m.x_test[:300], m.y_test[:300]
clf = runtime.load("mnist_advanced")
committed = preprocess.remove_background


def window(factor: float):
    def remove_background(ink, photo=None, level=None, floor=None):
        h, w = ink.shape
        if photo is None:
            photo = level is None and preprocess.is_photo(ink)
        if not photo or level is not None:
            return committed(ink, photo, level, floor)
        k = max(15, min(h, w) // 4, round(factor * preprocess.stroke_width(committed(ink, False)[0])))
        opened = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
        return committed((ink - opened) / np.maximum(1 - opened, preprocess.LIGHT_FLOOR), False)
    return remove_background


for factor in (0, 4, 6):
    preprocess.remove_background = window(factor)
    out = []
    for side, margin in ((120, 0.0), (200, 0.0), (80, 0.0), (120, 0.05)):
        preds = clf.predict_prepared([preprocess.prepare(f) for f in scans(x, side, margin)])
        out.append(f"{side}/{margin}: {np.mean([q.label == t for q, t in zip(preds, y)]):.1%}")
    for case in ("half_shadow", "desk_corner", "marker", "plain"):
        preds = clf.predict_prepared([preprocess.prepare(photo_cases.make(case, x[i], i)) for i in range(100)])
        out.append(f"{case}: {np.mean([q.label == t for q, t in zip(preds, y[:100])]):.0%}")
    print(factor, " | ".join(out), flush=True)
