"""python evaluation/benchmark.py [--model NAME] [--skip-training] [--target 0.99] [--dry-run]

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
    cli.add_dry_run(p, "tiny run for tests: 20 latency samples, race on 1,024 images to 0.5")
    p.add_argument("--out", type=cli.report_file("benchmark.json"), default=None, help="JSON output (default evaluation/reports/benchmark.json)")
    a = p.parse_args(argv)


    from digitlab import data
    from digitlab.data import synthetic
    from digitlab.evaluation import bench
    from digitlab.files import atomic_write_json
    from digitlab.models import artifacts, cards
    from digitlab.paths import REPORTS_DIR
    from digitlab.report import extractors, tables
    from digitlab.report import results as recorded
    from digitlab.serving.classifiers import load_classifier
    from digitlab.training import presets, race

    try:
        classifier = load_classifier(a.model)
        mnist = data.load(prepared=True, dry_run=a.dry_run)
    except (artifacts.ModelError, data.DataError) as e:
        return cli.error(e)
    cnn_recipe = presets.CNN  # the exact recipe of training/train_cnn.py

    raw = data.load().x_test[:50]
    pictures = [synthetic.canvas_picture(d, background="white") for d in raw]  # as Home's light canvas hands a drawing over
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), **cards.versions()},
        "load_average": {"start": os.getloadavg()},  # 1, 5, 15 min; other jobs on the machine make every figure noisier
        "latency_model": classifier.name,
        "latency": bench.latency(classifier, pictures, repeats=20 if a.dry_run else a.repeats, invert="yes", drawn_on=1.0),  # as Home reads it
    }
    if not a.skip_training:
        result.update(race.race(mnist, cnn_recipe, 0.5 if a.dry_run else a.target, a.max_epochs, a.dry_run))

    if not a.skip_step_cost:
        result["step_cost"] = race.step_costs(mnist.x_train, mnist.y_train, cnn_recipe, steps=10 if a.dry_run else 60)

    result["load_average"]["end"] = os.getloadavg()
    out = a.out or (REPORTS_DIR / "benchmark.json")
    atomic_write_json(out, result)
    if not a.dry_run:  # docs/results.json
        recorded.record_all(extractors.committed(extractors.from_benchmark(result, cards.command_line(argv, __file__), classifier.entry.path)))
    print(tables.benchmark(result))
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
