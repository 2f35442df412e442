"""RULE11's scoring (runs/s31/RULE11.md): the committed number reader, r1, r2 and ens3 (their mean) on
1. the 401 tuning numbers, combined with mnist_advanced's cuts (each candidate's margin from its card, and the
   committed reader's also at the margin fitted again here, the better of the two judged against);
2. the validation writers' real numbers as evaluation/handwriting.py draws and reads them (the held-out site is read
   in the same pass, since the benchmark draws both from one generator, and printed only after the verdict);
3. the numbers dev benchmark's 3,920 composed MNIST test numbers (committed and ens3).
    python runs/s31/score_readers.py [--quick] [--readers DIR]            (prints the table and the verdict; --quick: 60 of each, no verdict)
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from digitlab import data
from digitlab.data import number_cases, unipen
from digitlab.evaluation import handwriting
from digitlab.evaluation import numbers as numbers_eval
from digitlab.serving import classifiers, runtime
from digitlab.serving.reader import READER_PATH, Reader, keras_model
from digitlab.training import reader as training

p = argparse.ArgumentParser()
p.add_argument("--quick", action="store_true")
p.add_argument("--readers", type=Path, default=Path(__file__).parent / "readers", help="folder of r1, r2, ens3")
a = p.parse_args()
CANDIDATES = {"committed": READER_PATH, **{n: a.readers / f"{n}.keras" for n in ("r1", "r2", "ens3")}}
JUDGED = ("committed", "ens3")

mnist = data.load()
split = unipen.split(unipen.load(unipen.default_path()))
_, tuning_items = training.tuning_split(split.train, training.ReaderConfig().tuning_writers)
tuning = training.tuning_numbers(tuning_items, mnist.x_val, mnist.y_val, training.ReaderConfig().n_tuning_per_cell)
cuts_model = classifiers.load_classifier("mnist_advanced")  # what training.reader.fit reads the cuts with
served = runtime.load("mnist_advanced")  # what the benchmarks read with
cases = list(number_cases.cases(mnist.x_test, mnist.y_test, [2, 3, 5, 6, 7, 8], per_cell=40, seed=0))
cases += list(number_cases.cases(mnist.x_test, mnist.y_test, [4], per_cell=250, seed=1))  # evaluation/numbers.py's defaults
if a.quick:
    tuning, cases = tuning[:60], cases[:60]
print(f"{len(tuning)} tuning numbers, {len(cases)} dev numbers", flush=True)

out = {}
for name, path in CANDIDATES.items():
    t0 = time.time()
    r = Reader(path, "keras")
    rows = training.read_both(tuning, cuts_model, keras_model(path))
    refit_margin, accuracy = training.fit_margin(rows)
    at_card = training.summary(rows, r.margin)["all"]["combined"]
    at_refit = accuracy[refit_margin]
    real = handwriting.real_numbers(split, served, 0, n=60 if a.quick else None, reader=r)
    sites = {k.split()[1]: v for k, v in real["groups"].items() if k.startswith("site ")}
    val_n = sum(v["n"] for s, v in sites.items() if s != unipen.HELD_OUT_SITE)
    val_right = sum(round(v["n"] * v["whole_number"]) for s, v in sites.items() if s != unipen.HELD_OUT_SITE)
    app = sites.get(unipen.HELD_OUT_SITE, {"n": 0, "whole_number": float("nan")})
    dev = None
    if name in JUDGED:
        dev_rows = numbers_eval.read_cases(served, cases, log=None, reader=r)
        dev = float(np.mean([row["right"] for row in dev_rows]))
    out[name] = {"margin": r.margin, "tuning_at_card": at_card, "refit_margin": refit_margin, "tuning_at_refit": at_refit,
                 "val_right": val_right, "val_n": val_n, "app": app, "dev": dev, "read_by_reader": real["read_by_reader"]}
    print(f"{name}: done in {time.time() - t0:.0f} s", flush=True)

print("\n| reader | margin (card) | tuning, card margin | margin refit here | tuning, refit margin | validation writers | dev benchmark |")
print("|---|---|---|---|---|---|---|")
for name, o in out.items():
    dev = "-" if o["dev"] is None else f"{o['dev']:.2%}"
    print(f"| {name} | {o['margin']:g} | {o['tuning_at_card']:.2%} | {o['refit_margin']:g} | {o['tuning_at_refit']:.2%} | "
          f"{o['val_right']}/{o['val_n']} ({o['val_right'] / max(o['val_n'], 1):.2%}) | {dev} |")
if a.quick:
    sys.exit(0)
c, e = out["committed"], out["ens3"]
base_tuning = max(c["tuning_at_card"], c["tuning_at_refit"])
checks = {"1. tuning numbers at least 1 point higher": e["tuning_at_card"] >= base_tuning + 0.01 - 1e-9,
          "2. validation writers not fewer right": e["val_right"] >= c["val_right"],
          "3. dev benchmark at most 0.5 point lower": e["dev"] >= c["dev"] - 0.005 - 1e-9}
print()
for k, v in checks.items():
    print(f"{k}: {'holds' if v else 'fails'}")
print(f"verdict: {'ens3 kept' if all(checks.values()) else 'nothing kept'}")
print(f"\nheld-out site {unipen.HELD_OUT_SITE} (printed apart, chose nothing): " +
      ", ".join(f"{n} {o['app']['whole_number']:.2%} of {o['app']['n']}" for n, o in out.items()))
print("numbers the reader's reading was taken for (real numbers, 634): " + ", ".join(f"{n} {o['read_by_reader']}" for n, o in out.items()))
