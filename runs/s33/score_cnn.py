"""python runs/s33/score_cnn.py LOGITS.npz NAME=FILE.keras [...]  -> every set's logits of each model (added to LOGITS.npz)
python runs/s33/score_cnn.py LOGITS.npz --score                   -> RULE13's table (runs/s33/RULE13.md)

RULE12's prepared pictures (runs/s33/sets.npz, session 19's sets under this tree's preprocessing) and RULE12's conditions
with mnist_cnn's floor (99.30%). NAME "committed" is models/mnist_cnn.keras; for each fine-tune NAME (ftw, ftn) its
mixes with the committed file (training/interpolate.py) are NAME_a0.3 ..., and NAME alone; the rule's pick is marked."""

import importlib.util
import sys
from pathlib import Path

import numpy as np


def _load(name: str, rel: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


s33 = _load("s33_score", "s33/score.py")  # points runs/s19/score.py at runs/s33/sets.npz
s27 = _load("s27_score", "s27/score.py")
s19 = s33.s19


def fails(r: dict, base: dict) -> list[str]:
    """RULE13's conditions: RULE12's, with mnist_cnn's MNIST test floor (99.30%) in condition 1."""
    first = ["1"] if (r["mnist test"] < 0.993 - 1e-9 or r["mnist test"] < base["mnist test"] - 0.0005 - 1e-9
                      or r["mnist val"] < base["mnist val"] - 0.0005 - 1e-9) else []
    return first + [c for c in s33.fails(r, base) if c != "1"]


def score(path: Path) -> None:
    d = dict(np.load(path, allow_pickle=True))
    names = sorted({k.split("|")[0] for k in d})
    models = list(dict.fromkeys(k.split("|")[1] for k in d if k.split("|")[1] not in ("y", "tags")))
    base = s19.row(lambda name: d[f"{name}|committed"], d, names, model="committed")
    rows = [base]
    for ft in dict.fromkeys(m.split("_a")[0] for m in models if m != "committed"):
        mixes = [s19.row(lambda name, m=m: d[f"{name}|{m}"], d, names, model=m) for m in models if m.split("_a")[0] == ft]
        choice = s27.picked(mixes, base)
        for r in mixes:
            r["model"] += " (picked)" if r is choice else ""
        rows += mixes
    s19.table(rows, fails, judged=lambda r: "(picked)" in r["model"])


if __name__ == "__main__":
    out = Path(sys.argv[1])
    if sys.argv[2:] == ["--score"]:
        score(out)
    else:
        s19.save(out, {k: Path(v) for k, v in (a.split("=", 1) for a in sys.argv[2:])})
