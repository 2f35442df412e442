"""python runs/s27/pool_canvas.py: how many of the real-strokes training pool's pictures (unipen.prepare_items' canvas
renderings, one per training writer's digit, seed 0) change when they are prepared as a drawing on the black canvas
(drawn_on=0.0, as the app now reads its canvas) instead of as any picture."""
import numpy as np

from digitlab import preprocess
from digitlab.data import unipen

items = unipen.split(unipen.load(unipen.default_path())).train
rng = np.random.default_rng([0, 4242])
changed = lost = found = 0
for item in items:
    canvas = unipen.render(item.strokes, rng)
    a, b = preprocess.prepare(canvas, invert="no"), preprocess.prepare(canvas, invert="no", drawn_on=0.0)
    lost += a.no_ink and not b.no_ink
    found += b.no_ink and not a.no_ink
    changed += a.no_ink != b.no_ink or (not a.no_ink and np.abs(a.image - b.image).max() > 1e-5)
print(f"{len(items)} training digits rendered once: {changed} prepared differently ({changed / len(items):.2%}); "
      f"no ink before, ink now: {lost}; the other way: {found}")
