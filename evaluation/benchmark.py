"""python evaluation/benchmark.py [--model NAME] [--skip-training] [--target 0.99] [--quick]

Measures, in one run on this machine:
  (a) single-image latency of the predict path (preprocessing of a 280x280 canvas-style
      drawing + forward pass), p50/p95, for model.predict, model(x) and the Classifier's
      traced tf.function (the path the app and CLI use);
  (b) a race to --target test accuracy: train_cnn.py's recipe, fed by its own pipeline, against the
      keras-io mnist_convnet reference fed exactly as its source feeds it (fit on numpy arrays / 255,
      batch 128, validation_split=0.1).  Same test digits, checked every 1/8 epoch for both;
      evaluation on neither clock, the first step (tracing) on both.  Per racer: epochs, in-epoch
      seconds (epoch-boundary costs left out) and wall seconds (boundaries in), and both ratios;
  (c) the cost of one training step: the CNN with BatchNorm after pooling (the builder's
      default), the same CNN in the textbook order (conv-BN-ReLU, then pool), and the reference.
Writes evaluation/reports/benchmark.json and prints a Markdown table.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
from datetime import UTC, datetime

from digitlab import cli


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--model", default="mnist_cnn", help="model for the latency part (default mnist_cnn)")
    p.add_argument("--repeats", type=int, default=300, help="latency samples per path (default 300)")
    p.add_argument("--skip-training", action="store_true", help="only measure latency")
    p.add_argument("--skip-step-cost", action="store_true", help="do not measure the cost of a training step")
    p.add_argument("--target", type=float, default=0.99, help="test accuracy to race to (default 0.99)")
    p.add_argument("--max-epochs", type=int, default=15, help="give up after this many epochs (default 15)")
    p.add_argument("--quick", action="store_true", help="tiny run for tests: 20 latency samples, race on 1,024 images to 0.5")
    p.add_argument("--out", default=None, help="JSON output (default evaluation/reports/benchmark.json)")
    a = p.parse_args(argv)

    import keras

    from digitlab import data
    from digitlab.data import synthetic
    from digitlab.evaluation import bench
    from digitlab.files import atomic_write_json
    from digitlab.models import artifacts, builders, cards
    from digitlab.paths import REPORTS_DIR
    from digitlab.serving.classifiers import load_classifier
    from digitlab.training import presets

    try:
        classifier = load_classifier(a.model)
        mnist = data.prepared_mnist(dry_run=a.quick)
    except (artifacts.ModelError, data.DataError) as e:
        return cli.error(e)
    cnn_recipe = presets.CNN  # the exact recipe of training/train_cnn.py

    raw = data.load_mnist().x_test[:50]
    pictures = [synthetic.canvas_picture(d, background="transparent") for d in raw]  # as the canvas returns a drawing
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), **cards.versions()},
        "load_average": {"start": os.getloadavg()},  # 1, 5, 15 min; other jobs on the machine make every figure noisier
        "latency_model": classifier.name,
        "latency": bench.latency(classifier, pictures, repeats=20 if a.quick else a.repeats),
    }
    if not a.skip_training:
        result.update(race(a, mnist, cnn_recipe))

    if not a.skip_step_cost:
        builder, kw = cnn_recipe.builder, cnn_recipe.model_kwargs
        costs = {}
        for label, build, batch in (
            ("cnn, BatchNorm after pooling (train_cnn.py)", lambda: builders.build(builder, **kw), cnn_recipe.batch_size),
            ("cnn, textbook order (conv-BN-ReLU, pool)", lambda: builders.build(builder, **kw, pool_first=False), cnn_recipe.batch_size),
            ("keras-io mnist_convnet", builders.build_convnet_reference, bench.REFERENCE_BATCH),
        ):
            keras.utils.set_random_seed(0)
            costs[label] = {"batch_size": batch, **bench.step_cost(build, mnist.x_train, mnist.y_train, batch, steps=10 if a.quick else 60)}
            print(f"step cost {label}: {costs[label]['median_ms']:.1f} ms", flush=True)
        result["step_cost"] = costs

    result["load_average"]["end"] = os.getloadavg()
    out = a.out or (REPORTS_DIR / "benchmark.json")
    atomic_write_json(out, result)
    print(render(result))
    print(f"\nwritten {out}")
    return 0


def race(a, mnist, cnn_recipe) -> dict:
    """The time-to-accuracy race: each racer fed as its own source feeds it, both on the same clock."""
    import keras
    import numpy as np

    from digitlab import data
    from digitlab.evaluation import bench
    from digitlab.models import builders
    from digitlab.training import recipe

    target = 0.5 if a.quick else a.target
    x_tr, y_tr = mnist.x_train, mnist.y_train  # the dry-run subset (1,024 digits) under --quick
    (ref_x, ref_y), (ref_x_test, ref_y_test) = data.load_keras_layout()
    n_test = len(mnist.x_test)  # the same test digits for both: prepared_mnist keeps the test split's order
    if not np.array_equal(ref_y_test[:n_test], mnist.y_test):
        raise RuntimeError("the two racers' test digits differ")
    if a.quick:
        ref_x, ref_y = ref_x[: len(x_tr)], ref_y[: len(x_tr)]

    keras.utils.set_random_seed(0)
    ours = builders.build(cnn_recipe.builder, **cnn_recipe.model_kwargs)
    steps = int(np.ceil(len(x_tr) / cnn_recipe.batch_size))
    recipe.compile_model(ours, cnn_recipe, steps)
    ds, recipe_callbacks = recipe.training_data(x_tr, y_tr, cnn_recipe)
    print(f"racing train_cnn.py recipe to {target:.2%} test accuracy", flush=True)
    races = [bench.time_to_accuracy(
        "train_cnn.py recipe", ours, {"x": ds}, steps, mnist.x_test, mnist.y_test, target, max_epochs=a.max_epochs,
        callbacks=recipe_callbacks,
        feed="train_cnn.py's recipe.training_data: tf.data over digitlab-preprocessed digits (shuffle, progressive "
             "augmentation), batch 64; fit without validation_data (train_cnn.py validates at epoch ends, but the race "
             "never counts evaluation). Test digits through digitlab.preprocess")]

    keras.utils.set_random_seed(0)
    ref = builders.build_convnet_reference()
    ref.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    fit_kwargs, steps = bench.reference_fit(ref_x, ref_y)
    print(f"racing keras-io mnist_convnet to {target:.2%} test accuracy", flush=True)
    races.append(bench.time_to_accuracy(
        "keras-io mnist_convnet", ref, fit_kwargs, steps, bench.reference_inputs(ref_x_test[:n_test]), ref_y_test[:n_test], target,
        max_epochs=a.max_epochs, feed=bench.REFERENCE_FEED))

    ours_r, ref_r = races
    both = ours_r.reached and ref_r.reached
    return {
        "race_rules": {
            "test_digits": f"the first {n_test:,} MNIST test digits for both, each racer's own input path",
            "checkpoints": "test accuracy every 1/8 epoch of each racer's own epoch; evaluation time on neither clock",
            "tracing": "counted for both: both clocks start at the first training step's begin (first_step_seconds)",
            "wall_seconds": "first step to the checkpoint that reached the target, epoch boundaries included, evaluation "
                            "(test checks and fit's validation passes) excluded",
            "in_epoch_seconds": "wall minus epoch-boundary overhead: the gap between an epoch's last step and the next "
                                "epoch's first, and that first step's excess over the median step",
        },
        "race": [{**dataclasses.asdict(r), "boundary_seconds": r.boundary_seconds} for r in races],
        "speedup": {
            "epochs": ref_r.epochs / ours_r.epochs,
            "in_epoch": ref_r.in_epoch_seconds / ours_r.in_epoch_seconds,
            "wall": ref_r.wall_seconds / ours_r.wall_seconds,
        } if both else None,
    }


def render(r: dict) -> str:
    lines = [f"Single-image latency, {r['latency_model']}, 280x280 canvas drawing -> probabilities", "",
             "| path | p50 ms | p95 ms |", "| --- | --- | --- |"]
    for name, v in r["latency"].items():
        lines.append(f"| {name} | {v['p50_ms']:.2f} | {v['p95_ms']:.2f} |")
    if "race" in r:
        lines += ["", "| racer | reached | epochs | in-epoch s | wall s | boundaries (s) | first step s | median step ms |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for race in r["race"]:
            lines.append(f"| {race['name']} | {race['reached']} ({race['target']:.2%}) | {race['epochs']:.2f} | "
                         f"{race['in_epoch_seconds']:.1f} | {race['wall_seconds']:.1f} | {race['boundaries']} "
                         f"({race['boundary_seconds']:.1f}) | {race['first_step_seconds']:.2f} | {race['median_step_ms']:.1f} |")
        if r.get("speedup"):
            s = r["speedup"]
            lines.append(f"\nspeed-up to {r['race'][0]['target']:.2%}: {s['in_epoch']:.1f}x in-epoch, {s['wall']:.1f}x wall "
                         f"({s['epochs']:.1f}x fewer epochs)")
    if "step_cost" in r:
        lines += ["", "| training step | batch | median ms | p90 ms | s per epoch | params |", "| --- | --- | --- | --- | --- | --- |"]
        for name, c in r["step_cost"].items():
            lines.append(f"| {name} | {c['batch_size']} | {c['median_ms']:.1f} | {c['p90_ms']:.1f} | {c['s_per_epoch']:.1f} | {c['params']:,} |")
    if "load_average" in r:
        load = r["load_average"]
        lines.append(f"\nload average (1 min) {load['start'][0]:.1f} at the start, {load['end'][0]:.1f} at the end, "
                     f"on {r['machine']['cpus']} CPUs")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
