"""python evaluation/serving.py [--models-dir models] [--parity N]

The TensorFlow-free serving files of the committed models (digitlab.serving.runtime): converts every model in
models/, the digit gate and the number reader into models/serving/<sha256>.onnx (+ its record), once per file
version, and removes the files of models that are gone (digitlab.serving.runtime.write_folder).  training/promote.py
does this itself; run it after training a model straight into models/ (a clone then serves without converting).

--parity N also checks the serving contract on N MNIST test digits written as PNG files and read back through the
one preprocessing path: labels, abstain decisions and max |dp| of ONNX Runtime against the Keras model (bound
1e-5), per model, and writes evaluation/reports/serving_parity.json and (the committed models) docs/results.json.
Exit 1 when a model is outside the bound.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from digitlab import cli
from digitlab.paths import MODELS_DIR, REPORTS_DIR

MAX_DP = 1e-5


def parity(models_dir: Path, n: int, mnist: str | None) -> dict:
    """ONNX Runtime against Keras, picture by picture, through the predict CLI's own path."""
    import numpy as np

    from digitlab import data, files, preprocess
    from digitlab.models import artifacts
    from digitlab.serving import classifiers, gate, runtime

    d = data.load(mnist)
    x, y = d.x_test, d.y_test
    n = min(n, len(x))
    prepared = [preprocess.prepare(files.png_bytes(x[i])) for i in range(n)]
    keras_gate = gate.default()
    report = {}
    for entry in runtime.list_models(models_dir):
        if not entry.usable:
            continue
        served = runtime.load(entry.name, models_dir).predict_prepared(prepared)
        reference = classifiers.Classifier(artifacts.inspect(entry.path), "keras", keras_gate).predict_prepared(prepared)
        dp = float(np.abs(np.stack([p.probabilities for p in served]) - np.stack([p.probabilities for p in reference])).max())
        report[entry.name] = {
            "n": n,
            "max_abs_dp": dp,
            "labels_differ": sum(a.label != b.label for a, b in zip(served, reference)),
            "abstain_differ": sum(a.abstain != b.abstain for a, b in zip(served, reference)),
            "accuracy": float(np.mean([p.label == int(t) for p, t in zip(served, y[:n])])),
        }
        print(f"{entry.name}: {json.dumps(report[entry.name])}")
    return report


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR, help="models folder (default models/)")
    p.add_argument("--parity", type=int, default=0, metavar="N", help="check ONNX against Keras on N MNIST test digits (default 0: no check)")
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "serving_parity.json", help="parity report (default evaluation/reports/serving_parity.json)")
    cli.add_mnist(p)
    a = p.parse_args(argv)
    from digitlab import data
    from digitlab.models import artifacts
    from digitlab.serving import runtime
    from digitlab.serving.reader import margin_warning

    try:
        runtime.write_folder(a.models_dir)
        if warning := margin_warning(a.models_dir):
            print(f"warning: {warning}", file=sys.stderr)
        if not a.parity:
            return cli.OK
        report = parity(a.models_dir, a.parity, a.mnist)
    except (artifacts.ModelError, data.DataError) as e:
        cli.fail(e)
    from digitlab.files import atomic_write_json
    from digitlab.models import cards
    from digitlab.report import extractors
    from digitlab.report import results as recorded

    atomic_write_json(a.out, report)
    recorded.record_all(extractors.committed(extractors.from_serving_parity(report, cards.command_line(argv, __file__), a.models_dir)))
    bad = [name for name, r in report.items() if r["max_abs_dp"] > MAX_DP or r["labels_differ"] or r["abstain_differ"]]
    for name in bad:
        print(f"PARITY FAILED {name}: {report[name]}", file=sys.stderr)
    return cli.SOME_FAILED if bad else cli.OK


if __name__ == "__main__":
    sys.exit(main())
