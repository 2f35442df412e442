"""What runs a network under a classifier or the digit gate: one batcher and two backends.

    batched(run, x)     (N, 28, 28) float32 -> run on slices of at most ``batch_size`` rows -> the rows joined
    keras(model, ...)   a Keras model's forward pass traced once into a ``tf.function`` (~1 ms per image;
                        ``model.predict`` costs ~60 ms, it builds a tf.data pipeline every call); imports TensorFlow
    onnx(session)       an ONNX Runtime session (``session``) on a file ``digitlab.serving.store`` keeps and checks:
                        "image" (N, 28, 28) -> its one output; no TensorFlow (a session of a small CNN: ~0.25 s, ~56 MB)

A runner takes (n, 28, 28) float32 and returns n rows (``(n, 10)`` probabilities, or ``(n,)`` P(digit) for the
gate; the number reader: (n, 28, 224) lines -> (n, 56, 11) logits); ``serving.classifiers.Classifier`` and ``serving.gate.Gate`` choose one and batch through ``batched``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitlab import memory

Runner = Callable[[np.ndarray], np.ndarray]
BACKENDS = ("keras", "onnx")


def batched(run: Runner, x: np.ndarray, row_shape: tuple[int, ...], batch_size: int = memory.FORWARD_BATCH,
            dtype=np.float32, sample_shape: tuple[int, ...] = (28, 28)) -> np.ndarray:
    """``run`` on (N, *sample_shape) inputs ``batch_size`` rows at a time -> (N, *row_shape) ``dtype`` (N = 0 included)."""
    x = np.asarray(x, np.float32).reshape(-1, *sample_shape)
    out = [np.asarray(run(x[i : i + batch_size]), dtype) for i in range(0, len(x), batch_size)]
    return np.concatenate(out).reshape(-1, *row_shape) if out else np.zeros((0, *row_shape), dtype)


def keras(model, input_shape: tuple[int, ...], head: str | None = None, sample_shape: tuple[int, ...] = (28, 28)) -> Runner:
    """The model's forward pass, traced once for any batch size: (n, *sample_shape) reshaped to ``input_shape``
    (e.g. (-1, 28, 28, 1)), then ``head``: "softmax" (a model that ends in logits) or "p_digit" (the gate's
    one output column, (n, 1) -> (n,))."""
    import tensorflow as tf  # here, not at import: the ONNX backend never needs it

    if head not in (None, "softmax", "p_digit"):
        raise ValueError(f"unknown head {head!r}")

    @tf.function(input_signature=[tf.TensorSpec([None, *sample_shape], tf.float32)], reduce_retracing=True)
    def forward(x):
        y = model(tf.reshape(x, input_shape), training=False)
        if head == "softmax":  # a Python branch: decided once, when the function is traced
            return tf.nn.softmax(y)
        return y[:, 0] if head == "p_digit" else y

    return lambda x: forward(tf.constant(x)).numpy()


def session_options():
    """ONNX Runtime's options for every session here: one thread between operators, threads that sleep when out of
    work instead of spinning, no memory arena."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    # A spinning thread pool burns a core between calls and fights every other process for it: reading 2,000 PNGs
    # with mnist_advanced through the predict CLI took 1.3-1.4x the wall time and 1.6-1.8x the CPU spinning, with the
    # same answers.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = False  # the arena kept every batch's activations: +105 MB after 4 x 256 digits of
    # mnist_advanced (Robustness, Data), none without it, at the same speed
    return options


def session(model: Path | bytes):
    """An ONNX Runtime session (``session_options``) on a serving file (its path, or the very bytes that were checked:
    ``serving.store.check``)."""
    import onnxruntime as ort

    return ort.InferenceSession(model if isinstance(model, bytes) else str(model), session_options(), providers=["CPUExecutionProvider"])


def onnx(model, input_name: str = "image") -> Runner:
    """A session (``session``, or one made here from a path or bytes) as a runner: its one input (``input_name``:
    "image" (n, 28, 28), the number reader's "line" (n, 28, 224)), its first output.  Serving goes through
    ``serving.store.runner``, which checks the file first and every answer after."""
    s = session(model) if isinstance(model, (str, Path, bytes)) else model
    return lambda x: s.run(None, {input_name: x})[0]
