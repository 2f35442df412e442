"""python runs/s36/score25.py LOGITS.npz NAME=FILE.keras [...]  -> every set's logits of each model (added to LOGITS.npz)
python runs/s36/score25.py LOGITS.npz --score                   -> RULE25's table (runs/s36/RULE25.md)

The same prepared pictures as RULE12-24 (runs/s33/sets.npz) and the committed files' logits from session 33's saved
ones, by runs/s34/score17.py's loading and pick. Names: new_a0.5, new_a0.7 (this rule's two conventions fine-tunes of
the new start's pair, mixed back at A and averaged) and pair7_a0.5, pair7_a0.7 (RULE18's two of the committed pair)."""

import importlib.util
from pathlib import Path

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("s34_score17", HERE.parent / "s34" / "score17.py")
s17 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(s17)
s16, s19 = s17.s16, s17.s19
ALPHAS = ["0.5", "0.7"]
WEIGHTS = [1.0, 1.5, 2.0]


def candidates(d: dict) -> dict:
    """label -> function of a set's name giving its logits, a weighted mean of saved logits; N (3 networks) first,
    then M (5); in each the smaller W first, then the smaller A (RULE25's order for ties)."""
    out = {}
    for family in ("N", "M"):
        for w in WEIGHTS:
            for a in ALPHAS:
                if family == "N":
                    label, weights = f"N: (2 new_a{a} + {w:g} wide) / {2 + w:g}", {f"new_a{a}": 2, "wide": w}
                else:
                    label = f"M: (2 (pair7_a{a} + new_a{a}) / 2 + {w:g} wide) / {2 + w:g}"
                    weights = {f"pair7_a{a}": 1, f"new_a{a}": 1, "wide": w}
                out[label] = (lambda name, weights=weights: sum(v * d[f"{name}|{k}"] for k, v in weights.items()) / sum(weights.values()))
    return out


def score(path: Path) -> None:
    d, names, have, one = s17.load(path)
    print("## RULE25: mnist_advanced from two new starts\n")
    cands = candidates(d)
    models = {"committed mnist_advanced": one("adv"), **cands}
    models.update({f"{m} alone (not a candidate)": one(m) for m in [f"new_a{a}" for a in ALPHAS] + [f"pair7_a{a}" for a in ALPHAS]})
    order = list(cands)
    s17._judge(s17._rows(d, names, models), s16.fails, order, s16.SLASHED,
               best=lambda r: (r["model"].startswith("N"), r["styles"][s16.SLASHED], -order.index(r["model"])))


if __name__ == "__main__":
    s19.main(score)  # LOGITS.npz --score, or LOGITS.npz NAME=FILE.keras ...
