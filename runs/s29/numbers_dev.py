"""Diagnostic, dev sets only: every real number of the validation writers (and, with --tuning, the reader's tuning
writers) read as evaluation/handwriting.py reads them, each misread listed with the cuts' and the reader's readings.
The held-out site is never read here.   python runs/s29/numbers_dev.py [--tuning] [--writing continental]"""
import argparse

import numpy as np

from digitlab.data import handwriting_test as hw
from digitlab.data import unipen
from digitlab.files import png_bytes
from digitlab.serving import numbers, runtime
from digitlab.training import reader as reader_training

p = argparse.ArgumentParser()
p.add_argument("--tuning", action="store_true")
p.add_argument("--writing", default="default")
p.add_argument("--model", default="mnist_advanced")
a = p.parse_args()
split = unipen.split(unipen.load(unipen.default_path()))
if a.tuning:
    _, items = reader_training.tuning_split(split.train, 0.15)
else:
    items = split.val
runs = unipen.runs_on_a_line(items)
clf = runtime.load(a.model)
rng = np.random.default_rng([0 + hw.SEED_OFFSET, 24])
right = 0
for run in runs:
    truth = "".join(str(i.label) for i in run)
    brush = float(rng.choice(hw.BRUSHES))
    pic = png_bytes(unipen.render_number(run, rng, brush=brush))
    r = numbers.read_number(pic, clf, invert="no", drawn_on=hw.DARK_CANVAS, writing=a.writing)
    if r.number == truth:
        right += 1
        continue
    cuts = numbers.read_number(pic, clf, invert="no", drawn_on=hw.DARK_CANVAS, reader=None, writing=a.writing)
    print(f"{run[0].source:4s} {run[0].writer:14s} truth {truth:7s} read {r.number:8s} by {r.read_by:6s} cuts {cuts.number:8s} "
          f"conf {' '.join(f'{d.prediction.confidence:.2f}' for d in cuts.digits)}")
print(f"{right} of {len(runs)} right ({right / len(runs):.2%})")
