"""Export a model to deployable formats, and check each export against the Keras original.

Every graph format (SavedModel, TFLite, ONNX) gets the same interface whatever the
model's own layout (28x28x1, 28x28 or 784) or head (softmax or logits):

    input  "image"          float32 (N, 28, 28) in [0, 1], light ink on black, from digitlab.preprocess
    output "probabilities"  float32 (N, 10)

so a consumer (a browser page, a phone, a server) only has to reproduce the
preprocessing, never the model's quirks.  ``.h5`` is the Keras model itself in the
legacy HDF5 format (for tools that still want it); it keeps the model's own layout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import tensorflow as tf

from digitlab import data, preprocess
from digitlab.data import synthetic
from digitlab.files import atomic_write_bytes, atomic_write_json, sha256, umask_mode
from digitlab.models import adapter, artifacts
from digitlab.paths import ROOT
from digitlab.report import tables
from digitlab.serving import classifiers

EXPORTS_DIR = ROOT / "exports"  # git-ignored: every file in it is rebuilt from models/ by evaluation/export.py
FORMATS = ("h5", "savedmodel", "tflite", "tflite-dynamic", "tflite-int8", "onnx")
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
ONNX_OPSET = 17  # onnxruntime 1.31 and onnxruntime-web 1.30 both run it


def _source(model_or_entry) -> tuple[object, str, str, str]:
    """(keras model, layout, outputs, name) from a ModelEntry, a keras.Model, or a model name / file."""
    if isinstance(model_or_entry, _Resolved):
        return model_or_entry.model, model_or_entry.layout, model_or_entry.outputs, model_or_entry.name
    if isinstance(model_or_entry, (str, Path)):
        model_or_entry = artifacts.resolve(str(model_or_entry))
    if isinstance(model_or_entry, artifacts.ModelEntry):
        e = model_or_entry
        if not e.usable:
            raise artifacts.ModelError(f"model {e.name} is unusable: {e.reason}")
        model = e.model if e.model is not None else artifacts.load_model(e.path)
        return model, e.layout, e.outputs, e.name
    layout, outputs = adapter.check_classifier(model_or_entry)  # raises ModelError for a non-classifier
    return model_or_entry, layout, outputs, getattr(model_or_entry, "name", "model")


def serving_function(model, layout: str, outputs: str):
    """The one exported interface as a traced function: image (N, 28, 28) -> {"probabilities": (N, 10)}."""
    shape = adapter.batch_shape(layout)
    softmax = outputs == "logits"

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name=INPUT_NAME)])
    def serve(image):
        y = model(tf.reshape(image, shape), training=False)
        y = tf.nn.softmax(y) if softmax else y
        return {OUTPUT_NAME: tf.identity(y, name=OUTPUT_NAME)}

    return serve


def _metadata(name: str) -> dict[str, str]:
    """What a consumer needs to know, stored inside the exported file where the format allows."""
    return {
        "digitlab.model": name,
        "digitlab.preprocess_version": preprocess.PREPROCESS_VERSION,
        "digitlab.input": f"{INPUT_NAME}: float32 (N, 28, 28) in [0, 1], light ink on black, centred as in MNIST (digitlab.preprocess)",
        "digitlab.output": f"{OUTPUT_NAME}: float32 (N, 10), softmax over digits 0-9",
    }


def to_onnx(model_or_entry, path) -> Path:
    """Write an ONNX file (opset ONNX_OPSET) with input "image" (N, 28, 28) and output "probabilities" (N, 10).

    Goes through tf2onnx ``from_function`` on the serving function: ``from_keras`` fails on
    Sequential models, and the traced function also hides the model's layout and head.
    The write is atomic.
    """
    import tf2onnx

    model, layout, outputs, name = _source(model_or_entry)
    serve = serving_function(model, layout, outputs)
    proto, _ = tf2onnx.convert.from_function(serve, input_signature=serve.input_signature, opset=ONNX_OPSET)
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"  # tf2onnx names it "unk__NN"
    for key, value in _metadata(name).items():
        proto.metadata_props.add(key=key, value=value)
    path = Path(path)
    atomic_write_bytes(path, proto.SerializeToString())
    return path


# ----------------------------------------------------------------------------- the other formats


def file_name(name: str, fmt: str) -> str:
    """Where each format goes inside an export folder (a SavedModel is a folder)."""
    names = {
        "h5": f"{name}.h5",
        "savedmodel": f"{name}_savedmodel",
        "tflite": f"{name}.tflite",
        "tflite-dynamic": f"{name}_dynamic.tflite",
        "tflite-int8": f"{name}_int8.tflite",
        "onnx": f"{name}.onnx",
    }
    if fmt not in names:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return names[fmt]


def to_h5(model_or_entry, path) -> Path:
    """The Keras model in the legacy HDF5 format (its own layout and head), written atomically.
    Reading it back goes through artifacts.load_model, with Keras safe mode on."""
    model, _, _, _ = _source(model_or_entry)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp.h5")  # Keras wants the suffix
    os.close(fd)
    try:
        model.save(tmp)
        os.chmod(tmp, umask_mode())  # mkstemp makes 0o600; others may serve the file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _replace_dir(tmp: Path, path: Path) -> None:
    """Put the finished folder ``tmp`` at ``path``; an old export there is removed only afterwards."""
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def to_savedmodel(model_or_entry, path) -> Path:
    """A TensorFlow SavedModel folder with signature ``serving_default``: image (N, 28, 28) -> probabilities.

    Built with keras.export.ExportArchive, which tracks the Keras 3 variables explicitly; a plain
    tf.Module holding the model saves fine but the TFLite converter then leaves the weights out
    (a 12 kB file whose READ_VARIABLE ops fail at run time).
    """
    import keras

    model, layout, outputs, _ = _source(model_or_entry)
    serve = serving_function(model, layout, outputs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", serve.python_function, input_signature=serve.input_signature)
        shutil.rmtree(tmp)  # write_out wants to create the folder itself
        archive.write_out(str(tmp), verbose=False)
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def tflite_from_savedmodel(saved_model: Path, path, quantize: str = "none", representative: np.ndarray | None = None) -> Path:
    """Convert a SavedModel from ``to_savedmodel`` to TFLite, written atomically.

    quantize: "none" (float32), "dynamic" (int8 weights, float activations: ~3x smaller, no data
    needed) or "int8" (full integer: int8 weights, activations, input and output, calibrated on
    ``representative``, (N, 28, 28) float32 inputs from the training split).  The int8 input's scale
    is 1/255 with zero point -128, so an 8-bit grey pixel maps onto it exactly.
    """
    if quantize not in ("none", "dynamic", "int8"):
        raise ValueError(f"quantize must be 'none', 'dynamic' or 'int8', not {quantize!r}")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if quantize in ("dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError("int8 quantisation needs representative inputs (training digits through digitlab.preprocess)")
        rep = np.asarray(representative, np.float32).reshape(-1, 28, 28)
        converter.representative_dataset = lambda: ([x[None]] for x in rep)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    path = Path(path)
    atomic_write_bytes(path, converter.convert())
    return path


def to_tflite(model_or_entry, path, quantize: str = "none", representative: np.ndarray | None = None) -> Path:
    """TFLite with the exported interface (see ``tflite_from_savedmodel`` for ``quantize``)."""
    with tempfile.TemporaryDirectory() as d:
        saved = to_savedmodel(model_or_entry, Path(d) / "saved_model")
        return tflite_from_savedmodel(saved, path, quantize, representative)


def representative_images(n: int = 500, seed: int = 0, mnist_path=None) -> np.ndarray:
    """(n, 28, 28) float32: training-split digits (never test) through digitlab.preprocess, for int8 calibration."""
    return data.prepared("train", n, seed, path=mnist_path)[0]


def export(model_or_entry, formats=FORMATS, out_dir=None, representative: np.ndarray | None = None) -> dict[str, Path | Exception]:
    """Write every format in ``formats`` into ``out_dir`` (default exports/<model>/).

    Returns {format: path written, or the exception that stopped it}; one failing format does not
    stop the others.  The TFLite variants are converted from the SavedModel.
    """
    model, layout, outputs, name = _source(model_or_entry)
    src = (model, layout, outputs, name)
    out_dir = Path(out_dir) if out_dir is not None else EXPORTS_DIR / name
    out_dir.mkdir(parents=True, exist_ok=True)
    done: dict[str, Path | Exception] = {}
    with tempfile.TemporaryDirectory() as scratch:
        saved = None

        def saved_model() -> Path:
            nonlocal saved
            if saved is None:
                target = out_dir / file_name(name, "savedmodel") if "savedmodel" in formats else Path(scratch) / "saved_model"
                saved = to_savedmodel(_Resolved(*src), target)
            return saved

        for fmt in formats:
            target = out_dir / file_name(name, fmt)
            try:
                if fmt == "h5":
                    done[fmt] = to_h5(_Resolved(*src), target)
                elif fmt == "savedmodel":
                    done[fmt] = saved_model()
                elif fmt.startswith("tflite"):
                    quantize = {"tflite": "none", "tflite-dynamic": "dynamic", "tflite-int8": "int8"}[fmt]
                    done[fmt] = tflite_from_savedmodel(saved_model(), target, quantize, representative)
                elif fmt == "onnx":
                    done[fmt] = to_onnx(_Resolved(*src), target)
                else:
                    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
            except Exception as e:  # reported as that format's failure; the others go on
                done[fmt] = e
    return done


@dataclass
class _Resolved:
    """A model already resolved by ``_source``, so each writer does not check it again."""

    model: object
    layout: str
    outputs: str
    name: str


# ----------------------------------------------------------------------------- parity


DRAWN_WIDTHS = (0.04, 0.07, 0.11, 0.2, 0.3)  # brush width / digit height, as evaluation/drawn_digits.py


@dataclass
class Probe:
    """The inputs every export is compared on: x (N, 28, 28) float32 model inputs, y (N,) labels,
    group (N,) "mnist" (test digits) or "drawn" (test digits redrawn like canvas strokes)."""

    x: np.ndarray
    y: np.ndarray
    group: np.ndarray

    def describe(self) -> str:
        n = {g: int((self.group == g).sum()) for g in ("mnist", "drawn")}
        return (f"{n['mnist']} MNIST test digits + {n['drawn']} other test digits redrawn as canvas strokes "
                f"(synthetic.restroke, brush {DRAWN_WIDTHS[0]}-{DRAWN_WIDTHS[-1]} of the digit height), all through digitlab.preprocess")


def probe_set(n_mnist: int = 1000, n_drawn: int = 500, seed: int = 0, mnist_path=None) -> Probe:
    """MNIST test digits, and other test digits drawn on a 280x280 canvas at random size, place and
    brush width, all through digitlab.preprocess exactly as the CLI and the app see them."""
    mnist = data.load_mnist(mnist_path)
    idx = np.random.default_rng(seed).choice(len(mnist.x_test), n_mnist + n_drawn, replace=False)
    plain, drawn = idx[:n_mnist], idx[n_mnist:]
    x_drawn = np.zeros((n_drawn, 28, 28), np.float32)
    for k, i in enumerate(drawn):
        picture = synthetic.restroke(mnist.x_test[i], DRAWN_WIDTHS[k % len(DRAWN_WIDTHS)], seed=seed * 1_000_003 + k)
        prepared = preprocess.prepare(picture)
        if prepared.image is not None:
            x_drawn[k] = prepared.image
    x = np.concatenate([data.prepared("test", indices=plain, raw=mnist)[0], x_drawn])
    y = mnist.y_test[idx].astype(np.int64)
    return Probe(x, y, np.array(["mnist"] * n_mnist + ["drawn"] * n_drawn))


@dataclass(frozen=True)
class Tolerance:
    """What an export may differ from the Keras model on the probe set."""

    min_agreement: float  # share of probe images with the same argmax as Keras
    max_abs_dp: float | None  # largest |probability difference| on any digit of any probe image (None: reported only)
    max_accuracy_drop: float  # probe accuracy below Keras's (fraction, per group)


# Float formats run the same float32 maths in another order (oneDNN, XNNPACK, onnxruntime kernels):
# differences are ~1e-6, so 1e-4 is tiny and any disagreement is a real bug.  Quantised formats
# (dynamic-range: int8 weights; int8: weights and activations, outputs in steps of 1/256) are judged
# on what a user sees, the answer and the accuracy: an unsure image's probabilities can legitimately
# move a lot (0.55 on a weak test model whose answers all stayed the same), so max |dp| is reported only.
FLOAT = Tolerance(min_agreement=1.0, max_abs_dp=1e-4, max_accuracy_drop=0.0)
TOLERANCES = {
    "keras": FLOAT,
    "h5": FLOAT,
    "savedmodel": FLOAT,
    "tflite": FLOAT,
    "onnx": FLOAT,
    "tflite-dynamic": Tolerance(min_agreement=0.995, max_abs_dp=None, max_accuracy_drop=0.003),
    "tflite-int8": Tolerance(min_agreement=0.99, max_abs_dp=None, max_accuracy_drop=0.005),
}


def load_export(path) -> classifiers.Classifier | classifiers.ExportedClassifier:
    """An export loaded exactly as ``predict.py --model PATH`` loads it."""
    return classifiers.load_classifier(str(path))


def size_bytes(path: Path) -> int:
    path = Path(path)
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def compare(reference: np.ndarray, probs: np.ndarray, probe: Probe, fmt: str) -> dict:
    """Parity figures of one export's probabilities against Keras's, and what breaks its tolerance."""
    tol = TOLERANCES[fmt]
    row = {
        "max_abs_dp": float(np.abs(probs - reference).max()),
        "agreement": float((probs.argmax(1) == reference.argmax(1)).mean()),
        "disagreeing": int((probs.argmax(1) != reference.argmax(1)).sum()),
    }
    failures = []
    if row["agreement"] < tol.min_agreement:
        failures.append(f"argmax agreement {row['agreement']:.2%} < {tol.min_agreement:.2%} ({row['disagreeing']} images differ)")
    if tol.max_abs_dp is not None and row["max_abs_dp"] > tol.max_abs_dp:
        failures.append(f"max |dp| {row['max_abs_dp']:.3g} > {tol.max_abs_dp:.3g}")
    for g in ("mnist", "drawn"):
        m = probe.group == g
        if not m.any():
            continue
        acc, ref_acc = float((probs[m].argmax(1) == probe.y[m]).mean()), float((reference[m].argmax(1) == probe.y[m]).mean())
        row[f"accuracy_{g}"] = acc
        if ref_acc - acc > tol.max_accuracy_drop + 1e-12:
            failures.append(f"{g} accuracy {acc:.2%} is {ref_acc - acc:.2%} below Keras's {ref_acc:.2%}")
    row["failures"] = failures
    row["ok"] = not failures
    return row


def check(source, files: dict[str, Path | Exception], probe: Probe, latency_repeats: int = 200) -> dict:
    """Run the probe set through the Keras model and through each exported file (loaded the way the
    predict CLI loads it); returns the report: one row per format plus the Keras reference row.

    ``files`` maps format -> path, or the exception raised while exporting it (a failed row)."""
    model, layout, outputs, name = _source(source)
    src_path = getattr(source, "path", None)
    keras_clf = classifiers.Classifier(artifacts.ModelEntry(name, Path(src_path or name), None, True, None, layout, outputs, model))
    reference = keras_clf.predict_proba(probe.x)
    rows = [dict(
        format="keras", file=Path(src_path).name if src_path else name, bytes=size_bytes(src_path) if src_path else None,
        load_s=None, latency_ms=classifiers.forward_ms(keras_clf, probe.x, latency_repeats), **compare(reference, reference, probe, "keras"),
    )]
    for fmt, path in files.items():
        row = {"format": fmt, "file": Path(path).name if isinstance(path, Path) else None}
        try:
            if isinstance(path, Exception):
                raise path
            if not Path(path).exists():
                raise artifacts.ModelError(f"{path}: missing (export it first)")
            t0 = time.perf_counter()
            clf = load_export(path)
            row["load_s"] = time.perf_counter() - t0
            probs = clf.predict_proba(probe.x)
            row.update(bytes=size_bytes(path), latency_ms=classifiers.forward_ms(clf, probe.x, latency_repeats))
            row.update(compare(reference, probs, probe, fmt))
        except Exception as e:  # a broken or missing export is that format's failure, loudly, not a crash
            row.update(ok=False, failures=[f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]])
        rows.append(row)
    return {
        "model": name,
        "source": str(src_path) if src_path else None,
        "source_sha256": sha256(src_path, 16) if src_path else None,
        "probe": probe.describe(),
        "n_probe": len(probe.x),
        "tolerances": {k: asdict(v) for k, v in TOLERANCES.items()},
        "interface": {"input": INPUT_NAME + " float32 (N, 28, 28)", "output": OUTPUT_NAME + " float32 (N, 10)"},
        "rows": rows,
        "ok": all(r["ok"] for r in rows),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("tensorflow-cpu", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def failures(report: dict) -> list[str]:
    """One loud line per format outside its tolerance."""
    return [f"{report['model']} {r['format']}: {'; '.join(r['failures'])}" for r in report["rows"] if not r["ok"]]


def write_report(report: dict, files: dict[str, Path | Exception], out_dir: Path, card: dict | None, command: str) -> None:
    """parity.json, parity.md and ``<model>.json``: the source card plus an "export" section listing
    the files (the predict CLI reads it to find the card, e.g. the abstain rule, of an export)."""
    out_dir = Path(out_dir)
    report = dict(report, command=command)
    atomic_write_json(out_dir / "parity.json", report)
    md = f"# Export parity: {report['model']}\n\n`{command}`\n\nProbe: {report['probe']}.\n\n{tables.export_parity(report)}\n"
    atomic_write_bytes(out_dir / "parity.md", md.encode())
    written = {fmt: p.name for fmt, p in files.items() if isinstance(p, Path) and p.exists()}
    card = dict(card or {"name": report["model"]})
    card["export"] = {
        "files": written,
        "source_sha256": report["source_sha256"],
        "interface": report["interface"],
        "parity_ok": {r["format"]: r["ok"] for r in report["rows"] if r["format"] != "keras"},
        "command": command,
        "date": report["date"],
    }
    atomic_write_json(out_dir / f"{report['model']}.json", card)
