"""RULE29's judge (runs/s38/RULE29.md): python runs/s38/score29.py -> the table and the pick.

The sets and cached readings are RULE27's (runs/s37/score27.py: runs/s33/sets.npz and the 8-point sets; the
readings cache, runs/s37/preds.npz, gains the new candidates); conditions 1-4 are RULE28's (score28.fails)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "s37"))
import score27 as s27  # noqa: E402
import score28 as s28  # noqa: E402

STYLE, COMMITTED, FLOOR = "0 slashed", "models/mnist_advanced.keras", 0.9960
ALPHAS = ["0.3", "0.5", "0.7", "1"]
CANDS = {**{f"P, A = {a}": f"runs/s38/adv/p{a}/mnist_advanced.keras" for a in ALPHAS},
         **{f"Q, A = {a}": f"runs/s37/adv/a{a}/final/mnist_advanced.keras" for a in ALPHAS}}


def main():
    d = s27.sets()
    preds = s27.readings(d, [COMMITTED, *CANDS.values()])
    base = s27.row(d, preds, COMMITTED)
    base["file"] = COMMITTED
    print(f"\n## mnist_advanced (RULE29: {STYLE})\n")
    print(f"| candidate | MNIST val | MNIST test | MNIST test paired (-lost / +won, p) | validation writers | writers, 8 points | {STYLE} | "
          "1 long flag | other styles < 97% | conventions | load_digits | held-out kept / lost / 8 points (apart) | fails |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows, passing = [("committed", base, None)], []
    for label, f in CANDS.items():
        r = s27.row(d, preds, f)
        r["file"] = f
        fl = s28.fails(d, preds, base, r, FLOOR, STYLE)
        if r["acc"][s27.W8] < base["acc"][s27.W8] - 0.0006:
            fl.append("5 8 points")
        rows.append((label, r, fl))
    for label, r, fl in rows:
        a, st = r["acc"], r["styles"]
        paired = "-" if fl is None else f"-{r['mnist_paired'][0]} / +{r['mnist_paired'][1]} (p {r['mnist_paired'][2]:.2g})"
        others = ", ".join(f"{t} {v:.1%}" for t, v in st.items() if t not in (STYLE, s28.LONG) and v < 0.97) or "none"
        held = " / ".join(f"{a[n]:.2%}" for n in s27.HELD)
        verdict = "-" if fl is None else (", ".join(fl) or "passes")
        print(f"| {label} | {a['mnist val']:.2%} | {a['mnist test']:.2%} | {paired} | {a[s27.WRITERS]:.2%} | {a[s27.W8]:.2%} | "
              f"{st[STYLE]:.1%} | {st[s28.LONG]:.1%} | {others} | {a[s27.CONV]:.2%} | {r['load']:.2%} | {held} | {verdict} |")
        if fl == []:
            alpha = float(label.split("= ")[-1])
            passing.append(((st[STYLE], a["mnist val"], -alpha, label.startswith("P")), label, r["file"]))
    print(f"\npicked: {max(passing)[1] + ' (' + max(passing)[2] + ')' if passing else 'none (no candidate passes)'}")


if __name__ == "__main__":
    main()
