"""python runs/s27/latency_formats.py -> runs/s27/latency_formats.txt: the latency benchmark's picture -> probabilities
(digitlab.evaluation.bench.latency, mnist_cnn, 50 MNIST test digits as 280x280 canvas drawings) for the format it timed
until session 27 (white strokes on transparency, read as any picture) and the one Home hands over (black on opaque
white, invert "yes", drawn_on 1.0), alternated three times in one process so both see the same machine."""
import numpy as np

from digitlab import data
from digitlab.data import synthetic
from digitlab.evaluation import bench
from digitlab.serving.classifiers import load_classifier

clf = load_classifier("mnist_cnn")
raw = data.load().x_test[:50]
formats = {
    "transparency, auto (until session 27)": ([synthetic.canvas_picture(d, background="transparent") for d in raw], {}),
    "Home's light canvas, drawn_on 1.0": ([synthetic.canvas_picture(d, background="white") for d in raw], {"invert": "yes", "drawn_on": 1.0}),
}
runs = {name: [] for name in formats}
for _ in range(3):
    for name, (pictures, kwargs) in formats.items():
        runs[name].append(bench.latency(clf, pictures, repeats=200, **kwargs))
for name, rs in runs.items():
    for path in ("Classifier (tf.function)", "preprocessing only"):
        p50 = [r[path]["p50_ms"] for r in rs]
        print(f"{name} | {path} | p50 of each run {', '.join(f'{v:.2f}' for v in p50)} ms | median {np.median(p50):.2f} ms")
