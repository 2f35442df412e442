"""python runs/s27/score.py LOGITS.npz NAME=FILE.keras [...]  -> every set's logits of each model (added to LOGITS.npz)
python runs/s27/score.py LOGITS.npz --score                   -> RULE5's table (runs/s27/RULE5.md)

Session 19's sets (runs/s19/score.py), drawn again under this tree's preprocessing into runs/s27/sets.npz, and
session 24's conditions for mnist_cnn (runs/s24/score_cnn.py), unchanged; NAME "committed" is models/mnist_cnn.keras.
Rows: for each fine-tune NAME (ftc, ftk), its weight mixes with the committed file (training/interpolate.py), saved as
NAME_a0.3 ..., and NAME alone; the one the rule picks is marked."""

import importlib.util
from pathlib import Path

import numpy as np


def _load(name: str, rel: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


s19 = _load("s19_score", "s19/score.py")
s24 = _load("s24_score_cnn", "s24/score_cnn.py")
SETS = Path(__file__).parent / "sets.npz"
_cached = s19.cached_sets
s19.cached_sets = lambda path=SETS: _cached(path)  # this session's pictures, not session 19's file


def picked(rows: list[dict], base: dict) -> dict:
    """The standing mixing rule: of the rows, the best validation writers whose MNIST validation is within 0.1 point
    of the committed file's (ties: the first, the smaller A)."""
    ok = [r for r in rows if r["mnist val"] >= base["mnist val"] - 0.001 - 1e-9]
    return max(ok, key=lambda r: r["real strokes: unseen writers"]) if ok else None


def score(path: Path, fails=s24.fails) -> None:
    """RULE5's table from the saved logits; ``fails``: the conditions judged (runs/s33/score_cnn.py passes RULE13's)."""
    d = dict(np.load(path, allow_pickle=True))
    names = sorted({k.split("|")[0] for k in d})
    models = list(dict.fromkeys(k.split("|")[1] for k in d if k.split("|")[1] not in ("y", "tags")))
    base = s19.row(lambda name: d[f"{name}|committed"], d, names, model="committed")
    rows = [base]
    for ft in dict.fromkeys(m.split("_a")[0] for m in models if m != "committed"):  # the fine-tune and its mixes
        mixes = [s19.row(lambda name, m=m: d[f"{name}|{m}"], d, names, model=m) for m in models if m.split("_a")[0] == ft]
        choice = picked(mixes, base)
        for r in mixes:
            r["model"] += " (picked)" if r is choice else ""
        rows += mixes
    s19.table(rows, fails, judged=lambda r: "(picked)" in r["model"])


if __name__ == "__main__":
    s19.main(score)
