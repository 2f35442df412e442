"""RULE27's judge (runs/s37/RULE27.md).

python runs/s37/score27.py            -> every model's readings (cached in runs/s37/preds.npz), the tables, the picks

The sets: runs/s33/sets.npz (as RULE12-26 read them) and two drawn once with seed 37 into runs/s37/sets_path.npz:
the validation writers' and the held-out site's digits as 8 points along the pen's whole path
(``handwriting.real_set(points=8)``).  The held-out site is printed apart and chooses nothing."""

from pathlib import Path

import numpy as np

from digitlab.data import unipen
from digitlab.evaluation import handwriting
from digitlab.evaluation.metrics import mcnemar
from digitlab.serving import classifiers

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
SETS, PATH_SETS, PREDS = ROOT / "runs/s33/sets.npz", HERE / "sets_path.npz", HERE / "preds.npz"
W8, H8 = "unseen writers, 8 points", "held-out site, 8 points"
WRITERS, CONV = "real strokes: unseen writers", "conventions precise"
LOADS = ["load_digits upload", "load_digits canvas small", "load_digits canvas medium", "load_digits canvas large"]
HELD = ["real strokes: held-out site", "real strokes: held-out site, pen-ups lost", H8]
ALPHAS = ["0.3", "0.5", "0.7", "1"]
MODELS = {
    "mnist_cnn": ("models/mnist_cnn.keras", {a: f"runs/s37/cnn/a{a}/cp_mixed.keras" if a != "1" else "runs/s37/cnn/cp.keras" for a in ALPHAS}, 0.9930),
    "mnist_advanced": ("models/mnist_advanced.keras", {a: f"runs/s37/adv/a{a}/final/mnist_advanced.keras" for a in ALPHAS}, 0.9960),
}


def sets() -> dict:
    d = dict(np.load(SETS, allow_pickle=True))
    if not PATH_SETS.is_file():
        split = unipen.split(unipen.load(unipen.default_path()))
        out = {}
        for name, items, salt in ((W8, split.val, 1), (H8, split.held_out, 2)):
            s = handwriting.prepare_set(handwriting.real_set(name, items, 37, salt, True, "", points=8))
            out[f"{name}|x"], out[f"{name}|y"] = np.where(s.inked[:, None, None], s.images, 0), s.labels
        np.savez_compressed(PATH_SETS, **out)
    d.update(dict(np.load(PATH_SETS)))
    return d


def readings(d: dict, files: list[str] | None = None) -> dict:
    """Each model file's reading (argmax) of every set, cached in PREDS: {"FILE|SET": (N,) ints}."""
    preds = dict(np.load(PREDS)) if PREDS.is_file() else {}
    names = sorted({k.split("|")[0] for k in d if k.endswith("|x")})
    if files is None:
        files = [f for committed, cands, _ in MODELS.values() for f in (committed, *cands.values())]
    for f in files:
        if not (ROOT / f).is_file() or all(f"{f}|{n}" in preds for n in names):
            continue
        clf = classifiers.load_classifier(str(ROOT / f))
        for n in names:
            preds[f"{f}|{n}"] = clf.predict_proba(d[f"{n}|x"]).argmax(1)
        np.savez_compressed(PREDS, **preds)
        print(f"read {f}", flush=True)
    return preds


def row(d, preds, f) -> dict | None:
    if f"{f}|mnist test" not in preds:
        return None
    acc = {n: float(np.mean(preds[f"{f}|{n}"] == d[f"{n}|y"])) for n in sorted({k.split("|")[0] for k in d if k.endswith("|x")})}
    tags, right = d[f"{CONV}|tags"], preds[f"{f}|{CONV}"] == d[f"{CONV}|y"]
    styles = {t: float(right[tags == t].mean()) for t in np.unique(tags)}
    return {"acc": acc, "styles": styles, "under": sorted(t for t, v in styles.items() if v < 0.97),
            "load": float(np.mean([acc[n] for n in LOADS]))}


def judge(d, preds, base, cand, floor) -> list[str]:
    fails = []
    b, c = base["acc"], cand["acc"]
    if c["mnist test"] < floor or c["mnist val"] < b["mnist val"] - 0.001:
        fails.append("1 MNIST")
    rb, rc = preds[f"{base['file']}|{W8}"] == d[f"{W8}|y"], preds[f"{cand['file']}|{W8}"] == d[f"{W8}|y"]
    lost, won = int((rb & ~rc).sum()), int((~rb & rc).sum())
    cand["paired"] = (lost, won, mcnemar(lost, won))
    if not (c[W8] >= b[W8] + 0.01 and won > lost and cand["paired"][2] < 0.01):
        fails.append("2 8 points")
    if c[WRITERS] < b[WRITERS] - 0.0012:
        fails.append("3 writers")
    if len(cand["under"]) > len(base["under"]) or c[CONV] < b[CONV] - 0.001:
        fails.append("4 conventions")
    if cand["load"] < base["load"] - 0.002:
        fails.append("5 load_digits")
    return fails


def main():
    d = sets()
    preds = readings(d)
    for model, (committed, cands, floor) in MODELS.items():
        base = row(d, preds, committed)
        base["file"] = committed
        print(f"\n## {model} (RULE27)\n")
        print("| candidate | MNIST val | MNIST test | writers 8 points | paired (-lost / +won, p) | validation writers | conventions | "
              "styles < 97% | load_digits | held-out kept / lost / 8 points (apart) | fails |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        rows = [("committed", base, [])]
        for a, f in cands.items():
            r = row(d, preds, f)
            if r is None:
                continue
            r["file"] = f
            rows.append((f"A = {a}", r, judge(d, preds, base, r, floor)))
        passing = []
        for label, r, fails in rows:
            a = r["acc"]
            pair = "-" if label == "committed" else f"-{r['paired'][0]} / +{r['paired'][1]} (p {r['paired'][2]:.2g})"
            held = " / ".join(f"{a[n]:.2%}" for n in HELD)
            under = ", ".join(f"{t} {r['styles'][t]:.1%}" for t in r["under"])
            print(f"| {label} | {a['mnist val']:.2%} | {a['mnist test']:.2%} | {a[W8]:.2%} | {pair} | {a[WRITERS]:.2%} | {a[CONV]:.2%} | "
                  f"{len(r['under'])} ({under}) | {r['load']:.2%} | {held} | "
                  f"{', '.join(fails) if label != 'committed' and fails else ('passes' if label != 'committed' else '-')} |")
            if label != "committed" and not fails:
                passing.append((a[W8], -float(label.split()[-1]), label))
        print(f"\npicked: {max(passing)[2] if passing else 'none (no candidate passes)'}")


if __name__ == "__main__":
    main()
