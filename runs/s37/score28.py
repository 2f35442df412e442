"""RULE28's judge (runs/s37/RULE28.md): python runs/s37/score28.py -> the tables and the picks.

The same sets and cached readings as RULE27's (runs/s37/score27.py: runs/s33/sets.npz and the 8-point sets)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import score27 as s27  # noqa: E402  (the sets and the cached readings)

from digitlab.evaluation.metrics import mcnemar  # noqa: E402

LONG = "1 long flag"
A = {"0.3": "runs/s37/adv/w0.3/mnist_advanced.keras", "0.5": "runs/s37/adv/w0.5/mnist_advanced.keras",
     "0.7": "runs/s37/adv/w0.7/mnist_advanced.keras", "1": "runs/s37/adv/w1/mnist_advanced.keras"}
B = {"cp A = 0.5": "runs/s37/cnn/a0.5/cp_mixed.keras", "cp A = 0.7": "runs/s37/cnn/a0.7/cp_mixed.keras", "cp alone": "runs/s37/cnn/cp.keras"}
for seed in (88, 89):
    B.update({f"cp8_{seed} A = 0.5": f"runs/s37/cnn/a0.5/cp8_{seed}_mixed.keras", f"cp8_{seed} A = 0.7": f"runs/s37/cnn/a0.7/cp8_{seed}_mixed.keras",
              f"cp8_{seed} alone": f"runs/s37/cnn/cp8_{seed}.keras"})
JUDGED = {"mnist_advanced": ("models/mnist_advanced.keras", {f"pair + wide, A = {a}": f for a, f in A.items()}, 0.9960, "0 slashed"),
          "mnist_cnn": ("models/mnist_cnn.keras", B, 0.9930, "8 two circles apart")}


def alpha(label: str) -> float:
    return 1.0 if label.endswith("alone") else float(label.split("= ")[-1])


def fails(d, preds, base, cand, floor, style) -> list[str]:
    out = []
    b, c = base["acc"], cand["acc"]
    y = d["mnist test|y"]
    rb, rc = preds[f"{base['file']}|mnist test"] == y, preds[f"{cand['file']}|mnist test"] == y
    lost, won = int((rb & ~rc).sum()), int((~rb & rc).sum())
    cand["mnist_paired"] = (lost, won, mcnemar(lost, won))
    if (c["mnist test"] < floor or c["mnist test"] < b["mnist test"] - 0.0005 or c["mnist val"] < b["mnist val"] - 0.0005
            or (lost > won and cand["mnist_paired"][2] < 0.05)):
        out.append("1 MNIST")
    if c[s27.WRITERS] < b[s27.WRITERS] - 0.0006:
        out.append("2 writers")
    st, bst = cand["styles"], base["styles"]
    others = [t for t, v in st.items() if t not in (style, LONG) and v < 0.97]
    if (st[style] < 0.97 or st[style] < bst[style] + 0.01 - 1e-9 or others or round(300 * st[LONG]) < round(300 * bst[LONG]) - 2
            or c[s27.CONV] < b[s27.CONV] - 0.001):
        out.append("3 styles")
    if cand["load"] < base["load"] - 0.002:
        out.append("4 load_digits")
    return out


def main():
    d = s27.sets()
    files = [f for committed, cands, _, _ in JUDGED.values() for f in (committed, *cands.values()) if (s27.ROOT / f).is_file()]
    preds = s27.readings(d, files)
    for model, (committed, cands, floor, style) in JUDGED.items():
        base = s27.row(d, preds, committed)
        base["file"] = committed
        print(f"\n## {model} (RULE28: {style})\n")
        rows = judged(d, preds, base, cands, floor, style)
        passing = table(rows, style, lambda label, r, style=style: (r["styles"][style], r["acc"]["mnist val"], -alpha(label)))
        print(f"\npicked: {max(passing)[1] + ' (' + max(passing)[2] + ')' if passing else 'none (no candidate passes)'}")


def read(committed: str, cands: dict) -> tuple[dict, dict, dict]:
    """One rule's sets, the readings of the committed file and of every candidate {label: file} that exists, and the
    committed file's row: (d, preds, base)."""
    d = s27.sets()
    preds = s27.readings(d, [committed, *[f for f in cands.values() if (s27.ROOT / f).is_file()]])
    base = s27.row(d, preds, committed)
    base["file"] = committed
    return d, preds, base


def judged(d, preds, base, cands: dict, floor, style, more=None) -> list:
    """The committed row, then each candidate {label: file} that was read, with RULE28's failures (``fails``) and
    ``more(row)``'s: [(label, row, fails: None for the committed file)], as ``table`` prints them."""
    rows = [("committed", base, None)]
    for label, f in cands.items():
        r = s27.row(d, preds, f)
        if r is None:
            print(f"({label}: {f} not built)", file=sys.stderr)
            continue
        r["file"] = f
        rows.append((label, r, fails(d, preds, base, r, floor, style) + (more(r) if more else [])))
    return rows


def table(rows: list, style: str, key) -> list:
    """Print the rows [(label, row, fails: None for the committed file)] as RULE28's table -> the passing candidates as
    [(key(label, row), label, file)]."""
    print("| candidate | MNIST val | MNIST test | MNIST test paired (-lost / +won, p) | validation writers | "
          f"{style} | 1 long flag | other styles < 97% | conventions | load_digits | held-out kept / lost / 8 points (apart) | fails |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    passing = []
    for label, r, fl in rows:
        a, st = r["acc"], r["styles"]
        paired = "-" if fl is None else f"-{r['mnist_paired'][0]} / +{r['mnist_paired'][1]} (p {r['mnist_paired'][2]:.2g})"
        others = ", ".join(f"{t} {v:.1%}" for t, v in st.items() if t not in (style, LONG) and v < 0.97) or "none"
        held = " / ".join(f"{a[n]:.2%}" for n in s27.HELD)
        verdict = "-" if fl is None else (", ".join(fl) or "passes")
        print(f"| {label} | {a['mnist val']:.2%} | {a['mnist test']:.2%} | {paired} | {a[s27.WRITERS]:.2%} | {st[style]:.1%} | "
              f"{st[LONG]:.1%} | {others} | {a[s27.CONV]:.2%} | {r['load']:.2%} | {held} | {verdict} |")
        if fl == []:
            passing.append((key(label, r), label, r["file"]))
    return passing


if __name__ == "__main__":
    main()
