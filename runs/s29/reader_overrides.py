"""Diagnostic on dev sets only (never the held-out site): where the number reader and the cuts differ, who is right,
by how the reader's number differs (more digits, as many, fewer) and its log ratio.
    python runs/s29/reader_overrides.py   -> runs/s29/reader_overrides.npz (+ a summary)"""
import re

import numpy as np

from digitlab import data
from digitlab.data import handwriting_test as hw
from digitlab.data import unipen
from digitlab.files import png_bytes
from digitlab.serving import numbers, runtime
from digitlab.training import reader as reader_training

split = unipen.split(unipen.load(unipen.default_path()))
_, tuning_items = reader_training.tuning_split(split.train, 0.15)
clf = runtime.load("mnist_advanced")
mnist = data.load(None)
NOTE = re.compile(r"the number reader read (\d*) where the cuts read (\d*|nothing) .*\(log ratio (-?[\d.]+|inf|-inf), margin")
rows = []


def read(part, truth, pic, **kw):
    r = numbers.read_number(pic, clf, **kw)
    m = next((NOTE.search(n) for n in r.notes if NOTE.search(n)), None)
    cuts = m.group(2).replace("nothing", "") if m else r.number
    rows.append((part, truth, cuts, m.group(1) if m else cuts, float(m.group(3)) if m else 0.0))


for part, items in (("val", split.val), ("tuning", tuning_items)):
    rng = np.random.default_rng([0 + hw.SEED_OFFSET, 24])
    for run in unipen.runs_on_a_line(items):
        brush = float(rng.choice(hw.BRUSHES))
        read(part, "".join(str(i.label) for i in run), png_bytes(unipen.render_number(run, rng, brush=brush)), invert="no", drawn_on=hw.DARK_CANVAS)
for part, number, pic in reader_training.tuning_numbers([], mnist.x_val, mnist.y_val, 3):
    read("mnist val", number, pic, invert="auto")
np.savez("runs/s29/reader_overrides.npz", rows=np.array(rows, dtype=object))
for part in ("val", "tuning", "mnist val"):
    sel = [r for r in rows if r[0] == part]
    print(f"\n{part}: {len(sel)} numbers, cuts right {np.mean([r[2] == r[1] for r in sel]):.1%}")
    for kind, test in (("reader longer", lambda c, d: len(d) > len(c)), ("same length", lambda c, d: len(d) == len(c)),
                       ("reader shorter", lambda c, d: len(d) < len(c))):
        diff = [r for r in sel if r[3] != r[2] and test(r[2], r[3])]
        print(f"  {kind}: {len(diff)} differ; reader right {sum(r[3] == r[1] for r in diff)}, cuts right {sum(r[2] == r[1] for r in diff)}; "
              f"ratios reader right {sorted(round(r[4], 1) for r in diff if r[3] == r[1])} | cuts right {sorted(round(r[4], 1) for r in diff if r[2] == r[1])}")
