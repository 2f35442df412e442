"""python runs/s33/val_writers.py -> runs/s33/val_writers.txt and runs/s33/val_writers.png

Whose digits the real-strokes parts are (writers, the largest writers' share), and the validation writers' digits
`mnist_advanced` misreads in the committed handwriting report (evaluation/reports/handwriting/handwriting.json), drawn
from their own strokes with the writer's name: what the "validation writers" figure measures."""

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from digitlab.data import unipen
from digitlab.evaluation import handwriting

HERE = Path(__file__).parent
split = unipen.split(unipen.load(unipen.default_path()))
lines = []
for part in ("train", "val", "held_out"):
    items = getattr(split, part)
    sizes = sorted(Counter((i.source, i.writer) for i in items).values(), reverse=True)
    lines.append(f"{part}: {len(items)} digits by {len(sizes)} writers; the largest wrote {sizes[:3]}, "
                 f"{sum(sizes[:3]) / len(items):.0%} of the part together; the median writer {int(np.median(sizes))}")
report = json.loads(Path("evaluation/reports/handwriting/handwriting.json").read_text())
scored = report["results"]["mnist_advanced"][handwriting.REAL_WRITERS]
assert scored["n"] == len(split.val)  # every validation digit is in the set, in the split's order
misread = sorted(scored["misread"], key=lambda m: m["index"])
by = Counter(f"{split.val[m['index']].source}/{split.val[m['index']].writer}" for m in misread)
lines.append(f"mnist_advanced misreads {len(misread)} validation writers' digits: " + ", ".join(f"{w} {k}" for w, k in by.most_common()))
tiles = []
for m in misread:
    it = split.val[m["index"]]
    t = cv2.resize(unipen.render(it.strokes, np.random.default_rng(0), brush=6, height=0.8), (140, 140), interpolation=cv2.INTER_AREA)
    t = cv2.copyMakeBorder(t, 16, 0, 2, 2, cv2.BORDER_CONSTANT, value=60)
    cv2.putText(t, f"{it.label} read {m['pred']}  {it.writer}", (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, 255, 1)
    tiles.append(t)
while len(tiles) % 7:
    tiles.append(np.zeros_like(tiles[0]))
cv2.imwrite(str(HERE / "val_writers.png"), np.vstack([np.hstack(tiles[k:k + 7]) for k in range(0, len(tiles), 7)]))
(HERE / "val_writers.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
