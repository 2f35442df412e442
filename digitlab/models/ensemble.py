"""Average several trained digit models into one ``.keras`` model, with its card.

Independently trained networks make partly different mistakes, so the average of their
logits is right more often than any one of them: the standard way the strongest MNIST
results are reached.  ``combine`` copies each member's layers (prefixed ``m0_``, ``m1_``, ...)
into one flat functional graph on a shared input, averages the members' ``logits`` layers into
a layer named ``logits`` and ends in the usual ``probs`` softmax, so the result is an ordinary
model: it loads in safe mode, Grad-CAM finds a last convolution (the last member's), attacks
and calibration reach ``logits``, and every export format takes it.

``digitlab.training.ensemble.build`` is what ``training/ensemble.py`` runs: load the members,
combine, evaluate, save with a card that embeds each member's card.
"""

from __future__ import annotations

from digitlab.models import adapter


class EnsembleError(ValueError):
    """Members that cannot be combined; the message says why."""


def _logits_model(member):
    """The member from its input to its ``logits`` layer (pre-softmax)."""
    try:
        return adapter.logits_model(member)
    except ValueError as e:
        raise EnsembleError(f"{member.name}: no layer named 'logits' (only models built by digitlab.models can be combined)") from e


def check_weights(weights, n: int) -> list[float]:
    """``weights`` as floats, one per member, each finite and > 0; else EnsembleError saying why."""
    import math

    weights = [float(w) for w in weights]
    if len(weights) != n:
        raise EnsembleError(f"{len(weights)} weights for {n} members: give one weight per member")
    bad = [w for w in weights if not (math.isfinite(w) and w > 0)]
    if bad:
        raise EnsembleError(f"every weight must be a finite number above 0, got {bad[0]}")
    return weights


def clone_onto(members: list, inputs) -> list:
    """Each member's layers copied (named ``m<i>_<layer>``, its weights kept) onto the shared ``inputs`` tensor:
    the members' output tensors, for a flat graph that loads in safe mode."""
    import keras

    outs = []
    for i, member in enumerate(members):

        def renamed(layer, i=i):
            return layer.__class__.from_config({**layer.get_config(), "name": f"m{i}_{layer.name}"})

        shared = [inputs] if isinstance(member.input, (list, tuple)) else inputs  # the structure the member was built with
        clone = keras.models.clone_model(member, input_tensors=shared, clone_function=renamed)
        clone.set_weights(member.get_weights())
        outs.append(clone.outputs[0])
    return outs


def combine(members: list, name: str = "ensemble", weights: list[float] | None = None):
    """One flat functional model whose ``logits`` are the mean of the members' logits, or with ``weights``
    (one per member, > 0) their weighted mean sum(w_i logits_i) / sum(w): each member's logits scaled by its
    share (a ``Rescaling`` layer ``w<i>``) and added.  A member that is itself an ensemble enters with its own
    logits (the mean of its members'), so weights 2, w, w over (pair, x, y) give (a + b + w x + w y) / (2 + 2w)."""
    import keras
    from keras import layers

    from digitlab.models.builders import INPUT_SHAPE

    if len(members) < 2:
        raise EnsembleError(f"an ensemble needs at least 2 members, got {len(members)}")
    if weights is not None:
        weights = check_weights(weights, len(members))
    inputs = keras.Input(INPUT_SHAPE, name="image")
    subs = [_logits_model(member) for member in members]
    for member, sub in zip(members, subs, strict=True):
        if tuple(sub.input_shape[1:]) != INPUT_SHAPE:
            raise EnsembleError(f"{member.name}: input {sub.input_shape[1:]} is not {INPUT_SHAPE}")
    outs = clone_onto(subs, inputs)
    if weights is None:
        logits = layers.Average(name="logits")(outs)
    else:  # Rescaling and Add are plain Keras layers: the model still loads in safe mode and exports to every format
        total = sum(weights)
        logits = layers.Add(name="logits")([layers.Rescaling(w / total, name=f"w{i}")(o) for i, (o, w) in enumerate(zip(outs, weights, strict=True))])
    probs = layers.Activation("softmax", name="probs")(logits)
    return keras.Model(inputs, probs, name=name)
