"""python runs/s21/score_cnn.py LOGITS.npz NAME=FILE.keras [...]  -> saves every set's logits of each model (adds to LOGITS.npz)
python runs/s21/score_cnn.py LOGITS.npz --score                   -> the rule's table (runs/s21/RULE.md) from the saved logits

Session 19's script (runs/s19/score.py: the same pictures, runs/s19/sets.npz) scoring single models, not weighted
ensembles: NAME "committed" is the committed mnist_cnn, every other NAME a candidate judged against it."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("s19_score", Path(__file__).parents[1] / "s19" / "score.py")
s19 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s19)


def fails(r: dict, base: dict) -> list[str]:
    """The conditions of runs/s21/RULE.md that ``r`` misses against the committed mnist_cnn's row ``base``."""
    out = []
    if r["mnist test"] < 0.993 - 1e-9 or r["mnist val"] < base["mnist val"] - 1e-9:
        out.append("1")
    if r["real strokes: unseen writers"] < base["real strokes: unseen writers"] + 0.001 - 1e-9:
        out.append("2")
    if (r["styles<97"] > base["styles<97"] or r["weakest_v"] < base["weakest_v"] - 1e-9
            or r["conventions precise"] < base["conventions precise"] - 1e-9):
        out.append("3")
    if r["load_digits"] < base["load_digits"] - 0.002 - 1e-9:
        out.append("4")
    return out


def score(path: Path) -> None:
    d = dict(np.load(path, allow_pickle=True))
    names = sorted({k.split("|")[0] for k in d})
    models = list(dict.fromkeys(k.split("|")[1] for k in d if k.split("|")[1] not in ("y", "tags")))
    rows = [s19.row(lambda name, m=m: d[f"{name}|{m}"], d, names, model=m) for m in ["committed", *(m for m in models if m != "committed")]]
    s19.table(rows, fails, judged=lambda r: r["model"] != "committed")


if __name__ == "__main__":
    out = Path(sys.argv[1])
    if sys.argv[2:] == ["--score"]:
        score(out)
    else:
        s19.save(out, {k: Path(v) for k, v in (a.split("=", 1) for a in sys.argv[2:])})
