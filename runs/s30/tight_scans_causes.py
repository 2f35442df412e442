"""Diagnostic, after RULE10: why MNIST test digits scanned close with no margin (runs/s30/tight_scans.py's pictures, the
same seeds) are still misread by mnist_advanced: no ink, the paper read as the ink (the scans are dark ink on light,
so "inverted" is right), or the ink's polarity right and the digit still misread (the photo steps).
python runs/s30/tight_scans_causes.py"""
from tight_scans import scans

from digitlab import data, preprocess
from digitlab.serving import runtime

m = data.load()
x, y = m.x_test[:300], m.y_test[:300]
clf = runtime.load("mnist_advanced")
for side in (120, 200):
    ps = [preprocess.prepare(f) for f in scans(x, side, 0.0)]
    wrong = [p for p, q, t in zip(ps, clf.predict_prepared(ps), y) if q.label != t]
    print(f"{side} px, no margin: {len(wrong)} of 300 misread: no ink {sum(p.no_ink for p in wrong)}, the paper read as the ink "
          f"{sum(not p.no_ink and not p.inverted for p in wrong)}, the polarity right {sum(not p.no_ink and p.inverted for p in wrong)}")
