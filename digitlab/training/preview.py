"""The training augmentation applied to one digit, to see what a model is trained on (the app's Data page).

    RECIPES          the committed models' recipes (digitlab.training.presets) by model name
    augmented(image, config, n, seed)   n draws of ``recipe.augmenter`` (the very function ``make_dataset``
                     maps over every training batch) on one prepared digit
    knobs(config)    the augmentation settings of a recipe, for a caption
    redraw_recipe(name)  the network of the committed model's recipe (training/configs/) that re-draws MNIST's
                     digits as canvas strokes, with its config
    redrawn(image, digit, config, n, seed, eights)   n re-drawings of one digit as that step draws them
    redraw_words(name)     how the committed model's recipe re-draws its digits, for a caption

TensorFlow is imported by ``augmented`` only (the augmenter is Keras preprocessing layers).
"""

from __future__ import annotations

import dataclasses
import functools

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


@functools.cache
def redraw_recipe(name: str):
    """(network name, its config) of the committed model ``name``'s recipe (``training/configs/NAME.toml``) that
    re-draws MNIST's digits as canvas strokes: its last network with ``redraw`` above 0, parsed by the training
    scripts' own parser; None when no network of it re-draws (or no model has that recipe).  Read once per name."""
    from digitlab.training import cli, recipes

    try:
        networks = recipes.model(name)["networks"]
    except recipes.RecipeError:
        return None
    for path, net in reversed(networks):
        if not net.get("redraw") or net["script"] not in cli.SCRIPTS.values():
            continue
        base = presets.ADVANCED if net["script"].endswith("train_advanced.py") else presets.CNN
        return net["name"], cli.parse_args(base, None, ["--config", str(path)])[0]
    return None


def redrawn(image: np.ndarray, digit: int, config, n: int = 16, seed: int = 0, eights: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``n`` re-drawings of one prepared MNIST digit ((28, 28) float in [0, 1], a ``digit``) as ``config``'s stroke
    recipe draws its digits (``stroke_augment.redraw_copies``): ((n, 28, 28) float32, (n,) given a writing convention).
    ``eights``: the 8 as two circles too (``conventions_classes`` with 8: on in the compact networks cnn_b, ``mnist_cnn``'s
    last network, and cnn_e, ``mnist_advanced``'s)."""
    from digitlab.data import stroke_augment

    r = recipe.redraw_settings(config)
    if eights and "8" not in r.classes:
        r = dataclasses.replace(r, classes="".join(sorted(r.classes + "8")))
    return stroke_augment.redraw_copies(np.asarray(image, np.float32), digit, r, n, seed)


def redraw_words(name: str) -> str:
    """How the committed model ``name``'s recipe re-draws its digits (``redraw_recipe``), in words, for a caption."""
    found = redraw_recipe(name)
    if found is None:
        return f"The committed `{name}` re-draws no digit as canvas strokes (its recipe: `python training/rebuild.py --list`)."
    network, c = found
    share = "every" if c.redraw_conventions >= 1 else f"{c.redraw_conventions:.0%} of the"
    return (f"The committed `{name}`'s network `{network}` (training/configs/{network}.toml) trains with {c.redraw:.0%} of its training digits "
            f"re-drawn as canvas strokes (one brush of {c.redraw_brush_min:.0%}-{c.redraw_brush_max:.0%} of the digit's height), "
            f"{c.redraw_pen_path:.0%} of them as one pen path (the moves between strokes drawn too), {c.redraw_few_points:.0%} of "
            f"the rest from a few points; {share} re-drawn {', '.join(c.conventions_classes)} given a writing convention where "
            "one applies (`digitlab.data.stroke_augment`): MNIST's pen on paper drawn again the way the app's canvas draws, each "
            "drawing read as the app reads its canvas.")
