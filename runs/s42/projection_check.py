"""How much of the Neighbours page's answer a random projection of mnist_advanced's compact-network features would keep
(not adopted; session 42's note, "Noticed, left alone").

python runs/s42/projection_check.py FOLDER [K]   FOLDER: the features cache `python evaluation/neighbours.py --model
mnist_advanced --folder FOLDER` built (the committed file's bank); K: dimensions the 6,272 compact features go to (1024)

For 300 of the bank's own 20,000 digits (seed 1), the 12 nearest others by cosine in the full 6,944 features against
those with the compact network's part projected to K by a seeded Gaussian matrix (Johnson-Lindenstrauss) and scaled
to unit length again: the share of the 12 kept, and how often the 12's majority is the digit's label either way."""
import sys
from pathlib import Path

import numpy as np

folder, k = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1024
[bank] = folder.glob("bc84176947e8d5fc*-train-n20000-*.features.npy")
[labels] = folder.glob("train-n20000-*.labels.npz")
f = np.asarray(np.load(bank, mmap_mode="r"), np.float32)
y = np.load(labels)
y = y[y.files[0]]
q = np.random.default_rng(1).choice(len(f), 300, replace=False)
small, compact = f[:, :672], f[:, 672:] * 2.0  # four unit parts joined / sqrt(4): the compact network's is the last


def nearest(x):
    s = x[q] @ x.T
    s[np.arange(len(q)), q] = -np.inf
    return np.argsort(-s, axis=1)[:, :12]


def majority(idx):
    return float(np.mean([np.bincount(y[i], minlength=10).argmax() == y[j] for i, j in zip(idx, q)]))


exact = nearest(f)
r = np.random.default_rng(6272).standard_normal((compact.shape[1], k)).astype(np.float32) / np.sqrt(k)
p = compact @ r
p /= np.linalg.norm(p, axis=1, keepdims=True)
approx = nearest(np.concatenate([small, p / 2.0], axis=1))
kept = np.mean([len(set(a) & set(b)) / 12 for a, b in zip(exact, approx)])
print(f"K {k}: {672 + k} features instead of {f.shape[1]}; the 12 nearest kept {kept:.1%}; majority is the label "
      f"{majority(exact):.1%} exact, {majority(approx):.1%} projected")
