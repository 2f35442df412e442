"""python runs/s33/score.py LOGITS.npz --committed          -> the committed file's logits, its pair's and its wide network's
python runs/s33/score.py LOGITS.npz NAME=FILE.keras [...]   -> a new wide network's logits (added to LOGITS.npz)
python runs/s33/score.py LOGITS.npz --score                 -> RULE12's table (runs/s33/RULE12.md), and RULE14's row

Session 19's sets (runs/s19/score.py) drawn again under this tree's preprocessing into runs/s33/sets.npz. A candidate
is the committed pair with the new network in place of the wide one: logits (2 pair + x) / 3, the pair's logits read
from the committed file's ``m0_logits`` layer."""

import importlib.util
import sys
from pathlib import Path

import numpy as np


def _load(name: str, rel: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


s19 = _load("s19_score", "s19/score.py")
SETS = Path(__file__).parent / "sets.npz"
_cached = s19.cached_sets
s19.cached_sets = lambda path=SETS: _cached(path)  # this session's pictures


def fails(r: dict, base: dict) -> list[str]:
    """RULE12's conditions that row ``r`` misses against the committed file's row ``base``."""
    out = []
    if r["mnist test"] < 0.996 - 1e-9 or r["mnist test"] < base["mnist test"] - 0.0005 - 1e-9 or r["mnist val"] < base["mnist val"] - 0.0005 - 1e-9:
        out.append("1")
    if r["real strokes: unseen writers"] < base["real strokes: unseen writers"] + 0.0025 - 1e-9:
        out.append("2")
    if (r["styles<97"] > base["styles<97"] or r["weakest_v"] < base["weakest_v"] - 2 / 300 - 1e-9
            or r["conventions precise"] < base["conventions precise"] - 0.001 - 1e-9):
        out.append("3")
    if r["load_digits"] < base["load_digits"] - 0.002 - 1e-9:
        out.append("4")
    return out


def committed_nets():
    import keras

    from digitlab.models import artifacts

    m = artifacts.load_model(Path("models/mnist_advanced.keras"))
    return {"committed": keras.Model(m.input, m.get_layer("logits").output), "pair": keras.Model(m.input, m.get_layer("m0_logits").output),
            "wide": keras.Model(m.input, m.get_layer("m1_logits").output)}


def score(path: Path) -> None:
    d = dict(np.load(path, allow_pickle=True))
    names = sorted({k.split("|")[0] for k in d})
    models = list(dict.fromkeys(k.split("|")[1] for k in d if k.split("|")[1] not in ("y", "tags")))
    base = s19.row(lambda name: d[f"{name}|committed"], d, names, model="committed")
    again = s19.row(lambda name: (2 * d[f"{name}|pair"] + d[f"{name}|wide"]) / 3, d, names, model="(2 pair + wide) / 3, a check")
    rows = [base, again]
    if "pair_w" in models and "rsw_w" in models:  # RULE14's candidate: every network trained with the warp
        rows.append(s19.row(lambda name: (2 * d[f"{name}|pair_w"] + d[f"{name}|rsw_w"]) / 3, d, names, model="(2 pair_w + rsw_w) / 3, RULE14"))
    for m in models:
        if m.startswith("rsw"):
            rows.append(s19.row(lambda name, m=m: (2 * d[f"{name}|pair"] + d[f"{name}|{m}"]) / 3, d, names, model=f"(2 pair + {m}) / 3"))
    for m in [m for m in models if m not in ("committed", "pair")]:
        rows.append(s19.row(lambda name, m=m: d[f"{name}|{m}"], d, names, model=f"{m} alone (not a candidate)"))
    s19.table(rows, fails, judged=lambda r: r["model"].startswith(("(2 pair + rsw", "(2 pair_w")))


if __name__ == "__main__":
    out = Path(sys.argv[1])
    if sys.argv[2:] == ["--score"]:
        score(out)
    elif sys.argv[2:] == ["--committed"]:
        s19.save_nets(out, committed_nets())
    else:
        s19.save(out, {k: Path(v) for k, v in (a.split("=", 1) for a in sys.argv[2:])})
