"""The digit gate at serving time: a trained tiny CNN that answers "is this a digit at all?".

``Gate`` loads ``models/gate/not_a_digit.keras`` (safe mode) with the threshold from its card and
scores preprocessed (N, 28, 28) inputs; ``serving.abstain`` uses it for every model.  How the gate
is trained and measured: ``digitlab.training.gate`` (``python training/train_gate.py``).  It lives in
``models/gate/`` because ``artifacts.list_models`` only lists ``models/*.keras``: the gate is not a
10-class classifier and must not show up as a broken one.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from digitlab import files, memory
from digitlab.models import artifacts
from digitlab.paths import MODELS_DIR

GATE_DIR = MODELS_DIR / "gate"
GATE_NAME = "not_a_digit"
GATE_PATH = GATE_DIR / f"{GATE_NAME}.keras"


class Gate:
    """A trained gate and its threshold: (N, 28, 28) preprocessed images -> P(digit), rejections."""

    def __init__(self, path: Path = GATE_PATH):
        import tensorflow as tf

        self.path = Path(path)
        self.card = artifacts.read_card(self.path) or {}
        threshold = self.card.get("threshold")
        if not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise artifacts.ModelError(f"{self.path.name}: its card {self.path.with_suffix('.json').name} has no threshold in [0, 1]")
        self.threshold = float(threshold)
        self.model = artifacts.load_model(self.path)
        shape = tuple(self.model.inputs[0].shape[1:])
        if shape != (28, 28, 1) or tuple(self.model.outputs[0].shape[1:]) != (1,):
            raise artifacts.ModelError(f"{self.path.name}: not a digit gate (input {shape}, output {tuple(self.model.outputs[0].shape[1:])})")
        model = self.model

        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32)], reduce_retracing=True)
        def forward(x):
            return model(x[..., None], training=False)[:, 0]

        self._forward = forward

    def score(self, images: np.ndarray, batch_size: int = memory.FORWARD_BATCH) -> np.ndarray:
        """(N, 28, 28) or (28, 28) float32 inputs from ``preprocess`` -> (N,) P(digit)."""
        import tensorflow as tf

        x = np.asarray(images, np.float32).reshape(-1, 28, 28)
        out = [self._forward(tf.constant(x[i : i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def rejects(self, images: np.ndarray) -> np.ndarray:
        return self.score(images) < self.threshold

    def fingerprint(self) -> str:
        return files.sha256(self.path, 16)


_LOADED: dict[tuple[str, int, int], Gate] = {}


def load(path: Path = GATE_PATH) -> Gate:
    """The gate at ``path``, loaded once per file version; raises ModelError when missing or unusable."""
    path = Path(path)
    if not path.is_file():
        raise artifacts.ModelError(f"no digit gate at {path}: train one with python training/train_gate.py")
    st = path.stat()
    card_path = path.with_suffix(".json")
    key = (str(path), st.st_mtime_ns, card_path.stat().st_mtime_ns if card_path.is_file() else 0)
    if key not in _LOADED:
        _LOADED[key] = Gate(path)
    return _LOADED[key]


def default() -> Gate | None:
    """The committed gate, or None (with a warning saying why) when it is missing or unusable:
    callers then fall back to the confidence threshold alone."""
    try:
        return load(GATE_PATH)
    except artifacts.ModelError as e:
        warnings.warn(f"digit gate unavailable, only the confidence threshold applies: {e}", stacklevel=2)
        return None
