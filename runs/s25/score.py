"""python runs/s25/score.py LOGITS.npz --save [c77=runs/s25/rscl64s77.keras]  -> saves every set's logits (adds to LOGITS.npz)
python runs/s25/score.py LOGITS.npz --score                                -> runs/s25/RULE.md's table and choice

Session 19's pictures and row/table code (runs/s19/score.py). Without files, --save reads the committed
mnist_advanced's logits ("committed") and its members' (layers m0_logits: "pair", m1_logits: "wide") off
models/mnist_advanced.keras itself, and c76 from runs/rebuild/mnist_cnn_s24/rscl64.keras (mnist_cnn's chain's file)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("s19_score", Path(__file__).parents[1] / "s19" / "score.py")
s19 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s19)

COMMITTED = Path("models/mnist_advanced.keras")
C76 = Path("runs/rebuild/mnist_cnn_s24/rscl64.keras")
CANDIDATES = [("A", 0.5), ("A", 1.0), ("A", 1.5), ("B", 0.5), ("B", 1.0)]


def save(out: Path, files: dict[str, Path]) -> None:
    import keras

    from digitlab.models import adapter, artifacts

    nets = {}
    if not files:
        model = artifacts.load_model(COMMITTED)
        nets = {"committed": adapter.logits_model(model), "pair": keras.Model(model.inputs, model.get_layer("m0_logits").output),
                "wide": keras.Model(model.inputs, model.get_layer("m1_logits").output), "c76": adapter.logits_model(artifacts.load_model(C76))}
    nets.update({k: adapter.logits_model(artifacts.load_model(p)) for k, p in files.items()})
    s19.save_nets(out, nets)


def mix(d: dict, name: str, kind: str, w: float) -> np.ndarray:
    """The candidate's logits on set ``name`` (runs/s25/RULE.md)."""
    z = 2 * d[f"{name}|pair"] + d[f"{name}|wide"] + w * d[f"{name}|c76"]
    if kind == "A":
        return z / (3 + w)
    return (z + w * d[f"{name}|c77"]) / (3 + 2 * w)


def fails(r: dict, base: dict) -> list[str]:
    """runs/s25/RULE.md's conditions that the row ``r`` misses against the committed file's row ``base``."""
    out = []
    if r["mnist test"] < 0.996 or r["mnist val"] < 0.996 or r["mnist test"] < base["mnist test"] - 0.0005 - 1e-9:
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
    have_c77 = all(f"{n}|c77" in d for n in names)
    rows = [s19.row(lambda name: d[f"{name}|committed"], d, names, candidate="committed mnist_advanced")]
    for kind, w in CANDIDATES:
        if kind == "B" and not have_c77:
            continue
        rows.append(s19.row(lambda name, kind=kind, w=w: mix(d, name, kind, w), d, names, candidate=f"{kind}({w:g})", kind=kind, w=w))
    for alone in ("c76", "c77"):  # printed for the record, not candidates
        if all(f"{n}|{alone}" in d for n in names):
            rows.append(s19.row(lambda name, alone=alone: d[f"{name}|{alone}"], d, names, candidate=f"{alone} alone"))
    judged = lambda r: "kind" in r  # noqa: E731
    s19.table(rows, fails, judged=judged)
    passing = [r for r in rows if judged(r) and not fails(r, rows[0])]
    if passing:
        best = min(passing, key=lambda r: (r["styles<97"], -r["real strokes: unseen writers"], -r["weakest_v"], r["kind"], r["w"]))
        print(f"\nchosen: {best['candidate']}")
    else:
        print("\nnone passes: nothing is promoted")


if __name__ == "__main__":
    out = Path(sys.argv[1])
    if sys.argv[2:] == ["--score"]:
        score(out)
    elif sys.argv[2:3] == ["--save"]:
        save(out, {k: Path(v) for k, v in (a.split("=", 1) for a in sys.argv[3:])})
    else:
        sys.exit(__doc__)
