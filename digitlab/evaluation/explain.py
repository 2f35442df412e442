"""Why did the model say that?  Grad-CAM, Grad-CAM++, gradient saliency, activation maps.

Every explanation is a pure function ``(model, image, ...) -> array in [0, 1]``
(the keras-io ``grad_cam`` habit); drawing an overlay is the separate
``overlay``.  ``image`` is one prepared (28, 28) float32 input from
``digitlab.preprocess``; it is reshaped to whatever the model wants (28x28x1,
28x28 or 784), the same way ``digitlab.serving.classifiers`` does.

The score explained for class c is its logit margin over the other classes,
``z_c - logsumexp_{j != c} z_j`` (z: the logits, the input of a final softmax).
Grad-CAM's paper uses the raw logit z_c; but logits are only defined up to a
common shift, and a model whose logits all sit below zero (seen on the
adversarially trained mnist_robust) gets ReLU(sum_k w_k A_k) = 0 everywhere for a
confidently predicted digit.  The margin is shift-invariant, does not saturate
like the softmax probability, and asks the question users have: why this digit
rather than the others.

An ensemble built by ``digitlab.models.ensemble`` (``mnist_advanced``, ``mnist_cnn``) is one flat model whose
networks' layers are named ``m0_...``, ``m1_...``: its last convolution is its *last network's*, which sees only
that network's share of the score.  ``EVERY_NETWORK`` as the layer asks for the whole model: each network's own
last feature map (``network_cam_layers``), all of them read from one gradient of the ensemble's score.  When the
maps share a grid this is Grad-CAM on them stacked as one layer (the score is the sum of the networks' weighted
logits, so each map's weights carry its network's weight); maps of different grids are each brought to 28x28
first.  ``default_cam_choice`` is that for an ensemble, the last convolution for one network.

Works for Functional models (inner tensors are reachable through
``layer.output``) and for Sequential models loaded from ``.keras`` files, whose
``layer.output`` points at a stale node in Keras 3 (the gradient comes back None): their layers are called
again on a fresh ``keras.Input`` to get a graph with the inner tensors.  Models
without convolutions get ``ExplainError`` with a plain reason from the CAM
functions; gradient saliency works for any model.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass

import cv2
import numpy as np

SIZE = 28
_CONV_NAMES = ("Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D", "Conv2DTranspose")
# Layers that keep the spatial grid of the convolution before them: Grad-CAM by default
# looks at the last convolution's output *after* its BatchNorm / activation / residual add.
_ELEMENTWISE = ("BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Add", "Dropout", "SpatialDropout2D", "LayerNormalization")
EVERY_NETWORK = "(every network)"  # the layer choice for an ensemble's whole score: each network's last feature map
_NETWORK = re.compile(r"(?:m\d+_)+")  # the name prefix of an ensemble network's layers (nested ensembles: m0_m1_...)
NO_CONV = "this model has no convolutional layer, so there is no spatial feature map for Grad-CAM or activation maps; gradient saliency works for any model"


class ExplainError(ValueError):
    """An explanation that cannot be computed for this model; the message says why."""


@dataclass(frozen=True)
class FeatureLayer:
    """A top-level layer with a spatial output (H, W, C)."""

    name: str
    kind: str  # layer class name, e.g. "Conv2D"
    shape: tuple[int, int, int]

    @property
    def is_conv(self) -> bool:
        return self.kind in _CONV_NAMES


@dataclass(frozen=True)
class ActivationMap:
    """Output of one convolution for one input: (H, W, C) float32, each channel scaled to [0, 1]."""

    name: str
    kind: str
    shape: tuple[int, int, int]
    maps: np.ndarray


# ----------------------------------------------------------------------------- the probe graph


class _Probe:
    """A graph over the model's own layers (shared weights) that also returns every
    spatial feature map and the pre-softmax class scores."""

    def __init__(self, model):
        import keras

        if len(model.inputs) != 1:
            raise ExplainError(f"expected a model with one input, found {len(model.inputs)}")
        self.input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        last = model.layers[-1]
        self.head = _head_kind(last)
        self.last = last
        if isinstance(model, keras.Sequential):
            # layer.output of a reloaded Sequential is a stale node: rebuild on a fresh Input.
            inp = keras.Input(self.input_shape, name="probe_image")
            x, taps, pre = inp, {}, None
            for layer in model.layers:
                if layer is last:
                    pre = x
                x = layer(x)
                taps[layer.name] = (layer, x)
            final = pre if self.head != "none" else x
        else:
            inp = model.inputs
            try:
                taps = {layer.name: (layer, layer.output) for layer in model.layers if type(layer).__name__ != "InputLayer"}
                final = last.input if self.head != "none" else model.outputs[0]
            except (AttributeError, ValueError) as e:  # a layer used twice has no single .output
                raise ExplainError(f"cannot reach the inner layers of this model ({e})") from e
        self.layers = [
            FeatureLayer(name, type(layer).__name__, tuple(int(d) for d in t.shape[1:]))
            for name, (layer, t) in taps.items()
            if len(t.shape) == 4 and all(d is not None for d in t.shape[1:])
        ]
        names = [f.name for f in self.layers]
        self.graph = keras.Model(inp, [taps[n][1] for n in names] + [final], name="explain_probe")
        self.names = names

    def run(self, image: np.ndarray):
        """Forward one image -> ({layer name: (1, H, W, C) tensor}, logits (1, 10) tensor).

        Call inside a GradientTape to take gradients with respect to any of them.
        """
        import tensorflow as tf

        x = image if isinstance(image, tf.Tensor) else tf.constant(to_model_input(image, self.input_shape))
        out = self.graph(x, training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        feats = dict(zip(self.names, out[:-1]))
        return feats, self._logits(out[-1])

    def _logits(self, pre):
        import tensorflow as tf

        if self.head == "dense_softmax":  # final Dense(activation="softmax"): redo its affine part
            z = tf.matmul(pre, tf.convert_to_tensor(self.last.kernel))
            return z + tf.convert_to_tensor(self.last.bias) if self.last.use_bias else z
        return pre  # input of a softmax layer, or a model that already outputs logits


def _head_kind(last) -> str:
    kind = type(last).__name__
    act = getattr(getattr(last, "activation", None), "__name__", "")
    if kind == "Softmax" or (kind == "Activation" and act == "softmax"):
        return "softmax_layer"
    if kind == "Dense" and act == "softmax":
        return "dense_softmax"
    return "none"


_PROBES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _probe(model) -> _Probe:
    """One probe per model object (building it costs ~100 ms; calling layers again adds graph nodes)."""
    p = _PROBES.get(model)
    if p is None:
        p = _PROBES[model] = _Probe(model)
    return p


def to_model_input(image: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """(28, 28) or (1, 28, 28) float image -> (1, *input_shape) float32 (28x28x1, 28x28 or 784)."""
    x = np.asarray(image, np.float32)
    if x.size != SIZE * SIZE:
        raise ExplainError(f"expected one 28x28 image, got an array of shape {x.shape}")
    return x.reshape((1, *input_shape))


# ----------------------------------------------------------------------------- layers


def feature_layers(model) -> list[FeatureLayer]:
    """Every top-level layer with a spatial (H, W, C) output, in graph order."""
    return list(_probe(model).layers)


def conv_layers(model) -> list[FeatureLayer]:
    """The convolutions among ``feature_layers``; empty for dense-only models."""
    return [f for f in feature_layers(model) if f.is_conv]


def default_cam_layer(model) -> str:
    """The last convolution, moved past the BatchNorm / activation / residual add that follow it.

    For the models built here that is ``last_conv_relu`` (cnn) or ``s2_out`` (advanced):
    the last feature map before global pooling.  Raises ExplainError when there is no conv.
    """
    name = _last_feature_map(feature_layers(model))
    if name is None:
        raise ExplainError(NO_CONV)
    return name


def _last_feature_map(feats: list[FeatureLayer]) -> str | None:
    """The last convolution of ``feats`` (in graph order), moved past the elementwise layers after it; None without one."""
    idx = [i for i, f in enumerate(feats) if f.is_conv]
    if not idx:
        return None
    i = idx[-1]
    hw = feats[i].shape[:2]
    while i + 1 < len(feats) and feats[i + 1].kind in _ELEMENTWISE and feats[i + 1].shape[:2] == hw:
        i += 1
    return feats[i].name


def network_cam_layers(model) -> list[str]:
    """Each network's last feature map (``default_cam_layer`` within its ``m<k>_`` layers) for an ensemble of two or
    more convolutional networks built by ``digitlab.models.ensemble``; [] for a model of one network."""
    feats = feature_layers(model)
    networks: dict[str, list[FeatureLayer]] = {}
    for f in feats:
        m = _NETWORK.match(f.name)
        networks.setdefault(m.group(0) if m else "", []).append(f)
    if "" in networks or len(networks) < 2:
        return []
    found = [_last_feature_map(layers) for layers in networks.values()]
    return [n for n in found if n is not None] if sum(n is not None for n in found) >= 2 else []


def default_cam_choice(model) -> str:
    """What Grad-CAM reads by default: ``EVERY_NETWORK`` for an ensemble of convolutional networks, else
    ``default_cam_layer``."""
    return EVERY_NETWORK if network_cam_layers(model) else default_cam_layer(model)


# ----------------------------------------------------------------------------- explanations


def _feature_grads(model, image: np.ndarray, class_index: int, layer: str | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(A (h, w, k), dS/dA (h, w, k))] for the class score S (``class_score``) at ``layer``: one pair, or with
    ``EVERY_NETWORK`` one per network of an ensemble (``network_cam_layers``), from one gradient of the score."""
    import tensorflow as tf

    _check_class(class_index)
    probe = _probe(model)
    if not any(f.is_conv for f in probe.layers):
        raise ExplainError(NO_CONV)
    if layer == EVERY_NETWORK:
        names = network_cam_layers(model)
        if not names:
            raise ExplainError(f"{EVERY_NETWORK} is for an ensemble of convolutional networks; this model is one network")
    else:
        names = [layer or default_cam_layer(model)]
        if names[0] not in probe.names:
            raise ExplainError(f"layer {names[0]!r} has no spatial output; choose one of {probe.names}")
    with tf.GradientTape() as tape:
        feats, logits = probe.run(image)
        maps = [feats[n] for n in names]
        score = class_score(logits, int(class_index))
    grads = tape.gradient(score, maps)
    for n, g in zip(names, grads, strict=True):
        if g is None:
            raise ExplainError(f"no gradient reaches layer {n!r} from the class score")
    return [(a.numpy()[0], g.numpy()[0]) for a, g in zip(maps, grads, strict=True)]


def _weighted_map(pairs: list[tuple[np.ndarray, np.ndarray]], weights) -> np.ndarray:
    """sum_k w_k A_k over every (A, dS/dA) pair, ``weights(A, g)`` giving each pair's (k,) weights: one (h, w) map when
    the pairs share a grid (Grad-CAM on the maps stacked as one layer), else each brought to 28x28 and added."""
    maps = [a @ weights(a, g) for a, g in pairs]
    if len({m.shape for m in maps}) > 1:
        maps = [cv2.resize(m.astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_LINEAR) for m in maps]
    return np.sum(maps, axis=0)


def _to_unit_map(cam: np.ndarray) -> np.ndarray:
    """(h, w) non-negative map -> (28, 28) float32 in [0, 1]: bilinear upsampling, divided by its max."""
    cam = np.maximum(np.nan_to_num(cam.astype(np.float32)), 0)
    if cam.shape != (SIZE, SIZE):
        cam = np.maximum(cv2.resize(cam, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR), 0)
    top = float(cam.max())
    return (cam / top).astype(np.float32) if top > 0 else np.zeros((SIZE, SIZE), np.float32)


def grad_cam(model, image: np.ndarray, class_index: int, layer: str | None = None) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) -> (28, 28) float32 in [0, 1].

    weights w_k = mean over (h, w) of dS/dA_k; map = ReLU(sum_k w_k A_k), upsampled to 28x28.
    All zeros when nothing in the layer speaks *for* the class.  ``layer``: a layer's name, None for
    ``default_cam_layer``, or ``EVERY_NETWORK`` (an ensemble's networks' last feature maps, summed).
    """
    pairs = _feature_grads(model, image, class_index, layer)
    return _to_unit_map(_weighted_map(pairs, lambda a, g: g.mean(axis=(0, 1))))  # w_k: (k,)


def grad_cam_plus_plus(model, image: np.ndarray, class_index: int, layer: str | None = None) -> np.ndarray:
    """Grad-CAM++ (Chattopadhay et al. 2018) -> (28, 28) float32 in [0, 1].

    With S' = exp(S) the higher derivatives are powers of the first one, so
    alpha = g^2 / (2 g^2 + sum_ij(A) g^3) and w_k = sum_ij alpha * ReLU(g) (g = dS/dA).
    """
    def weights(a: np.ndarray, g: np.ndarray) -> np.ndarray:  # (k,)
        g2, g3 = g**2, g**3
        denom = 2 * g2 + a.sum(axis=(0, 1), keepdims=True) * g3
        alpha = np.where(denom != 0, g2 / np.where(denom != 0, denom, 1), 0)
        return (alpha * np.maximum(g, 0)).sum(axis=(0, 1))

    return _to_unit_map(_weighted_map(_feature_grads(model, image, class_index, layer), weights))


def saliency(model, image: np.ndarray, class_index: int, samples: int = 0, noise: float = 0.15, seed: int = 0) -> np.ndarray:
    """Gradient saliency |dS/dx| (S: ``class_score``) -> (28, 28) float32 in [0, 1]; works for any model.

    samples > 0 averages the gradient over that many noisy copies (SmoothGrad,
    Smilkov et al. 2017; ``noise`` is the std in pixel units), which is less speckled.
    """
    import tensorflow as tf

    _check_class(class_index)
    probe = _probe(model)
    x = to_model_input(image, probe.input_shape)
    if samples > 0:
        rng = np.random.default_rng(seed)
        x = x + rng.normal(0, noise, (samples, *x.shape[1:])).astype(np.float32)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        _, logits = probe.run(xt)
        score = tf.reduce_sum(class_score(logits, int(class_index)))
    g = tape.gradient(score, xt)
    if g is None:
        raise ExplainError("no gradient reaches the input from the class score")
    sal = np.abs(g.numpy()).mean(axis=0).reshape(SIZE, SIZE)
    return _to_unit_map(sal)


def activation_maps(model, image: np.ndarray, layers: list[str] | None = None) -> list[ActivationMap]:
    """Output of every convolution (or of ``layers``) for one image, each channel min-max scaled to [0, 1].

    Raises ExplainError for models without convolutions.
    """
    probe = _probe(model)
    convs = [f for f in probe.layers if f.is_conv]
    if not convs:
        raise ExplainError(NO_CONV)
    chosen = convs if layers is None else [f for f in probe.layers if f.name in set(layers)]
    feats, _ = probe.run(image)
    out = []
    for f in chosen:
        a = feats[f.name].numpy()[0].astype(np.float32)  # (h, w, c)
        lo, hi = a.min(axis=(0, 1), keepdims=True), a.max(axis=(0, 1), keepdims=True)
        span = hi - lo
        maps = np.where(span > 0, (a - lo) / np.where(span > 0, span, 1), 0).astype(np.float32)
        out.append(ActivationMap(f.name, f.kind, f.shape, maps))
    return out


def class_score(logits, class_index: int):
    """(N, 10) logits tensor -> (N,) margin of ``class_index`` over the other classes (see module doc)."""
    import tensorflow as tf

    others = tf.concat([logits[:, :class_index], logits[:, class_index + 1 :]], axis=1)
    return logits[:, class_index] - tf.reduce_logsumexp(others, axis=1)


def _check_class(class_index: int) -> None:
    if not 0 <= int(class_index) <= 9:
        raise ExplainError(f"class must be a digit 0-9, not {class_index!r}")


# ----------------------------------------------------------------------------- drawing


def tile(maps: np.ndarray, columns: int | None = None, pad: int = 1, pad_value: float = 1.0, limit: int | None = None) -> np.ndarray:
    """(H, W, C) maps in [0, 1] -> one (rows*(H+pad)-pad, cols*(W+pad)-pad) grid, channel 0 top-left.

    ``limit`` keeps only the first channels.  Separator lines have ``pad_value``.
    """
    maps = np.asarray(maps, np.float32)
    if maps.ndim != 3:
        raise ValueError(f"expected (H, W, C) maps, got shape {maps.shape}")
    h, w, c = maps.shape
    if limit is not None:
        c = min(c, limit)
    cols = columns or int(np.ceil(np.sqrt(c)))
    rows = int(np.ceil(c / cols))
    grid = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), pad_value, np.float32)
    for i in range(c):
        r, k = divmod(i, cols)
        grid[r * (h + pad) : r * (h + pad) + h, k * (w + pad) : k * (w + pad) + w] = maps[..., i]
    return grid


def colorize(heat: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) uint8 RGB with the jet colour map (blue low, red high)."""
    u8 = (np.clip(np.asarray(heat, np.float32), 0, 1) * 255).astype(np.uint8)
    return cv2.applyColorMap(u8, cv2.COLORMAP_JET)[..., ::-1].copy()


def overlay(image: np.ndarray, heat: np.ndarray, size: int = 224, alpha: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] heat map over the grey (28, 28) digit -> (size, size, 3) uint8 RGB.

    Nearest-neighbour enlargement, so every input pixel stays a visible square.
    """
    img = np.clip(np.asarray(image, np.float32).reshape(SIZE, SIZE), 0, 1)
    heat = np.clip(np.asarray(heat, np.float32), 0, 1)
    if heat.shape != img.shape:
        heat = cv2.resize(heat, img.shape[::-1], interpolation=cv2.INTER_LINEAR)
    base = np.repeat(img[..., None], 3, axis=-1) * 255
    mixed = (1 - alpha) * base + alpha * colorize(heat).astype(np.float32)
    mixed = np.clip(mixed, 0, 255).astype(np.uint8)
    return cv2.resize(mixed, (size, size), interpolation=cv2.INTER_NEAREST)
