"""python runs/s29/continental.py --score  -> RULE8's table (runs/s29/RULE8.md)

The committed files' logits on session 19's sets under preprocessing 1.5 (runs/s28/logits.npz, saved by
runs/s28/prior.py), read with the odds between 1 and 7 moved by b (every other class unchanged)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("s27_score", Path(__file__).parents[1] / "s27" / "score.py")
s27 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s27)
s19 = s27.s19
LOGITS = Path(__file__).parents[1] / "s28" / "logits.npz"
OFFSETS = (0.5, 1.0, 1.5, 2.0, 3.0)


def continental(p: np.ndarray, b: float) -> np.ndarray:
    """RULE8's reading: the mass of 1 and 7 kept, their log-odds moved by b."""
    out = p.copy()
    both = p[:, 1] + p[:, 7]
    odds = np.log(np.maximum(p[:, 1], 1e-30)) - np.log(np.maximum(p[:, 7], 1e-30)) + b
    out[:, 1] = both / (1 + np.exp(-odds))
    out[:, 7] = both - out[:, 1]
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def per_style(p, d) -> dict:
    tags, y = d["conventions precise|tags"], d["conventions precise|y"]
    right = p.argmax(1) == y
    return {t: float(right[tags == t].mean()) for t in dict.fromkeys(tags.tolist())}


def fails(styles: dict, base: dict, whole: float, base_whole: float) -> list[str]:
    out = []
    if any(v < 0.97 for t, v in styles.items() if t[0] in "17"):
        out.append("1: " + ", ".join(f"{t} {v:.1%}" for t, v in styles.items() if t[0] in "17" and v < 0.97))
    fell = [t for t, v in styles.items() if v < 0.97 <= base[t]]
    if fell or whole < base_whole - 1e-12:
        out.append("2: " + (", ".join(f"{t} {styles[t]:.1%}" for t in fell) or f"whole draw {whole:.2%} < {base_whole:.2%}"))
    return out


def score() -> None:
    d = dict(np.load(LOGITS, allow_pickle=True))
    names = sorted({k.split("|")[0] for k in d})
    passing = {}
    for model in ("adv", "cnn"):
        rows = []
        for b in (0.0, *OFFSETS):
            r = s19.row(lambda name, b=b: np.log(np.maximum(continental(softmax(d[f"{name}|{model}"].astype(np.float64)), b), 1e-30)),
                        d, names, b=b)
            r["styles"] = per_style(continental(softmax(d[f"conventions precise|{model}"].astype(np.float64)), b), d)
            rows.append(r)
        base = rows[0]
        for r in rows[1:]:
            r["missed"] = fails(r["styles"], base["styles"], r["conventions precise"], base["conventions precise"])
        passing[model] = [r["b"] for r in rows[1:] if not r["missed"]]
        print(f"\n## {model}: passing b = {passing[model] or 'none'}\n")
        s19.table([{"b": r["b"], **{k: v for k, v in r.items() if k != "b"}} for r in rows],
                  lambda r, base: r["missed"], judged=lambda r: r["b"] != 0.0)
        for r in rows:
            print(f"b = {r['b']}: 1 and 7 styles: " + ", ".join(f"{t} {v:.1%}" for t, v in r["styles"].items() if t[0] in "17")
                  + " | under 97%: " + (", ".join(f"{t} {v:.1%}" for t, v in r["styles"].items() if v < 0.97) or "none"))
    both = sorted(set(passing["adv"]) & set(passing["cnn"]))
    pick = both[0] if both else (passing["adv"][0] if passing["adv"] else None)
    print(f"\nRULE8's pick: b = {pick}" + ("" if both or pick is None else " (passes for mnist_advanced only)"))


if __name__ == "__main__":
    if sys.argv[1:] != ["--score"]:
        sys.exit(__doc__)
    score()
