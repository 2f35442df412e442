"""Diagnostic, after RULE10: why MNIST test digits scanned close with no margin (runs/s30/tight_scans.py's pictures, the
same seeds) are still misread by mnist_advanced: no ink, the paper read as the ink (the scans are dark ink on light,
so "inverted" is right), or the ink's polarity right and the digit still misread (the photo steps).
python runs/s30/tight_scans_causes.py"""
import sys
from pathlib import Path

import numpy as np

sys.argv = sys.argv[:1] + ["--n", "300"]
exec(Path(__file__).with_name("tight_scans.py").read_text().split("drop = preprocess._drop_border")[0])
for side, margin in ((120, 0.0), (200, 0.0)):
    rng = np.random.default_rng(side * 100 + int(margin * 100))
    files = [scan(d, side, margin, rng) for d in x]  # noqa: F821 (tight_scans.py's)
    ps = [preprocess.prepare(f) for f in files]  # noqa: F821
    preds = clf.predict_prepared(ps)  # noqa: F821
    wrong = [p for p, q, t in zip(ps, preds, y) if q.label != t]  # noqa: F821
    print(f"{side} px, no margin: {len(wrong)} of 300 misread: no ink {sum(p.no_ink for p in wrong)}, the paper read as the ink "
          f"{sum(not p.no_ink and not p.inverted for p in wrong)}, the polarity right {sum(not p.no_ink and p.inverted for p in wrong)}")
