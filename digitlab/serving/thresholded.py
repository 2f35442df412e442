"""What the digit gate (``serving.gate``) and the number reader (``serving.reader``) share: a network served beside
the classifiers whose card holds a threshold, on one of two backends (``serving.backends``), loaded once per file
and card version.

    "keras"   loads the file (safe mode) and needs TensorFlow; the subclass checks the network's shapes
    "onnx"    runs its serving file (``serving.store``, converted as ``kind``): no TensorFlow
"""

from __future__ import annotations

from pathlib import Path

from digitlab import files
from digitlab.models import artifacts
from digitlab.serving import backends


class Thresholded:
    """A network and the threshold on its card.  ``model`` is the Keras model on "keras" (export and training need
    it), None on "onnx", where ``onnx`` is the serving file.  Raises ModelError when the file or its card cannot be used."""

    kind = ""  # what serving.store converts it as ("gate", "reader")
    input_name = "image"  # its serving file's input
    threshold_key = "threshold"  # the card key holding the threshold (cards.READ_CHECKS checks its value)
    threshold_missing = "in [0, 1]"  # what the refusal says when the card has none

    def __init__(self, path: Path, backend: str):
        self.path, self.backend = Path(path), backend
        card_name = self.path.with_suffix(".json").name
        card = artifacts.read_card(self.path)
        if (refused := artifacts.card_refusal(self.path, card)) is not None:  # unreadable, or a value no code can use
            raise artifacts.ModelError(refused)
        self.card = card or {}
        if self.card.get(self.threshold_key) is None:
            raise artifacts.ModelError(f"{self.path.name}: its card {card_name} has no {self.threshold_key} {self.threshold_missing}")
        self.threshold = float(self.card[self.threshold_key])
        self.model = self.onnx = None
        if backend == "onnx":
            from digitlab.serving import store

            self.onnx = store.served_file(self.path, self.kind, self.path.parent.parent)
            self._run = store.runner(self.onnx, self.kind)  # the file checked, and every answer
        elif backend == "keras":
            self.model = artifacts.load_model(self.path)
            self._run = self.keras_runner(self.model)
        else:
            raise ValueError(f"unknown backend {backend!r} (one of {backends.BACKENDS})")

    def keras_runner(self, model) -> backends.Runner:
        """The Keras model's runner, after checking its shapes (ModelError when they are not this kind's)."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        return files.sha256(self.path, 16)


_LOADED: dict[tuple, Thresholded] = {}


def load(cls: type[Thresholded], path: Path, backend: str, missing: str) -> Thresholded:
    """``cls(path, backend)``, made once per file and card version; ModelError with ``missing`` (how to make one)
    when there is no file."""
    path = Path(path)
    if not path.is_file():
        raise artifacts.ModelError(f"no {missing}")
    st = path.stat()
    card_path = path.with_suffix(".json")
    key = (cls, str(path), st.st_mtime_ns, st.st_size, card_path.stat().st_mtime_ns if card_path.is_file() else 0, backend)
    if key not in _LOADED:
        _LOADED[key] = cls(path, backend)
    return _LOADED[key]
