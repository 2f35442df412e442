"""python web/build.py [--model mnist_cnn] [--out web/model] [--runtimes onnx,tfjs] [--make-default] [--dry-run]

Writes the browser page's model files, for both of its runtimes (onnxruntime-web and TensorFlow.js):

    <out>/<name>.onnx           digitlab.serving.export.to_onnx: "image" (N, 28, 28) float32 -> "probabilities" (N, 10)
    <out>/<name>_tfjs/          the same model as a TF.js graph model (model.json + weight shard), made by the
                                official converter (digitlab.serving.export.to_tfjs, in its own environment:
                                `python evaluation/export.py --setup-tfjs` once)
    <out>/<name>.json           what the page needs: class names, preprocessing version, input and output
                                names, each runtime's file and sha256, the "not a digit" rule of the model
                                card (temperature and threshold), the card's test accuracy, the .keras sha256
                                (a page manifest, not a model card: digitlab.serving.web_manifest builds and
                                checks the three .json files)
    <out>/not_a_digit.onnx      the digit gate (models/gate/, digitlab.serving.gate): "image" -> "p_digit" (N,)
    <out>/not_a_digit_tfjs/     the same gate for TF.js
    <out>/gate.json             the gate's threshold, files and hashes
    <out>/index.json            the models the page offers, and its default (the first one built, or
                                --make-default)

Before anything is written, every file runs next to its Keras original on MNIST test digits (through
digitlab.preprocess; the gate also on generated non-digits, digitlab.data.nondigits): ONNX in
onnxruntime, TF.js in Node with @tensorflow/tfjs (the page's WebAssembly backend).  A probability gap
above --tolerance refuses the build, so the page never gets a file that disagrees with the model it
claims to be.  --runtimes defaults to onnx,tfjs when the TF.js converter is set up, else onnx (said so).

Into web/model/, the files' sizes and parity also go to docs/results.json (digitlab.report.results).
--dry-run: the same exports and parity checks on 50 MNIST test digits, written into a new
temporary folder unless --out is given (never over the committed web/model/): seconds, for tests.

Longer than a thin script because it also refuses files that fail their parity check before the page's
model descriptions (digitlab.serving.web_manifest) are written beside them.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

from digitlab import cli, files

WEB = Path(__file__).resolve().parent

DEFAULT_MODEL = "mnist_cnn"  # the committed page model: best of the committed models on drawn digits (README)
CHECK_DIGITS = 500  # MNIST test digits compared between Keras and each runtime
DRY_RUN_DIGITS = 50  # the same comparison in --dry-run
GATE_NON_DIGITS = 100  # generated non-digits (held-out generators) the gate is also compared on; 20 in --dry-run
RUNTIMES = ("onnx", "tfjs")


def onnx_outputs(onnx_path: Path, images):
    """onnxruntime's output for (N, 28, 28) inputs: (N, 10) probabilities, or the gate's (N,) P(digit)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": images})[0]


def parse_runtimes(text: str) -> tuple[str, ...]:
    import argparse

    runtimes = tuple(dict.fromkeys(r.strip() for r in text.split(",") if r.strip()))
    if not runtimes or any(r not in RUNTIMES for r in runtimes) or "onnx" not in runtimes:
        raise argparse.ArgumentTypeError(f"{text!r}: choose onnx or onnx,tfjs (the page's default runtime, ONNX, is always built)")
    return runtimes


def _install(tmp: Path, out: Path, names: list[str]) -> None:
    """Move the checked files ``names`` from ``tmp`` into ``out`` (a folder replaces the old one whole)."""
    for n in names:
        src, dst = tmp / n, out / n
        if src.is_dir():
            old = out / f".{n}.old"
            shutil.rmtree(old, ignore_errors=True)
            if dst.exists():
                dst.rename(old)
            src.rename(dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            src.replace(dst)


def main(argv=None) -> int:
    ap = cli.parser(__doc__)
    ap.add_argument("--model", default=DEFAULT_MODEL, help=f"model name in models/ or a .keras file (default {DEFAULT_MODEL})")
    cli.add_out(ap, WEB / "model", "folder the page loads its models from")
    ap.add_argument("--runtimes", type=parse_runtimes, default=None,
                    help="onnx,tfjs or onnx (default: onnx,tfjs when the TF.js converter is set up, else onnx)")
    ap.add_argument("--make-default", action="store_true", help="make this the model the page opens with")
    ap.add_argument("--tolerance", type=float, default=1e-5, help="largest allowed |Keras - runtime| probability gap (default 1e-05)")
    cli.add_mnist(ap)
    cli.add_dry_run(ap, f"parity on {DRY_RUN_DIGITS} digits, files into a temporary folder unless --out is given "
                        "(never over web/model/): seconds, for tests")
    args = ap.parse_args(argv)

    import numpy as np

    from digitlab import data, preprocess
    from digitlab.data import nondigits
    from digitlab.models import artifacts
    from digitlab.serving import classifiers, export, tfjs_env, web_manifest
    from digitlab.serving import gate as gate_module

    runtimes = args.runtimes
    if runtimes is None:
        runtimes = RUNTIMES if tfjs_env.tfjs_converter() is not None else ("onnx",)
        if "tfjs" not in runtimes:
            print(f"note: TF.js files not built: its converter is not set up (`{tfjs_env.SETUP_TFJS}` makes it)", file=sys.stderr)
    if "tfjs" in runtimes:
        if tfjs_env.tfjs_converter() is None:
            cli.fail(f"--runtimes tfjs: the TF.js converter is not set up (no {tfjs_env.tfjs_venv()}): run `{tfjs_env.SETUP_TFJS}` once")
        if (why := tfjs_env.tfjs_missing()) is not None:
            cli.fail(f"--runtimes tfjs: the TF.js files are checked in Node, but {why}")
    try:
        entry = artifacts.resolve(args.model)
        classifier = classifiers.Classifier(entry)
        gate = gate_module.load()
    except artifacts.ModelError as e:
        cli.fail(e)
    try:
        x_test = data.load(args.mnist).x_test
    except data.DataError as e:  # missing or invalid file: the message says which and why
        cli.fail(f"MNIST is needed for the parity check: {e}")
    images = preprocess.prepare_batch(x_test[: DRY_RUN_DIGITS if args.dry_run else CHECK_DIGITS])
    others, no_ink, _, _ = nondigits.prepare_pictures(nondigits.non_digit_pictures(20 if args.dry_run else GATE_NON_DIGITS, seed=2, split="heldout"))
    gate_images = np.concatenate([images, others[~no_ink]])
    args.out = cli.output_folder(args.out, WEB / "model", args.dry_run, "web-build")  # a dry run never overwrites the page model

    name, gname = entry.name, gate.path.stem
    files_m = {"onnx": f"{name}.onnx", "tfjs": f"{name}_tfjs"}
    files_g = {"onnx": f"{gname}.onnx", "tfjs": f"{gname}_tfjs"}
    args.out.mkdir(parents=True, exist_ok=True)
    gaps: dict[str, float] = {}
    runtime_of_tfjs = None
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        tmp = Path(tmp)
        keras_probs, keras_gate = classifier.predict_proba(images), gate.score(gate_images)
        export.to_onnx(entry, tmp / files_m["onnx"])
        export.gate_to_onnx(gate, tmp / files_g["onnx"])
        gaps["onnx"] = float(np.abs(onnx_outputs(tmp / files_m["onnx"], images) - keras_probs).max())
        gaps["gate onnx"] = float(np.abs(onnx_outputs(tmp / files_g["onnx"], gate_images) - keras_gate).max())
        if "tfjs" in runtimes:
            try:
                export.to_tfjs(entry, tmp / files_m["tfjs"])
                export.gate_to_tfjs(gate, tmp / files_g["tfjs"])
                run = export.tfjs_run({"model": tmp / files_m["tfjs"]}, images)
                run_gate = export.tfjs_run({"gate": tmp / files_g["tfjs"]}, gate_images)
            except export.ExportError as e:
                print(f"error: {e}; nothing written", file=sys.stderr)
                return 1
            gaps["tfjs"] = float(np.abs(run.outputs["model"] - keras_probs).max())
            gaps["gate tfjs"] = float(np.abs(run_gate.outputs["gate"] - keras_gate).max())
            runtime_of_tfjs = run.runtime
        bad = {k: v for k, v in gaps.items() if not v <= args.tolerance}
        if bad:
            said = ", ".join(f"{k} {v:.2e}" for k, v in bad.items())
            print(f"error: exports of {name} / the digit gate differ from Keras by more than {args.tolerance:g} ({said}); nothing written", file=sys.stderr)
            return 1
        tfjs = gate_tfjs = None
        if "tfjs" in runtimes:
            tfjs = web_manifest.tfjs_entry(tmp / files_m["tfjs"], gaps["tfjs"], runtime_of_tfjs)
            gate_tfjs = web_manifest.tfjs_entry(tmp / files_g["tfjs"], gaps["gate tfjs"])
        info = web_manifest.model(entry, tmp / files_m["onnx"], gaps["onnx"], len(images), tfjs)
        gate_path = args.out / web_manifest.GATE_FILE
        gate_sha = files.sha256(gate.path)
        if gate_tfjs is None and (args.out / files_g["tfjs"]).is_dir():
            with contextlib.suppress(web_manifest.ManifestError):
                old_gate = web_manifest.read(gate_path, "gate")
                if old_gate["keras_sha256"] == gate_sha:
                    gate_tfjs = old_gate["tfjs"]  # built before from this very gate: still valid for the other models
        gate_info = web_manifest.gate(gate, tmp / files_g["onnx"], gaps["gate onnx"],
                                      f"{len(images)} MNIST test digits + {len(gate_images) - len(images)} generated non-digits (held-out generators)",
                                      gate_tfjs)
        onnx_bytes = (tmp / files_m["onnx"]).stat().st_size
        _install(tmp, args.out, [files_m[r] for r in runtimes] + [files_g[r] for r in runtimes])
    if "tfjs" not in runtimes:
        shutil.rmtree(args.out / files_m["tfjs"], ignore_errors=True)  # a TF.js copy of an older version of this model
        if gate_info["tfjs"] is None:
            shutil.rmtree(args.out / files_g["tfjs"], ignore_errors=True)
    web_manifest.write(args.out / f"{name}.json", "model", info)
    web_manifest.write(gate_path, "gate", gate_info)
    index = web_manifest.index(args.out, name, args.make_default)
    web_manifest.write(args.out / web_manifest.INDEX_FILE, "index", index)
    default = index["default"]
    if args.out.resolve() == (WEB / "model").resolve():  # the committed page files' sizes and parity: docs/results.json
        from digitlab.report import extractors
        from digitlab.report import results as recorded

        recorded.record_all(extractors.committed(web_manifest.figures(args.out)))
    print(f"{args.out / info['onnx']}: {onnx_bytes / 1024:.0f} kB, max |Keras - ONNX| {gaps['onnx']:.1e} on {len(images)} MNIST test digits; page default: {default}")
    if info["tfjs"]:
        size = sum(f.stat().st_size for f in (args.out / files_m["tfjs"]).iterdir())
        print(f"{args.out / files_m['tfjs']}: {size / 1024:.0f} kB, max |Keras - TF.js| {gaps['tfjs']:.1e} ({runtime_of_tfjs})")
    print(f"{args.out / files_g['onnx']} (digit gate, threshold {gate.threshold:.4f}): max |Keras - ONNX| {gaps['gate onnx']:.1e}"
          + (f", |Keras - TF.js| {gaps['gate tfjs']:.1e}" if "gate tfjs" in gaps else "") + f" on {len(gate_images)} inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
