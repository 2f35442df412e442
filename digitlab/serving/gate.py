"""The digit gate at serving time: a trained tiny CNN that answers "is this a digit at all?".

``Gate`` reads ``models/gate/not_a_digit.keras``'s card (its threshold) and scores preprocessed
(N, 28, 28) inputs through one of two backends (``serving.backends``): "keras" loads the file
(safe mode) and needs TensorFlow; "onnx" runs its serving file (``serving.store``), no TensorFlow.
Every classifier's abstain rule uses it (``serving.classifiers``).  How the gate is trained and
measured: ``digitlab.training.gate`` (``python training/train_gate.py``).  It lives in ``models/gate/``
because ``artifacts.list_models`` only lists ``models/*.keras``: the gate is not a 10-class classifier
and must not show up as a broken one.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from digitlab import files, memory
from digitlab.models import artifacts, cards
from digitlab.paths import MODELS_DIR
from digitlab.serving import backends

GATE_DIR = MODELS_DIR / "gate"
GATE_NAME = "not_a_digit"
GATE_PATH = GATE_DIR / f"{GATE_NAME}.keras"


class Gate:
    """A trained gate and its threshold: (N, 28, 28) preprocessed images -> P(digit), rejections.

    backend "keras": ``model`` is the Keras model (export and training need it); "onnx": ``model`` is
    None and ``onnx`` the serving file.  Raises ModelError when the file or its card cannot be used."""

    def __init__(self, path: Path = GATE_PATH, backend: str = "keras"):
        self.path, self.backend = Path(path), backend
        card_name = self.path.with_suffix(".json").name
        self.card = artifacts.read_card(self.path) or {}
        try:
            cards.validate(self.card)
        except cards.CardError as e:
            raise artifacts.ModelError(f"{self.path.name}: its card {card_name} is refused: {e}") from e
        if self.card.get("threshold") is None:
            raise artifacts.ModelError(f"{self.path.name}: its card {card_name} has no threshold in [0, 1]")
        self.threshold = float(self.card["threshold"])
        self.model = self.onnx = None
        if backend == "onnx":
            from digitlab.serving import store

            self.onnx = store.served_file(self.path, "gate", self.path.parent.parent)
            self._run = backends.onnx(self.onnx)
        elif backend == "keras":
            self.model = artifacts.load_model(self.path)
            shape = tuple(self.model.inputs[0].shape[1:])
            if shape != (28, 28, 1) or tuple(self.model.outputs[0].shape[1:]) != (1,):
                raise artifacts.ModelError(f"{self.path.name}: not a digit gate (input {shape}, output {tuple(self.model.outputs[0].shape[1:])})")
            self._run = backends.keras(self.model, (-1, 28, 28, 1), "p_digit")
        else:
            raise ValueError(f"unknown backend {backend!r} (one of {backends.BACKENDS})")

    def score(self, images: np.ndarray, batch_size: int = memory.FORWARD_BATCH) -> np.ndarray:
        """(N, 28, 28) or (28, 28) float32 inputs from ``preprocess`` -> (N,) P(digit), float64."""
        return backends.batched(self._run, images, (), batch_size, np.float64)

    def rejects(self, images: np.ndarray) -> np.ndarray:
        return self.score(images) < self.threshold

    def fingerprint(self) -> str:
        return files.sha256(self.path, 16)


_LOADED: dict[tuple, Gate] = {}


def load(path: Path = GATE_PATH, backend: str = "keras") -> Gate:
    """The gate at ``path`` on ``backend``, loaded once per file and card version; raises ModelError
    when missing or unusable."""
    path = Path(path)
    if not path.is_file():
        raise artifacts.ModelError(f"no digit gate at {path}: train one with python training/train_gate.py")
    st = path.stat()
    card_path = path.with_suffix(".json")
    key = (str(path), st.st_mtime_ns, st.st_size, card_path.stat().st_mtime_ns if card_path.is_file() else 0, backend)
    if key not in _LOADED:
        _LOADED[key] = Gate(path, backend)
    return _LOADED[key]


def default(backend: str = "keras") -> Gate | None:
    """The committed gate on ``backend``, or None (with a warning saying why) when it is missing or
    unusable: the abstain rule then uses the confidence threshold alone."""
    try:
        return load(GATE_PATH, backend)
    except (artifacts.ModelError, OSError) as e:
        warnings.warn(f"digit gate unavailable, only the confidence threshold applies: {e}", stacklevel=2)
        return None
