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
COMMITTED, FLOOR, STYLE = "models/mnist_cnn.keras", 0.9930, "8 two circles apart"
CANDIDATES = {f"e{k}": f"runs/s41/ens/e{k}.keras" for k in range(1, 9)}  # in RULE42's order (the shorter chain first)


def main() -> None:
    d, preds, base = s28.read(COMMITTED, CANDIDATES)
    print(f"## mnist_cnn (RULE42: {STYLE})\n")
    rows = s28.judged(d, preds, base, CANDIDATES, FLOOR, STYLE)
    order = list(CANDIDATES)  # ties: the shorter chain, RULE42's order
    passing = s28.table(rows, STYLE, lambda label, r: (r["styles"][STYLE], r["acc"]["mnist val"], -order.index(label)))
    print(f"\npicked: {max(passing)[1] + ' (' + max(passing)[2] + ')' if passing else 'none (no candidate passes)'}")


if __name__ == "__main__":
    main()
