"""The training augmentation applied to one digit, to see what a model is trained on (the app's Data page).

    RECIPES          the committed models' recipes (digitlab.training.presets) by model name
    augmented(image, config, n, seed)   n draws of ``recipe.augmenter`` (the very function ``make_dataset``
                     maps over every training batch) on one prepared digit
    knobs(config)    the augmentation settings of a recipe, for a caption

TensorFlow is imported by ``augmented`` only (the augmenter is Keras preprocessing layers).
"""

from __future__ import annotations

import numpy as np

from digitlab.training import presets, recipe

RECIPES = {c.name: c for c in (presets.CNN, presets.ADVANCED, presets.ROBUST)}  # the scikit-learn baseline is not augmented


def knobs(config) -> str:
    """The augmentation a recipe applies, in words."""
    a = recipe.Augmentation.of(config)
    if not a.active:
        return "no geometric or stroke augmentation"
    return (f"rotation up to ±{a.rotation_deg:g}°, shift up to ±{a.translate:.0%} of the side, zoom ±{a.zoom:.0%}, "
            f"a thicker or thinner stroke blended in with probability {a.stroke:g}")


def augmented(image: np.ndarray, config, n: int = 16, seed: int = 0) -> np.ndarray:
    """``n`` augmented copies of one prepared digit ((28, 28) float32 in [0, 1]) -> (n, 28, 28) float32 in [0, 1].

    One batch of ``n`` copies through ``recipe.augmenter(config, seed)``: each copy gets its own random
    rotation, shift, zoom and stroke change, as the digits of a training batch do.  A recipe without
    augmentation returns the digit unchanged."""
    image = np.asarray(image, np.float32)
    if image.shape != (28, 28):
        raise ValueError(f"expected one (28, 28) prepared digit, got shape {image.shape}")
    if not recipe.Augmentation.of(config).active:
        return np.repeat(image[None], n, axis=0)
    import tensorflow as tf

    apply = recipe.augmenter(config, seed)
    x = tf.constant(np.repeat(image[None, :, :, None], n, axis=0))  # (n, 28, 28, 1), as make_dataset batches
    out, _ = apply(x, tf.zeros([n, 10]))
    return np.asarray(out)[..., 0]
