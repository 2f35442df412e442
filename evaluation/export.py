"""python evaluation/export.py [--model NAME_OR_FILE ...] [--formats h5,savedmodel,tflite,tflite-dynamic,tflite-int8,onnx,tfjs] [--out DIR] [--check-only] [--dry-run]
python evaluation/export.py --setup-tfjs      # once: the TF.js converter's own virtual environment

Export models to .h5, SavedModel, TFLite (float, dynamic-range, full int8), ONNX and TF.js (a
tfjs_graph_model folder) under DIR/<model>/ (default exports/<model>/), then check every export
against the Keras model: the same probe set (MNIST test digits, and test digits redrawn as canvas
strokes, all through digitlab.preprocess) goes through the original and through each file, loaded
the way `evaluation/predict.py --model FILE` loads it (TF.js: in Node with @tensorflow/tfjs from
web/node_modules, WebAssembly backend, as a web page runs it).  Prints and writes a table (parity.md,
parity.json): max |difference in probability|, argmax agreement, accuracy, file size, median
single-image latency; a committed model's figures (not --dry-run) also go to docs/results.json.  Every graph format takes "image" (N, 28, 28) and returns "probabilities"
(N, 10).  int8 is calibrated on training digits through the same preprocessing.

TF.js is made by the official converter (PyPI tensorflowjs), whose dependencies conflict with this
project's: --setup-tfjs installs it into its own virtual environment ($DIGITLAB_TFJS_VENV, default
runs/tfjs-venv; ~3 GB, a minute or two), never into this one.  Without that environment "tfjs" is
left out of the default formats (and naming it is an error saying so); --check-only needs only Node.

Exit code 1, with a PARITY FAILED line per format, when an export is outside its tolerance
(float formats, TF.js included: 100% argmax agreement and max |dp| <= 1e-4; dynamic-range: agreement
>= 99.5% and accuracy at most 0.3 pp lower; int8: >= 99% and 0.5 pp; see
digitlab.serving.parity.TOLERANCES).  --check-only re-checks the files already in DIR without
exporting.  --dry-run uses a small probe set and few timing runs (seconds; used by the tests).

Longer than a thin script because every format is checked against the Keras model before it is kept, and the
TF.js converter's own environment (--setup-tfjs) is made or found here, never in the app's environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from digitlab import cli

PROBE = (1000, 500)  # MNIST test digits, redrawn test digits
DRY_PROBE = (400, 200)  # enough that the tolerances (0.3-0.5 point, 99.5% agreement) allow a digit or two:
# on 100 + 50 a single changed answer was already a 1-point drop and failed any quantised format
REPRESENTATIVE, DRY_REPRESENTATIVE = 500, 100  # training digits that calibrate int8
LATENCY_RUNS, DRY_LATENCY_RUNS = 300, 20


def parse_formats(text: str) -> list[str]:
    from digitlab.serving.export import FORMATS

    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(f"unknown format(s) {unknown or text!r}; choose from {','.join(FORMATS)}")
    return formats


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    cli.add_models(p)
    p.add_argument("--formats", "--format", type=parse_formats, default=None,
                   help="comma-separated formats (default h5,savedmodel,tflite,tflite-dynamic,tflite-int8,onnx, and tfjs once "
                        "--setup-tfjs has made its converter's environment)")
    p.add_argument("--out", type=Path, default=None, help="exports go to OUT/<model>/ (default exports/)")
    p.add_argument("--check-only", action="store_true", help="check the files already in OUT/<model>/, export nothing")
    cli.add_mnist(p)
    p.add_argument("--setup-tfjs", action="store_true", help="create the TF.js converter's own virtual environment "
                   "($DIGITLAB_TFJS_VENV, default runs/tfjs-venv) with pip from the package registry, check it, and stop")
    cli.add_dry_run(p, f"probe {DRY_PROBE[0]}+{DRY_PROBE[1]} digits, {DRY_LATENCY_RUNS} timing runs (default: "
                    f"{PROBE[0]}+{PROBE[1]} digits, {LATENCY_RUNS} runs)")
    a = p.parse_args(argv)
    from digitlab import data
    from digitlab.models import artifacts, cards

    command = cards.command_line(argv, __file__)
    from digitlab.report import extractors, tables
    from digitlab.report import results as recorded
    from digitlab.serving import export, parity, tfjs_env

    if a.setup_tfjs:
        try:
            converter = tfjs_env.setup_tfjs()
        except export.ExportError as e:
            return cli.error(e)
        print(f"TF.js converter ready: {converter}")
        return 0
    formats = a.formats or list(export.default_formats())
    if a.formats is None and "tfjs" not in formats:
        print(f"note: tfjs left out: its converter is not set up (`{tfjs_env.SETUP_TFJS}` makes it)", file=sys.stderr)
    if "tfjs" in formats and not a.check_only and tfjs_env.tfjs_converter() is None:
        return cli.error(f"--formats tfjs: the TF.js converter is not set up (no {tfjs_env.tfjs_venv()}): run `{tfjs_env.SETUP_TFJS}` once")
    if "tfjs" in formats and (why := tfjs_env.tfjs_missing()) is not None:
        return cli.error(f"--formats tfjs: the TF.js parity check runs in Node, but {why}")
    try:
        entries = artifacts.select(a.model)
        n_mnist, n_drawn = DRY_PROBE if a.dry_run else PROBE
        probe = parity.probe_set(n_mnist, n_drawn, mnist_path=a.mnist)
        needs_rep = "tflite-int8" in formats and not a.check_only
        representative = export.representative_images(DRY_REPRESENTATIVE if a.dry_run else REPRESENTATIVE, mnist_path=a.mnist) if needs_rep else None
    except (artifacts.ModelError, data.DataError) as e:
        return cli.error(e)

    failed: list[str] = []
    for entry in entries:
        out_dir = (a.out or export.EXPORTS_DIR) / entry.name
        if a.check_only:
            files = {f: out_dir / export.file_name(entry.name, f) for f in formats}
        else:
            print(f"exporting {entry.name} -> {out_dir}", file=sys.stderr)
            files = export.export(entry, formats, out_dir, representative)
        report = parity.check(entry, files, probe, DRY_LATENCY_RUNS if a.dry_run else LATENCY_RUNS)
        parity.write_report(report, files, out_dir, entry.card, command)
        if not a.dry_run:  # a committed model's figures go to docs/results.json
            recorded.record_all(extractors.committed(extractors.from_export(dict(report, command=command))))
        print(f"\n## {entry.name} ({out_dir})\n\n{tables.export_parity(report)}")
        failed += parity.failures(report)
    print(json.dumps({"ok": not failed, "failures": failed}))
    for line in failed:
        print(f"PARITY FAILED: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
