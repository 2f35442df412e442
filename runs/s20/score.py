"""python runs/s20/score.py LOGITS.npz NAME=FILE.keras [...]  -> saves every set's logits of each model (adds to LOGITS.npz)
python runs/s20/score.py LOGITS.npz --score                   -> the rule's table (runs/s20/RULE.md) from the saved logits

Session 19's script (runs/s19/score.py) on the same pictures (runs/s19/sets.npz) with the committed file's logits it
saved; only condition 3 differs (runs/s20/RULE.md): no convention worse, not the weakest 2 points up."""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("s19_score", Path(__file__).parents[1] / "s19" / "score.py")
s19 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s19)


def fails(r: dict, base: dict) -> list[str]:
    """Session 19's conditions with condition 3 as runs/s20/RULE.md words it."""
    out = [c for c in s19.fails(r, base) if c != "3"]
    if (r["styles<97"] > base["styles<97"] or r["weakest_v"] < base["weakest_v"] - 1e-9
            or r["conventions precise"] < base["conventions precise"] - 1e-9):
        out.append("3")
    return sorted(out)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    if sys.argv[2:] == ["--score"]:
        s19.score(out, fails=fails)
    else:
        s19.save(out, {k: Path(v) for k, v in (a.split("=", 1) for a in sys.argv[2:])})
