"""Where the benchmark's conventions sit among MNIST's own digits: a model-free reader (the k nearest MNIST training
digits in pixel space, every picture through the one preprocessing path, MNIST as prepared for training) on the
conventions styles drawn as session 26 drew them (seed 2). Prints per style the share the kNN majority reads right,
what it reads the styles under 97% as, and its MNIST validation accuracy as the reader's own yardstick.
    python runs/s29/knn.py [--per-style 300] [--k 5]"""
import argparse
import collections

import numpy as np

from digitlab.data import handwriting_test as hw
from digitlab.data import mnist
from digitlab.evaluation.handwriting import prepare_set

p = argparse.ArgumentParser()
p.add_argument("--per-style", type=int, default=300)
p.add_argument("--k", type=int, default=5)
p.add_argument("--seed", type=int, default=2)
a = p.parse_args()
m = mnist.load(prepared=True)
bank = m.x_train.reshape(len(m.x_train), -1).astype(np.float32)
labels = np.asarray(m.y_train)
norms = (bank**2).sum(1)


def knn(x: np.ndarray) -> np.ndarray:
    out = []
    for i in range(0, len(x), 500):
        q = x[i:i + 500].reshape(-1, 784).astype(np.float32)
        d = norms[None, :] - 2 * q @ bank.T
        near = np.argpartition(d, a.k, axis=1)[:, :a.k]
        votes = labels[near]
        out += [np.bincount(v, minlength=10).argmax() for v in votes]
    return np.asarray(out)


val = knn(m.x_val)
print(f"kNN (k={a.k}) on MNIST validation: {np.mean(val == np.asarray(m.y_val)):.2%}")
right, seen, read_as = collections.Counter(), collections.Counter(), collections.defaultdict(collections.Counter)
for part in hw.conventions_stream(a.per_style, a.seed, 370):
    inputs = prepare_set(part)
    pred = knn(inputs.images)
    for s, y, q in zip(inputs.styles, inputs.labels, pred):
        seen[s] += 1
        right[s] += int(q == y)
        read_as[s][int(q)] += 1
for s in hw.STYLES:
    acc = right[s] / seen[s]
    note = "" if acc >= 0.97 else "  read as " + ", ".join(f"{k}: {v}" for k, v in read_as[s].most_common(3))
    print(f"{s:28s} {acc:7.1%}{note}")
