"""python runs/s22/score.py LOGITS.npz --save [x=runs/s22/rsw_s59c.keras]  -> saves every set's logits (adds to LOGITS.npz)
python runs/s22/score.py LOGITS.npz --score                           -> the rule's table (runs/s22/RULE.md)
python runs/s22/score.py LOGITS.npz --score2                          -> the second rule's table and choice (runs/s22/RULE2.md)

Session 19's pictures and row/table code (runs/s19/score.py). The committed file's parts are read off
models/mnist_advanced.keras itself: its logits ("committed"), its member 0 (the pair, layer m0_logits) and its member 1
(rsw_s59, layer m1_logits); the candidate network ``x`` from its own file. Candidates: (2 pair + w x) / (2 + w)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("s19_score", Path(__file__).parents[1] / "s19" / "score.py")
s19 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s19)

COMMITTED = Path("models/mnist_advanced.keras")
WEIGHTS = (0.25, 0.5, 0.75, 1.0)


def committed_parts() -> dict:
    """The committed file's logits and its two members' (sub-models of its flat graph)."""
    import keras

    from digitlab.models import adapter, artifacts

    model = artifacts.load_model(COMMITTED)
    return {"committed": adapter.logits_model(model),
            "pair": keras.Model(model.inputs, model.get_layer("m0_logits").output),
            "s59": keras.Model(model.inputs, model.get_layer("m1_logits").output)}


def save(out: Path, files: dict[str, Path]) -> None:
    from digitlab.models import adapter, artifacts

    s19.save_nets(out, {**(committed_parts() if not files else {}),
                        **{k: adapter.logits_model(artifacts.load_model(p)) for k, p in files.items()}})


def fails(r: dict, base: dict) -> list[str]:
    """runs/s22/RULE.md's conditions that the row ``r`` misses against the committed file's row ``base``."""
    out = [c for c in s19.fails(r, base) if c != "3"]  # 1 MNIST floors, 2 writers +0.1, 4 load_digits within 0.2
    if (r["styles<97"] > base["styles<97"] or r["weakest_v"] < base["weakest_v"] - 1e-9
            or r["conventions precise"] < base["conventions precise"] - 1e-9):
        out.append("3")
    return sorted(out)


def fails2(r: dict, base: dict) -> list[str]:
    """runs/s22/RULE2.md's conditions that the row ``r`` misses against the committed file's row ``base``."""
    out = []
    if r["mnist test"] < 0.996 or r["mnist val"] < 0.996:
        out.append("1")
    if r["real strokes: unseen writers"] < base["real strokes: unseen writers"] - 0.001 - 1e-9:
        out.append("2")
    if (r["styles<97"] >= base["styles<97"] or r["weakest_v"] < base["weakest_v"] - 1e-9
            or r["conventions precise"] < base["conventions precise"] - 1e-9):
        out.append("3")
    if r["load_digits"] < base["load_digits"] - 1e-9:
        out.append("4")
    return out


def choose2(rows: list[dict]) -> dict | None:
    """Of the passing rows (RULE2.md): the fewest styles under 97%, then the higher weakest style, then the better
    validation writers, then the smaller w."""
    ok = [r for r in rows if r["w"] in WEIGHTS and not fails2(r, rows[0])]
    return min(ok, key=lambda r: (r["styles<97"], -r["weakest_v"], -r["real strokes: unseen writers"], r["w"])) if ok else None


def score(path: Path, rule: int = 1) -> None:
    d = dict(np.load(path, allow_pickle=True))
    names = sorted({k.split("|")[0] for k in d})

    def combo(name, w):
        if w in ("committed", "x", "s59"):
            return d[f"{name}|{w}"]
        return (2 * d[f"{name}|pair"] + w * d[f"{name}|x"]) / (2 + w)

    rows = [s19.row(lambda name, w=w: combo(name, w), d, names, w=w) for w in ("committed", *WEIGHTS, "s59", "x")]
    s19.table(rows, fails if rule == 1 else fails2, judged=lambda r: r["w"] in WEIGHTS)
    if rule == 2:
        chosen = choose2(rows)
        print(f"\nchosen: w = {chosen['w']}" if chosen else "\nno w passes")


if __name__ == "__main__":
    out = Path(sys.argv[1])
    if sys.argv[2:] in (["--score"], ["--score2"]):
        score(out, rule=2 if sys.argv[2] == "--score2" else 1)
    elif sys.argv[2:3] == ["--save"]:
        save(out, {k: Path(v) for k, v in (a.split("=", 1) for a in sys.argv[3:])})
    else:
        sys.exit(__doc__)
