"""python runs/s26/ab_drawn.py [--dump TREE OUT.npz | --compare OLD.npz NEW.npz]

Preprocessing 1.4 against 1.5 (ink drawn on transparency is known to be the ink) on every set whose pictures can
carry transparency or reach the benchmark's figures: the handwriting benchmark's sets and the real-strokes sets (seed
0, as evaluation/handwriting.py draws them), the precise conventions draw (seed 1, 300 per style), drawn_digits.py's
six sets (1,000 MNIST test digits each), the gate benchmark's generated non-digits (evaluation/gate.py's seed,
200 per category) and the non-digit generators' pictures (web/build.py's 100 of the held-out generators, 400 of the
gate's training generators).  --dump runs the tree TREE's preprocess on them and saves every 28x28 (zeros for no ink);
--compare counts, set by set, the pictures whose 28x28 changed and how mnist_advanced and mnist_cnn read the digits
among them under each version (right before -> after).  runs/s26/ab_drawn.txt is its output."""
import sys

import numpy as np

if sys.argv[1] == "--dump":
    sys.path.insert(0, sys.argv[2])
    from digitlab import data, preprocess
    from digitlab.data import handwriting_test as hw, nondigits, synthetic, unipen
    from digitlab.evaluation import gate, handwriting

    assert preprocess.__file__.startswith(sys.argv[2]), preprocess.__file__
    raw = data.load(None)
    sets = list(handwriting.build_sets(2000, 0, (raw.x_test, raw.y_test)))
    sets += list(handwriting.real_sets(unipen.split(unipen.load(unipen.default_path())), 2000, 0))
    out, labels = {}, {}
    for s in sets:
        out[s.name], labels[s.name] = [(s.pictures[i], s.invert) for i in range(len(s.pictures))], list(s.labels)
    precise = [s for s in hw.conventions_stream(300, 1)]
    out["conventions precise"] = [(p, s.invert) for s in precise for p in s.pictures]
    labels["conventions precise"] = [y for s in precise for y in s.labels]
    x, y = raw.x_test[:1000], raw.y_test[:1000]
    for w in (0.04, 0.07, 0.11, 0.2, 0.3):
        out[f"drawn, brush {w:.2f}"], labels[f"drawn, brush {w:.2f}"] = [(synthetic.restroke(d, w, seed=i), "auto") for i, d in enumerate(x)], list(y)
    out["drawn, photo"], labels["drawn, photo"] = [(synthetic.photo(d, i), "auto") for i, d in enumerate(x)], list(y)
    for category in nondigits.UPLOAD_CATEGORIES:
        out[f"gate: {category}"] = [(p[2], "auto") for p in nondigits.upload_pictures(200, gate.BENCHMARK_SEED, (category,))]
        labels[f"gate: {category}"] = [-1] * len(out[f"gate: {category}"])
    for split, n in (("heldout", 100), ("train", 400)):  # web/build.py's parity pictures; the gate's training generators
        name = f"non-digits, {split} generators"
        out[name] = [(p[2], "auto") for p in nondigits.non_digit_pictures(n, seed=2, split=split)]
        labels[name] = [-1] * n
    arrays = {}
    for name, pics in out.items():
        images = []
        for pic, invert in pics:
            p = preprocess.prepare(pic, invert=invert)
            images.append(np.zeros((28, 28), np.float32) if p.no_ink else p.image)
        arrays[name] = np.stack(images)
        arrays[name + " / labels"] = np.asarray(labels[name])
        print(name, len(images), flush=True)
    np.savez_compressed(sys.argv[3], **arrays)
else:
    from digitlab.serving import classifiers

    old, new = np.load(sys.argv[2]), np.load(sys.argv[3])
    clfs = classifiers.load_classifiers(["mnist_advanced", "mnist_cnn"])
    print("set: pictures changed of n; mnist_advanced right 1.4 -> 1.5; mnist_cnn right 1.4 -> 1.5 (digits only)")
    for name in old.files:
        if name.endswith(" / labels"):
            continue
        y = old[name + " / labels"]
        changed = np.flatnonzero([not np.array_equal(a, b) for a, b in zip(old[name], new[name])])
        row = f"{name}: {len(changed)} of {len(y)}"
        if len(changed) and y[0] >= 0:
            for c in clfs:
                before = int((c.predict_proba(old[name][changed]).argmax(1) == y[changed]).sum())
                after = int((c.predict_proba(new[name][changed]).argmax(1) == y[changed]).sum())
                row += f"; {c.name} {before} -> {after}"
        print(row)
