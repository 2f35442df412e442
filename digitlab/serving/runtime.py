"""Serving without TensorFlow: the drawing and upload path (Home, Collect, the predict CLI) answers
through ONNX Runtime, with the model card's calibration and the digit gate, and never imports
TensorFlow (``import tensorflow`` alone costs ~6 s and ~680 MB; ONNX Runtime and a model ~0.25 s and
~56 MB).

This is the ONNX side of the one serving stack, not a second one: the models are listed and resolved by
``artifacts.list_models``/``artifacts.resolve`` (judged by their card and conversion record,
``serving.store.served_entry``), answered by ``classifiers.Classifier`` on the "onnx" backend with the
gate ``serving.gate`` loads on that backend.  Each ``.keras`` file is converted once, in a subprocess, and
kept under its hash (``serving.store``; the subprocess: ``serving.convert``).  Explain, Robustness and fine-tuning need gradients: they use
the "keras" backend, which imports TensorFlow then, not before.
"""

from __future__ import annotations

from pathlib import Path

from digitlab import paths
from digitlab.models import artifacts
from digitlab.models.artifacts import ModelEntry
from digitlab.serving import classifiers
from digitlab.serving.gate import GATE_NAME
from digitlab.serving.reader import READER_NAME
from digitlab.serving.store import RECORD_KEYS, SERVING_SUBDIR, cache_dir, file_key, record, served_file  # noqa: F401  (where callers find them)

BACKEND = "onnx"


class ServedModel(classifiers.Classifier):
    """A models/ entry answered by ONNX Runtime (``Classifier`` on the "onnx" backend): (N, 28, 28) float32
    in [0, 1] -> (N, 10) probabilities, equal to the Keras model's within 1e-5; ``model`` is None."""

    def __init__(self, entry: ModelEntry, onnx: Path | None = None):
        super().__init__(entry, BACKEND, onnx=onnx)


def list_models(models_dir: Path = paths.MODELS_DIR, convert: bool = False, background: bool = False) -> list[ModelEntry]:
    """Use for the serving picker (the app's sidebar): every ``*.keras`` in ``models_dir`` in ``artifacts.list_models``'
    order, judged by its card and its
    conversion record: no model is loaded.  A file never converted is listed ``pending`` (after the
    quick checks that need no TensorFlow) and converted on first use; ``convert``: convert every such
    file now instead; ``background``: convert them in a background thread (``store.convert_in_background``,
    a server's choice: a CLI would exit under it)."""
    entries = artifacts.list_models(models_dir, classifiers.entry_for(BACKEND, models_dir, convert))
    if background:
        from digitlab.serving import store

        store.convert_in_background(entries, Path(models_dir))
    return entries


def load(name_or_path: str | None = None, models_dir: Path = paths.MODELS_DIR) -> classifiers.Classifier | classifiers.ExportedClassifier:
    """Use to answer as the app and the predict command do (ONNX Runtime, no TensorFlow): a model by name in ``models_dir``, a .keras file, an exported file
    (.onnx/.tflite/SavedModel: ``classifiers.ExportedClassifier``), or (None) the best model by its card;
    a Classifier on the "onnx" backend.  Raises ModelError."""
    return classifiers.load_classifier(name_or_path, models_dir, BACKEND)


def write_folder(models_dir: Path = paths.MODELS_DIR, log=print) -> list[Path]:
    """Convert every model of ``models_dir``, its digit gate and its number reader into ``models_dir/serving`` (a file
    already converted is only checked) and drop the serving files of models no longer there: after training or
    promoting, a clone of the folder serves without converting anything.  Returns the serving files."""
    out_dir = models_dir / SERVING_SUBDIR
    sources = [(p, "classifier") for p in sorted(models_dir.glob("*.keras")) if not p.name.startswith(".")]
    for path, kind in ((models_dir / "gate" / f"{GATE_NAME}.keras", "gate"), (models_dir / "reader" / f"{READER_NAME}.keras", "reader")):
        if path.is_file():
            sources.append((path, kind))
    written, keep = [], set()
    for path, kind in sources:
        onnx = served_file(path, kind, models_dir, out_dir=out_dir)
        keep.add(onnx.stem)
        written.append(onnx)
        log(f"{path.relative_to(models_dir)} -> {onnx.relative_to(models_dir)}  (probe max |dp| {record(onnx)['probe_max_abs_dp']:.2g})")
    for stale in out_dir.glob("*"):
        if stale.name.split(".")[0] not in keep:
            stale.unlink()
            log(f"removed {stale.relative_to(models_dir)} (its model is gone)")
    return written
