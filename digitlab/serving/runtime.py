"""Serving without TensorFlow: the drawing and upload path (Home, Collect, the predict CLI) answers
through ONNX Runtime, with the model card's calibration and the digit gate, and never imports
TensorFlow (``import tensorflow`` alone costs ~6 s and ~680 MB; ONNX Runtime and a model ~0.25 s and
~56 MB).

Each ``.keras`` file is converted once and the ONNX file is kept under the file's SHA-256:

    models/serving/<key>.onnx + <key>.json    for the committed models and gate (python evaluation/serving.py)
    runs/cache/serving/<key>.onnx + .json     for anything else (a model dropped into models/, an upload)
    runs/cache/serving/<key>.refused.json     a file the converter refused, with the reason (not retried)

The conversion (``digitlab.serving.convert``) runs in a subprocess: Keras safe mode, the classifier
checks, ``export.to_onnx`` and a parity probe (max |dp| <= 1e-5 against Keras) happen there, and the
TensorFlow it imports goes away with it.  Listing models reads cards and these records only; a file
is converted the first time it is listed.  Explain, Robustness and fine-tuning need gradients: they
load the Keras model (``classifiers.Classifier``), which imports TensorFlow then, not before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from digitlab import files, memory, paths
from digitlab.models import artifacts
from digitlab.models.artifacts import ModelEntry, ModelError
from digitlab.serving import classifiers

SERVING_SUBDIR = "serving"
CONVERT_TIMEOUT_S = 900  # a TensorFlow start, a safe-mode load, tf2onnx and the probe; ~10-20 s here
_LOCK = threading.Lock()  # one conversion at a time per process: each one starts TensorFlow
_KEYS: dict[tuple[str, int, int], str] = {}


def cache_dir() -> Path:
    """Where conversions of files that are not committed go ($DIGITLAB_SERVING_CACHE: tests point it at a scratch folder)."""
    env = os.environ.get("DIGITLAB_SERVING_CACHE")
    return Path(env) if env else paths.RUNS_DIR / "cache" / SERVING_SUBDIR


def folders(models_dir: Path = paths.MODELS_DIR) -> list[Path]:
    """Where a converted file may be: beside the given models, beside the repository's, the cache."""
    out: list[Path] = []
    for d in (Path(models_dir) / SERVING_SUBDIR, paths.MODELS_DIR / SERVING_SUBDIR, paths.ROOT / "models" / SERVING_SUBDIR, cache_dir()):
        if d not in out:
            out.append(d)
    return out


def file_key(path: Path) -> str:
    """The first 32 hex digits of the file's SHA-256 (hashed once per file version: path, mtime, size)."""
    st = Path(path).stat()
    k = (str(path), st.st_mtime_ns, st.st_size)
    if k not in _KEYS:
        _KEYS[k] = files.sha256(path, 32).removeprefix("sha256:")
    return _KEYS[k]


def _found(key: str, models_dir: Path) -> Path | None:
    for d in folders(models_dir):
        onnx = d / f"{key}.onnx"
        if onnx.is_file() and onnx.with_suffix(".json").is_file():
            return onnx
    return None


RECORD_KEYS = {"kind", "layout", "outputs", "probe_max_abs_dp", "probe_n", "seconds", "source", "sha256"}  # convert.py's + source, sha256


def record(onnx: Path) -> dict:
    """What the converter recorded beside an ONNX file (kind, layout, outputs, probe parity, source)."""
    return json.loads(Path(onnx).with_suffix(".json").read_text())


def served_file(path: Path, kind: str = "classifier", models_dir: Path = paths.MODELS_DIR, out_dir: Path | None = None,
                convert: bool = True) -> Path:
    """The ONNX file serving ``path`` (a .keras model, or the digit gate with ``kind="gate"``): found by the
    file's hash, or converted now into ``out_dir`` (default: the cache).  Raises ModelError with the
    reason when the file is refused (remembered by hash) or ``convert`` is off and there is none yet."""
    path = Path(path)
    key = file_key(path)
    onnx = _found(key, models_dir) if out_dir is None else (out_dir / f"{key}.onnx" if (out_dir / f"{key}.json").is_file() else None)
    if onnx is not None and onnx.is_file():
        return onnx
    refused = cache_dir() / f"{key}.refused.json"
    if refused.is_file():
        raise ModelError(json.loads(refused.read_text())["reason"])
    if not convert:
        raise ModelError(f"{path.name} is not converted for serving yet")
    return _convert(path, kind, key, out_dir or cache_dir())


def _convert(path: Path, kind: str, key: str, out_dir: Path) -> Path:
    from digitlab.serving import convert

    with _LOCK:
        out = out_dir / f"{key}.onnx"
        if out.is_file() and out.with_suffix(".json").is_file():
            return out  # converted by another session while this one waited
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / f".{key}.{os.getpid()}.{threading.get_ident()}.onnx"  # hidden: never taken for a result
        command = [sys.executable, "-m", "digitlab.serving.convert", kind, str(path), str(tmp)]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S, stdin=subprocess.DEVNULL,
                                  env=memory.environment())
        except subprocess.TimeoutExpired as e:
            tmp.unlink(missing_ok=True)
            raise ModelError(f"{path.name}: converting it for serving took longer than {CONVERT_TIMEOUT_S} s") from e
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        if proc.returncode == convert.REFUSED:
            reason = lines[-1] if lines else f"{path.name}: refused"
            files.atomic_write_json(cache_dir() / f"{key}.refused.json", {"source": path.name, "reason": reason})
            raise ModelError(reason)
        if proc.returncode != 0 or not tmp.is_file():
            tmp.unlink(missing_ok=True)
            raise ModelError(f"{path.name}: converting it for serving failed (exit {proc.returncode}): {' | '.join(lines[-3:])[:500]}")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        info.update(source=path.name, sha256=key)
        files.atomic_write_json(out.with_suffix(".json"), info)  # the record first: a file without one is not taken
        os.replace(tmp, out)
        return out


def _session(onnx: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])


class ServedGate:
    """The digit gate through ONNX Runtime: the same ``score``/``threshold`` as ``serving.gate.Gate``."""

    def __init__(self, path: Path, onnx: Path):
        card = artifacts.read_card(path) or {}
        threshold = card.get("threshold")
        if not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise ModelError(f"{path.name}: its card has no threshold in [0, 1]")
        self.path, self.card, self.threshold, self.onnx = Path(path), card, float(threshold), onnx
        self._session = _session(onnx)

    def score(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        x = np.asarray(images, np.float32).reshape(-1, 28, 28)
        out = [self._session.run(None, {"image": x[i : i + batch_size]})[0] for i in range(0, len(x), batch_size)]
        return np.concatenate(out).astype(np.float64).reshape(-1) if out else np.zeros(0)

    def rejects(self, images: np.ndarray) -> np.ndarray:
        return self.score(images) < self.threshold


_GATES: dict[str, ServedGate | None] = {}


def served_gate(path: Path | None = None) -> ServedGate | None:
    """The committed digit gate through ONNX (once per file version), or None when there is none or it
    cannot be used (the abstain rule then uses the confidence threshold alone, as with ``gate.default``)."""
    from digitlab.serving.gate import GATE_PATH

    path = Path(path or GATE_PATH)
    try:
        key = file_key(path)
    except OSError:
        return None
    if key not in _GATES:
        try:
            _GATES[key] = ServedGate(path, served_file(path, "gate", path.parent.parent))
        except (ModelError, OSError, ValueError):
            _GATES[key] = None
    return _GATES[key]


class ServedModel(classifiers._Predicts):
    """A models/ entry answered by ONNX Runtime: (N, 28, 28) float32 in [0, 1] -> (N, 10) probabilities,
    equal to the Keras model's within 1e-5; predictions use the card's abstain rule and the ONNX gate."""

    format = "onnx"
    model = None  # no Keras model here: pages that need gradients load classifiers.Classifier

    def __init__(self, entry: ModelEntry, onnx: Path, gate: ServedGate | None | bool = True):
        self.entry, self.onnx = entry, Path(onnx)
        self._session = _session(self.onnx)
        self._gate = served_gate() if gate is True else gate

    @property
    def name(self) -> str:
        return self.entry.name

    def predict_proba(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        x = np.asarray(x, np.float32).reshape(-1, 28, 28)
        out = [self._session.run(None, {"image": x[i : i + batch_size]})[0] for i in range(0, len(x), batch_size)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 10), np.float32)

    def predict_prepared(self, prepared, gate=None):
        # False: "no gate" to the abstain rule, which would otherwise load the Keras gate
        return super().predict_prepared(prepared, gate if gate is not None else (self._gate or False))


def _entry(path: Path, models_dir: Path, convert: bool) -> ModelEntry:
    card = artifacts.read_card(path)
    if (refused := artifacts.card_refusal(path, card)) is not None:
        return artifacts.make_entry(path, card, False, refused)  # before hashing or converting the file
    try:
        info = record(served_file(path, "classifier", models_dir, convert=convert))
    except OSError as e:  # a dangling symlink, a file deleted meanwhile, no permission
        return artifacts.make_entry(path, card, False, f"{path.name}: cannot be read ({e.strerror or e})")
    except (ModelError, ValueError, KeyError) as e:
        return artifacts.make_entry(path, card, False, str(e))
    return artifacts.make_entry(path, card, True, None, info.get("layout"), info.get("outputs"))


def list_models(models_dir: Path = paths.MODELS_DIR, convert: bool = True) -> list[ModelEntry]:
    """Every ``*.keras`` in ``models_dir`` as ``artifacts.list_models`` orders them (usable first, best
    test accuracy on the card first), judged by its conversion record: no model is loaded, and a file
    never seen before is converted (once; its hash remembers the result)."""
    entries = [_entry(p, Path(models_dir), convert) for p in sorted(Path(models_dir).glob(f"*{artifacts.MODEL_SUFFIX}"))
               if not p.name.startswith(".")]
    return sorted(entries, key=lambda e: (not e.usable, -artifacts.card_accuracy(e), e.name))


def load(name_or_path: str | None = None, models_dir: Path = paths.MODELS_DIR):
    """What the predict CLI serves: a model by name in ``models_dir``, a .keras file, an exported file
    (.onnx/.tflite/SavedModel: ``classifiers.ExportedClassifier``), or (None) the best model by its card."""
    models_dir = Path(models_dir)
    if name_or_path is not None and classifiers.exported_format(Path(name_or_path), models_dir) is not None:
        return classifiers.ExportedClassifier(name_or_path)
    if name_or_path is None:
        usable = [e for e in list_models(models_dir) if e.usable]
        if not usable:
            raise ModelError(f"no usable model in {models_dir}; train one with training/train_cnn.py")
        entry = usable[0]
    else:
        p = Path(name_or_path)
        if not p.is_file():
            p = models_dir / f"{name_or_path}{artifacts.MODEL_SUFFIX}"
        if not p.is_file():
            known = [e.name for e in list_models(models_dir)]
            raise ModelError(f"no model {name_or_path!r}: not a file, and not one of {known}")
        entry = _entry(p, models_dir, convert=True)
        if not entry.usable:
            raise ModelError(f"model {entry.name} is unusable: {entry.reason}")
    return ServedModel(entry, served_file(entry.path, "classifier", models_dir))
