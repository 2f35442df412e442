"""python runs/s28/styles7.py  -> every model's styles under 97% on the precise draw, and its 8s drawn as two circles
(runs/s28/logits7.npz; RULE7's detail beside its table)."""

from pathlib import Path

import numpy as np

d = np.load(Path(__file__).parent / "logits7.npz", allow_pickle=True)
tags, y = d["conventions precise|tags"], d["conventions precise|y"]
models = list(dict.fromkeys(k.split("|")[1] for k in d.files if k.startswith("conventions precise|") and k.split("|")[1] not in ("y", "tags")))
for m in models:
    right = d[f"conventions precise|{m}"].argmax(1) == y
    per = {t: right[tags == t].mean() for t in dict.fromkeys(tags.tolist())}
    under = ", ".join(f"{t} {v:.1%}" for t, v in sorted(per.items(), key=lambda kv: kv[1]) if v < 0.97)
    print(f"{m}: 8 two circles apart {per['8 two circles apart']:.1%}; under 97%: {under or 'none'}")
