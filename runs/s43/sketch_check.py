"""Exploration (session 43): can a small sketch of the Neighbours bank find the exact 12 nearest training digits
when its best R candidates are re-ranked by the full features?  For 300 MNIST test digits (seed 1), the share of the
exact 12 found, by sketch kind (seeded Gaussian projection or the bank's own top principal axes, uncentred), K and R.

python runs/s43/sketch_check.py FOLDER MODEL   (FOLDER: the cache `python evaluation/neighbours.py --model MODEL
--folder FOLDER` built); a third argument: the second look, K 256 fitted on 5,000 or all rows, 2 or 4 iterations"""
import sys
import time
from pathlib import Path

import numpy as np

from digitlab import data, files
from digitlab.evaluation import neighbours as nb
from digitlab.models import artifacts

folder, name = Path(sys.argv[1]), sys.argv[2]
[entry] = artifacts.select([name])
key = files.sha256(entry.path, 32).removeprefix("sha256:")
bank = nb.training_bank(entry.model, key, folder=folder, build=False)
F = np.asarray(bank.features, np.float32)
x, _ = data.load().inputs("test", n=300, seed=1)
q, _ = nb.feature_extractor(entry.model)(x)
q = q.astype(np.float32)
exact = np.argsort(-(q @ F.T), axis=1)[:, :12]


def axes(k, iters=4, rows=None):
    rng = np.random.default_rng(0)
    A = F if rows is None else F[np.sort(rng.choice(len(F), rows, replace=False))]
    b = np.linalg.qr(rng.standard_normal((F.shape[1], k + 16)).astype(np.float32))[0]
    for _ in range(iters):
        b = np.linalg.qr(A.T @ np.linalg.qr(A @ b)[0])[0]
    _, _, vt = np.linalg.svd(A @ b, full_matrices=False)
    return (b @ vt.T)[:, :k]


GRID = [("gauss", k, None, None) for k in (64, 128, 256)] + [("pca", k, 4, None) for k in (64, 128, 256)]
if len(sys.argv) > 3:  # the second look: K 256 axes fitted on fewer rows, fewer iterations
    GRID = [("pca", 256, it, rows) for it in (2, 4) for rows in (5000, None)]
for kind, k, iters, rows in GRID:
        t0 = time.perf_counter()
        p = (np.random.default_rng(0).standard_normal((F.shape[1], k)).astype(np.float32) / np.sqrt(k)) if kind == "gauss" else axes(k, iters, rows)
        s = F @ p
        t1 = time.perf_counter()
        approx_s = (q @ p) @ s.T
        for r in (50, 100, 200, 400) if len(sys.argv) <= 3 else (200, 500):
            cand = np.argpartition(-approx_s, r - 1, axis=1)[:, :r]
            found = []
            for i in range(len(q)):
                c = cand[i]
                top = c[np.argsort(-(F[c] @ q[i]))[:12]]
                found.append(len(set(top) & set(exact[i])) / 12)
            print(f"{name} D {F.shape[1]} {kind:5s} K {k:3d} iterations {iters} fit rows {rows or len(F)} R {r:3d}: exact 12 found {np.mean(found):.4f} (min {np.min(found):.3f}); "
                  f"sketch made in {t1 - t0:.1f} s", flush=True)
