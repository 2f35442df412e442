"""python runs/s24/score_cnn.py LOGITS.npz NAME=FILE.keras [...]  -> saves every set's logits of each model (adds to LOGITS.npz)
python runs/s24/score_cnn.py LOGITS.npz --score                   -> the rule's table (runs/s24/RULE.md) from the saved logits

Session 21's script (runs/s21/score_cnn.py: session 19's pictures, single models, NAME "committed" the committed
mnist_cnn) judged by this session's rule instead of its own."""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("s21_score_cnn", Path(__file__).parents[1] / "s21" / "score_cnn.py")
s21 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s21)


def fails(r: dict, base: dict) -> list[str]:
    """The conditions of runs/s24/RULE.md that ``r`` misses against the committed mnist_cnn's row ``base``."""
    out = []
    if r["mnist test"] < 0.993 - 1e-9 or r["mnist val"] < base["mnist val"] - 1e-9:
        out.append("1")
    if r["real strokes: unseen writers"] < base["real strokes: unseen writers"] - 0.001 - 1e-9:
        out.append("2")
    if (r["styles<97"] >= base["styles<97"] or r["weakest_v"] < base["weakest_v"] - 1e-9
            or r["conventions precise"] < base["conventions precise"] - 1e-9):
        out.append("3")
    if r["load_digits"] < base["load_digits"] - 0.002 - 1e-9:
        out.append("4")
    return out


if __name__ == "__main__":
    s21.fails = fails  # session 21's table, judged by this rule
    out = Path(sys.argv[1])
    if sys.argv[2:] == ["--score"]:
        s21.score(out)
    else:
        s21.s19.save(out, {k: Path(v) for k, v in (a.split("=", 1) for a in sys.argv[2:])})
