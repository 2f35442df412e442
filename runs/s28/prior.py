"""python runs/s28/prior.py runs/s28/logits.npz adv=models/mnist_advanced.keras cnn=models/mnist_cnn.keras  -> logits
python runs/s28/prior.py runs/s28/logits.npz --score                                                        -> RULE6's tables

RULE6 (runs/s28/RULE6.md): a constant b added to the class-1 logit of each committed model, judged against the
committed file on session 19's sets drawn under preprocessing 1.5 (runs/s27/sets.npz), model by model."""

import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("s27_score", Path(__file__).parents[1] / "s27" / "score.py")
s27 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s27)
s19 = s27.s19  # session 19's rows and table, reading session 27's prepared sets (runs/s27/sets.npz)
OFFSETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
FLOOR = {"adv": 0.996, "cnn": 0.993}


def per_style(z, d) -> dict:
    tags, y = d["conventions precise|tags"], d["conventions precise|y"]
    right = z.argmax(1) == y
    return {t: right[tags == t].mean() for t in dict.fromkeys(tags.tolist())}


def fails(r: dict, base: dict, model: str, styles: dict, base_styles: dict) -> list[str]:
    """RULE6's conditions that the row ``r`` misses against the committed file's row ``base``."""
    eps = 1e-9
    missed = {
        "1": min(r["mnist test"] - FLOOR[model], r["mnist test"] - base["mnist test"] + 0.0005, r["mnist val"] - base["mnist val"]) < -eps,
        "2": r["real strokes: unseen writers"] < base["real strokes: unseen writers"] - eps,
        "3": (r["styles<97"] >= base["styles<97"] or any(v < 0.97 <= base_styles[t] for t, v in styles.items())
              or min(r["weakest_v"] - base["weakest_v"], r["conventions precise"] - base["conventions precise"]) < -eps),
        "4": r["load_digits"] < base["load_digits"] - 0.002 - eps,
    }
    return [k for k, bad in missed.items() if bad]


def score(path: Path) -> None:
    d = dict(np.load(path, allow_pickle=True))
    names = sorted({k.split("|")[0] for k in d})
    for model in ("adv", "cnn"):
        def z(name, b, model=model):
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
