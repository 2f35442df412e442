"""Where the combination rule loses on the reader's tuning numbers (the set its margin is fitted on; nothing else is
read): every row the rule reads wrong, with the cuts' and the reader's numbers and the log ratio, by kind.
    python runs/s32/tuning_errors.py [READER.keras]      (default: the committed reader)"""
import sys
from collections import Counter
from pathlib import Path

from digitlab import data
from digitlab.data import unipen
from digitlab.serving import classifiers
from digitlab.serving.reader import READER_PATH, Reader, keras_model
from digitlab.training import reader as training

path = Path(sys.argv[1]) if len(sys.argv) > 1 else READER_PATH
margin = Reader(path, "keras").margin
mnist = data.load()
split = unipen.split(unipen.load(unipen.default_path()))
_, items = training.tuning_split(split.train, training.ReaderConfig().tuning_writers)
tuning = training.tuning_numbers(items, mnist.x_val, mnist.y_val, training.ReaderConfig().n_tuning_per_cell)
rows = training.read_both(tuning, classifiers.load_classifier("mnist_advanced"), keras_model(path))
kinds = Counter()
for r in rows:
    got = training._combined(r, margin)
    if got == r["number"]:
        continue
    kind = ("both wrong" if r["segmenter"] != r["number"] and r["reader"] != r["number"] else
            "cuts right, reader taken" if r["segmenter"] == r["number"] else "reader right, cuts kept")
    kinds[kind] += 1
    print(f"{r['part']:24s} {r['number']:>9s} cuts {r['segmenter']:>9s} reader {r['reader']:>9s} ratio {r['ratio']:6.1f}  {kind}")
print(f"{path}: margin {margin:g}, {len(rows)} numbers, {sum(kinds.values())} wrong: {dict(kinds)}")
