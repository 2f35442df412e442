"""The digit gate: a tiny CNN that answers "is this a digit at all?", for any classifier.

A threshold on a classifier's confidence cannot reject a letter or a star the classifier is sure is
a 4.  The gate is trained for exactly that question, on the same preprocessed 28x28 inputs every
classifier sees:

    positives  MNIST train digits, MNIST train digits redrawn with a canvas brush, digits printed from
               the training fonts (so neither "drawn with a uniform pen" nor "rendered from a font"
               can be what tells a non-digit apart)
               and, so that neither a photo of paper nor a 600x600 picture is what marks a non-digit, more
               of both rendered as uploads (``nondigits.digit_uploads``: canvas or paper, any size)
               and MNIST train digits in the writing conventions MNIST lacks (``stroke_augment.edit_pool``,
               the classifiers' ``--conventions`` edits: a slashed or dotted 0, a 1 with flag and foot, a
               closed 4, a crossed 7, an open 9), so that a slashed zero is not refused as two digits crossed
    negatives  non-digits from the "train" generators of ``digitlab.nondigits`` (their own seeds): pen
               scribbles, letters, textures, shapes, and pictures people upload instead of a digit
               (``nondigits.upload_pictures``: cartoon faces, emoji, letters, scribbles, shapes, text),
               and MNIST train digits written two or three in a row, touching (``nondigits.touching_digits``):
               a number is not one digit, so the one-digit canvas refuses it and the Numbers reader cuts it

    image (28, 28) -> conv 32 -> pool -> conv 64 -> pool -> conv 64 -> pool -> flatten -> dropout -> 1 -> sigmoid
    P(digit) < threshold  -->  "not a digit"

The threshold is the P(digit) below which ``reject_rate`` of the MNIST *validation* digits fall; it
lives in the gate's card (``models/gate/not_a_digit.json``), where ``serving.gate.Gate`` reads it.
The gate does not depend on the classifier, so it also guards a model dropped into ``models/``
without a calibration entry.  It lives in ``models/gate/`` because ``artifacts.list_models`` only
lists ``models/*.keras``: the gate is not a 10-class classifier and must not show up as a broken one.

Train it with ``python training/train_gate.py`` (about 20 minutes on 2 cores); it writes the committed
gate and its card into ``models/gate/`` itself, so that command reproduces the card.  Training pictures
come from seeds >= ``nondigits.TRAIN_SEEDS_FROM``; every measurement (the card's, the benchmark's,
``python evaluation/gate.py``) from seeds below it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab import preprocess
from digitlab.data import nondigits, stroke_augment, unipen
from digitlab.evaluation import nondigit_sets
from digitlab.models import artifacts, cards
from digitlab.paths import RUNS_DIR
from digitlab.serving.gate import GATE_DIR, GATE_NAME, Gate, load
from digitlab.training import recipe

DATA_VERSION = "5"  # bump when the training pictures change, so the cached training set is rebuilt; 5: the
# convention-edited positives drawn from prepared float digits (4 passed MNIST's uint8 0-255: thick, blocky edits)


@dataclass(frozen=True)
class GateConfig:
    name: str = GATE_NAME  # file stem in the output folder
    width: int = 32  # filters of the first convolution (then 2x, 2x); 24 until data version 4 (underfit: 96% train accuracy)
    dropout: float = 0.3
    n_negatives: int = 6000  # generated non-digits ("train" generators; a few are no-ink and dropped)
    n_drawn: int = 2500  # MNIST train digits redrawn with a canvas brush (positives)
    n_printed: int = 1000  # digits printed from the training fonts (positives)
    n_uploads: int = 9000  # generated uploads that are not digits: faces, emoji, letters, scribbles, shapes, text in turn
    n_digit_uploads: int = 3000  # positives rendered like those uploads: two thirds MNIST train digits redrawn, a third printed
    n_touching: int = 4000  # negatives: MNIST train digits written two or three in a row, touching
    n_conventions: int = 4000  # positives: MNIST train digits given a writing-convention edit (cached on their own)
    n_zeros: int = 3000  # and more 0s so edited (opened, slashed, dotted): among 55,000 MNIST digits a few hundred slashed
    #                      zeros left half of them refused, a slash through a ring being what touching digits look like
    real_strokes: str | None = None  # a real-strokes file (digitlab.data.unipen): its training writers' digits, drawn like
    n_real: int = 4000  # the canvas draws them, are positives too (this many; never its held-out site or validation writers)
    real_path: float = 0.0  # share of them drawn as the pen's whole path through 8-16 points (``unipen.Pool.path``), as a
    #                         tablet that keeps 8 points (the UCI pendigits protocol) hands a digit over
    picture_seed: int = 1000  # seeds picture_seed .. +7 make the training pictures (>= nondigits.TRAIN_SEEDS_FROM; measurements use fewer)
    epochs: int = 14
    batch_size: int = 128
    learning_rate: float = 3e-3  # peak of a one-cycle schedule
    rotation_deg: float = 15.0  # augmentation of positives and negatives alike (``recipe.augmenter``)
    translate: float = 0.05
    zoom: float = 0.1
    stroke: float = 0.5
    reject_rate: float = 0.004  # share of MNIST validation digits the gate may reject
    seed: int = 42
    mnist_path: str | None = None  # explicit MNIST .npz (else $DIGITLAB_MNIST, keras cache, download)
    dry_run: bool = False  # tiny sets and a few steps: seconds, for tests


DRY_RUN = {"n_negatives": 120, "n_drawn": 60, "n_printed": 40, "n_uploads": 60, "n_digit_uploads": 30, "n_touching": 30, "n_conventions": 40, "n_zeros": 20,
           "n_real": 40}


def build(width: int = 32, dropout: float = 0.3, name: str = "digit_gate"):
    """(28, 28, 1) preprocessed image -> (1,) P(digit).  Pure builder, uncompiled, ~56k params at width 32."""
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(width, 3, padding="same", activation="relu", name="conv0")(inputs)
    x = layers.MaxPooling2D(name="pool0")(x)
    x = layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="last_conv")(x)
    x = layers.MaxPooling2D(name="pool2")(x)  # (3, 3, 2w): where the strokes are, coarsely
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(1, name="logit")(x)
    outputs = layers.Activation("sigmoid", name="p_digit")(x)
    return keras.Model(inputs, outputs, name=name)


def fit_threshold(p_digit_val: np.ndarray, reject_rate: float) -> float:
    """P(digit) below which ``reject_rate`` of the validation digits fall."""
    return float(np.quantile(np.asarray(p_digit_val, np.float64), reject_rate))


# ----------------------------------------------------------------------------- training


def _cache_key(config: GateConfig, fingerprint: str) -> str:
    fields = {k: getattr(config, k) for k in ("n_negatives", "n_drawn", "n_printed", "n_uploads", "n_digit_uploads", "n_touching", "picture_seed")}
    blob = json.dumps({**fields, "mnist": fingerprint, "preprocess": preprocess.PREPROCESS_VERSION, "data": DATA_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def training_pictures(config: GateConfig, x_train_raw: np.ndarray, y_train: np.ndarray) -> dict[str, np.ndarray]:
    """The generated part of the training set, preprocessed: {"drawn", "printed", "digit_uploads", "negatives",
    "uploads", "touching"} (M, 28, 28).  No-ink pictures are dropped (``prepare`` refuses them before any model runs)."""
    if config.picture_seed < nondigits.TRAIN_SEEDS_FROM:
        raise ValueError(f"picture_seed must be at least {nondigits.TRAIN_SEEDS_FROM}: smaller seeds make the measurement pictures")
    rng = np.random.default_rng(config.picture_seed)
    n_redrawn = config.n_digit_uploads * 2 // 3
    idx = rng.choice(len(x_train_raw), min(config.n_drawn + n_redrawn, len(x_train_raw)), replace=False)
    drawn, redrawn = idx[: config.n_drawn], idx[config.n_drawn :]
    sets = {
        "drawn": nondigits.drawn_digit_pictures(x_train_raw[drawn], y_train[drawn], seed=config.picture_seed + 2),
        "printed": nondigits.printed_digit_pictures(config.n_printed, seed=config.picture_seed + 1, split="train"),
        "digit_uploads": nondigits.digit_uploads(x_train_raw[redrawn], y_train[redrawn], config.n_digit_uploads - len(redrawn),
                                                 seed=config.picture_seed + 4),
        "negatives": nondigits.non_digit_pictures(config.n_negatives, seed=config.picture_seed, split="train"),
        "uploads": nondigits.upload_pictures(config.n_uploads, seed=config.picture_seed + 3),
        "touching": nondigits.touching_digits(x_train_raw, y_train, config.n_touching, seed=config.picture_seed + 5),
    }
    out = {}
    for k, pics in sets.items():
        images, no_ink, _, _ = nondigits.prepare_pictures(pics)
        out[k] = images[~no_ink]
    return out


def _dataset(x: np.ndarray, y: np.ndarray, config: GateConfig, training: bool):
    import tensorflow as tf

    from digitlab.training import recipe

    ds = tf.data.Dataset.from_tensor_slices((x[..., None].astype(np.float32), y.astype(np.float32)[:, None]))
    if training:
        ds = ds.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.batch(config.batch_size)
    if training:
        ds = ds.map(recipe.augmenter(recipe.Augmentation.of(config), config.seed), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _free(config, out: Path, overwrite: bool, say):
    """``config`` with a name free in ``out`` (the same, unless a model holds it and ``overwrite`` is off)."""
    name = artifacts.free_name(out, config.name, overwrite)
    if name != config.name:
        say(f"{Path(out) / config.name}.keras exists and is kept: this run saves {name}.keras (--overwrite replaces it)")
    return dataclasses.replace(config, name=name)


def run(config: GateConfig, out: Path = GATE_DIR, say=print, overwrite: bool = False) -> Path:
    """Build the training set, train, fit the threshold on MNIST validation, measure, save model + card (a model of
    the same name in ``out`` is replaced only when ``overwrite``: else the run takes a free name, ``artifacts.free_name``)."""
    import keras

    from digitlab import data

    config = _free(config, out, overwrite, say)

    keras.utils.set_random_seed(config.seed)
    if config.dry_run:
        config = recipe.dry_sized(config, DRY_RUN)
    command = cards.command_line()
    t0 = time.time()
    mnist = data.load(config.mnist_path)
    d = data.load(config.mnist_path, prepared=True, dry_run=config.dry_run)
    cache = RUNS_DIR / "cache" / f"gate-{_cache_key(config, mnist.fingerprint)}.npz"
    cache_dir = None if config.dry_run else cache.parent  # the edit pools' cache beside it; a dry run writes no cache
    if not config.dry_run and cache.is_file():
        with np.load(cache) as f:
            made = {k: f[k] for k in f.files}
        say(f"training pictures from {cache}")
    else:
        made = training_pictures(config, mnist.x_train, mnist.y_train)
        if not config.dry_run:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cache, **made)
    edited, _ = stroke_augment.edit_pool(d.x_train, d.y_train, config.n_conventions, config.picture_seed + 6, cache_dir=cache_dir, log=say)
    zeros, _ = stroke_augment.edit_pool(d.x_train, d.y_train, config.n_zeros, config.picture_seed + 7, classes=(0,),
                                        cache_dir=cache_dir, log=say)
    made["conventions"] = np.concatenate([edited, zeros]).astype(np.float32) / 255
    made["real"] = real_positives(config, cache_dir, say)
    pos = np.concatenate([d.x_train, made["drawn"], made["printed"], made["digit_uploads"], made["conventions"], made["real"]])
    neg = np.concatenate([made["negatives"], made["uploads"], made["touching"]])
    x = np.concatenate([pos, neg])
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    say(f"gate data: {len(d.x_train)} MNIST + {len(made['drawn'])} drawn + {len(made['printed'])} printed + "
        f"{len(made['digit_uploads'])} uploaded + {len(made['conventions'])} convention-edited + {len(made['real'])} real-strokes digits, "
        f"{len(made['negatives'])} pen non-digits + {len(made['uploads'])} uploads + "
        f"{len(made['touching'])} touching digits "
        f"({time.time() - t0:.0f} s)")

    model = build(config.width, config.dropout, name=config.name)
    steps = int(np.ceil(len(x) / config.batch_size))
    epochs = 1 if config.dry_run else config.epochs
    total = max(2, epochs * (2 if config.dry_run else steps))
    lr = keras.optimizers.schedules.CosineDecay(config.learning_rate / 10, decay_steps=total - total // 10, alpha=0.01,
                                                warmup_target=config.learning_rate, warmup_steps=total // 10)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="binary_crossentropy", metrics=["accuracy"])
    # the two classes weigh the same in the loss, whatever their counts
    weights = {0: len(x) / (2 * len(neg)), 1: len(x) / (2 * len(pos))}
    t_fit = time.time()
    history = model.fit(_dataset(x, y, config, training=True), epochs=epochs, steps_per_epoch=2 if config.dry_run else None,
                        class_weight=weights, shuffle=False, verbose=1 if sys.stdout.isatty() else 2)  # the dataset shuffles itself
    train_seconds = time.time() - t_fit

    p_val = _score_model(model, d.x_val)
    threshold = fit_threshold(p_val, config.reject_rate)
    card = cards.build({
        "name": config.name,
        "kind": "digit gate: P(digit) for a preprocessed 28x28 input; reject below threshold",
        "threshold": threshold,
        "threshold_fitted_on": f"MNIST validation split ({len(d.x_val)} digits), {config.reject_rate:.1%} of them below it",
        "config": dataclasses.asdict(config),
        "data": {"mnist": mnist.fingerprint, "mnist_train": len(d.x_train), "drawn": len(made["drawn"]), "printed": len(made["printed"]),
                 "digit_uploads": len(made["digit_uploads"]), "non_digits": len(made["negatives"]), "uploads": len(made["uploads"]),
                 "touching": len(made["touching"]), "conventions": len(made["conventions"]), "real_strokes": len(made["real"]),
                 "generators": "digitlab.nondigits split 'train', upload_pictures and touching_digits, seeds from "
                               f"{config.picture_seed} (>= {nondigits.TRAIN_SEEDS_FROM})", "data_version": DATA_VERSION},
        "edits": {"stroke_edits": stroke_augment.EDITS_VERSION},  # the conventions positives
        **({"real_strokes": unipen.card(config.real_strokes)} if config.real_strokes else {}),
        "params": int(model.count_params()),
        "train_seconds": round(train_seconds, 1),
        "history": {k: [round(float(v), 5) for v in vals] for k, vals in history.history.items()},
        "command": command,
        "dry_run": config.dry_run,
    })
    path = artifacts.save_model(model, card, config.name, Path(out), overwrite=overwrite)
    gate = load(path)  # the gate as serving will load it
    quick = config.dry_run
    sets = nondigit_sets.measurement_sets(mnist.x_test, mnist.y_test, n_non_digits=12 if quick else 400, n_digits=12 if quick else 1000)
    card["measured"] = measure(gate, d.x_val, d.x_test, sets)
    from digitlab.evaluation import gate as bench  # the benchmark's sets, smaller: python evaluation/gate.py has the full one

    small = bench.benchmark_sets(mnist, 12 if quick else 100, 20 if quick else 500, 500 if quick else None)
    card["measured"]["benchmark"] = {"gate alone": bench.run(small, gate, [])["rules"]["gate alone"],
                                     "sizes": {g: {k: len(v[0]) for k, v in small[g].items()} for g in ("non_digits", "digits")},
                                     "seed": bench.BENCHMARK_SEED}
    card["total_seconds"] = round(time.time() - t0, 1)
    artifacts.update_card(path, card)
    m = card["measured"]
    b = m["benchmark"]["gate alone"]
    say(f"saved {path} | threshold {threshold:.4f} | MNIST test rejected {m['mnist_test_rejected']:.2%} | non-digits rejected: "
        + ", ".join(f"{name} {s['rejected']:.1%}" for name, s in m["non_digits"].items()) + " | uploads refused: "
        + ", ".join(f"{name} {v:.1%}" for name, v in b["non_digits"].items()) + " | real digits refused: "
        + ", ".join(f"{name} {v:.2%}" for name, v in b["digits"].items()) + " | "
        f"{train_seconds:.0f} s training, {card['total_seconds']:.0f} s in all")
    return path


def real_positives(config: GateConfig, cache_dir: Path | None, say=print) -> np.ndarray:
    """``config.n_real`` prepared digits (N, 28, 28) float32 drawn from the real-strokes file's training writers as the
    classifiers' training draws them (``unipen.pool``, cached in ``cache_dir``: slashed zeros, flagged 1s, crossed 7s
    as real people write them); none without a file."""
    if not config.real_strokes or not config.n_real:
        return np.zeros((0, 28, 28), np.float32)
    x, _ = unipen.pool(config.real_strokes, unipen.Pool(seed=config.picture_seed, path=config.real_path), dry_run=config.dry_run,
                       cache_dir=cache_dir, log=say)
    pick = np.random.default_rng(config.picture_seed + 8).choice(len(x), size=min(config.n_real, len(x)), replace=False)
    return x[np.sort(pick)].astype(np.float32) / 255


def _score_model(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(np.asarray(x, np.float32)[..., None], batch_size=1024, verbose=0))[:, 0].astype(np.float64)


# ----------------------------------------------------------------------------- measuring


def measure(gate: Gate, x_val: np.ndarray, x_test: np.ndarray, sets: dict) -> dict:
    """The gate on its own: share of MNIST validation / test digits, drawn and printed digits, and
    non-digits it rejects (a no-ink picture counts as rejected: ``prepare`` refuses it)."""
    out = {
        "mnist_val_rejected": float(gate.rejects(x_val).mean()),
        "mnist_test_rejected": float(gate.rejects(x_test).mean()),
        "digits_rejected": {},
        "non_digits": {},
    }
    for name, (images, no_ink, _, _) in sets["digits"].items():
        out["digits_rejected"][name] = float((no_ink | gate.rejects(images)).mean())
    for name, (images, no_ink, kinds, details) in sets["non_digits"].items():
        out["non_digits"][name] = nondigit_sets.rejection_summary(no_ink | gate.rejects(images), no_ink, kinds, details)
    return out
