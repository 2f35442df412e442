"""python web/build.py [--model mnist_cnn] [--out web/model] [--make-default] [--dry-run]

Writes the browser page's model files:

    <out>/<name>.onnx   digitlab.serving.export.to_onnx: "image" (N, 28, 28) float32 -> "probabilities" (N, 10)
    <out>/<name>.json   what the page needs: class names, preprocessing version, input and output
                        names, the card's test accuracy, the sha256 of the .keras it came from
    <out>/index.json    the models the page offers, and its default (the first one built, or
                        --make-default)

Before anything is written, the ONNX file runs in onnxruntime on MNIST test digits (through
digitlab.preprocess) next to the Keras model; a probability gap above --tolerance refuses the
build, so the page never gets a model that disagrees with the one it claims to be.

--dry-run: the same export and parity check on 50 MNIST test digits, written into a new
temporary folder unless --out is given (never over the committed web/model/): seconds, for tests.

Longer than a thin script because it also refuses a file that fails its parity check (Keras against
onnxruntime) and writes the page's model description beside the .onnx.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

from digitlab import cli

WEB = Path(__file__).resolve().parent

DEFAULT_MODEL = "mnist_cnn"  # the committed page model: best of the committed models on drawn digits (README)
CHECK_DIGITS = 500  # MNIST test digits compared between Keras and onnxruntime
DRY_RUN_DIGITS = 50  # the same comparison in --dry-run


def parity(onnx_path: Path, classifier, images) -> float:
    """Max |probability difference| between onnxruntime and the Keras model on (N, 28, 28) inputs."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": images})[0]
    return float(np.abs(got - classifier.predict_proba(images)).max())


def main(argv=None) -> int:
    ap = cli.parser(__doc__)
    ap.add_argument("--model", default=DEFAULT_MODEL, help=f"model name in models/ or a .keras file (default {DEFAULT_MODEL})")
    cli.add_out(ap, WEB / "model", "folder the page loads its models from")
    ap.add_argument("--make-default", action="store_true", help="make this the model the page opens with")
    ap.add_argument("--tolerance", type=float, default=1e-5, help="largest allowed |Keras - ONNX| probability gap (default 1e-05)")
    cli.add_mnist(ap)
    cli.add_dry_run(ap, f"parity on {DRY_RUN_DIGITS} digits, files into a temporary folder unless --out is given "
                        "(never over web/model/): seconds, for tests")
    args = ap.parse_args(argv)

    from digitlab import data, files, preprocess
    from digitlab.files import atomic_write_bytes
    from digitlab.models import artifacts
    from digitlab.serving import classifiers, export

    try:
        entry = artifacts.resolve(args.model)
        classifier = classifiers.Classifier(entry)
    except artifacts.ModelError as e:
        cli.fail(e)
    try:
        _, (x_test, _) = data.load_keras_layout(args.mnist)
    except data.DataError as e:  # missing or invalid file: the message says which and why
        cli.fail(f"MNIST is needed for the parity check: {e}")
    images = preprocess.prepare_batch(x_test[: DRY_RUN_DIGITS if args.dry_run else CHECK_DIGITS])
    args.out = cli.output_folder(args.out, WEB / "model", args.dry_run, "web-build")  # a dry run never overwrites the page model

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        onnx_tmp = export.to_onnx(entry, Path(tmp) / f"{entry.name}.onnx")
        gap = parity(onnx_tmp, classifier, images)
        if gap > args.tolerance:
            print(f"error: the ONNX export of {entry.name} differs from Keras by {gap:.2e} (> {args.tolerance:g}); nothing written", file=sys.stderr)
            return 1
        onnx_bytes = onnx_tmp.read_bytes()
    card = entry.card or {}
    info = {
        "name": entry.name,
        "onnx": f"{entry.name}.onnx",
        "onnx_sha256": "sha256:" + hashlib.sha256(onnx_bytes).hexdigest(),
        "keras_sha256": files.sha256(entry.path),
        "classes": [str(d) for d in range(10)],
        "input": {"name": export.INPUT_NAME, "shape": ["batch", 28, 28], "dtype": "float32", "range": [0, 1], "polarity": "light ink on black"},
        "output": {"name": export.OUTPUT_NAME, "shape": ["batch", 10]},
        "preprocess_version": preprocess.PREPROCESS_VERSION,
        "test_accuracy": (card.get("metrics") or {}).get("test_accuracy"),
        "params": card.get("params"),
        "parity_max_abs_dp": gap,
        "parity_digits": len(images),
        "command": "python web/build.py --model " + entry.name,
    }
    atomic_write_bytes(args.out / info["onnx"], onnx_bytes)
    atomic_write_bytes(args.out / f"{entry.name}.json", (json.dumps(info, indent=2) + "\n").encode())
    index_path = args.out / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    names = [n for n in index.get("models", []) if (args.out / f"{n}.onnx").exists() and n != entry.name] + [entry.name]
    default = index.get("default")
    if args.make_default or default not in names:
        default = entry.name
    index = {"default": default, "models": sorted(names, key=lambda n: n != default)}
    atomic_write_bytes(index_path, (json.dumps(index, indent=2) + "\n").encode())
    print(f"{args.out / info['onnx']}: {len(onnx_bytes) / 1024:.0f} kB, max |Keras - ONNX| {gap:.1e} on {len(images)} MNIST test digits; page default: {default}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
