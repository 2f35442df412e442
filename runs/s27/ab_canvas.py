"""python runs/s27/ab_canvas.py -> runs/s27/ab_canvas.txt

What telling preprocessing that a canvas picture is a drawing on a plain background (``prepare(..., drawn_on=)``,
session 27) changes, on the same pictures read both ways in this tree (``drawn_on=None`` is the path every canvas
picture took before):

1. The benchmark's canvas sets (seed 0, as evaluation/handwriting.py draws them: load_digits canvas, conventions,
   MNIST strokes, the three real-strokes sets) and the precise conventions draw (seed 1, 300 per style): white on
   black, drawn_on 0.0 (the dark canvas).
2. Drawings as Home's canvas hands them over (opaque RGBA, black on white, invert "yes", drawn_on 1.0) that the slider
   can make: MNIST test digits re-drawn (synthetic.restroke) at 0.20 and 0.30 of the digit's height, kept when that
   brush is 40 px or less (the slider's widest); and the real-strokes validation writers' digits drawn big (0.6-0.95 of
   the canvas) with the widest brush, 40 px.

Per set: pictures whose 28x28 changed, and how many of those mnist_advanced and mnist_cnn read right, before -> after."""
import numpy as np

from digitlab import data, preprocess
from digitlab.data import handwriting_test as hw
from digitlab.data import synthetic, unipen
from digitlab.evaluation import handwriting
from digitlab.serving.classifiers import load_classifier


def prepared(pictures, invert, drawn_on):
    out = []
    for p in pictures:
        q = preprocess.prepare(p, invert=invert, drawn_on=drawn_on)
        out.append(np.zeros((28, 28), np.float32) if q.no_ink else q.image)
    return np.stack(out)


def main() -> None:
    raw = data.load(None)
    split = unipen.split(unipen.load(unipen.default_path()))
    sets = [(s.name, s.pictures, np.asarray(s.labels), "no", 0.0) for s in handwriting.build_sets(2000, 0, (raw.x_test, raw.y_test))
            if s.drawn_on is not None]
    sets += [(s.name, s.pictures, np.asarray(s.labels), "no", 0.0) for s in handwriting.real_sets(split, 2000, 0)]
    precise = list(hw.conventions_stream(300, 1))
    sets.append(("conventions precise", [p for s in precise for p in s.pictures], np.concatenate([s.labels for s in precise]), "no", 0.0))
    x, y = raw.x_test[:1000], raw.y_test[:1000]
    for w in (0.2, 0.3):
        light, labels = [], []
        for i, d in enumerate(x):
            rgba = synthetic.restroke(d, w, seed=i)
            ink = rgba[..., 3]
            rows = np.flatnonzero(ink.any(1))
            if w * (rows[-1] - rows[0] + 1) / (1 + w) > 40:  # the brush (restroke: w x the digit's height) beyond the slider
                continue
            light.append(np.dstack([255 - ink] * 3 + [np.full_like(ink, 255)]))
            labels.append(y[i])
        sets.append((f"Home, drawn digits, brush {w:.2f} (<= 40 px)", light, np.asarray(labels), "yes", 1.0))
    rng = np.random.default_rng(27)
    val = split.val
    pick = [val[k] for k in rng.choice(len(val), 1000, replace=False)]
    big = [255 - unipen.render(i.strokes, rng, brush=40, height=float(rng.uniform(0.6, 0.95))) for i in pick]
    sets.append(("Home, validation writers big, brush 40", [np.dstack([g] * 3 + [np.full_like(g, 255)]) for g in big],
                 np.asarray([i.label for i in pick]), "yes", 1.0))
    models = [load_classifier(n) for n in ("mnist_advanced", "mnist_cnn")]
    print("| set | pictures | 28x28 changed | no ink before -> after | mnist_advanced right among the changed, before -> after "
          "| mnist_cnn right among the changed | mnist_advanced whole set, before -> after | mnist_cnn whole set |")
    print("|---|---|---|---|---|---|---|---|")
    for name, pictures, labels, invert, drawn_on in sets:
        before, after = prepared(pictures, invert, None), prepared(pictures, invert, drawn_on)
        changed = np.abs(before - after).max((1, 2)) > 1e-5
        cells = []
        whole = []
        for m in models:
            pb, pa = m.predict_proba(before).argmax(1) == labels, m.predict_proba(after).argmax(1) == labels
            cells.append(f"{int(pb[changed].sum())} -> {int(pa[changed].sum())}")
            whole.append(f"{pb.mean():.2%} -> {pa.mean():.2%}")
        noink = f"{int((before.max((1, 2)) == 0).sum())} -> {int((after.max((1, 2)) == 0).sum())}"
        print(f"| {name} | {len(pictures)} | {int(changed.sum())} | {noink} | {cells[0]} | {cells[1]} | {whole[0]} | {whole[1]} |", flush=True)


if __name__ == "__main__":
    main()
