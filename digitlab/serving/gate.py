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

from digitlab import memory
from digitlab.models import artifacts
from digitlab.paths import MODELS_DIR
from digitlab.serving import backends, thresholded

GATE_DIR = MODELS_DIR / "gate"
GATE_NAME = "not_a_digit"
GATE_PATH = GATE_DIR / f"{GATE_NAME}.keras"


class Gate(thresholded.Thresholded):
    """A trained gate and its threshold: (N, 28, 28) preprocessed images -> P(digit), rejections (backend "keras"
    or "onnx": ``thresholded.Thresholded``)."""

    kind = "gate"

    def __init__(self, path: Path = GATE_PATH, backend: str = "keras"):
        super().__init__(path, backend)

    def keras_runner(self, model) -> backends.Runner:
        shape, out = tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape[1:])
        if shape != (28, 28, 1) or out != (1,):
            raise artifacts.ModelError(f"{self.path.name}: not a digit gate (input {shape}, output {out})")
        return backends.keras(model, (-1, 28, 28, 1), "p_digit")

    def score(self, images: np.ndarray, batch_size: int = memory.FORWARD_BATCH) -> np.ndarray:
        """(N, 28, 28) or (28, 28) float32 inputs from ``preprocess`` -> (N,) P(digit), float64."""
        return backends.batched(self._run, images, (), batch_size, np.float64)

    def rejects(self, images: np.ndarray) -> np.ndarray:
        return self.score(images) < self.threshold


def load(path: Path = GATE_PATH, backend: str = "keras") -> Gate:
    """The gate at ``path`` on ``backend``, loaded once per file and card version; raises ModelError
    when missing or unusable."""
    return thresholded.load(Gate, path, backend, f"digit gate at {path}: train one with python training/train_gate.py")


def default(backend: str = "keras") -> Gate | None:
    """The committed gate on ``backend``, or None (with a warning saying why) when it is missing or
    unusable: the abstain rule then uses the confidence threshold alone."""
    try:
        return load(GATE_PATH, backend)
    except (artifacts.ModelError, OSError) as e:
        warnings.warn(f"digit gate unavailable, only the confidence threshold applies: {e}", stacklevel=2)
        return None
