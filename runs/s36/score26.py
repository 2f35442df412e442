"""python runs/s36/score26.py LOGITS.npz NAME=FILE.keras [...]  -> every set's logits of each model (added to LOGITS.npz)
python runs/s36/score26.py LOGITS.npz --score                   -> RULE26's table (runs/s36/RULE26.md)

RULE17's conditions on the same prepared pictures as RULE12-24 (runs/s33/sets.npz), by runs/s34/score17.py's loading
and pick, with the 8 as two circles apart read from its own draw of 1,200 (runs/s36/eights_1200/conventions.json, by
each model's file stem; the committed file's is mnist_cnn) in place of its 300 on the precise draw."""

import importlib.util
import json
from pathlib import Path

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("s34_score17", HERE.parent / "s34" / "score17.py")
s17 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(s17)
s16, s19 = s17.s16, s17.s19
CANDIDATES = [f"c8v8_8{k}c_a{a}" for a in ("0.3", "0.5", "0.7") for k in (1, 2)]  # the smaller A first, then K = 1
EIGHTS = HERE / "eights_1200" / "conventions.json"


def score(path: Path) -> None:
    d, names, have, one = s17.load(path)
    drawn = json.loads(EIGHTS.read_text())
    eights = {m: r["styles"][s17.EIGHT] for m, r in drawn["results"].items()}
    print(f"## RULE26: mnist_cnn, c8v8_81c and c8v8_82c mixed back; the 8 apart of {eights['mnist_cnn']['n']:,} drawings "
          f"(seed {drawn['seed']})\n")
    cands = [m for m in CANDIDATES if m in have]
    rows = s17._rows(d, names, {"committed mnist_cnn": one("cnn"), **{m: one(m) for m in cands}})
    for r in rows:
        r["styles"][s17.EIGHT] = eights["mnist_cnn" if r["model"] == "committed mnist_cnn" else r["model"]]["accuracy"]
    s17._judge(rows, s16.fails_for(s17.EIGHT, 0.993), cands, s17.EIGHT,
               best=lambda r: (r["styles"][s17.EIGHT], r["mnist val"], -cands.index(r["model"])))


if __name__ == "__main__":
    s19.main(score)  # LOGITS.npz --score, or LOGITS.npz NAME=FILE.keras ...
