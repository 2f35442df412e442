"""RULE11's scoring (runs/s31/RULE11.md): the committed number reader, r1, r2 and ens3 (their mean) on
1. the 401 tuning numbers, combined with mnist_advanced's cuts (each candidate's margin from its card, and the
   committed reader's also at the margin fitted again here, the better of the two judged against);
2. the validation writers' real numbers as evaluation/handwriting.py draws and reads them (the held-out site is read
   in the same pass, since the benchmark draws both from one generator, and printed only after the verdict);
3. the numbers dev benchmark's 3,920 composed MNIST test numbers (committed and ens3).
    python runs/s31/score_readers.py NAME [--quick] [--readers DIR]   one of committed, r1, r2, ens3 -> runs/s31/score/NAME.json
    python runs/s31/score_readers.py --verdict                        the table and RULE11's verdict from the four
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
NAMES = ("committed", "r1", "r2", "ens3")
JUDGED = ("committed", "ens3")
p = argparse.ArgumentParser()
p.add_argument("name", nargs="?", choices=NAMES)
p.add_argument("--verdict", action="store_true")
p.add_argument("--quick", action="store_true")
p.add_argument("--readers", type=Path, default=HERE / "readers", help="folder of r1, r2, ens3")
a = p.parse_args()
SCORES = HERE / ("score_quick" if a.quick else "score")


def score(name: str) -> dict:
    from digitlab import data
    from digitlab.data import number_cases, unipen
    from digitlab.evaluation import handwriting
    from digitlab.evaluation import numbers as numbers_eval
    from digitlab.serving import classifiers, runtime
    from digitlab.serving.reader import READER_PATH, Reader, keras_model
    from digitlab.training import reader as training

    path = READER_PATH if name == "committed" else a.readers / f"{name}.keras"
    mnist = data.load()
    split = unipen.split(unipen.load(unipen.default_path()))
    _, tuning_items = training.tuning_split(split.train, training.ReaderConfig().tuning_writers)
    tuning = training.tuning_numbers(tuning_items, mnist.x_val, mnist.y_val, training.ReaderConfig().n_tuning_per_cell)
    cases = number_cases.benchmark(mnist.x_test, mnist.y_test)  # evaluation/numbers.py's default cases
    if a.quick:
        tuning, cases = tuning[:60], cases[:60]
    t0 = time.time()
    r = Reader(path, "keras")
    rows = training.read_both(tuning, classifiers.load_classifier("mnist_advanced"), keras_model(path))  # as training.reader.fit reads
    refit_margin, accuracy = training.fit_margin(rows)
    served = runtime.load("mnist_advanced")  # as the benchmarks read
    real = handwriting.real_numbers(split, served, 0, n=60 if a.quick else None, reader=r)
    sites = {k.split()[1]: v for k, v in real["groups"].items() if k.startswith("site ")}
    val = {s: v for s, v in sites.items() if s != unipen.HELD_OUT_SITE}
    dev = None
    if name in JUDGED:
        dev = float(np.mean([row["right"] for row in numbers_eval.read_cases(served, cases, log=None, reader=r)]))
    return {"reader": str(path), "sha256": r.fingerprint(), "margin": r.margin, "n_tuning": len(tuning),
            "tuning_at_card": training.summary(rows, r.margin)["all"]["combined"], "refit_margin": refit_margin,
            "tuning_at_refit": accuracy[refit_margin],
            "val_right": sum(round(v["n"] * v["whole_number"]) for v in val.values()), "val_n": sum(v["n"] for v in val.values()),
            "held_out": sites.get(unipen.HELD_OUT_SITE), "dev": dev, "n_dev": len(cases) if dev is not None else 0,
            "read_by_reader": real["read_by_reader"], "seconds": round(time.time() - t0, 1)}


if a.name:
    SCORES.mkdir(exist_ok=True)
    result = score(a.name)
    (SCORES / f"{a.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    sys.exit(0)
if not a.verdict:
    p.error("give a NAME to score or --verdict")
out = {n: json.loads((SCORES / f"{n}.json").read_text()) for n in NAMES if (SCORES / f"{n}.json").is_file()}
print("| reader | margin (card) | tuning numbers, card margin | margin fitted here | tuning, that margin | validation writers' numbers | dev benchmark |")
print("|---|---|---|---|---|---|---|")
for name, o in out.items():
    dev = "-" if o["dev"] is None else f"{o['dev']:.2%}"
    print(f"| {name} | {o['margin']:g} | {o['tuning_at_card']:.2%} | {o['refit_margin']:g} | {o['tuning_at_refit']:.2%} | "
          f"{o['val_right']}/{o['val_n']} ({o['val_right'] / max(o['val_n'], 1):.2%}) | {dev} |")
if not all(n in out for n in JUDGED):
    sys.exit("no verdict: committed and ens3 are not both scored")
c, e = out["committed"], out["ens3"]
checks = {"1. tuning numbers at least 1 point higher": e["tuning_at_card"] >= max(c["tuning_at_card"], c["tuning_at_refit"]) + 0.01 - 1e-9,
          "2. validation writers not fewer right": e["val_right"] >= c["val_right"],
          "3. dev benchmark at most 0.5 point lower": e["dev"] >= c["dev"] - 0.005 - 1e-9}
print()
for k, v in checks.items():
    print(f"{k}: {'holds' if v else 'fails'}")
print(f"verdict: {'ens3 kept' if all(checks.values()) else 'nothing kept'}")
print("\nheld-out site (printed apart, chose nothing): " +
      ", ".join(f"{n} {o['held_out']['whole_number']:.2%} of {o['held_out']['n']}" for n, o in out.items() if o["held_out"]))
print("real numbers whose reading the reader's replaced: " + ", ".join(f"{n} {o['read_by_reader']} of {o['val_n'] + (o['held_out'] or {}).get('n', 0)}"
                                                                      for n, o in out.items()))
