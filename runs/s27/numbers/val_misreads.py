"""python runs/s27/numbers/val_misreads.py [MODEL] [PART]: the real numbers of one part of the real-strokes file
(val: the validation writers, the default; train: the training writers), read as evaluation/handwriting.py reads
them, every misread listed with its cause, and a picture of each (runs/s27/numbers/<part>_<model>/). The held-out site
is never read here."""
import sys
from pathlib import Path

import cv2
import numpy as np

from digitlab import preprocess
from digitlab.data import handwriting_test as hw
from digitlab.data import unipen
from digitlab.files import png_bytes
from digitlab.serving import numbers
from digitlab.serving.classifiers import load_classifier

model = sys.argv[1] if len(sys.argv) > 1 else "mnist_advanced"
part = sys.argv[2] if len(sys.argv) > 2 else "val"
split = unipen.split(unipen.load(unipen.default_path()))
runs = unipen.runs_on_a_line(getattr(split, part))
clf = load_classifier(model)
rng = np.random.default_rng([hw.SEED_OFFSET, 24])
out = Path(__file__).parent / f"{part}_{model}"
out.mkdir(exist_ok=True)
right, causes = 0, {}
for k, run in enumerate(runs):
    truth = "".join(str(i.label) for i in run)
    brush = float(rng.choice(hw.BRUSHES))
    canvas = unipen.render_number(run, rng, brush=brush)
    reading = numbers.read_number(png_bytes(canvas), clf, invert="no")
    if reading.number == truth:
        right += 1
        continue
    if len(reading.number) != len(truth):
        cause = "count"
    else:
        wrong = [j for j, (it, r) in enumerate(zip(run, reading.number)) if str(it.label) != r]
        alone = clf.predict_prepared([preprocess.prepare(unipen.render_number(run, rng, brush=brush, only=j), invert="no") for j in wrong])
        cause = "alone" if all(p.label != run[j].label for p, j in zip(alone, wrong)) else "in-number"
    causes[cause] = causes.get(cause, 0) + 1
    print(f"{k:4d} {run[0].source}/{run[0].writer} truth {truth} read {reading.number} by {reading.read_by} cause {cause} brush {brush:.0f}")
    cv2.imwrite(str(out / f"{k:04d}_{truth}_{reading.number or 'none'}_{cause}.png"), 255 - np.asarray(canvas)[..., :3].max(-1) if np.asarray(canvas).ndim == 3 else 255 - np.asarray(canvas))
print(f"{part}: {right}/{len(runs)} = {right / len(runs):.2%} right; causes {causes}")
