"""python runs/s27/numbers/reader_takeovers.py PART: on one part's real numbers (val: the validation writers; tuning:
the reader's tuning writers, on which its margin was fitted), every number the reader took over from the cuts: the
cuts' number, the reader's, the truth, and whether the reader's number is longer. The held-out site is never read."""
import sys
from collections import Counter

import numpy as np

from digitlab.data import handwriting_test as hw
from digitlab.data import unipen
from digitlab.files import png_bytes
from digitlab.serving import numbers
from digitlab.serving.classifiers import load_classifier

part = sys.argv[1] if len(sys.argv) > 1 else "val"
split = unipen.split(unipen.load(unipen.default_path()))
if part == "tuning":
    from digitlab.training import reader as reader_training
    _, items = reader_training.tuning_split(split.train, reader_training.ReaderConfig().tuning_writers)
else:
    items = getattr(split, part)
runs = unipen.runs_on_a_line(items)
clf = load_classifier("mnist_advanced")
rng = np.random.default_rng([hw.SEED_OFFSET, 24])
tally = Counter()
for run in runs:
    truth = "".join(str(i.label) for i in run)
    brush = float(rng.choice(hw.BRUSHES))
    png = png_bytes(unipen.render_number(run, rng, brush=brush))
    both = numbers.read_number(png, clf, invert="no", drawn_on=0.0)
    if both.read_by != "reader":
        tally["cuts kept", both.number == truth] += 1
        continue
    cuts = numbers.read_number(png, clf, invert="no", drawn_on=0.0, reader=None).number
    longer = "longer" if len(both.number) > len(cuts) else "shorter" if len(both.number) < len(cuts) else "same length"
    tally["reader", longer, "reader right" if both.number == truth else "cuts right" if cuts == truth else "both wrong"] += 1
    print(f"{run[0].source}/{run[0].writer} truth {truth} cuts {cuts} reader {both.number} ({longer})")
print(f"{part}: {len(runs)} numbers")
for k, v in sorted(tally.items(), key=str):
    print(k, v)
