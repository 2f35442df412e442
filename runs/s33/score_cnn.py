"""python runs/s33/score_cnn.py LOGITS.npz NAME=FILE.keras [...]  -> every set's logits of each model (added to LOGITS.npz)
python runs/s33/score_cnn.py LOGITS.npz --score                   -> RULE13's table (runs/s33/RULE13.md)

RULE12's prepared pictures (runs/s33/sets.npz, session 19's sets under this tree's preprocessing) and RULE12's conditions
with mnist_cnn's floor (99.30%). NAME "committed" is models/mnist_cnn.keras; for each fine-tune NAME (ftw, ftn) its
mixes with the committed file (training/interpolate.py) are NAME_a0.3 ..., and NAME alone; the rule's pick is marked."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import score as s33  # noqa: E402  (RULE12's scoring: runs/s19/score.py pointed at runs/s33/sets.npz, and its loader)

s27 = s33._load("s27_score", "s27/score.py")
s19 = s33.s19


def fails(r: dict, base: dict) -> list[str]:
    """RULE13's conditions: RULE12's, with mnist_cnn's MNIST test floor (99.30%) in condition 1."""
    first = ["1"] if (r["mnist test"] < 0.993 - 1e-9 or r["mnist test"] < base["mnist test"] - 0.0005 - 1e-9
                      or r["mnist val"] < base["mnist val"] - 0.0005 - 1e-9) else []
    return first + [c for c in s33.fails(r, base) if c != "1"]


if __name__ == "__main__":
    s19.main(lambda path: s27.score(path, fails))  # RULE5's table (the mixes, the standing rule's picks) judged by RULE13
