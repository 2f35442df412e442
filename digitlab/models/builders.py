"""Pure model builders, registered by name.

A builder takes sizes and returns an *uncompiled* Functional ``keras.Model`` that
starts with ``keras.Input((28, 28, 1))`` (float pixels in [0, 1], light ink on
black: the output of ``digitlab.preprocess``).  Every model ends with a Dense
layer named ``logits`` followed by a softmax named ``probs``, so attacks and
calibration can reach the logits, and the last convolution is named
``last_conv`` for Grad-CAM.  Functional (not Sequential) so that Grad-CAM can
reach inner layers of a reloaded model (a reloaded Sequential's ``layer.output`` is stale).  No fitting, no files.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
LAST_CONV = "last_conv"


def _head(x, dropout: float):
    """Dropout (optional) and the 10-way ``logits`` layer shared by the convolutional models."""
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    x = layers.Dense(NUM_CLASSES, name="logits")(x)
    return x


def build_baseline(name: str = "baseline") -> keras.Model:
    """Softmax regression on the 784 pixels (7,850 parameters)."""
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = layers.Flatten(name="flatten")(inputs)
    x = layers.Dense(NUM_CLASSES, name="logits")(x)
    outputs = layers.Activation("softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


def _conv_bn_relu(x, filters: int, name: str, momentum: float, separable: bool = False, relu: bool = True, pool: str | None = None):
    """Conv, then (optionally) 2x2 max pooling named ``pool``, then BatchNorm and ReLU."""
    conv = layers.SeparableConv2D if separable else layers.Conv2D
    x = conv(filters, 3, padding="same", use_bias=False, name=name)(x)
    if pool:
        x = layers.MaxPooling2D(name=pool)(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def build_cnn(width: int = 32, dropout: float = 0.25, bn_momentum: float = 0.9, name: str = "cnn", depth: int = 3,
              pool_first: bool = True) -> keras.Model:
    """Compact CNN, built for fast training on a CPU (~88k params at width 32).

    (28,28,1) -> conv w -> pool (14,14,w) -> conv 2w -> pool (7,7,2w) -> conv 2w "last_conv"
    -> flatten (3136) -> dropout -> 10.  Every conv is followed by BatchNorm, which lets it train
    at a high learning rate.  The first two convolutions are pooled *before* their BatchNorm and
    ReLU (max pooling commutes with ReLU), so normalisation runs on a quarter of the values:
    Keras 3's BatchNormalization is not fused and was half of a training step on this CPU;
    this order made a step ~30 % cheaper and learnt as fast per epoch (evaluation/benchmark.py
    measures the step cost of both orders; README, Speed).
    Pooling early keeps each step cheap.  A flatten head keeps where
    the strokes are, and learned several times faster than global average pooling in a
    measured comparison.  BatchNorm momentum 0.9 (Keras' default is 0.99) makes the inference
    statistics usable after a few dozen steps instead of a few hundred.
    depth (>= 3, the hyperparameter search varies it): convolutions in all; each one past the
    third is another conv-BN-ReLU of 2w at 7x7 ("conv2", "conv3", ...) before "last_conv".
    pool_first=False builds the textbook order (conv-BN-ReLU, then pool) for comparison.
    """
    if depth < 3:
        raise ValueError(f"cnn depth must be at least 3 convolutions, got {depth}")
    inputs = keras.Input(INPUT_SHAPE, name="image")
    if pool_first:
        x = _conv_bn_relu(inputs, width, "conv0", bn_momentum, pool="pool0")
        x = _conv_bn_relu(x, 2 * width, "conv1", bn_momentum, pool="pool1")
    else:  # the textbook order, conv-BN-ReLU then pool: kept to measure the difference (evaluation/benchmark.py)
        x = layers.MaxPooling2D(name="pool0")(_conv_bn_relu(inputs, width, "conv0", bn_momentum))
        x = layers.MaxPooling2D(name="pool1")(_conv_bn_relu(x, 2 * width, "conv1", bn_momentum))
    for i in range(2, depth - 1):
        x = _conv_bn_relu(x, 2 * width, f"conv{i}", bn_momentum)
    x = _conv_bn_relu(x, 2 * width, LAST_CONV, bn_momentum)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Activation("softmax", name="probs")(_head(x, dropout))
    return keras.Model(inputs, outputs, name=name)


def build_advanced(width: int = 48, stem: int = 32, dropout: float = 0.3, bn_momentum: float = 0.99, name: str = "advanced") -> keras.Model:
    """Depthwise-separable CNN with BatchNorm and residual stages (Xception-style).

    stem: conv 3x3 (28,28,stem) -> pool (14,14)
    stage s (filters w, 2w, 3w): SeparableConv-BN-ReLU, SeparableConv-BN, + 1x1 projection, ReLU
    (14,14,w) -> pool -> (7,7,2w) -> (7,7,3w) "last_conv" -> global average pool -> dropout -> 10.
    """
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = _conv_bn_relu(inputs, stem, "stem", bn_momentum)
    x = layers.MaxPooling2D(name="stem_pool")(x)
    stages = (width, 2 * width, 3 * width)
    for s, filters in enumerate(stages):
        last = s == len(stages) - 1
        shortcut = layers.Conv2D(filters, 1, use_bias=False, name=f"s{s}_proj")(x)
        shortcut = layers.BatchNormalization(momentum=bn_momentum, name=f"s{s}_proj_bn")(shortcut)
        x = _conv_bn_relu(x, filters, f"s{s}_sep0", bn_momentum, separable=True)
        x = _conv_bn_relu(x, filters, LAST_CONV if last else f"s{s}_sep1", bn_momentum, separable=True, relu=False)
        x = layers.Add(name=f"s{s}_add")([x, shortcut])
        x = layers.ReLU(name=f"s{s}_out")(x)
        if s == 0:
            x = layers.MaxPooling2D(name=f"s{s}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Activation("softmax", name="probs")(_head(x, dropout))
    return keras.Model(inputs, outputs, name=name)


def build_madry(width: int = 32, hidden: int = 1024, name: str = "madry") -> keras.Model:
    """The MNIST model of Madry et al. (2018), whose capacity adversarial training needs (~3.3M params).

    (28,28,1) -> conv 5x5 w, ReLU -> pool (14,14,w) -> conv 5x5 2w "last_conv", ReLU -> pool (7,7,2w)
    -> flatten -> dense ``hidden``, ReLU -> 10 "logits".  No BatchNorm and no dropout: nothing that
    behaves differently between the attack (inference mode) and the training step.
    """
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = layers.Conv2D(width, 5, padding="same", activation="relu", name="conv0")(inputs)
    x = layers.MaxPooling2D(name="pool0")(x)
    x = layers.Conv2D(2 * width, 5, padding="same", activation="relu", name=LAST_CONV)(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(hidden, activation="relu", name="fc")(x)
    outputs = layers.Activation("softmax", name="probs")(_head(x, 0.0))
    return keras.Model(inputs, outputs, name=name)


def build_convnet_reference(name: str = "mnist_convnet") -> keras.Model:
    """The keras-io ``mnist_convnet`` example (34,826 params), used only as a speed reference."""
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = layers.Conv2D(32, 3, activation="relu", name="conv0")(inputs)
    x = layers.MaxPooling2D(name="pool0")(x)
    x = layers.Conv2D(64, 3, activation="relu", name=LAST_CONV)(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.5, name="dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "baseline": build_baseline,
    "cnn": build_cnn,
    "advanced": build_advanced,
    "madry": build_madry,
    "convnet_reference": build_convnet_reference,
}


def build(builder: str, **kwargs) -> keras.Model:
    """Build a registered model by name, e.g. ``build("cnn", width=32)``."""
    if builder not in BUILDERS:
        raise KeyError(f"unknown model builder {builder!r}; known: {sorted(BUILDERS)}")
    return BUILDERS[builder](**kwargs)
