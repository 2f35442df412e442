"""python runs/s35/score19.py LOGITS.npz NAME=FILE.keras [...]  -> every set's logits of each model (added to LOGITS.npz)
python runs/s35/score19.py LOGITS.npz --score                   -> RULE19's and RULE21's tables (mnist_cnn), RULE20's, RULE22's and RULE23's (mnist_advanced)

The same prepared pictures as RULE12-18 (runs/s33/sets.npz); the committed files' logits come from session 33's saved
ones, as in runs/s34/score17.py, whose tables and conditions these are. Names: RULE19's networks c8_81 and c8_82, RULE21's c8v8_81 and c8v8_82;
RULE20's quad_a0.5 and quad_a0.7, each combined with the committed wide network as (2 quad + wide) / 3;
RULE22's and RULE23's (hexa_a0.5, hexa_a0.7) as (2 quad + W wide) / (2 + W)."""

import importlib.util
from pathlib import Path

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("s34_score17", HERE.parent / "s34" / "score17.py")
s17 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(s17)
s16, s19 = s17.s16, s17.s19
NETS = ["c8_81", "c8_82"]  # RULE19's candidates
NETS8 = ["c8v8_81", "c8v8_82"]  # RULE21's
QUADS = ["quad_a0.5", "quad_a0.7"]  # RULE20's, smaller A first
WEIGHTS = [1.5, 2.0]  # RULE22's weights of the wide network beside them (and RULE23's)
HEXAS = ["hexa_a0.5", "hexa_a0.7"]  # RULE23's six fine-tunes


def score(path: Path) -> None:
    d, names, have, one = s17.load(path)
    print("## RULE19: mnist_cnn\n")
    fails = s16.fails_for(s17.EIGHT, 0.993)
    rows = s17._rows(d, names, {"committed mnist_cnn": one("cnn"), **{m: one(m) for m in NETS if m in have}})
    s17._judge(rows, fails, NETS, s17.EIGHT, best=lambda r: (r["styles"][s17.EIGHT], r["mnist val"], -NETS.index(r["model"])))
    if any(m in have for m in NETS8):
        print("## RULE21: mnist_cnn, stroke edits v8\n")
        rows = s17._rows(d, names, {"committed mnist_cnn": one("cnn"), **{m: one(m) for m in NETS8 if m in have}})
        s17._judge(rows, fails, NETS8, s17.EIGHT, best=lambda r: (r["styles"][s17.EIGHT], r["mnist val"], -NETS8.index(r["model"])))
    print("## RULE20: mnist_advanced\n")
    models = {"committed mnist_advanced": one("adv")}
    models.update({f"(2 {q} + wide) / 3": (lambda name, q=q: (2 * d[f"{name}|{q}"] + d[f"{name}|wide"]) / 3) for q in QUADS if q in have})
    models.update({f"{q} alone (not a candidate)": one(q) for q in QUADS if q in have})
    s17._judge(s17._rows(d, names, models), s16.fails, [f"(2 {q} + wide) / 3" for q in QUADS], s16.SLASHED)
    _weighted(d, names, one, QUADS, "RULE22: mnist_advanced, the wide network at a larger weight")
    if any(h in have for h in HEXAS):
        _weighted(d, names, one, HEXAS, "RULE23: mnist_advanced, six fine-tunes")


def _weighted(d: dict, names: list[str], one, nets: list[str], title: str) -> None:
    """(2 net + W wide) / (2 + W) for each of ``nets`` and ``WEIGHTS``, judged by RULE16's conditions; of those passing,
    the best slashed 0, then the smaller W, then the smaller A."""
    print(f"## {title}\n")
    models = {"committed mnist_advanced": one("adv")}
    for w in WEIGHTS:
        for q in nets:
            models[f"(2 {q} + {w:g} wide) / {2 + w:g}"] = lambda name, q=q, w=w: (2 * d[f"{name}|{q}"] + w * d[f"{name}|wide"]) / (2 + w)
    models.update({f"{q} alone (not a candidate)": one(q) for q in nets})
    order = [m for m in models if "wide" in m]  # the smaller W first, then the smaller A
    s17._judge(s17._rows(d, names, models), s16.fails, order, s16.SLASHED, best=lambda r: (r["styles"][s16.SLASHED], -order.index(r["model"])))


if __name__ == "__main__":
    s19.main(score)  # LOGITS.npz --score, or LOGITS.npz NAME=FILE.keras ...
