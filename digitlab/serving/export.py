"""Export a model to deployable formats (whether each export answers like the Keras original is
``digitlab.serving.parity``).

Every graph format (SavedModel, TFLite, ONNX, TF.js) gets the same interface whatever the
model's own layout (28x28x1, 28x28 or 784) or head (softmax or logits):

    input  "image"          float32 (N, 28, 28) in [0, 1], light ink on black, from digitlab.preprocess
    output "probabilities"  float32 (N, 10)

so a consumer (a browser page, a phone, a server) only has to reproduce the
preprocessing, never the model's quirks.  ``.h5`` is the Keras model itself in the
legacy HDF5 format (for tools that still want it); it keeps the model's own layout.

TF.js (``tfjs``, a ``tfjs_graph_model`` folder: model.json + weight shards) is made by the official
converter (PyPI ``tensorflowjs``), whose own dependencies (tensorflow 2.19, jax, flax, ...) would
replace this project's stack: it runs in its own virtual environment (``digitlab.serving.tfjs_env``, made by
``python evaluation/export.py --setup-tfjs``), on the SavedModel written here, and is
checked by running the converted model in Node with @tensorflow/tfjs (``tfjs_run``, web/tfjs_cli.mjs).
The digit gate (``digitlab.serving.gate``) is exported the same way for the in-browser page
(``gate_to_onnx``, ``gate_to_tfjs``): "image" (N, 28, 28) -> "p_digit" (N,).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from digitlab import data, preprocess
from digitlab.files import atomic_write_bytes, umask_mode
from digitlab.models import adapter, artifacts
from digitlab.paths import ROOT
from digitlab.serving.tfjs_env import (
    TFJS_CLI,
    TFJS_TIMEOUT_S,
    WEB,
    ExportError,
    last_line,
    required_converter,
    tfjs_converter,
    tfjs_missing,
)

EXPORTS_DIR = ROOT / "exports"  # git-ignored: every file in it is rebuilt from models/ by evaluation/export.py
FORMATS = ("h5", "savedmodel", "tflite", "tflite-dynamic", "tflite-int8", "onnx", "tfjs")
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
GATE_OUTPUT = "p_digit"  # the digit gate's exported output: float32 (N,), P(the input is a digit)
ONNX_OPSET = 17  # onnxruntime 1.31 and onnxruntime-web 1.30 both run it


def source(model_or_entry) -> tuple[object, str, str, str]:
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


INPUT_DESCRIPTION = f"{INPUT_NAME}: float32 (N, 28, 28) in [0, 1], light ink on black, centred as in MNIST (digitlab.preprocess)"


def _metadata(name: str) -> dict[str, str]:
    """What a consumer needs to know, stored inside the exported file where the format allows."""
    return {
        "digitlab.model": name,
        "digitlab.preprocess_version": preprocess.PREPROCESS_VERSION,
        "digitlab.input": INPUT_DESCRIPTION,
        "digitlab.output": f"{OUTPUT_NAME}: float32 (N, 10), softmax over digits 0-9",
    }


def to_onnx(model_or_entry, path) -> Path:
    """Write an ONNX file (opset ONNX_OPSET) with input "image" (N, 28, 28) and output "probabilities" (N, 10).

    Goes through tf2onnx ``from_function`` on the serving function: ``from_keras`` fails on
    Sequential models, and the traced function also hides the model's layout and head.
    The write is atomic.
    """
    model, layout, outputs, name = source(model_or_entry)
    return _write_onnx(serving_function(model, layout, outputs), path, _metadata(name))


def _write_onnx(serve, path, metadata: dict[str, str]) -> Path:
    """A traced serving function -> ONNX file (opset ONNX_OPSET, batch axis named "batch", ``metadata``
    in its metadata_props), written atomically."""
    import tf2onnx

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=serve.input_signature, opset=ONNX_OPSET)
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"  # tf2onnx names it "unk__NN"
    for key, value in metadata.items():
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
        "tfjs": f"{name}_tfjs",
    }
    if fmt not in names:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return names[fmt]


def to_h5(model_or_entry, path) -> Path:
    """The Keras model in the legacy HDF5 format (its own layout and head), written atomically.
    Reading it back goes through artifacts.load_model, with Keras safe mode on."""
    model, _, _, _ = source(model_or_entry)
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
    model, layout, outputs, _ = source(model_or_entry)
    return _write_savedmodel(model, serving_function(model, layout, outputs), path)


def _write_savedmodel(model, serve, path) -> Path:
    """``model``'s variables and the traced ``serve`` as signature ``serving_default``, into the folder
    ``path`` (replaced only once the new one is complete)."""
    import keras

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
    return data.load(mnist_path).inputs("train", n, seed)[0]


# ----------------------------------------------------------------------------- TensorFlow.js


def default_formats() -> tuple[str, ...]:
    """What ``evaluation/export.py`` writes when no format is named: FORMATS, less "tfjs" while its
    converter is not set up (``setup_tfjs``)."""
    return FORMATS if tfjs_converter() is not None else tuple(f for f in FORMATS if f != "tfjs")


def tfjs_from_savedmodel(saved_model: Path, path, metadata: dict[str, str], output: str = OUTPUT_NAME, converter: Path | None = None) -> Path:
    """Convert a SavedModel from ``to_savedmodel`` (or ``gate_to_savedmodel``) to a ``tfjs_graph_model``
    folder at ``path`` (model.json + weight shards; replaced only once the new one is complete).

    The official converter runs in its own environment (``tfjs_converter``); ``metadata`` goes into
    model.json's userDefinedMetadata under "digitlab", and the outputs keep their signature names
    (``output``), so ``model.execute(x, "probabilities")`` works in TF.js.  Raises ExportError when the
    converter is not set up or fails, or when what it wrote is not the expected interface."""
    converter = Path(converter) if converter else required_converter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        meta = tmp / "metadata.json"
        meta.write_text(json.dumps(metadata))
        out = tmp / "model"
        cmd = [str(converter), "--input_format=tf_saved_model", "--output_format=tfjs_graph_model",
               "--signature_name=serving_default", "--saved_model_tags=serve", "--use_structured_outputs_names=true",
               f"--metadata=digitlab:{meta}", str(saved_model), str(out)]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        env.pop("PYTHONPATH", None)  # the converter's environment, not this one's packages
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TFJS_TIMEOUT_S, env=env)
        if proc.returncode != 0:
            raise ExportError(f"tensorflowjs_converter failed on {saved_model}: {last_line(proc)}")
        check_tfjs_folder(out, output)
        _replace_dir(out, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def check_tfjs_folder(path, output: str = OUTPUT_NAME) -> dict:
    """model.json of a ``tfjs_graph_model`` folder, checked: a graph model whose signature takes
    "image" (N, 28, 28) and gives ``output``, with every weight shard it names present and of the
    size its weights need.  Raises ExportError saying what is wrong."""
    path = Path(path)
    model_json = path / "model.json"
    if not model_json.is_file():
        raise ExportError(f"{path}: not a TF.js model folder (no model.json)")
    try:
        model = json.loads(model_json.read_text())
        signature = model["signature"]
        shape = [int(d["size"]) for d in signature["inputs"][INPUT_NAME]["tensorShape"]["dim"]]
        outputs = set(signature["outputs"])
        manifest = model["weightsManifest"]
    except (ValueError, KeyError, TypeError) as e:
        raise ExportError(f"{model_json}: not a digitlab TF.js graph model ({type(e).__name__}: {e})") from None
    if model.get("format") != "graph-model":
        raise ExportError(f"{model_json}: format {model.get('format')!r}, not 'graph-model'")
    if shape != [-1, 28, 28] or output not in outputs:
        raise ExportError(f"{model_json}: signature {INPUT_NAME} {shape} -> {sorted(outputs)}, not {INPUT_NAME} [-1, 28, 28] -> {output}")
    sizes = {"float32": 4, "int32": 4, "bool": 1}
    need = sum(int(np.prod(w["shape"], dtype=np.int64)) * sizes.get(w["dtype"], 4) for group in manifest for w in group["weights"])
    have = 0
    for group in manifest:
        for shard in group["paths"]:
            f = path / shard
            if Path(shard).name != shard or not f.is_file():
                raise ExportError(f"{model_json}: weight shard {shard!r} is missing")
            have += f.stat().st_size
    if have != need:
        raise ExportError(f"{model_json}: the weight shards hold {have} bytes, its weights need {need}")
    return model


@dataclass
class TfjsRun:
    """What ``tfjs_run`` measured in Node: outputs[name] (N, k) float32 (the gate's (N,)), per model the
    load time (s) and median single-image latency (ms, None without timing runs), the judgements of
    web/abstain.js when asked, and which TF.js ran (version, backend, Node)."""

    outputs: dict[str, np.ndarray]
    load_s: dict[str, float]
    latency_ms: dict[str, float | None]
    judgements: list[dict] | None
    runtime: str


def tfjs_run(models: dict[str, Path], images: np.ndarray, backend: str = "wasm", latency_runs: int = 0,
             judge: dict | None = None) -> TfjsRun:
    """Run TF.js graph model folders in Node (web/tfjs_cli.mjs, @tensorflow/tfjs as pinned in
    web/package-lock.json, the pure-JavaScript "cpu" or the WebAssembly "wasm" backend: no native
    addon) on (N, 28, 28) float32 inputs, batched; ``latency_runs`` single-image calls each, after a
    warm-up, give the median latency.  ``judge`` ({"classifier": name, "gate": name or None, "rule":
    the page's abstain rule, "gate_threshold": float}) also runs web/abstain.js on every input, as the
    page does.  Raises ExportError when Node or the package is missing, or when a model fails."""
    if backend not in ("wasm", "cpu"):
        raise ValueError(f"backend must be 'wasm' or 'cpu', not {backend!r}")
    if (why := tfjs_missing()) is not None:
        raise ExportError(f"TF.js in Node: {why}")
    x = np.ascontiguousarray(np.asarray(images, np.float32).reshape(-1, 28, 28))
    with tempfile.TemporaryDirectory(prefix="digitlab-tfjs-") as d:
        folder = Path(d)
        x.astype("<f4").tofile(folder / "images.f32")
        job = {"models": {}, "images": "images.f32", "n": len(x), "backend": backend, "latency_runs": int(latency_runs), "judge": judge}
        for name, model_dir in models.items():
            model_dir = Path(model_dir)
            check_tfjs_folder(model_dir, _signature_output(model_dir))
            job["models"][name] = str(model_dir.resolve())
        (folder / "job.json").write_text(json.dumps(job))
        proc = subprocess.run(["node", str(TFJS_CLI), str(folder)], capture_output=True, text=True, timeout=TFJS_TIMEOUT_S, cwd=WEB)
        if proc.returncode != 0:
            raise ExportError(f"TF.js in Node failed: {last_line(proc)}")
        result = json.loads((folder / "result.json").read_text())
        outputs = {}
        for name, r in result["models"].items():
            outputs[name] = np.fromfile(folder / r["file"], "<f4").reshape(r["shape"])
    return TfjsRun(outputs, {n: r["load_ms"] / 1000 for n, r in result["models"].items()},
                   {n: r["latency_ms"] for n, r in result["models"].items()}, result.get("judgements"),
                   f"@tensorflow/tfjs {result['tfjs']}, {result['backend']} backend, Node {result['node']}")


def _signature_output(model_dir: Path) -> str:
    """The output a folder's signature names: "probabilities" for a classifier, "p_digit" for the gate."""
    try:
        outputs = json.loads((Path(model_dir) / "model.json").read_text())["signature"]["outputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return OUTPUT_NAME  # check_tfjs_folder says what is wrong
    return GATE_OUTPUT if GATE_OUTPUT in outputs else OUTPUT_NAME


def to_tfjs(model_or_entry, path) -> Path:
    """A ``tfjs_graph_model`` folder with the exported interface (via a temporary SavedModel)."""
    converter = required_converter()  # before any work
    model, layout, outputs, name = source(model_or_entry)
    with tempfile.TemporaryDirectory() as d:
        saved = to_savedmodel(_Resolved(model, layout, outputs, name), Path(d) / "saved_model")
        return tfjs_from_savedmodel(saved, path, _metadata(name), converter=converter)


# ----------------------------------------------------------------------------- the digit gate


def gate_serving_function(model):
    """The gate's exported interface as a traced function: image (N, 28, 28) -> {"p_digit": (N,)}."""

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name=INPUT_NAME)])
    def serve(image):
        return {GATE_OUTPUT: tf.identity(model(image[..., None], training=False)[:, 0], name=GATE_OUTPUT)}

    return serve


def _gate_metadata(gate) -> dict[str, str]:
    return {
        "digitlab.model": gate.path.stem,
        "digitlab.kind": "digit gate",
        "digitlab.preprocess_version": preprocess.PREPROCESS_VERSION,
        "digitlab.input": INPUT_DESCRIPTION,
        "digitlab.output": f"{GATE_OUTPUT}: float32 (N,), P(the input is a digit); reject below threshold {gate.threshold!r} (its card)",
    }


def gate_to_onnx(gate, path) -> Path:
    """The digit gate (a ``serving.gate.Gate``) as ONNX: "image" (N, 28, 28) -> "p_digit" (N,)."""
    return _write_onnx(gate_serving_function(gate.model), path, _gate_metadata(gate))


# ----------------------------------------------------------------------------- the number reader


def reader_to_onnx(reader, path) -> Path:
    """The number reader (a ``serving.reader.Reader`` on Keras) as ONNX: "line" (N, 28, 224) -> "logits" (N, 56, 11)."""
    from digitlab.data.number_lines import LINE_H, LINE_W
    from digitlab.serving.reader import FRAMES, INPUT_NAME, OUTPUT_NAME

    model = reader.model

    @tf.function(input_signature=[tf.TensorSpec([None, LINE_H, LINE_W], tf.float32, name=INPUT_NAME)])
    def serve(line):
        return {OUTPUT_NAME: tf.identity(model(line[..., None], training=False), name=OUTPUT_NAME)}

    return _write_onnx(serve, path, {
        "digitlab.model": reader.path.stem,
        "digitlab.kind": "number reader",
        "digitlab.preprocess_version": preprocess.PREPROCESS_VERSION,
        "digitlab.input": f"{INPUT_NAME}: float32 (N, {LINE_H}, {LINE_W}) in [0, 1], light ink on black: a line of digits (digitlab.data.number_lines.to_line)",
        "digitlab.output": f"{OUTPUT_NAME}: float32 (N, {FRAMES}, 11) CTC logits per frame (blank, then digits 0-9); its reading wins over the "
                           f"segmenter's when log P(its) - log P(segmenter's) >= {reader.margin!r} (the card's margin)",
    })


def gate_to_tfjs(gate, path) -> Path:
    """The digit gate as a ``tfjs_graph_model`` folder: "image" (N, 28, 28) -> "p_digit" (N,)."""
    converter = required_converter()
    with tempfile.TemporaryDirectory() as d:
        saved = _write_savedmodel(gate.model, gate_serving_function(gate.model), Path(d) / "saved_model")
        return tfjs_from_savedmodel(saved, path, _gate_metadata(gate), output=GATE_OUTPUT, converter=converter)


def export(model_or_entry, formats=FORMATS, out_dir=None, representative: np.ndarray | None = None) -> dict[str, Path | Exception]:
    """Write every format in ``formats`` into ``out_dir`` (default exports/<model>/).

    Returns {format: path written, or the exception that stopped it}; one failing format does not
    stop the others.  The TFLite variants and TF.js are converted from the SavedModel.
    """
    model, layout, outputs, name = source(model_or_entry)
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
                elif fmt == "tfjs":
                    done[fmt] = tfjs_from_savedmodel(saved_model(), target, _metadata(name))
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
