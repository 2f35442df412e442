"""python runs/s35/score19.py LOGITS.npz NAME=FILE.keras [...]  -> every set's logits of each model (added to LOGITS.npz)
python runs/s35/score19.py LOGITS.npz --score                   -> every table: RULE19, 21, 24 (mnist_cnn), RULE20, 22, 23

The same prepared pictures as RULE12-18 (runs/s33/sets.npz); the committed files' logits come from session 33's saved
ones, as in runs/s34/score17.py, whose tables and conditions these are. Names: mnist_cnn's candidates c8_81, c8_82
(RULE19), c8v8_81, c8v8_82 (RULE21), c8v8_81c, c8v8_82c (RULE24); mnist_advanced's quad_a0.5, quad_a0.7 (RULE20's four
fine-tunes) and hexa_a0.5, hexa_a0.7 (RULE23's six), each beside the committed wide network as (2 quad + W wide) / (2 + W):
W = 1 (RULE20), 1.5 and 2 (RULE22, RULE23)."""

import importlib.util
from pathlib import Path

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("s34_score17", HERE.parent / "s34" / "score17.py")
s17 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(s17)
s16, s19 = s17.s16, s17.s19
NETS = ["c8_81", "c8_82"]  # RULE19's candidates
NETS8 = ["c8v8_81", "c8v8_82"]  # RULE21's
NETS24 = ["c8v8_81c", "c8v8_82c"]  # RULE24's: RULE21's, one more cycle
QUADS = ["quad_a0.5", "quad_a0.7"]  # RULE20's, smaller A first
WEIGHTS = [1.5, 2.0]  # RULE22's weights of the wide network beside them (and RULE23's)
HEXAS = ["hexa_a0.5", "hexa_a0.7"]  # RULE23's six fine-tunes


def score(path: Path) -> None:
    d, names, have, one = s17.load(path)
    _cnn(d, names, one, NETS, "RULE19: mnist_cnn")
    for nets, title in ((NETS8, "RULE21: mnist_cnn, stroke edits v8"), (NETS24, "RULE24: RULE21's networks, one more cycle")):
        if any(m in have for m in nets):
            _cnn(d, names, one, nets, title)
    print("## RULE20: mnist_advanced\n")
    models = {"committed mnist_advanced": one("adv")}
    models.update({f"(2 {q} + wide) / 3": (lambda name, q=q: (2 * d[f"{name}|{q}"] + d[f"{name}|wide"]) / 3)
                   for q in QUADS if q in have})
    models.update({f"{q} alone (not a candidate)": one(q) for q in QUADS if q in have})
    s17._judge(s17._rows(d, names, models), s16.fails, [f"(2 {q} + wide) / 3" for q in QUADS], s16.SLASHED)
    _weighted(d, names, one, QUADS, "RULE22: mnist_advanced, the wide network at a larger weight")
    if any(h in have for h in HEXAS):
        _weighted(d, names, one, HEXAS, "RULE23: mnist_advanced, six fine-tunes")


def _cnn(d: dict, names: list[str], one, nets: list[str], title: str) -> None:
    """``nets`` against the committed mnist_cnn by RULE17's conditions; of those passing, the better 8 apart, then the
    higher MNIST validation, then the first named."""
    print(f"## {title}\n")
    rows = s17._rows(d, names, {"committed mnist_cnn": one("cnn"), **{m: one(m) for m in nets}})
    fails = s16.fails_for(s17.EIGHT, 0.993)
    s17._judge(rows, fails, nets, s17.EIGHT, best=lambda r: (r["styles"][s17.EIGHT], r["mnist val"], -nets.index(r["model"])))


def _weighted(d: dict, names: list[str], one, nets: list[str], title: str) -> None:
    """(2 net + W wide) / (2 + W) for each of ``nets`` and ``WEIGHTS``, judged by RULE16's conditions; of those passing,
    the best slashed 0, then the smaller W, then the smaller A."""
    print(f"## {title}\n")
    models = {"committed mnist_advanced": one("adv")}
    for w in WEIGHTS:
        for q in nets:
            models[f"(2 {q} + {w:g} wide) / {2 + w:g}"] = (lambda name, q=q, w=w:
                                                          (2 * d[f"{name}|{q}"] + w * d[f"{name}|wide"]) / (2 + w))
    models.update({f"{q} alone (not a candidate)": one(q) for q in nets})
    order = [m for m in models if "wide" in m]  # the smaller W first, then the smaller A
    s17._judge(s17._rows(d, names, models), s16.fails, order, s16.SLASHED,
               best=lambda r: (r["styles"][s16.SLASHED], -order.index(r["model"])))


if __name__ == "__main__":
    s19.main(score)  # LOGITS.npz --score, or LOGITS.npz NAME=FILE.keras ...
