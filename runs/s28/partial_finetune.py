"""python runs/s28/partial_finetune.py  -> runs/s28/partial_finetune.txt

A folder of kept misreads holds a few digits only. The stand-in user's drawings (user_style, seed 0) of the digits the
committed models misread (user_style.HARD: 1, 2, 6), 5 of each, and nothing else; fine-tuned from mnist_cnn by the
default recipe, with the epoch sizes finetune.epoch_sizes gives ("shares": each held digit a full folder's share, a
full folder's MNIST replay) and, for comparison, with the sizes a full folder has ("naive": 384 pictures of the held
digits per epoch, 1,152 MNIST). Measured before and after: 100 new drawings of each held digit and 100 of each other
digit (user_style.drawings, seed 500, never trained on), MNIST test (10,000), and how often an MNIST test digit that is
not a held digit is read as one."""

import tempfile
from pathlib import Path

import numpy as np

from digitlab import data, preprocess
from digitlab.data import user_digits, user_style
from digitlab.models import artifacts
from digitlab.serving.classifiers import Classifier
from digitlab.training import finetune

HELD = user_style.HARD
base = artifacts.resolve("mnist_cnn")
pictures, y_new = user_style.drawings(100, seed=500)
x_new = np.stack([preprocess.prepare(p, invert="yes").image for p in pictures])
mnist = data.load()
x_test, y_test = mnist.inputs("test")
held_new, others_test = np.isin(y_new, HELD), ~np.isin(y_test, HELD)


def measure(entry) -> str:
    p_new = Classifier(entry).predict_proba(x_new).argmax(1)
    p_test = Classifier(entry).predict_proba(x_test).argmax(1)
    return (f"new drawings of {HELD}: {(p_new == y_new)[held_new].mean():.1%}, of the other digits: {(p_new == y_new)[~held_new].mean():.1%}; "
            f"MNIST test {(p_test == y_test).mean():.2%}; other MNIST digits read as {HELD}: {np.isin(p_test[others_test], HELD).sum()}")


print("base mnist_cnn:", measure(base), flush=True)
with tempfile.TemporaryDirectory() as tmp:
    folder = Path(tmp) / "mine"
    pics, labels = user_style.drawings(5, seed=0)
    for pic, label in zip(pics, labels):
        if label in HELD:
            user_digits.save(pic, int(label), folder, invert="yes", drawn_on=1.0)
    shares = finetune.epoch_sizes
    for name, sizes in (("shares", shares), ("naive", lambda config, n, digits=10: shares(config, n))):
        finetune.epoch_sizes = sizes
        result = finetune.run(finetune.FinetuneConfig(base=str(base.path), name=name, seed=0), folder, Path(tmp) / "models")
        print(f"{name}: {measure(artifacts.inspect(result.path))}; held-out kept pictures {result.before['user_holdout']:.0%} -> "
              f"{result.after['user_holdout']:.0%}", flush=True)
