"""RULE42's judge (runs/s41/RULE42.md): python runs/s41/score42.py -> the table and the pick.

The sets as RULE27-28 read them (runs/s33/sets.npz and session 37's 8-point sets, by runs/s37/score27.py), each model
file read through ``serving.classifiers`` (argmax, cached in runs/s41/preds.npz); RULE28's conditions for mnist_cnn
(runs/s37/score28.py's ``fails``), unchanged. The held-out site is printed apart and chooses nothing."""

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "s37"))
import score27 as s27  # noqa: E402  (the sets, the readings, the rows)
import score28 as s28  # noqa: E402  (RULE28's conditions)

s27.PREDS = HERE / "preds.npz"  # this rule's readings, apart from session 37's
COMMITTED, FLOOR, STYLE, LONG = "models/mnist_cnn.keras", 0.9930, "8 two circles apart", "1 long flag"
CANDIDATES = {f"e{k}": f"runs/s41/ens/e{k}.keras" for k in range(1, 9)}  # in RULE42's order (the shorter chain first)


def main() -> None:
    d = s27.sets()
    files = [COMMITTED, *[f for f in CANDIDATES.values() if (s27.ROOT / f).is_file()]]
    preds = s27.readings(d, files)
    base = s27.row(d, preds, COMMITTED)
    base["file"] = COMMITTED
    print(f"## mnist_cnn (RULE42: {STYLE})\n")
    print("| candidate | MNIST val | MNIST test | MNIST test paired (-lost / +won, p) | validation writers | "
          f"{STYLE} | {LONG} | other styles < 97% | conventions | load_digits | held-out kept / lost / 8 points (apart) | fails |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows, passing = [("committed", base, None)], []
    for k, (label, f) in enumerate(CANDIDATES.items()):
        r = s27.row(d, preds, f)
        if r is None:
            print(f"({label}: {f} not built)", file=sys.stderr)
            continue
        r["file"] = f
        rows.append((label, r, s28.fails(d, preds, base, r, FLOOR, STYLE)))
        if rows[-1][2] == []:
            passing.append(((r["styles"][STYLE], r["acc"]["mnist val"], -k), label, f))
    for label, r, fl in rows:
        a, st = r["acc"], r["styles"]
        paired = "-" if fl is None else f"-{r['mnist_paired'][0]} / +{r['mnist_paired'][1]} (p {r['mnist_paired'][2]:.2g})"
        others = ", ".join(f"{t} {v:.1%}" for t, v in st.items() if t not in (STYLE, LONG) and v < 0.97) or "none"
        held = " / ".join(f"{a[n]:.2%}" for n in s27.HELD)
        verdict = "-" if fl is None else (", ".join(fl) or "passes")
        print(f"| {label} | {a['mnist val']:.2%} | {a['mnist test']:.2%} | {paired} | {a[s27.WRITERS]:.2%} | {st[STYLE]:.1%} | "
              f"{st[LONG]:.1%} | {others} | {a[s27.CONV]:.2%} | {r['load']:.2%} | {held} | {verdict} |")
    print(f"\npicked: {max(passing)[1] + ' (' + max(passing)[2] + ')' if passing else 'none (no candidate passes)'}")


if __name__ == "__main__":
    main()
