"""python runs/s28/ab_collect.py  -> runs/s28/ab_collect.txt

What the Collect page's PNG tag (pictures.DRAWN_ON_TAG) changes: the same saved drawings read back (user_digits.read_folder's
preprocess.prepare(path, invert="auto")) without the tag, as before, and with it, in one tree. Two folders, as the fine-tune
studies make them: the stand-in user's drawings (user_style.drawings, seeds 0-4, 20 per class: the light canvas) and every
validation writer's digit drawn on the dark canvas with the benchmark's brushes (unipen.as_user's rendering)."""

import os

import numpy as np

from digitlab import preprocess
from digitlab.data import handwriting_test, unipen, user_digits, user_style


def changed(pictures, drawn_on):
    moved = 0
    for p in pictures:
        a = preprocess.prepare(user_digits._png(p), invert="auto")
        b = preprocess.prepare(user_digits._png(p, drawn_on), invert="auto")
        moved += a.no_ink != b.no_ink or not np.array_equal(a.image, b.image)
    return moved


drawings = [p for seed in range(5) for p in user_style.drawings(20, seed)[0]]
print(f"stand-in user's drawings (light canvas), 5 seeds x 200: {changed(drawings, 1.0)} of {len(drawings)} prepared digits changed", flush=True)
items = unipen.split(unipen.load(os.environ["DIGITLAB_UNIPEN"]))
val = items.val
rng = np.random.default_rng([0, 4711])
renders = [unipen.render(i.strokes, rng, brush=float(rng.choice(handwriting_test.BRUSHES))) for i in val]
print(f"validation writers' digits on the dark canvas (as_user): {changed(renders, 0.0)} of {len(renders)} prepared digits changed")
