"""python runs/s28/prior.py runs/s28/logits.npz adv=models/mnist_advanced.keras cnn=models/mnist_cnn.keras  -> logits
python runs/s28/prior.py runs/s28/logits.npz --score                                                        -> RULE6's tables

RULE6 (runs/s28/RULE6.md): a constant b added to the class-1 logit of each committed model, judged against the
committed file on session 19's sets drawn under preprocessing 1.5 (runs/s27/sets.npz), model by model."""

import importlib.util
from pathlib import Path

import numpy as np


def _load(name: str, rel: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


s19 = _load("s19_score", "s19/score.py")
_cached = s19.cached_sets
s19.cached_sets = lambda path=Path(__file__).parents[1] / "s27" / "sets.npz": _cached(path)
OFFSETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
FLOOR = {"adv": 0.996, "cnn": 0.993}


def per_style(z, d) -> dict:
    tags, y = d["conventions precise|tags"], d["conventions precise|y"]
    right = z.argmax(1) == y
    return {t: right[tags == t].mean() for t in dict.fromkeys(tags.tolist())}


def fails(r: dict, base: dict, model: str, styles: dict, base_styles: dict) -> list[str]:
    """RULE6's conditions that the row ``r`` misses against the committed file's row ``base``."""
    out = []
    if (r["mnist test"] < FLOOR[model] - 1e-9 or r["mnist test"] < base["mnist test"] - 0.0005 - 1e-9
            or r["mnist val"] < base["mnist val"] - 1e-9):
        out.append("1")
    if r["real strokes: unseen writers"] < base["real strokes: unseen writers"] - 1e-9:
        out.append("2")
    newly = [t for t, v in styles.items() if v < 0.97 <= base_styles[t]]
    if (r["styles<97"] >= base["styles<97"] or newly or r["weakest_v"] < base["weakest_v"] - 1e-9
            or r["conventions precise"] < base["conventions precise"] - 1e-9):
        out.append("3")
    if r["load_digits"] < base["load_digits"] - 0.002 - 1e-9:
        out.append("4")
    return out


def score(path: Path) -> None:
    d = dict(np.load(path, allow_pickle=True))
    names = sorted({k.split("|")[0] for k in d})
    for model in ("adv", "cnn"):
        def z(name, b):
            out = d[f"{name}|{model}"].astype(np.float64).copy()
            out[:, 1] += b
            return out
        rows, passing = [], []
        for b in (0.0, *OFFSETS):
            r = s19.row(lambda name, b=b: z(name, b), d, names, b=b)
            r["styles"] = per_style(z("conventions precise", b), d)
            rows.append(r)
        base = rows[0]
        for r in rows[1:]:
            r["missed"] = fails(r, base, model, r["styles"], base["styles"])
            if not r["missed"]:
                passing.append(r)
        pick = min(passing, key=lambda r: (r["styles<97"], -r["weakest_v"], r["b"])) if passing else None
        print(f"\n## {model}: {'b = ' + str(pick['b']) if pick else 'no offset passes'}\n")
        s19.table([{"b": r["b"], **{k: v for k, v in r.items() if k != "b"}} for r in rows],
                  lambda r, base: r["missed"], judged=lambda r: r["b"] != 0.0)
        under = {r["b"]: sorted((t, f"{v:.1%}") for t, v in r["styles"].items() if v < 0.97) for r in rows}
        for b, u in under.items():
            print(f"b = {b}: styles under 97%: {u}")


if __name__ == "__main__":
    s19.main(score)
