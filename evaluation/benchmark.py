"""python evaluation/benchmark.py [--model NAME] [--skip-training] [--target 0.99] [--quick]

Measures, in one run on this machine:
  (a) single-image latency of the predict path (preprocessing of a 280x280 canvas-style
      drawing + forward pass), p50/p95, for model.predict, model(x) and the Classifier's
      traced tf.function (the path the app and CLI use);
  (b) training wall time for train_cnn.py's recipe to reach --target test accuracy, beside
      the keras-io mnist_convnet reference (Adam, batch 128) trained in the same run, as a ratio
      (test accuracy checked every 1/8 epoch for both; evaluation time not counted);
  (c) the cost of one training step: the CNN with BatchNorm after pooling (the builder's
      default), the same CNN in the textbook order (conv-BN-ReLU, then pool), and the reference.
Writes evaluation/reports/benchmark.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
from datetime import UTC, datetime

REFERENCE_BATCH = 128  # the keras-io mnist_convnet example's batch size


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mnist_cnn", help="model for the latency part (default mnist_cnn)")
    p.add_argument("--repeats", type=int, default=300, help="latency samples per path (default 300)")
    p.add_argument("--skip-training", action="store_true", help="only measure latency")
    p.add_argument("--skip-step-cost", action="store_true", help="do not measure the cost of a training step")
    p.add_argument("--target", type=float, default=0.99, help="test accuracy to race to (default 0.99)")
    p.add_argument("--max-epochs", type=int, default=15, help="give up after this many epochs (default 15)")
    p.add_argument("--quick", action="store_true", help="tiny run for tests: 20 latency samples, race on 2,048 images to 0.5")
    p.add_argument("--out", default=None, help="JSON output (default evaluation/reports/benchmark.json)")
    a = p.parse_args(argv)

    import keras
    import numpy as np

    from digitlab import data
    from digitlab.evaluation import bench
    from digitlab.files import atomic_write_json
    from digitlab.models import artifacts, builders, cards
    from digitlab.paths import REPORTS_DIR
    from digitlab.serving.classifiers import load_classifier
    from digitlab.training import presets, recipe

    try:
        classifier = load_classifier(a.model)
        mnist = data.prepared_mnist(dry_run=a.quick)
    except (artifacts.ModelError, data.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cnn_recipe = presets.CNN  # the exact recipe of training/train_cnn.py

    raw = data.load_mnist().x_test[:50]
    pictures = [bench.canvas_like(d) for d in raw]
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version(), **cards.versions()},
        "latency_model": classifier.name,
        "latency": bench.latency(classifier, pictures, repeats=20 if a.quick else a.repeats),
    }
    if not a.skip_training:
        target = 0.5 if a.quick else a.target
        x_tr, y_tr = mnist.x_train, mnist.y_train
        if a.quick:
            x_tr, y_tr = x_tr[:2048], y_tr[:2048]
        races = []
        for label, config, build in (
            ("train_cnn.py recipe", cnn_recipe, lambda: builders.build(cnn_recipe.builder, **cnn_recipe.model_kwargs)),
            ("keras-io mnist_convnet", recipe.TrainConfig(batch_size=REFERENCE_BATCH, rotation_deg=0, translate=0, zoom=0, stroke=0),
             builders.build_convnet_reference),
        ):
            keras.utils.set_random_seed(0)
            model = build()
            steps = int(np.ceil(len(x_tr) / config.batch_size))
            if label.startswith("keras-io"):
                model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
            else:
                recipe.compile_model(model, config, steps)
            ds, recipe_callbacks = recipe.training_data(x_tr, y_tr, config)
            print(f"racing {label} to {target:.2%} test accuracy", flush=True)
            races.append(bench.time_to_accuracy(label, model, ds, steps, mnist.x_test, mnist.y_test, target, max_epochs=a.max_epochs,
                                                callbacks=recipe_callbacks))
        ours, ref = races
        result["race"] = [dataclasses.asdict(r) for r in races]
        result["speedup"] = (ref.train_seconds / ours.train_seconds) if ours.reached and ref.reached else None

    if not a.skip_step_cost:
        builder, kw = cnn_recipe.builder, cnn_recipe.model_kwargs
        costs = {}
        for label, build, batch in (
            ("cnn, BatchNorm after pooling (train_cnn.py)", lambda: builders.build(builder, **kw), cnn_recipe.batch_size),
            ("cnn, textbook order (conv-BN-ReLU, pool)", lambda: builders.build(builder, **kw, pool_first=False), cnn_recipe.batch_size),
            ("keras-io mnist_convnet", builders.build_convnet_reference, REFERENCE_BATCH),
        ):
            keras.utils.set_random_seed(0)
            costs[label] = {"batch_size": batch, **bench.step_cost(build, mnist.x_train, mnist.y_train, batch, steps=10 if a.quick else 60)}
            print(f"step cost {label}: {costs[label]['median_ms']:.1f} ms", flush=True)
        result["step_cost"] = costs

    out = a.out or (REPORTS_DIR / "benchmark.json")
    atomic_write_json(out, result)
    print(render(result))
    print(f"\nwritten {out}")
    return 0


def render(r: dict) -> str:
    lines = [f"Single-image latency, {r['latency_model']}, 280x280 canvas drawing -> probabilities", "",
             "| path | p50 ms | p95 ms |", "| --- | --- | --- |"]
    for name, v in r["latency"].items():
        lines.append(f"| {name} | {v['p50_ms']:.2f} | {v['p95_ms']:.2f} |")
    if "race" in r:
        lines += ["", "| recipe | reached | epochs | train seconds |", "| --- | --- | --- | --- |"]
        for race in r["race"]:
            lines.append(f"| {race['name']} | {race['reached']} ({race['target']:.2%}) | {race['epochs']:.2f} | {race['train_seconds']:.1f} |")
        if r.get("speedup"):
            lines.append(f"\nspeed-up to {r['race'][0]['target']:.2%}: {r['speedup']:.1f}x")
    if "step_cost" in r:
        lines += ["", "| training step | batch | median ms | p90 ms | s per epoch | params |", "| --- | --- | --- | --- | --- | --- |"]
        for name, c in r["step_cost"].items():
            lines.append(f"| {name} | {c['batch_size']} | {c['median_ms']:.1f} | {c['p90_ms']:.1f} | {c['s_per_epoch']:.1f} | {c['params']:,} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
