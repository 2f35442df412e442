"""The adapter: what this project needs to know about any 28x28 -> 10 classifier, whoever built it.

    LAYOUTS / batch_shape    how a model wants its pixels: (28, 28, 1), (28, 28) or (784,)
    check_classifier         28x28 grey in, 10 classes out, a finite forward pass; probabilities or logits?
    logits_model             the model from its input to its ``logits`` layer (digitlab builders name it)
    logits_function          the logits of any model: the ``logits`` layer, log-probabilities of a softmax, or its outputs
    head_layers              the layers that make the logits (fine-tuning warms them up first)

Attacks, explanations, ensembles, fine-tuning, export and the classifiers all ask here.
"""

from __future__ import annotations

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


def check_classifier(model) -> tuple[str, str]:
    """Check that ``model`` maps 28x28 grey digits to 10 classes; returns (layout, outputs).

    layout: "28x28x1", "28x28" or "784"; outputs: "probabilities" or "logits".
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"expected one input and one output, found {len(model.inputs)} and {len(model.outputs)}")
    shape = tuple(model.inputs[0].shape[1:])
    if shape not in LAYOUTS:
        raise ModelError(f"input shape {shape} is not 28x28 grey (accepted: (28,28,1), (28,28), (784,))")
    out_shape = tuple(model.outputs[0].shape[1:])
    if out_shape != (10,):
        raise ModelError(f"output shape {out_shape} is not 10 classes")
    layout = LAYOUTS[shape]
    probe = np.zeros((1, *shape), np.float32)
    try:
        y = np.asarray(model(probe, training=False))
    except Exception as e:
        raise ModelError(f"forward pass failed ({type(e).__name__}: {str(e)[:200]})") from e
    if y.shape != (1, 10) or not np.isfinite(y).all():
        raise ModelError(f"forward pass gave shape {y.shape} or non-finite values")
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    is_softmax = getattr(activation, "__name__", "") == "softmax"
    return layout, "probabilities" if is_softmax else "logits"


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
        # Sequential models loaded from .keras keep stale layer outputs (STACK.md): call the layers in turn.
        upto = model.layers[: model.layers.index(layer) + 1]

        def seq(x, training=False):
            for lyr in upto:
                x = lyr(x, training=training)
            return x

        return seq, shape, "logits layer"
    last = model.layers[-1]
    if getattr(getattr(last, "activation", None), "__name__", "") == "softmax":
        # log p = logits - logsumexp(logits): the same gradients up to the saturation of p in float32
        return (lambda x, training=False: _log_probs(model(x, training=training))), shape, "log probabilities"
    return (lambda x, training=False: model(x, training=training)), shape, "outputs"


def head_layers(model) -> list:
    """The layers that make the logits: the Dense named "logits" (every digitlab builder has one), or each
    member's "m<i>_logits" in an ensemble (whose own "logits" only averages them), else the last layer
    with weights (models added by hand)."""
    heads = [layer for layer in model.layers if layer.weights and (layer.name == LOGITS or layer.name.endswith(f"_{LOGITS}"))]
    return heads or [[layer for layer in model.layers if layer.weights][-1]]
