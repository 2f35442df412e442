"""python runs/s26/corner_speed.py: how fast real pens move at a sharp corner (the training writers; no model read).
The same corners as runs/s26/corners.py; a raw sample taken as a time step (a tablet samples at a fixed rate), the speed
at the corner is the mean step of the two samples either side, against the pen-down's median step."""
import numpy as np
from digitlab.data import unipen
items = unipen.split(unipen.load(unipen.default_path())).train
ratios, nsamp = [], []
for it in items:
    pts_all = np.concatenate([np.asarray(s, float) for s in it.strokes])
    h = max(np.ptp(pts_all[:, 1]), 0.35 * np.ptp(pts_all[:, 0]), 1e-9)
    for s in it.strokes:
        s = np.asarray(s, float)
        if len(s) < 12:
            continue
        seg = np.linalg.norm(np.diff(s, axis=0), axis=1)
        arc = np.concatenate([[0.0], np.cumsum(seg)])
        if arc[-1] < 0.5 * h:
            continue
        before = np.interp(arc - 0.05 * h, arc, np.arange(len(s)))
        after = np.interp(arc + 0.05 * h, arc, np.arange(len(s)))
        pb = np.stack([np.interp(before, np.arange(len(s)), s[:, k]) for k in (0, 1)], 1)
        pa = np.stack([np.interp(after, np.arange(len(s)), s[:, k]) for k in (0, 1)], 1)
        u, v = s - pb, pa - s
        cos = (u * v).sum(1) / np.maximum(np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1), 1e-12)
        inner = (arc > 0.1 * h) & (arc < arc[-1] - 0.1 * h)
        if not inner.any() or cos[inner].min() > np.cos(np.radians(60)):
            continue
        c = np.flatnonzero(inner)[np.argmin(cos[inner])]
        # speed = arc per sample; at the corner: mean spacing of the 2 segments either side; against the stroke's median
        local = seg[max(0, c - 2):c + 2].mean()
        ratios.append(local / max(np.median(seg), 1e-12))
        nsamp.append(len(s) / (arc[-1] / h))
r = np.asarray(ratios)
print(f"{len(r)} corners: speed at the sharpest corner / the stroke's median speed (samples as time): "
      f"median {np.median(r):.2f}, 25th {np.percentile(r, 25):.2f}, 75th {np.percentile(r, 75):.2f}; "
      f"share with zero-length steps at the corner {np.mean(r == 0):.0%}; samples per digit height, median {np.median(nsamp):.0f}")
