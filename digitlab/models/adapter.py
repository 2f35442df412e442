"""The adapter: what this project needs to know about any 28x28 -> 10 classifier, whoever built it.

    LAYOUTS / batch_shape    how a model wants its pixels: (28, 28, 1), (28, 28) or (784,)
    check_signature          one 28x28 grey input of any batch size, one output of 10 classes (nothing runs)
    check_classifier         the signature, then a forward pass on real digits (``probe_digits``): finite, and
                             probabilities that sum to 1 when the head is a softmax; probabilities or logits?
    probability_head         does this layer turn logits into probabilities (softmax activation, Softmax layer)?
    logits_model             the model from its input to its ``logits`` layer (digitlab builders name it)
    logits_function          the logits of any model: the ``logits`` layer, log-probabilities of a softmax head, or its outputs
    head_layers              the layers that make the logits (fine-tuning warms them up first)

Attacks, explanations, ensembles, fine-tuning, export and the classifiers all ask here.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

LOGITS = "logits"  # the Dense layer every digitlab builder names so (ensembles: the mean of the members')
LAYOUTS = {(28, 28, 1): "28x28x1", (28, 28): "28x28", (784,): "784"}  # per-example input shape -> layout name
_BATCH_SHAPES = {"28x28x1": (-1, 28, 28, 1), "28x28": (-1, 28, 28), "784": (-1, 784)}


def batch_shape(layout: str) -> tuple[int, ...]:
    """The reshape target of a batch of (N, 28, 28) inputs for a model of this layout."""
    return _BATCH_SHAPES[layout]


class ModelError(ValueError):
    """A model file that cannot be used; the message says why, in plain words."""


def check_signature(model) -> str:
    """One input of 28x28 grey digits (any batch size), one output of 10 classes; returns the layout.
    Reads shapes only, so it also works on a model whose weights were never allocated."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"expected one input and one output, found {len(model.inputs)} and {len(model.outputs)}")
    full = tuple(model.inputs[0].shape)
    shape = full[1:]
    if shape not in LAYOUTS:
        raise ModelError(f"input shape {shape} is not 28x28 grey (accepted: (28,28,1), (28,28), (784,))")
    if full[0] is not None:
        raise ModelError(f"the input has a fixed batch size of {full[0]}; a classifier must take any number of digits")
    out_shape = tuple(model.outputs[0].shape[1:])
    if out_shape != (10,):
        raise ModelError(f"output shape {out_shape} is not 10 classes")
    return LAYOUTS[shape]


_SQUASHING = {"sigmoid", "hard_sigmoid", "tanh", "hard_tanh", "softsign"}  # bounded per class: neither logits nor a distribution


def _activation_name(layer) -> str:
    return getattr(getattr(layer, "activation", None), "__name__", "")


def probability_head(layer) -> bool:
    """True for a layer whose output is a softmax over the classes: ``keras.layers.Softmax``, an
    ``Activation("softmax")``, or any layer with ``activation="softmax"`` (a Dense head)."""
    import keras

    return isinstance(layer, keras.layers.Softmax) or _activation_name(layer) == "softmax"


def _last_layer(model):
    """The layer that makes the output, looking inside a nested model that ends another model."""
    import keras

    last = model.layers[-1]
    while isinstance(last, keras.Model) and last.layers:
        last = last.layers[-1]
    return last


def _inbound_layers(layer) -> list:
    nodes = getattr(layer, "_inbound_nodes", None) or []
    return [t._keras_history[0] for node in nodes for t in node.input_tensors if hasattr(t, "_keras_history")]


def probe_digits() -> tuple[np.ndarray, str]:
    """(10, 28, 28) float32 digits, one of each class, to run a model on before it is trusted, and
    where they come from: the first of each class in the MNIST test split when a copy is at hand
    ($DIGITLAB_MNIST, or the keras cache's), or else the digits 0-9 drawn in a Hershey font, both
    through the one preprocessing path.  Never a download: checking an upload must not wait on a
    network (one that drops packets would hold it for minutes before the font digits were drawn).
    Never blank: a model can be finite on a blank input and NaN on any ink."""
    global _PROBE
    if _PROBE is None:
        from digitlab import data, preprocess
        from digitlab.data import mnist as mnist_file

        try:
            if not (os.environ.get(data.ENV_VAR) or mnist_file.KERAS_CACHE.is_file()):
                raise data.DataError("no copy of MNIST at hand, and none is downloaded here")
            mnist = data.load()
            idx = [int(np.flatnonzero(mnist.y_test == d)[0]) for d in range(10)]
            _PROBE = mnist.inputs("test", indices=idx)[0], "MNIST test digits"
        except data.DataError:
            import cv2

            drawn = []
            for d in range(10):
                canvas = np.zeros((140, 140), np.uint8)
                cv2.putText(canvas, str(d), (30, 115), cv2.FONT_HERSHEY_SIMPLEX, 4, 255, 12, cv2.LINE_AA)
                drawn.append(preprocess.prepare(canvas, invert="no").image)
            _PROBE = np.stack(drawn).astype(np.float32), "digits drawn in a font (MNIST not found)"
    return _PROBE


_PROBE: tuple[np.ndarray, str] | None = None


def check_classifier(model, digits: np.ndarray | None = None) -> tuple[str, str]:
    """Check that ``model`` maps 28x28 grey digits to 10 classes; returns (layout, outputs).

    layout: "28x28x1", "28x28" or "784"; outputs: "probabilities" or "logits".  The model runs once
    on ``digits`` ((N, 28, 28) float32, default ``probe_digits()``): its outputs must be finite, and
    probabilities (each row in [0, 1], summing to 1) when its head is a softmax.  Refused with the
    reason (ModelError): a squashing head (sigmoid, tanh: ten independent scores, neither logits nor
    a distribution) and a softmax applied twice (no digit could ever pass 23% confidence).
    """
    layout = check_signature(model)
    last = _last_layer(model)
    if _activation_name(last) in _SQUASHING:
        raise ModelError(f"its last layer {last.name!r} applies {_activation_name(last)}: ten independent scores, "
                         "neither logits nor probabilities that sum to 1")
    head = probability_head(last)
    if head:
        before = [layer for layer in _inbound_layers(last) if probability_head(layer)]
        if before:
            raise ModelError(f"it applies softmax twice ({before[0].name!r}, then {last.name!r}): "
                             "its confidence can never pass 23%, so every digit would be refused")
    if digits is None:
        digits, _ = probe_digits()
    x = np.asarray(digits, np.float32).reshape(batch_shape(layout))
    try:
        y = np.asarray(model(x, training=False))
    except Exception as e:
        raise ModelError(f"forward pass failed ({type(e).__name__}: {str(e)[:200]})") from e
    if y.shape != (len(x), 10):
        raise ModelError(f"forward pass on {len(x)} digits gave shape {y.shape}, not ({len(x)}, 10)")
    finite = np.isfinite(y).all(axis=1)
    if not finite.all():
        raise ModelError(f"non-finite outputs (NaN or inf) on {int((~finite).sum())} of {len(x)} real digits")
    sums = y.sum(axis=1)
    distribution = bool(y.min() >= -1e-6 and y.max() <= 1 + 1e-6 and np.abs(sums - 1).max() < 1e-3)
    if head and not distribution:
        raise ModelError(f"its head is a softmax but its outputs are not probabilities (values {y.min():.3g} to {y.max():.3g}, "
                         f"rows sum to {sums.min():.3g} to {sums.max():.3g}, not 1)")
    # A head the layers do not show (a softmax hidden in a custom activation or a nested model's
    # config) still gives rows that are distributions on every digit; logits practically never do.
    return layout, "probabilities" if head or distribution else "logits"


def logits_model(model):
    """The functional model from ``model``'s input to its ``logits`` layer (pre-softmax); raises ValueError without one."""
    import keras

    return keras.Model(model.inputs, model.get_layer(LOGITS).output, name=f"{model.name}_logits")


def _log_probs(p):
    import tensorflow as tf

    return tf.math.log(tf.maximum(p, 1e-30))


def keras_model(model):
    """A keras.Model from a keras.Model, an ``artifacts.ModelEntry`` or an ``inference.Classifier``."""
    inner = getattr(model, "model", None)  # Classifier.model / ModelEntry.model
    return inner if inner is not None else model


def logits_function(model) -> tuple[Callable, tuple[int, ...], str]:
    """(model's logits as a function of its own input tensor, the model's input shape, which source).

    source: "logits layer", "log probabilities" (softmax output, no ``logits`` layer) or "outputs".
    """
    import keras

    model = keras_model(model)
    shape = tuple(model.inputs[0].shape[1:])
    try:
        layer = model.get_layer(LOGITS)
    except ValueError:
        layer = None
    if layer is not None and not isinstance(model, keras.Sequential):
        sub = logits_model(model)
        return (lambda x, training=False: sub(x, training=training)), shape, "logits layer"
    if layer is not None:
        # Sequential models loaded from .keras keep stale layer outputs in Keras 3: call the layers in turn.
        upto = model.layers[: model.layers.index(layer) + 1]

        def seq(x, training=False):
            for lyr in upto:
                x = lyr(x, training=training)
            return x

        return seq, shape, "logits layer"
    if probability_head(_last_layer(model)):
        # log p = logits - logsumexp(logits): the same gradients up to the saturation of p in float32
        return (lambda x, training=False: _log_probs(model(x, training=training))), shape, "log probabilities"
    return (lambda x, training=False: model(x, training=training)), shape, "outputs"


def head_layers(model) -> list:
    """The layers that make the logits: the Dense named "logits" (every digitlab builder has one), or each
    member's "m<i>_logits" in an ensemble (whose own "logits" only averages them), else the last layer
    with weights (models added by hand: the Dense before a Softmax or Activation("softmax") layer, which
    have no weights, or a Dense with the softmax as its activation)."""
    heads = [layer for layer in model.layers if layer.weights and (layer.name == LOGITS or layer.name.endswith(f"_{LOGITS}"))]
    if heads:
        return heads
    weighted = [layer for layer in model.layers if layer.weights]
    if not weighted:
        raise ModelError(f"{model.name} has no layer with weights: nothing to fine-tune")
    return [weighted[-1]]
