"""python runs/s35/eights_v8.py OUT.png -> the first 24 of 60 MNIST training 8s (of the first 3,000 digits) given the
8 edit, re-drawn as one pen path by stroke edits v8 (runs/s35/eights_v8.png), 84 px each, two rows."""

import sys

import cv2
import numpy as np

from digitlab.data import mnist
from digitlab.data import stroke_augment as sa

m = mnist.load()
x, y = m.x_train[:3000] / 255.0, m.y_train[:3000]
rng = np.random.default_rng(5)
r = sa.Redraw(conventions=1.0, classes="8", pen_path=1.0, brush_min=0.06, brush_max=0.14)
tiles = [cv2.resize(ink, (84, 84)) for ink, edited in (sa.redraw_one(sk, 8, r, rng) for sk in sa.skeletons(x[y == 8][:60])) if edited][:24]
cv2.imwrite(sys.argv[1], np.vstack([np.hstack(tiles[i:i + 12]) for i in (0, 12)]))
