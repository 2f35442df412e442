"""python runs/s26/corner_speed.py: how fast real pens move at a sharp corner (the training writers; no model read).
The corners of runs/s26/corners.py (its ``sharp_corners``); a raw sample taken as a time step (a tablet samples at a
fixed rate), the speed at the corner is the mean step of the two samples either side, against the pen-down's median
step."""
import numpy as np
from corners import sharp_corners  # runs/s26/corners.py, beside this file

ratios, nsamp = [], []
for s, h, seg, arc, c in sharp_corners():
    local = seg[max(0, c - 2):c + 2].mean()
    ratios.append(local / max(np.median(seg), 1e-12))
    nsamp.append(len(s) / (arc[-1] / h))
r = np.asarray(ratios)
print(f"{len(r)} corners: speed at the sharpest corner / the stroke's median speed (samples as time): "
      f"median {np.median(r):.2f}, 25th {np.percentile(r, 25):.2f}, 75th {np.percentile(r, 75):.2f}; "
      f"share with zero-length steps at the corner {np.mean(r == 0):.0%}; samples per digit height, median {np.median(nsamp):.0f}")
