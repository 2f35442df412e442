"""RULE9's before -> after on the benchmark's scanned real numbers (digitlab.evaluation.handwriting.real_numbers with
scanned=True: the held-out site and the validation writers, 634 numbers, seed 0), mnist_advanced with the committed
number reader: "before" with every ink blob at a photo's edge dropped, as the single-digit path does
(preprocess.LINE_EDGE_HEIGHT = 0, which is the tree before RULE9), "after" as committed.  The held-out site is printed
apart; it chose nothing.   python runs/s30/scanned_before_after.py"""
from digitlab import preprocess
from digitlab.data import unipen
from digitlab.evaluation import handwriting
from digitlab.serving import runtime

split = unipen.split(unipen.load(unipen.default_path()))
clf = runtime.load("mnist_advanced")
kept = preprocess.LINE_EDGE_HEIGHT
rows = {}
for name, height in (("before", 0.0), ("after", kept)):
    preprocess.LINE_EDGE_HEIGHT = height
    rows[name] = handwriting.real_numbers(split, clf, 0, scanned=True)
held = f"site {unipen.HELD_OUT_SITE}"
print(f"{'scanned real numbers, whole number right':44s} {'before':>8s} {'after':>8s}")
groups = ["all", *[g for g in rows["after"]["groups"] if g.startswith("site ") and g != held], held]
for g in groups:
    n = rows["after"]["n"] if g == "all" else rows["after"]["groups"][g]["n"]
    b, a = ((r["whole_number"] if g == "all" else r["groups"][g]["whole_number"]) for r in (rows["before"], rows["after"]))
    label = f"{g} ({n})" + (" (held out: printed apart)" if g == held else "")
    print(f"{label:44s} {b:8.2%} {a:8.2%}")
print("causes before:", rows["before"]["causes"])
print("causes after: ", rows["after"]["causes"])
