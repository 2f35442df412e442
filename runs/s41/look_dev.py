"""The validation writers' real numbers (dev sites only; the held-out site is not read here) that the Numbers path
misreads with mnist_advanced, drawn into runs/s41/dev_misreads/ to look at. Same drawing as handwriting.real_numbers."""
import os
from pathlib import Path

import cv2
import numpy as np

from digitlab.data import handwriting_test as hw, unipen
from digitlab.files import png_bytes
from digitlab.serving import numbers
from digitlab.serving.classifiers import load_classifier

seed = 0
items = unipen.load(os.environ["DIGITLAB_UNIPEN"])
split = unipen.split(items)
clf = load_classifier("mnist_advanced")
held = unipen.runs_on_a_line(split.held_out)
runs = unipen.runs_on_a_line(split.val)
rng = np.random.default_rng([seed + hw.SEED_OFFSET, 24])
for run in held:  # keep the rng where the benchmark has it, without reading the held-out numbers
    rng.choice(hw.BRUSHES); unipen.render_number(run, rng, brush=1.0)
out = Path("runs/s41/dev_misreads"); out.mkdir(exist_ok=True)
bad = 0
for j, run in enumerate(runs, start=len(held)):
    truth = "".join(str(i.label) for i in run)
    brush = float(rng.choice(hw.BRUSHES))
    pic = unipen.render_number(run, rng, brush=brush)
    r = numbers.read_number(png_bytes(pic), clf, invert="no", drawn_on=hw.DARK_CANVAS)
    if r.number != truth:
        bad += 1
        print(run[0].source, run[0].writer, truth, r.number, r.read_by)
        cv2.imwrite(str(out / f"{j}_{truth}_{r.number}.png"), 255 - pic)
print(bad, "of", len(runs))
