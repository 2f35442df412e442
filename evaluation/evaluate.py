"""python evaluation/evaluate.py [--model NAME_OR_FILE ...] [--split test|val] [--limit N] [--dry-run]

Evaluate models on MNIST (through the one preprocessing path): accuracy, weighted F1,
per-class report (scikit-learn), most-confused pairs, confusion-matrix PNG,
misclassified-gallery PNG, per-class F1 chart and metrics.json, written under
evaluation/reports/<model>/. Without --model, every usable model in models/.  --dry-run: the first
256 digits of the split, reports into a temporary folder unless --out is given: seconds, for tests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from digitlab import cli


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    cli.add_models(p)
    p.add_argument("--split", choices=("test", "val"), default="test", help="MNIST split to evaluate on (default test)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images (default: all)")
    cli.add_mnist(p)
    p.add_argument("--out", type=Path, default=None, help="reports folder (default evaluation/reports/)")
    cli.add_dry_run(p, "the first 256 digits of the split, reports into a temporary folder unless --out is given (for tests)")
    a = p.parse_args(argv)
    if a.limit is not None and a.limit < 1:
        p.error("--limit must be at least 1")

    import numpy as np

    from digitlab import data
    from digitlab.evaluation import evaluate
    from digitlab.models import artifacts
    from digitlab.models.cards import command_line
    from digitlab.paths import REPORTS_DIR
    from digitlab.report import extractors
    from digitlab.report import results as recorded

    command = command_line(argv, __file__)

    try:
        entries = artifacts.select(a.model)
        raw = data.load(a.mnist)
        n = len(raw.y_test if a.split == "test" else raw.y_val)
        n = min(n, a.limit or n, data.DRY_RUN_SIZES["test"] if a.dry_run else n)
        x, y = raw.inputs(a.split, indices=np.arange(n))  # once, for every model
    except (artifacts.ModelError, data.DataError) as e:
        return cli.error(e)
    reports = cli.output_folder(a.out or REPORTS_DIR, REPORTS_DIR, a.dry_run, "evaluate")
    for entry in entries:
        out = reports / entry.name
        report = evaluate.evaluate_entry(entry, x, y, out, split=a.split)
        if a.split == "test" and not a.limit:  # the whole test split: the committed model's figures in docs/results.json
            recorded.record_all(extractors.committed(extractors.from_evaluate(entry.name, report, command, entry.path)))
        print(json.dumps({"model": entry.name, "split": a.split, "n": report["n"], "accuracy": round(report["accuracy"], 4),
                          "weighted_f1": round(report["weighted_f1"], 4), "report": str(out)}))
        print(evaluate.format_report(report), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
