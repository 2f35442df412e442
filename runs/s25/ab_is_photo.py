"""python runs/s25/ab_is_photo.py -> runs/s25/ab_is_photo.txt

Preprocessing 1.3's is_photo (the border's whole tone range) against 1.4's (a border mostly one exact tone is a drawn
background) on the benchmark's sets (seed 0, as evaluation/handwriting.py draws them) and the precise conventions draw
(seed 1, 300 per style; its 256-picture chunks are the sets named "conventions" of at most 256 pictures): for every
picture whose 28x28 differs, whether mnist_advanced and mnist_cnn read it right under each rule. Rows: [advanced 1.3,
advanced 1.4, cnn 1.3, cnn 1.4] right, and (n) the pictures that changed."""
import numpy as np, collections
from digitlab import preprocess, data
from digitlab.data import unipen, handwriting_test as hw
from digitlab.evaluation import handwriting
from digitlab.serving import classifiers
new = preprocess.is_photo
def old(ink):
    return min(ink.shape) > 64 and float(np.ptp(preprocess._border(ink))) > 0.02
clfs = classifiers.load_classifiers(["mnist_advanced", "mnist_cnn"])
raw = data.load(None)
sets = list(handwriting.build_sets(2000, 0, (raw.x_test, raw.y_test)))
split = unipen.split(unipen.load(unipen.default_path()))
sets += list(handwriting.real_sets(split, 2000, 0))
sets += list(hw.conventions_stream(300, 1))
tot = collections.defaultdict(lambda: np.zeros(4, int))
for s in sets:
    for pic, y in zip(s.pictures, s.labels):
        preprocess.is_photo = old; a = preprocess.prepare(pic, invert=s.invert)
        preprocess.is_photo = new; b = preprocess.prepare(pic, invert=s.invert)
        if (a.image is None) != (b.image is None) or (a.image is not None and not np.array_equal(a.image, b.image)):
            name = "conventions precise" if s.name == "conventions" and len(s.pictures) <= 256 else s.name
            for k, c in enumerate(clfs):
                pa, pb = c.predict_prepared([a, b])
                tot[name][2 * k] += pa.label == y
                tot[name][2 * k + 1] += pb.label == y
            tot[name + " (n)"][0] += 1
for k, v in tot.items(): print(k, v.tolist() if "(n)" not in k else v[0])
print("columns: advanced right old, new; cnn right old, new")
