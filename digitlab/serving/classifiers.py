"""Pictures -> ``Prediction``s: one classifier class over two backends, one decision, one resolver.

    Classifier(entry, backend)   a usable model behind "keras" (a traced ``tf.function``; ``.model`` for the
                                 pages that need gradients) or "onnx" (ONNX Runtime on its serving file, no
                                 TensorFlow: Home, Collect, the predict CLI); ``serving.backends`` runs both
    ExportedClassifier(path)     an exported .onnx / .tflite / SavedModel behind the same interface
    predictions(...)             probabilities (+ inputs, gate) -> Predictions: the abstain rule and the
                                 calibration, the only place a label, a confidence and a refusal are made
    load_classifier(name)        a name in models/, a file, an export, or (None) the best model by its card
    load_classifiers(names)      each of those names, or (None) every usable model: what a benchmark measures
    files_measured(classifiers)  name -> the file and its sha256, as a report records what it measured

Every classifier hides how a model wants its pixels (28x28x1, 28x28 or 784) and whether it ends in softmax:
``predict_proba`` takes (N, 28, 28) float32 in [0, 1] and returns (N, 10) probabilities.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab import memory, preprocess
from digitlab.models import adapter, archive, artifacts, cards
from digitlab.paths import MODELS_DIR
from digitlab.serving import abstain, backends
from digitlab.serving import writing as writing_

CLOSE = 0.5  # "7 or 2?": the runner-up holds at least this fraction of the top digit's probability


@dataclass
class Prediction:
    """What the app, the CLI and every page show for one picture: computed once, here, and only rendered.

    label        the model's best guess (the most probable digit); None only when the picture has no ink
    confidence   its calibrated probability (0 without ink)
    probabilities (10,) float32, calibrated (all zero without ink)
    abstain      True when the abstain rule says "not sure this is a digit" (and without ink)
    reason       why: "no ink", the refusal's cause, or the confidence behind the answer
    raw_probabilities (10,) float32 as the model gives them, before the writing and the calibration
    writing      how the writer writes 1 and 7 (``serving.writing``), which the probabilities were read with

    One scale everywhere: calibrated means softmax(logits / T) with the temperature T fitted on
    validation digits and stored in the model card (``serving.abstain.calibrated``), so that of the
    answers given with 90% confidence about 90% are right.  A model whose card has no calibration
    keeps its own probabilities.  The abstain rule's threshold is on the same scale.
    """

    label: int | None
    confidence: float
    probabilities: np.ndarray
    abstain: bool
    reason: str
    prepared: preprocess.Prepared | None = None
    raw_probabilities: np.ndarray | None = None
    writing: str = writing_.DEFAULT

    @property
    def by_writing(self) -> bool:
        """The writing setting changed the answer: the model alone reads another digit (a continental 1 it reads as 7)."""
        return (self.writing != writing_.DEFAULT and not self.no_ink and self.raw_probabilities is not None
                and int(np.argmax(self.raw_probabilities)) != self.label)

    @property
    def no_ink(self) -> bool:
        return self.label is None

    @property
    def refused(self) -> bool:
        """Inked, but the abstain rule says it is not sure this is a digit."""
        return self.abstain and self.label is not None

    @property
    def runner_up(self) -> tuple[int, float] | None:
        """The second most probable digit and its calibrated probability (None without ink)."""
        if self.no_ink:
            return None
        second = int(np.argsort(self.probabilities)[-2])
        return second, float(self.probabilities[second])

    @property
    def close(self) -> bool:
        """The model hesitates between two digits: the runner-up has at least half the top one's probability."""
        return self.runner_up is not None and self.runner_up[1] >= CLOSE * self.confidence

    @property
    def message(self) -> str:
        """The reason as one sentence: "not sure this is a digit: <cause>" for a refusal."""
        return abstain.Judgement(self.label, self.abstain, self.reason).message


def predictions(raw: np.ndarray, card: dict | None, images: np.ndarray | None = None, gate=None,
                prepared: list[preprocess.Prepared] | None = None, writing: str = writing_.DEFAULT) -> list[Prediction]:
    """(N, 10) probabilities as a model gives them (all zero: no ink) -> N Predictions, by the abstain
    rule of ``card`` (``serving.abstain``) and, when the (N, 28, 28) ``images`` are given, the digit
    ``gate`` (a ``serving.gate.Gate``; None: no gate, and the reason says it is unavailable).  ``prepared``: the
    pictures the rows came from, whose ``refusal`` (a face) refuses a row before the model and the gate count.
    ``writing``: how the writer writes 1 and 7 (``serving.writing``), applied to the model's probabilities before
    the calibration and the abstain rule."""
    raw = np.asarray(raw, np.float32).reshape(-1, 10)
    read = writing_.read_as(raw, writing)
    refusals = None if prepared is None else [p.refusal for p in prepared]
    try:
        verdicts = abstain.decide(read, card, images, gate, refusals)
    except artifacts.ModelError as e:  # the gate's file answered what no gate answers: these pictures are read without it
        if gate is None:
            raise
        warnings.warn(f"digit gate unavailable for these pictures, only the confidence threshold applies: {e}", stacklevel=2)
        verdicts = abstain.decide(read, card, images, None, refusals)
    inked = raw.sum(1) > 0
    shown = np.zeros_like(raw)
    if inked.any():
        shown[inked] = abstain.calibrated(read[inked], card)
    pictures = prepared if prepared is not None else [None] * len(raw)
    return [Prediction(v.label, float(c.max()), c, v.abstain, v.reason, pic, p, writing)
            for p, c, v, pic in zip(raw, shown, verdicts, pictures)]


_DEFAULT_GATE = object()  # a classifier's gate until first used: the committed one, on the classifier's backend


class _Predicts:
    """Pictures -> Predictions for anything with ``predict_proba((N, 28, 28) float32) -> (N, 10)``, an
    ``entry`` (whose card holds the abstain rule) and a ``backend`` (which the digit gate runs on)."""

    backend = "onnx"
    _gate = _DEFAULT_GATE

    def predict_proba(self, x: np.ndarray, batch_size: int = memory.FORWARD_BATCH) -> np.ndarray:
        raise NotImplementedError

    @property
    def gate(self):
        """The digit gate this classifier's predictions use: the committed one on the same backend, loaded
        on first use (None, with a warning, when it is missing or unusable), unless one was given."""
        if self._gate is _DEFAULT_GATE:
            from digitlab.serving import gate

            self._gate = gate.default(self.backend)
        return self._gate

    @gate.setter
    def gate(self, value) -> None:
        self._gate = value

    def predict_prepared(self, prepared: list[preprocess.Prepared], writing: str = writing_.DEFAULT) -> list[Prediction]:
        """Prepared pictures -> Predictions (``predictions``, read as ``writing`` writes 1 and 7): one forward pass
        of the model and one of the gate for the batch."""
        inked = [i for i, p in enumerate(prepared) if not p.no_ink]
        probs = np.zeros((len(prepared), 10), np.float32)
        images = np.zeros((len(prepared), 28, 28), np.float32)
        if inked:
            images[inked] = np.stack([prepared[i].image for i in inked])
            probs[inked] = self.predict_proba(images[inked])
        return predictions(probs, self.entry.card, images, self.gate, prepared, writing)

    def predict_picture(self, source, invert: preprocess.Invert = "auto", writing: str = writing_.DEFAULT) -> Prediction:
        """Any picture -> Prediction, through the one preprocessing path."""
        return self.predict_prepared([preprocess.prepare(source, invert=invert)], writing)[0]


class Classifier(_Predicts):
    """A usable model and its forward pass on one backend: (N, 28, 28) float32 in [0, 1] -> (N, 10) probabilities.

    backend "keras": the model (``.model``) traced once into a ``tf.function``, for gradients and training
    code; "onnx": its serving file (``serving.store.served_file``, converted on first use), ``.model``
    None, equal to Keras within 1e-5.  ``gate``: the digit gate of its predictions (default: the
    committed one on the same backend)."""

    def __init__(self, entry: artifacts.ModelEntry, backend: str = "keras", gate=_DEFAULT_GATE, onnx: Path | None = None):
        if not entry.usable:
            raise artifacts.ModelError(f"model {entry.name} is unusable: {entry.reason}")
        self.entry, self.backend, self.format, self._gate = entry, backend, backend, gate
        self.model = self.onnx = None
        if backend == "keras":
            self.model = entry.model if entry.model is not None else artifacts.load_model(entry.path)
            self._run = backends.keras(self.model, adapter.batch_shape(entry.layout), "softmax" if entry.outputs == "logits" else None)
        elif backend == "onnx":
            from digitlab.serving import store

            self.onnx = Path(onnx) if onnx is not None else store.served_file(entry.path, "classifier", entry.path.parent)
            self._run = store.runner(self.onnx, "classifier")  # probabilities whatever the model's head; checked, file and answers
            if entry.pending:  # listed before its conversion, which has just run: what the converter found
                info = store.record(self.onnx)
                entry.layout, entry.outputs, entry.pending = info.get("layout"), info.get("outputs"), False
        else:
            raise ValueError(f"unknown backend {backend!r} (one of {backends.BACKENDS})")

    @property
    def name(self) -> str:
        return self.entry.name

    def predict_proba(self, x: np.ndarray, batch_size: int = memory.FORWARD_BATCH) -> np.ndarray:
        return backends.batched(self._run, x, (10,), batch_size)


def forward_ms(classifier, images: np.ndarray, repeats: int = 200, warmup: int = 5) -> float:
    """Median time of one single-image ``predict_proba`` call on prepared (N, 28, 28) inputs (cycled),
    after ``warmup`` calls (tracing, first allocations), in ms: the leaderboard's and the export
    parity table's latency column; ``evaluation.bench.latency`` times the whole picture-to-probabilities path."""
    for i in range(warmup):
        classifier.predict_proba(images[i % len(images)][None])
    samples = []
    for i in range(repeats):
        x = images[i % len(images)][None]
        t0 = time.perf_counter()
        classifier.predict_proba(x)
        samples.append((time.perf_counter() - t0) * 1000)
    return float(np.median(samples))


def entry_for(backend: str, models_dir: Path = MODELS_DIR, convert: bool = False):
    """How a model file becomes a ``ModelEntry`` for ``backend`` (a function of the path, or None for artifacts' own),
    passed to ``artifacts.list_models``/``resolve`` as ``entry_for``:
    "keras" validates it (safe mode, the checks, a forward pass; cached by hash), "onnx" reads its card
    and conversion record (``serving.store.served_entry``: a file never converted is listed ``pending``,
    or converted now with ``convert``; always when resolved to be used)."""
    if backend == "onnx":
        from digitlab.serving import store

        def served(path: Path, now: bool = convert):
            return store.served_entry(path, Path(models_dir), now)

        return served
    return None  # artifacts' own validation


def load_classifier(name_or_path: str | None = None, models_dir: Path = MODELS_DIR, backend: str = "keras") -> Classifier | ExportedClassifier:
    """Use for a model to compute with on a chosen ``backend`` ("keras": gradients, Explain, fine-tuning): a model name
    in ``models_dir``, a file path, an export, or (None) the best model by its card.

    An exported ``.onnx`` or ``.tflite`` file or a SavedModel folder gives an ExportedClassifier; a
    ``.h5`` file goes through ``artifacts`` like a ``.keras`` one (Keras safe mode, same checks).
    Raises ModelError (``artifacts.resolve``'s: no such model, or unusable and why)."""
    if name_or_path is not None and exported_format(Path(name_or_path), models_dir) is not None:
        return ExportedClassifier(name_or_path)
    return Classifier(artifacts.resolve(name_or_path, models_dir, entry_for(backend, models_dir)), backend)


def load_classifiers(names: list[str] | None, models_dir: Path = MODELS_DIR) -> list:
    """Use for the models a benchmark measures: ``load_classifier`` of each of ``names``, or (None or empty) a
    Classifier of every usable model in
    ``models_dir``: what the benchmarks measure.  Raises ModelError for a name it cannot load, and for two models of
    one name (``artifacts.check_distinct``)."""
    if not names:
        return [Classifier(e) for e in artifacts.select(None, models_dir)]
    loaded = [load_classifier(n, models_dir) for n in names]
    artifacts.check_distinct(names, [c.name for c in loaded])
    return loaded


def files_measured(classifiers: list) -> dict:
    """{name: {"file", "sha256"}} of what each classifier reads (sha256 None for a folder), as a report records it."""
    from digitlab.files import sha256
    from digitlab.paths import shown

    return {c.name: {"file": shown(c.entry.path), "sha256": sha256(c.entry.path, 16) if c.entry.path.is_file() else None}
            for c in classifiers}


# ----------------------------------------------------------------------------- exported formats
#
# digitlab.serving.export writes every graph format with one interface, image (N, 28, 28) -> probabilities
# (N, 10).  The loaders below also take files made elsewhere: the input may be (28, 28), (28, 28, 1),
# (1, 28, 28) or (784,), and an output that is not a probability distribution is taken as logits.

_EXPORTED_SUFFIXES = {".onnx": "onnx", ".tflite": "tflite"}
_INPUT_LAYOUTS = {(28, 28): (28, 28), (28, 28, 1): (28, 28, 1), (1, 28, 28): (1, 28, 28), (784,): (784,)}
EXPORT_BATCH = 256  # rows per call: TFLite re-allocates its tensors whenever the batch size changes

# A SavedModel graph can read and write files or log; a digit classifier needs none of that, so a
# SavedModel any of whose loadable functions (``savedmodel_ops``: signatures, initialisers...) holds one of
# these ops is refused before it is loaded (a denylist: load SavedModels only from people you trust).
# ONNX and TFLite have no file or Python ops in their standard op sets.
_UNSAFE_TF_OPS = frozenset({
    "ReadFile", "WriteFile", "MatchingFiles", "DeleteFile", "Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2",
    "RestoreSlice", "MergeV2Checkpoints", "ShardedFilename", "ShardedFilespec", "PyFunc", "PyFuncStateless",
    "EagerPyFunc", "Print", "PrintV2", "ImmutableConst", "WholeFileReader", "WholeFileReaderV2", "TextLineReaderV2",
    "TFRecordReaderV2", "FixedLengthRecordReaderV2", "TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset",
    "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2", "SaveDataset", "SaveDatasetV2", "LoadDataset",
    "DatasetToTFRecord", "InitializeTableFromTextFile", "InitializeTableFromTextFileV2", "CreateSummaryFileWriter",
    "WriteSummary", "WriteScalarSummary", "WriteImageSummary", "WriteHistogramSummary", "WriteAudioSummary",
    "WriteGraphSummary", "WriteRawProtoSummary", "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3",
})


def exported_format(path: Path, models_dir: Path = MODELS_DIR) -> str | None:
    """"onnx", "tflite" or "savedmodel" when ``path`` names an exported model, else None (a name or a
    Keras file).  A folder counts as a SavedModel unless a model of that name is in ``models_dir``."""
    path = Path(path)
    if path.suffix.lower() in _EXPORTED_SUFFIXES:
        return _EXPORTED_SUFFIXES[path.suffix.lower()]
    if path.is_dir() and not (Path(models_dir) / f"{path.name}{artifacts.MODEL_SUFFIX}").is_file():
        return "savedmodel"
    return None


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


def _input_shape(name: str, shape) -> tuple[int, ...]:
    """The declared per-example input shape, if it is one of the 28x28 grey layouts."""
    dims = tuple(int(d) if isinstance(d, (int, np.integer)) and d > 0 else None for d in shape[1:])
    if dims not in _INPUT_LAYOUTS:
        raise artifacts.ModelError(f"{name}: input shape {tuple(shape)} is not a batch of 28x28 grey digits "
                                   "(accepted per image: (28,28), (28,28,1), (1,28,28), (784,))")
    return _INPUT_LAYOUTS[dims]


def _check_output(name: str, shape) -> None:
    if len(shape) != 2 or shape[-1] != 10:
        raise artifacts.ModelError(f"{name}: output shape {tuple(shape)} is not (N, 10) digit scores")


def _onnx_runner(path: Path):
    import onnxruntime as ort

    from digitlab.serving import store

    data = archive.read_model_file(path)  # a regular file within the size limit, read once: the bytes checked are run
    try:
        store.check_graph(data)  # bounded before a session exists: no data in other files, no tensor of gigabytes
    except artifacts.ModelError as e:
        raise artifacts.ModelError(f"{path.name}: refused before loading: {e}") from e
    try:
        session = ort.InferenceSession(data, backends.session_options(), providers=["CPUExecutionProvider"])
    except Exception as e:  # InvalidProtobuf, Fail, NotImplemented (unknown op) ...
        raise artifacts.ModelError(f"{path.name}: not a usable ONNX model ({_first_line(e)})") from e
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise artifacts.ModelError(f"{path.name}: expected one input, found {len(inputs)}")
    if inputs[0].type != "tensor(float)":
        raise artifacts.ModelError(f"{path.name}: input is {inputs[0].type}, expected float32 pixels")
    shape = _input_shape(path.name, inputs[0].shape)
    _check_output(path.name, [o if isinstance(o, int) else -1 for o in outputs[0].shape])
    in_name, out_name = inputs[0].name, outputs[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return session.run([out_name], {in_name: x.reshape(-1, *shape)})[0]

    return run, "onnx"


def _tflite_runner(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path))
    except Exception as e:  # ValueError: "Model provided has model identifier ..." for a non-TFLite file
        raise artifacts.ModelError(f"{path.name}: not a usable TFLite model ({_first_line(e)})") from e
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1:
        raise artifacts.ModelError(f"{path.name}: expected one input, found {len(inputs)}")
    inp, out = inputs[0], outputs[0]
    shape = _input_shape(path.name, inp["shape_signature"])
    _check_output(path.name, out["shape_signature"])
    # Full-integer models take int8 pixels and give int8 scores: quantise and dequantise here.
    in_scale, in_zero = inp["quantization"]
    out_scale, out_zero = out["quantization"]
    quantised_in = inp["dtype"] in (np.int8, np.uint8)
    quantised_out = out["dtype"] in (np.int8, np.uint8)
    if quantised_in and not in_scale:
        raise artifacts.ModelError(f"{path.name}: integer input without quantisation parameters")
    batch = [None]  # the batch size the tensors are currently allocated for

    def run(x: np.ndarray) -> np.ndarray:
        n = len(x)
        if batch[0] != n:
            interpreter.resize_tensor_input(inp["index"], [n, *shape])
            interpreter.allocate_tensors()
            batch[0] = n
        x = x.reshape(n, *shape)
        if quantised_in:
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / in_scale + in_zero), info.min, info.max).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])
        return (y.astype(np.float32) - out_zero) * out_scale if quantised_out else y

    variant = "tflite-int8" if quantised_in else "tflite"
    return run, variant


MAX_SAVED_MODEL_PB_BYTES = 64 * artifacts.MiB  # saved_model.pb holds the graphs only (weights are in variables/): a digit CNN's is < 1 MB


def savedmodel_ops(path: Path) -> set[str]:
    """Every op a TensorFlow 2 SavedModel can run once loaded, read from ``saved_model.pb`` before anything is
    loaded: ``tf.saved_model.load`` runs code while loading (a resource's initialiser, table creators),
    so the ops are checked first.  Starts from every function the object graph names (signatures,
    methods, initialisers, creators, destroyers) and follows every call (a node whose op is a library
    function, or a function-valued attribute: StatefulPartitionedCall, While, If...).  The checkpoint's
    own save/restore functions (SaveV2, RestoreV2) are not reachable from there: the loader restores
    variables itself.  Raises ModelError for a file that is not such a SavedModel."""
    from tensorflow.core.protobuf import saved_model_pb2

    pb = Path(path) / "saved_model.pb"
    if pb.stat().st_size > MAX_SAVED_MODEL_PB_BYTES:
        raise artifacts.ModelError(f"{Path(path).name}: saved_model.pb is over {MAX_SAVED_MODEL_PB_BYTES >> 20} MB, not a digit classifier's graph")
    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString(pb.read_bytes())
    except Exception as e:  # DecodeError and the like: not a SavedModel protobuf
        raise artifacts.ModelError(f"{Path(path).name}: saved_model.pb is not a SavedModel ({_first_line(e)})") from e
    if len(saved.meta_graphs) != 1 or not saved.meta_graphs[0].object_graph_def.nodes:
        raise artifacts.ModelError(f"{Path(path).name}: not a TensorFlow 2 SavedModel (loading a TensorFlow 1 one runs its init ops): refused")
    meta = saved.meta_graphs[0]
    library = {f.signature.name: f for f in meta.graph_def.library.function}
    todo = set(meta.object_graph_def.concrete_functions)
    for node in meta.object_graph_def.nodes:
        kind = node.WhichOneof("kind")
        if kind == "function":
            todo |= set(node.function.concrete_functions)
        elif kind == "bare_concrete_function":
            todo.add(node.bare_concrete_function.concrete_function_name)
    seen: set[str] = set()
    ops: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in library:
            continue
        seen.add(name)
        for node in library[name].node_def:
            ops.add(node.op)
            todo.add(node.op)  # a call of a library function by name
            for value in node.attr.values():
                todo.add(value.func.name)
                todo.update(f.name for f in value.list.func)
    return ops - set(library)


def _savedmodel_runner(path: Path):
    if not (path / "saved_model.pb").is_file():
        raise artifacts.ModelError(f"{path}: a folder, but not a SavedModel (no saved_model.pb inside)")
    unsafe = sorted(savedmodel_ops(path) & _UNSAFE_TF_OPS)
    if unsafe:
        raise artifacts.ModelError(f"{path.name}: refused before loading, its graph reads/writes files or runs callbacks "
                                   f"({', '.join(unsafe)})")
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:
        raise artifacts.ModelError(f"{path.name}: not a loadable SavedModel ({_first_line(e)})") from e
    signature = loaded.signatures.get("serving_default")
    if signature is None:
        raise artifacts.ModelError(f"{path.name}: no serving_default signature (has {sorted(loaded.signatures)})")
    _, kwargs = signature.structured_input_signature
    if len(kwargs) != 1:
        raise artifacts.ModelError(f"{path.name}: expected one input, found {sorted(kwargs)}")
    [(in_name, spec)] = kwargs.items()
    if spec.dtype != tf.float32:
        raise artifacts.ModelError(f"{path.name}: input is {spec.dtype.name}, expected float32 pixels")
    shape = _input_shape(path.name, spec.shape.as_list())
    outputs = signature.structured_outputs
    out_name = "probabilities" if "probabilities" in outputs else next(iter(outputs))
    if len(outputs) != 1 and "probabilities" not in outputs:
        raise artifacts.ModelError(f"{path.name}: several outputs {sorted(outputs)} and none called 'probabilities'")
    _check_output(path.name, [d if d is not None else -1 for d in outputs[out_name].shape.as_list()])

    def run(x: np.ndarray) -> np.ndarray:
        return signature(**{in_name: tf.constant(x.reshape(-1, *shape))})[out_name].numpy()

    run.keep_alive = loaded  # the signature's variables live as long as the loaded object
    return run, "savedmodel"


_RUNNERS = {"onnx": _onnx_runner, "tflite": _tflite_runner, "savedmodel": _savedmodel_runner}


def export_card(path: Path) -> dict | None:
    """The source model's card written beside an export by digitlab.serving.export (it lists the export's file),
    or None.  Raises ModelError when that card is refused (``cards.validate``): its abstain rule is not used."""
    path = Path(path)
    for candidate in sorted(path.parent.glob("*.json")):
        try:
            card = json.loads(candidate.read_text())
        except (OSError, ValueError):
            continue
        export = card.get("export") if isinstance(card, dict) else None
        if isinstance(export, dict) and isinstance(export.get("files"), dict) and path.name in export["files"].values():
            try:
                return cards.validate(card)
            except cards.CardError as e:
                raise artifacts.ModelError(f"{path.name}: its card {candidate.name} is refused: {e}") from e
    return None


class ExportedClassifier(_Predicts):
    """An exported model (ONNX, TFLite, SavedModel) behind the Classifier interface:
    (N, 28, 28) float32 in [0, 1] -> (N, 10) probabilities.  Loading problems raise ModelError."""

    def __init__(self, path):
        path = Path(path)
        fmt = exported_format(path)
        if fmt is None:
            raise artifacts.ModelError(f"{path}: not an exported model (.onnx, .tflite or a SavedModel folder)")
        if not path.exists():
            raise artifacts.ModelError(f"{path}: no such {'folder' if fmt == 'savedmodel' else 'file'}")
        if path.is_file() and path.stat().st_size == 0:
            raise artifacts.ModelError(f"{path.name}: empty file")
        self._run, self.format = _RUNNERS[fmt](path)
        self.entry = artifacts.ModelEntry(path.name, path, export_card(path), True, None, "28x28", "probabilities")
        self._softmax = False
        probe = np.stack([np.zeros((28, 28), np.float32), np.random.default_rng(0).random((28, 28), np.float32)])
        try:
            y = np.asarray(self._run(probe), np.float32)
        except Exception as e:
            raise artifacts.ModelError(f"{path.name}: forward pass failed ({_first_line(e)})") from e
        if y.shape != (2, 10) or not np.isfinite(y).all():
            raise artifacts.ModelError(f"{path.name}: forward pass gave shape {y.shape} or non-finite values")
        # 1/128 covers int8 outputs (steps of 1/256) that still sum to one
        self._softmax = bool((y < -1e-6).any() or (np.abs(y.sum(axis=1) - 1) > 1 / 128).any())
        self.entry.outputs = "logits" if self._softmax else "probabilities"

    @property
    def name(self) -> str:
        return self.entry.name

    def predict_proba(self, x: np.ndarray, batch_size: int = EXPORT_BATCH) -> np.ndarray:
        y = backends.batched(self._run, x, (10,), batch_size)
        return abstain.softmax(y) if self._softmax else y
