"""python runs/s40/fat_squares.py

RULE39's probe: a 0 drawn as a square with a fat pen, askew, on a light page (dark ink): pens of 5-12 px, sides of
70-150 px, turned -8 to 8 degrees.  Counts the squares whose ink ``drop_frame`` takes away (the frame note, or the
model input differing from the one with the step off) on the tree it runs on.
"""
from __future__ import annotations

import cv2
import numpy as np

from digitlab import preprocess


def squares():
    for pen in (5, 6, 8, 10, 12):
        for side in (70, 90, 110, 130, 150):
            for angle in (-8, -5, -3, -1, 0, 1, 3, 5, 8):
                page = np.full((260, 260), 232, np.uint8)
                half = side / 2
                corners = np.array([(-half, -half * 1.3), (half, -half * 1.3), (half, half * 1.3), (-half, half * 1.3)])
                a = np.deg2rad(angle)
                turned = corners @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) + 130
                cv2.polylines(page, [np.round(turned).astype(np.int32)], True, 40, pen, lineType=cv2.LINE_AA)
                yield (pen, side, angle), page


def main() -> None:
    erased, noted, n = [], 0, 0
    plain = preprocess.drop_frame
    for key, page in squares():
        n += 1
        p = preprocess.prepare(page)
        noted += preprocess.FRAME_NOTE in p.notes
        preprocess.drop_frame = lambda ink: ink
        try:
            off = preprocess.prepare(page)
        finally:
            preprocess.drop_frame = plain
        if p.no_ink or not np.array_equal(p.image, off.image):
            erased.append(key)
    print(f"preprocessing {preprocess.PREPROCESS_VERSION}: {len(erased)} of {n} fat squares changed by drop_frame, "
          f"{noted} with the frame note")
    for pen in sorted({k[0] for k in erased}):
        print(f"  pen {pen} px: {sum(k[0] == pen for k in erased)} changed")


if __name__ == "__main__":
    main()
