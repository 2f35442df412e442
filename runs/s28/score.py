"""python runs/s28/score.py runs/s28/logits7.npz NAME=FILE.keras [...]  -> every set's logits of each model (added)
python runs/s28/score.py runs/s28/logits7.npz --score                   -> RULE7's table (runs/s28/RULE7.md)

RULE5's scoring (runs/s27/score.py: session 19's sets drawn under preprocessing 1.5, runs/s27/sets.npz; session 24's
conditions for mnist_cnn; the standing mixing rule's pick marked), on this session's fine-tunes. The committed file's
logits are session 27's (the same pictures, the same file: `python runs/s28/score.py runs/s28/logits7.npz --seed`)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

spec = importlib.util.spec_from_file_location("s27_score", Path(__file__).parents[1] / "s27" / "score.py")
s27 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(s27)

if __name__ == "__main__":
    if sys.argv[2:] == ["--seed"]:  # the committed file's logits and the labels, from session 27's file
        d = np.load(Path(__file__).parents[1] / "s27" / "logits.npz", allow_pickle=True)
        np.savez(sys.argv[1], **{k: d[k] for k in d.files if k.split("|")[1] in ("committed", "y", "tags")})
    else:
        s27.s19.main(s27.score)
