"""python runs/s21/consensus.py  -> how many of mnist_advanced's misreads of the validation writers every other network
also misreads, as the same digit (session 19's pictures; the logits sessions 19-21 saved: runs/s19, s20, s21/logits.npz)

A misread that networks trained apart (MNIST only, real strokes from the first epoch, another width) all make alike is
one the data itself pulls towards: a digit written like another, or a label a reader would dispute. The held-out site
is not read here."""

import numpy as np

SET = "real strokes: unseen writers"
s19, s20, s21 = (np.load(f"runs/{s}/logits.npz", allow_pickle=True) for s in ("s19", "s20", "s21"))
y = s20[f"{SET}|y"]
assert (s19[f"{SET}|y"] == y).all() and (s21[f"{SET}|y"] == y).all(), "not the same pictures"
committed = (2 * s20[f"{SET}|committed"] + 0.25 * s20[f"{SET}|x"]) / 2.25  # mnist_advanced: (m0 + m1 + 0.25 x) / 2.25
others = {"the pair m0, m1 alone": s20[f"{SET}|committed"], "wide network seed 55": s19[f"{SET}|x"],
          "wide network seed 59": s20[f"{SET}|x"], "mnist_cnn": s21[f"{SET}|committed"], "mnist_cnn distilled (s21)": s21[f"{SET}|A1"]}
pred = committed.argmax(1)
wrong = np.flatnonzero(pred != y)
print(f"mnist_advanced misreads {len(wrong)} of {len(y)} validation writers' digits ({1 - len(wrong) / len(y):.2%} right)")
same = {k: (v.argmax(1)[wrong] == pred[wrong]) for k, v in others.items()}
for k, v in same.items():
    print(f"  {k}: the same misread on {v.sum()} of them")
every = np.logical_and.reduce(list(same.values()))
print(f"every one of the {len(others)} other networks reads the same wrong digit on {every.sum()} of {len(wrong)}: "
      + ", ".join(f"{y[i]}->{pred[i]}" for i in wrong[every]))
