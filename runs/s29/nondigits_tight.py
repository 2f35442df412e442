"""Diagnostic: what preprocess.cut_tight changes for generated non-digits.  The gate's measurement sets (train,
heldout and fresh generators, 400 each, seeds 1-3) and three upload categories (faces, emoji, shapes; 200 each,
seed 7), read by mnist_advanced (served) with the fallback and without it (monkeypatched away): per set, the pictures
without ink and the pictures refused (abstain: no ink, the gate or the confidence threshold).
    python runs/s29/nondigits_tight.py"""
from digitlab import preprocess
from digitlab.data import nondigits
from digitlab.serving import runtime

clf = runtime.load("mnist_advanced")
fallback = preprocess.cut_tight
sets = {split: list(nondigits.non_digit_pictures(400, seed, split)) for split, seed in (("train", 1), ("heldout", 2), ("fresh", 3))}
sets |= {cat: list(nondigits.upload_pictures(200, 7, (cat,))) for cat in ("faces", "emoji", "shapes")}
print(f"{'set':8s} {'n':>4s} | without: {'no ink':>6s} {'refused':>7s} | with: {'no ink':>6s} {'refused':>7s}")
for name, pics in sets.items():
    row = []
    for fn in (lambda *a, **k: None, fallback):
        preprocess.cut_tight = fn
        preds = clf.predict_prepared([preprocess.prepare(pic) for _, _, pic in pics])
        row += [sum(p.no_ink for p in preds), sum(p.abstain for p in preds)]
    print(f"{name:8s} {len(pics):4d} | {row[0]:15d} {row[1]:7d} | {row[2]:12d} {row[3]:7d}")
