"""The training recipe: what a model is trained with, apart from how a run is driven.

    TrainConfig          every knob of a recipe, written whole into the model card
    augmenter            geometric + stroke-thickness augmentation for ``tf.data.map``
    make_dataset         (x, y) arrays -> shuffled, augmented, batched ``tf.data`` pipeline
    training_data        the training pipeline plus the epoch callbacks the recipe needs
    learning_rate        the schedule: onecycle, cosine_restarts, constant
    compile_model        optimizer (Adam / AdamW, optional weight EMA), loss, metrics

Both training loops use exactly these: ``digitlab.training.trainer`` (Keras ``fit``) and
``digitlab.training.distributed`` (the multi-worker custom loop).  Presets of the committed models
are in ``digitlab.training.presets``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from digitlab.data import VAL_SIZE


@dataclass(frozen=True)
class TrainConfig:
    name: str = "mnist_cnn"  # file stem in models/
    builder: str = "cnn"  # key of digitlab.models.builders.BUILDERS, or "logistic" for the scikit-learn baseline
    model_kwargs: dict = field(default_factory=dict)  # passed to the builder
    epochs: int = 15
    batch_size: int = 128
    learning_rate: float = 3e-3  # peak learning rate
    weight_decay: float = 0.0  # > 0 selects AdamW, 0 plain Adam
    schedule: str = "onecycle"  # "onecycle" (linear warm-up, cosine decay), "cosine_restarts", "constant"
    warmup_epochs: float = 0.5  # onecycle warm-up
    restart_epochs: int = 6  # cosine_restarts: length of the first cycle (later cycles are 2x longer)
    label_smoothing: float = 0.0
    ema: float = 0.0  # > 0: keep an exponential moving average of the weights (this momentum per step); validation, checkpoint and the saved model use it
    rotation_deg: float = 10.0  # augmentation: max rotation either way
    translate: float = 0.1  # fraction of the side
    zoom: float = 0.1  # fraction, in and out
    stroke: float = 0.5  # probability of blending in a thicker or thinner stroke
    clean_epochs: int = 0  # progressive augmentation: the first epochs see plain digits, which reach high accuracy sooner
    patience: int = 6  # EarlyStopping on val_accuracy
    max_iter: int = 200  # logistic regression solver iterations
    l2_c: float = 0.05  # logistic regression inverse regularisation strength
    seed: int = 42
    adversarial: dict = field(default_factory=dict)  # adversarial training recipe (digitlab.evaluation.attacks.install_adversarial_training); {} = plain
    monitor: str = "val_accuracy"  # metric that picks the checkpoint and stops early (robust training: "val_pgd_accuracy")
    val_size: int = VAL_SIZE
    mnist_path: str | None = None  # explicit MNIST .npz (else $DIGITLAB_MNIST, keras cache, download)
    dry_run: bool = False  # a few batches on a subset: seconds, for tests
    distribute: str = "none"  # "multiworker": MultiWorkerMirroredStrategy over the workers in $TF_CONFIG (digitlab.distributed)


@dataclass(frozen=True)
class Augmentation:
    """The augmentation knobs of any config that has them (TrainConfig, the gate's, fine-tuning's)."""

    rotation_deg: float = 10.0
    translate: float = 0.1
    zoom: float = 0.1
    stroke: float = 0.5

    @classmethod
    def of(cls, config) -> Augmentation:
        return cls(config.rotation_deg, config.translate, config.zoom, config.stroke)


def augmenter(config: Augmentation | TrainConfig, seed: int):
    """A function (images (B,28,28,1), labels) -> augmented batch, for ``tf.data.map``.

    Geometric changes (rotation, translation, zoom) are Keras preprocessing layers;
    stroke thickness is a grey-level dilation or erosion (3x3 max/min filter)
    blended in with a random weight, so strokes come out anywhere from thinner to
    thicker than MNIST's ~2.3 px, as drawn digits do.
    """
    import keras
    import tensorflow as tf

    geo = keras.Sequential(
        [
            keras.layers.RandomRotation(config.rotation_deg / 360, fill_mode="constant", seed=seed),
            keras.layers.RandomTranslation(config.translate, config.translate, fill_mode="constant", seed=seed + 1),
            keras.layers.RandomZoom((-config.zoom, config.zoom), fill_mode="constant", seed=seed + 2),
        ],
        name="augment",
    )
    gen = tf.random.Generator.from_seed(seed + 3)

    def apply(x, y):
        x = geo(x, training=True)
        if config.stroke > 0:
            b = tf.shape(x)[0]
            thick = tf.nn.max_pool2d(x, 3, 1, "SAME")
            thin = -tf.nn.max_pool2d(-x, 3, 1, "SAME")
            pick = gen.uniform([b, 1, 1, 1])  # < stroke/2: thicker, < stroke: thinner, else unchanged
            w = gen.uniform([b, 1, 1, 1])
            target = tf.where(pick < config.stroke / 2, thick, thin)
            x = tf.where(pick < config.stroke, x + w * (target - x), x)
        return tf.clip_by_value(x, 0.0, 1.0), y

    return apply


def make_dataset(x: np.ndarray, y: np.ndarray, config: TrainConfig, training: bool, augment=None):
    """Batches of ((B,28,28,1) float32, (B,10) one-hot); training shuffles and augments.

    ``augment``: an optional boolean ``tf.Variable`` read at every batch; augmentation happens
    only while it is True (see ``training_data``).
    """
    import tensorflow as tf

    x = x[..., None].astype(np.float32)
    y1 = np.eye(10, dtype=np.float32)[y]
    ds = tf.data.Dataset.from_tensor_slices((x, y1))
    if training:
        ds = ds.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.batch(config.batch_size)
    if training and (config.rotation_deg or config.translate or config.zoom or config.stroke):
        apply = augmenter(config, config.seed)
        if augment is not None:
            apply = _switched(apply, augment)
        ds = ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _switched(apply, augment):
    import tensorflow as tf

    def maybe(x, y):
        return tf.cond(augment, lambda: apply(x, y), lambda: (x, y))

    return maybe


def training_data(x: np.ndarray, y: np.ndarray, config: TrainConfig):
    """The training dataset and the Keras callbacks its recipe needs.

    With ``config.clean_epochs`` > 0 the augmentation is off for the first epochs (progressive
    learning, as in EfficientNetV2: weak regularisation early, full strength later).  Plain
    digits are learnt faster, so accuracy is high after one epoch; the augmented epochs that
    follow make the final model robust to drawn digits.  A variable holds the switch and a
    callback sets it at every epoch start from the epoch index, so a resumed run gets it right.
    """
    if not config.clean_epochs:
        return make_dataset(x, y, config, training=True), []
    import keras
    import tensorflow as tf

    augment = tf.Variable(False, trainable=False, name="augment")
    clean = config.clean_epochs

    class AugmentationSwitch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            augment.assign(epoch >= clean)

    return make_dataset(x, y, config, training=True, augment=augment), [AugmentationSwitch()]


def learning_rate(config: TrainConfig, steps_per_epoch: int):
    import keras

    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "constant":
        return config.learning_rate
    if config.schedule == "onecycle":
        warm = min(total - 1, int(config.warmup_epochs * steps_per_epoch))
        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate / 10, decay_steps=total - warm, alpha=0.01,
            warmup_target=config.learning_rate, warmup_steps=warm,
        )
    if config.schedule == "cosine_restarts":
        return keras.optimizers.schedules.CosineDecayRestarts(
            config.learning_rate, first_decay_steps=config.restart_epochs * steps_per_epoch, t_mul=2.0, m_mul=0.8, alpha=0.01,
        )
    raise ValueError(f"unknown schedule {config.schedule!r}")


def compile_model(model, config: TrainConfig, steps_per_epoch: int) -> None:
    """Optimizer (AdamW when weight_decay > 0, else Adam), schedule and loss from ``config``."""
    import keras

    lr = learning_rate(config, steps_per_epoch)
    ema = {"use_ema": True, "ema_momentum": config.ema} if config.ema else {}
    opt = (
        keras.optimizers.AdamW(learning_rate=lr, weight_decay=config.weight_decay, **ema)
        if config.weight_decay > 0
        else keras.optimizers.Adam(learning_rate=lr, **ema)
    )
    model.compile(
        optimizer=opt,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )
