"""Of the real digits `mnist_advanced`'s whole decision refuses, how many it reads right (RULE32's "Why").

python runs/s38/refused_read_right.py     -> runs/s38/refused_read_right.txt

The gate benchmark's pictures of the pen-path sets (handwriting.real_sets, seed 0, 1,000 per set, as
`python evaluation/gate.py` draws them), read by the committed gate and mnist_advanced's whole decision
(gate.model_rule, as Home and the predict CLI decide)."""

import numpy as np

from digitlab.data import nondigits, unipen
from digitlab.evaluation import gate as bench
from digitlab.evaluation import handwriting
from digitlab.serving import classifiers
from digitlab.serving import gate as serving_gate

split = unipen.split(unipen.load(unipen.default_path()))
sets = {s.name: s for s in handwriting.real_sets(split, 1000, 0)}
clf = classifiers.load_classifier("mnist_advanced")
rule = bench.model_rule(clf, serving_gate.default())
for name in (handwriting.REAL_WRITERS, handwriting.REAL_WRITERS_PATH, handwriting.REAL_HELD_OUT_JOINED, handwriting.REAL_HELD_OUT_PATH):
    s = sets[name]
    images, no_ink, checked = nondigits.prepare_images(s.pictures, s.invert)
    ink = ~no_ink & ~checked
    x, y = images[ink], np.asarray(s.labels)[ink]
    refused, right = rule(x), clf.predict_proba(x).argmax(1) == y
    print(f"{name}: refused {int(refused.sum())} of {len(x)}, of them read right {int((refused & right).sum())}; "
          f"misread {int((~right).sum())}, of them refused {int((refused & ~right).sum())}")
