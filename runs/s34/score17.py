"""python runs/s34/score17.py LOGITS.npz NAME=FILE.keras [...]  -> every set's logits of each model (added to LOGITS.npz)
python runs/s34/score17.py LOGITS.npz --score                   -> RULE17's table (mnist_cnn) and RULE18's (mnist_advanced)

The same prepared pictures as RULE12-16 (runs/s33/sets.npz). The committed files' logits (mnist_advanced, its wide
network, mnist_cnn) are read from session 33's saved ones (runs/s33/logits.npz, logits_cnn.npz); the candidates' are
added to LOGITS.npz by the first form. Names: RULE17's mixes fte_a0.3, fte_a0.5, fte_a0.7, fte (alone) and its control
ftk; RULE18's pairs pair7_a0.3 and pair7_a0.5, each combined with the committed wide network as (2 pair + wide) / 3."""

import importlib.util
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("s34_score16", HERE / "score16.py")
s16 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(s16)
s19 = s16.s19
EIGHT = "8 two circles apart"
MIXES = ["fte_a0.3", "fte_a0.5", "fte_a0.7", "fte"]  # RULE17's candidates, smallest A first (alone is A = 1)
PAIRS = ["pair7_a0.3", "pair7_a0.5"]  # RULE18's, smaller A first


def _rows(d: dict, names: list[str], models: dict) -> list[dict]:
    """One row per ``models`` entry (label -> function of a set's name giving its logits), with its styles."""
    rows = []
    for label, z in models.items():
        r = s19.row(z, d, names, model=label)
        r["styles"] = s16.per_style(z("conventions precise"), d)
        rows.append(r)
    return rows


def _judge(rows: list[dict], fails, candidates: list[str], style: str, best=None) -> None:
    """The table, then the pick: the first passing candidate, or with ``best`` (a row -> a sort key) the highest."""
    s19.table(rows, fails, judged=lambda r: r["model"] in candidates)
    print(f"\n| model | {style} | 1 long flag | styles under 97% |\n|---|---|---|---|")
    for r in rows:
        under = ", ".join(f"{k} {v:.1%}" for k, v in r["styles"].items() if v < 0.97) or "none"
        print(f"| {r['model']} | {r['styles'][style]:.1%} | {r['styles'][s16.LONG_FLAG]:.1%} | {under} |")
    passing = [c for c in candidates if any(r["model"] == c and not fails(r, rows[0]) for r in rows)]
    if best is not None:
        passing.sort(key=lambda c: best(next(r for r in rows if r["model"] == c)), reverse=True)
    print(f"\npicked: {passing[0] if passing else 'none (no candidate passes)'}\n")


def load(path: Path) -> tuple[dict, list[str], set, object]:
    """LOGITS.npz with the committed files' logits added (keys adv, wide, cnn) -> (d, the sets' names, the models
    it holds, one: a model's key -> a function of a set's name giving its logits)."""
    d = dict(np.load(path, allow_pickle=True))
    adv = np.load(HERE.parent / "s33" / "logits.npz", allow_pickle=True)
    cnn = np.load(HERE.parent / "s33" / "logits_cnn.npz", allow_pickle=True)
    names = sorted({k.split("|")[0] for k in adv.files})
    for name in names:
        assert (adv[f"{name}|y"] == cnn[f"{name}|y"]).all() and (name not in {k.split("|")[0] for k in d} or (d[f"{name}|y"] == adv[f"{name}|y"]).all())
        d[f"{name}|y"] = adv[f"{name}|y"]
        d[f"{name}|adv"], d[f"{name}|wide"], d[f"{name}|cnn"] = adv[f"{name}|committed"], adv[f"{name}|wide"], cnn[f"{name}|committed"]
        if f"{name}|tags" in adv.files:
            d[f"{name}|tags"] = adv[f"{name}|tags"]
    have = {k.split("|")[1] for k in d}

    def one(k):
        return lambda name: d[f"{name}|{k}"]

    return d, names, have, one


def score(path: Path) -> None:
    d, names, have, one = load(path)
    print("## RULE17: mnist_cnn\n")
    models = {"committed mnist_cnn": one("cnn"), **{m: one(m) for m in MIXES if m in have}}
    if "ftk" in have:
        models["ftk, the control (not a candidate)"] = one("ftk")
    _judge(_rows(d, names, models), s16.fails_for(EIGHT, 0.993), MIXES, EIGHT)
    print("## RULE18: mnist_advanced\n")
    models = {"committed mnist_advanced": one("adv")}
    models.update({f"(2 {p} + wide) / 3": (lambda name, p=p: (2 * d[f"{name}|{p}"] + d[f"{name}|wide"]) / 3) for p in PAIRS if p in have})
    models.update({f"{p} alone (not a candidate)": one(p) for p in PAIRS if p in have})
    _judge(_rows(d, names, models), s16.fails, [f"(2 {p} + wide) / 3" for p in PAIRS], s16.SLASHED)


if __name__ == "__main__":
    s19.main(score)  # LOGITS.npz --score, or LOGITS.npz NAME=FILE.keras ...
