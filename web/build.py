"""python web/build.py [--model mnist_cnn] [--out web/model] [--runtimes onnx,tfjs] [--make-default] [--dry-run]

Writes the browser page's model files, for both of its runtimes (onnxruntime-web and TensorFlow.js):

    <out>/<name>.onnx           digitlab.serving.export.to_onnx: "image" (N, 28, 28) float32 -> "probabilities" (N, 10)
    <out>/<name>_tfjs/          the same model as a TF.js graph model (model.json + weight shard), made by the
                                official converter (digitlab.serving.export.to_tfjs, in its own environment:
                                `python evaluation/export.py --setup-tfjs` once)
    <out>/<name>.json           what the page needs: class names, preprocessing version, input and output
                                names, each runtime's file and sha256, the "not a digit" rule of the model
                                card (temperature and threshold), the card's test accuracy, the .keras sha256
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

--dry-run: the same exports and parity checks on 50 MNIST test digits, written into a new
temporary folder unless --out is given (never over the committed web/model/): seconds, for tests.

Longer than a thin script because it also refuses files that fail their parity check and writes the
page's model descriptions beside them.
"""

from __future__ import annotations

import hashlib
import json
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
GATE_FILE = "gate.json"


def onnx_outputs(onnx_path: Path, images):
    """onnxruntime's output for (N, 28, 28) inputs: (N, 10) probabilities, or the gate's (N,) P(digit)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": images})[0]


def folder_sha256(folder: Path) -> str:
    """One hash for a TF.js model folder: sha256 over each file's name and sha256, in name order."""
    h = hashlib.sha256()
    for f in sorted(Path(folder).iterdir()):
        if f.is_file():
            h.update(f"{f.name}\0{files.sha256(f).removeprefix('sha256:')}\n".encode())
    return "sha256:" + h.hexdigest()


def parse_runtimes(text: str) -> tuple[str, ...]:
    import argparse

    runtimes = tuple(dict.fromkeys(r.strip() for r in text.split(",") if r.strip()))
    if not runtimes or any(r not in RUNTIMES for r in runtimes) or "onnx" not in runtimes:
        raise argparse.ArgumentTypeError(f"{text!r}: choose onnx or onnx,tfjs (the page's default runtime, ONNX, is always built)")
    return runtimes


def abstain_rule(card: dict) -> dict | None:
    """The model card's "not a digit" rule as the page applies it (web/abstain.js), or None without calibration."""
    cal = (card or {}).get("calibration") or {}
    if not cal.get("temperature"):
        return None
    return {
        "temperature": float(cal["temperature"]),
        "threshold": (cal.get("abstain") or {}).get("threshold"),
        "from": "the model card's calibration (python evaluation/calibrate.py --write-card); digitlab.serving.abstain",
    }


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
    from digitlab.files import atomic_write_bytes
    from digitlab.models import artifacts
    from digitlab.serving import classifiers, export
    from digitlab.serving import gate as gate_module

    runtimes = args.runtimes
    if runtimes is None:
        runtimes = RUNTIMES if export.tfjs_converter() is not None else ("onnx",)
        if "tfjs" not in runtimes:
            print(f"note: TF.js files not built: its converter is not set up (`{export.SETUP_TFJS}` makes it)", file=sys.stderr)
    if "tfjs" in runtimes:
        if export.tfjs_converter() is None:
            cli.fail(f"--runtimes tfjs: the TF.js converter is not set up (no {export.tfjs_venv()}): run `{export.SETUP_TFJS}` once")
        if (why := export.tfjs_missing()) is not None:
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
        card = entry.card or {}
        onnx_bytes = (tmp / files_m["onnx"]).read_bytes()
        info = {
            "name": name,
            "onnx": files_m["onnx"],
            "onnx_sha256": "sha256:" + hashlib.sha256(onnx_bytes).hexdigest(),
            "tfjs": None,
            "keras_sha256": files.sha256(entry.path),
            "classes": [str(d) for d in range(10)],
            "input": {"name": export.INPUT_NAME, "shape": ["batch", 28, 28], "dtype": "float32", "range": [0, 1], "polarity": "light ink on black"},
            "output": {"name": export.OUTPUT_NAME, "shape": ["batch", 10]},
            "preprocess_version": preprocess.PREPROCESS_VERSION,
            "abstain": abstain_rule(card),
            "gate": GATE_FILE,
            "test_accuracy": (card.get("metrics") or {}).get("test_accuracy"),
            "params": card.get("params"),
            "parity_max_abs_dp": gaps["onnx"],
            "parity_digits": len(images),
            "command": "python web/build.py --model " + name,
        }
        if "tfjs" in runtimes:
            info["tfjs"] = {"model": f"{files_m['tfjs']}/model.json", "sha256": folder_sha256(tmp / files_m["tfjs"]),
                            "parity_max_abs_dp": gaps["tfjs"], "checked_with": runtime_of_tfjs}
        gate_path = args.out / GATE_FILE
        old_gate = json.loads(gate_path.read_text()) if gate_path.is_file() else {}
        gate_sha = files.sha256(gate.path)
        gate_info = {
            "name": gname,
            "keras_sha256": gate_sha,
            "threshold": gate.threshold,
            "output": {"name": export.GATE_OUTPUT, "shape": ["batch"], "meaning": "P(the input is a digit); reject below threshold"},
            "preprocess_version": preprocess.PREPROCESS_VERSION,
            "onnx": {"model": files_g["onnx"], "sha256": files.sha256(tmp / files_g["onnx"]), "parity_max_abs_dp": gaps["gate onnx"]},
            "tfjs": None,
            "parity_inputs": f"{len(images)} MNIST test digits + {len(gate_images) - len(images)} generated non-digits (held-out generators)",
            "command": "python web/build.py",
        }
        if "tfjs" in runtimes:
            gate_info["tfjs"] = {"model": f"{files_g['tfjs']}/model.json", "sha256": folder_sha256(tmp / files_g["tfjs"]),
                                 "parity_max_abs_dp": gaps["gate tfjs"]}
        elif old_gate.get("keras_sha256") == gate_sha and old_gate.get("tfjs") and (args.out / files_g["tfjs"]).is_dir():
            gate_info["tfjs"] = old_gate["tfjs"]  # built before from this very gate: still valid for the other models
        _install(tmp, args.out, [files_m[r] for r in runtimes] + [files_g[r] for r in runtimes])
    if "tfjs" not in runtimes:
        shutil.rmtree(args.out / files_m["tfjs"], ignore_errors=True)  # a TF.js copy of an older version of this model
        if gate_info["tfjs"] is None:
            shutil.rmtree(args.out / files_g["tfjs"], ignore_errors=True)
    atomic_write_bytes(args.out / f"{name}.json", (json.dumps(info, indent=2) + "\n").encode())
    atomic_write_bytes(gate_path, (json.dumps(gate_info, indent=2) + "\n").encode())
    index_path = args.out / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    names = [n for n in index.get("models", []) if (args.out / f"{n}.onnx").exists() and n != name] + [name]
    default = index.get("default")
    if args.make_default or default not in names:
        default = name
    index = {"default": default, "models": sorted(names, key=lambda n: n != default)}
    atomic_write_bytes(index_path, (json.dumps(index, indent=2) + "\n").encode())
    print(f"{args.out / info['onnx']}: {len(onnx_bytes) / 1024:.0f} kB, max |Keras - ONNX| {gaps['onnx']:.1e} on {len(images)} MNIST test digits; page default: {default}")
    if info["tfjs"]:
        size = sum(f.stat().st_size for f in (args.out / files_m["tfjs"]).iterdir())
        print(f"{args.out / files_m['tfjs']}: {size / 1024:.0f} kB, max |Keras - TF.js| {gaps['tfjs']:.1e} ({runtime_of_tfjs})")
    print(f"{args.out / files_g['onnx']} (digit gate, threshold {gate.threshold:.4f}): max |Keras - ONNX| {gaps['gate onnx']:.1e}"
          + (f", |Keras - TF.js| {gaps['gate tfjs']:.1e}" if "gate tfjs" in gaps else "") + f" on {len(gate_images)} inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
