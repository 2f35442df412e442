"""RULE43's judge (runs/s42/RULE43.md): python runs/s42/score43.py -> the table and the pick.

The sets as RULE27-29 read them (runs/s33/sets.npz and session 37's 8-point sets, by runs/s37/score27.py), each model
file read through ``serving.classifiers`` (argmax, cached in runs/s42/preds.npz); RULE29's conditions (RULE28's
``score28.fails`` and the validation writers as 8 points), unchanged. The held-out site is printed apart and chooses
nothing."""

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "s37"))
import score27 as s27  # noqa: E402  (the sets, the readings, the rows)
import score28 as s28  # noqa: E402  (RULE28's conditions)

s27.PREDS = HERE / "preds.npz"
COMMITTED, FLOOR, STYLE = "models/mnist_advanced.keras", 0.9960, "0 slashed"
ORDER = ["c81", "c82", "r91", "r92", "p93", "p94"]  # RULE43's table: networks that existed before networks trained now
CANDIDATES = {f"{y}, W = {w}": f"runs/s42/adv/{y}_w{w}/mnist_advanced.keras" for y in ORDER for w in (1, 2)}


def key(label: str, r: dict) -> tuple:
    y, w = label.split(", W = ")
    return r["styles"][STYLE], r["acc"]["mnist val"], -int(w), -ORDER.index(y)


def main() -> None:
    d, preds, base = s28.read(COMMITTED, CANDIDATES)
    print(f"## mnist_advanced (RULE43: {STYLE})\n")
    rows = s28.judged(d, preds, base, CANDIDATES, FLOOR, STYLE,
                      more=lambda r: ["5 8 points"] if r["acc"][s27.W8] < base["acc"][s27.W8] - 0.0006 else [])
    passing = s28.table(rows, STYLE, key)
    print("\n| candidate | validation writers, 8 points |\n|---|---|")
    for label, r, _ in rows:
        print(f"| {label} | {r['acc'][s27.W8]:.2%} |")
    print(f"\npicked: {max(passing)[1] + ' (' + max(passing)[2] + ')' if passing else 'none (no candidate passes)'}")


if __name__ == "__main__":
    main()
