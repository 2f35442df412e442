"""The training recipe: what a model is trained with, apart from how a run is driven.

    TrainConfig          every knob of a recipe, written whole into the model card
    augmenter            geometric + stroke-thickness augmentation for ``tf.data.map``
    teacher_targets      training targets softened by a trained model (distillation: learning without forgetting)
    redraw_pool          training digits re-drawn as canvas strokes, once per run (digitlab.data.stroke_augment)
    real_pool            real pen strokes of the training writers rendered like the canvas (digitlab.data.unipen)
    convention_pool      training digits given a writing-convention edit (a crossed 7...), once per run
    paper_pool           training digits as older hands and other pens write them (a looped 2, a thick pen...), once per run
    mixer                a share of every batch swapped for digits of those pools, for ``tf.data.map``
    make_dataset         (x, y) arrays -> shuffled, augmented, batched ``tf.data`` pipeline
    training_data        the training pipeline plus the epoch callbacks the recipe needs
    learning_rate        the schedule: onecycle, cosine_restarts, constant, plateau
    compile_model        optimizer (Adam / AdamW, optional weight EMA), loss, metrics

Both training loops use exactly these: ``digitlab.training.trainer`` (Keras ``fit``) and
``digitlab.training.distributed`` (the multi-worker custom loop).  Presets of the committed models
are in ``digitlab.training.presets``.
"""

from __future__ import annotations

import dataclasses
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
    schedule: str = "onecycle"  # "onecycle" (linear warm-up, cosine decay), "cosine_restarts", "constant",
    # "plateau" (constant until the validation loss stalls, then x plateau_factor: keras ReduceLROnPlateau)
    warmup_epochs: float = 0.5  # onecycle warm-up
    restart_epochs: int = 6  # cosine_restarts: length of the first cycle (later cycles are 2x longer)
    plateau_factor: float = 0.3  # plateau: the learning rate is multiplied by this when val_loss stalls
    plateau_patience: int = 1  # plateau: epochs without a lower val_loss before it is
    label_smoothing: float = 0.0
    ema: float = 0.0  # > 0: keep an exponential moving average of the weights (this momentum per step); validation, checkpoint and the saved model use it
    rotation_deg: float = 10.0  # augmentation: max rotation either way
    translate: float = 0.1  # fraction of the side
    zoom: float = 0.1  # fraction, in and out
    stroke: float = 0.5  # probability of blending in a thicker or thinner stroke
    lowres: float = 0.0  # share of digits re-sampled at a low resolution (a photo or scan of few pixels); 0 = off
    clean_epochs: int = 0  # progressive augmentation: the first epochs see plain digits, which reach high accuracy sooner
    # Stroke-domain augmentation (digitlab.data.stroke_augment): training digits re-drawn as canvas strokes
    redraw: float = 0.0  # share of every augmented batch swapped for re-drawn digits; 0 = off
    redraw_size: int = 12000  # training digits re-drawn once per run (cached in runs/cache/)
    redraw_few_points: float = 0.3  # share of them drawn from a few points (angular)
    redraw_elastic: float = 0.0  # smooth displacement of the strokes, fraction of the digit height; 0 = off
    redraw_brush_min: float = 0.06  # brush width range, fraction of the digit height (MNIST: ~0.11)
    redraw_brush_max: float = 0.22
    redraw_conventions: float = 0.0  # share of re-drawn digits of conventions_classes given a writing-convention edit (crossed 7, ...)
    redraw_pen_path: float = 0.0  # share drawn as one pen path through few points (the moves between strokes drawn too)
    # Writing-convention synthesis (digitlab.data.stroke_augment.edit_pool): MNIST's own digits, edited
    conventions: float = 0.0  # share of every augmented batch swapped for conventions_classes digits edited in MNIST's pen; 0 = off
    conventions_size: int = 6000  # training digits edited once per run (cached in runs/cache/)
    conventions_classes: str = "01479"  # the digits any convention edit is given (MNIST pen, re-drawn, real strokes)
    # Real pen strokes (digitlab.data.unipen): digits written on tablets by real people, rendered like the canvas
    real_strokes: str | None = None  # the real-strokes file (gzipped JSON); None = off
    real_share: float = 0.0  # share of every augmented batch swapped for real digits of the same class
    real_renders: int = 3  # canvas pictures per real digit (size, place, brush each drawn anew)
    real_conventions: float = 0.15  # share of real 0s, 1s and 7s given a writing convention (slash or dot, flag and foot, bar)
    real_joined: float = 0.2  # share of real digits drawn with their pen-ups lost (one line through every stroke)
    real_coarse: float = 0.0  # share of real digits drawn from few points, as a coarse device reports them (unipen.coarsen)
    real_warp: float = 0.0  # share of real digits whose pen's path is reshaped as another hand would shape it (unipen.warp)
    real_path: float = 0.0  # share of real digits drawn as the pen's whole path through 8-16 points (unipen.resample_path)
    # Paper hands (digitlab.data.paper_hands): MNIST's digits as older and continental hands and other pens write them
    paper: float = 0.0  # share of every augmented batch swapped for paper-hand digits of the same class; 0 = off
    paper_size: int = 8000  # training digits given a paper style once per run (cached in runs/cache/)
    paper_narrow: float = 0.0  # share of those written narrow and leant right with a fine pen (a clerk's row numbers)
    patience: int = 6  # EarlyStopping on val_accuracy
    max_iter: int = 200  # logistic regression solver iterations
    l2_c: float = 0.05  # logistic regression inverse regularisation strength
    seed: int = 42
    adversarial: dict = field(default_factory=dict)  # adversarial training recipe (digitlab.training.adversarial.install_adversarial_training); {} = plain
    checkpoint: str = "best"  # the model saved: "best" by ``monitor``, or "last" (the final epoch's: training a trained model further)
    monitor: str = "val_accuracy"  # metric that picks the checkpoint and stops early (robust training: "val_pgd_accuracy")
    val_size: int = VAL_SIZE
    mnist_path: str | None = None  # explicit MNIST .npz (else $DIGITLAB_MNIST, keras cache, download)
    dry_run: bool = False  # a few batches on a subset: seconds, for tests
    distribute: str = "none"  # "multiworker": MultiWorkerMirroredStrategy over the workers in $TF_CONFIG (digitlab.distributed)
    init_from: str | None = None  # start from this trained model's weights (same builder and size) instead of random ones
    init_member: int | None = None  # init_from is an ensemble: its member with this index (layers named m<index>_...)
    distill_from: str | None = None  # a trained model (the teacher) whose probabilities soften the training targets
    distill: float = 0.0  # the teacher's weight in the target of every training digit it reads right; 0 = off


LOWRES_SIDES = (8, 16)  # the low resolutions of ``lowres``, in pixels for the whole 28x28 input: 8x8 to 16x16 scans


@dataclass(frozen=True)
class Augmentation:
    """The augmentation knobs of any config that has them (TrainConfig, the gate's, fine-tuning's)."""

    rotation_deg: float = 10.0
    translate: float = 0.1
    zoom: float = 0.1
    stroke: float = 0.5
    lowres: float = 0.0

    @classmethod
    def of(cls, config) -> Augmentation:
        return cls(config.rotation_deg, config.translate, config.zoom, config.stroke, getattr(config, "lowres", 0.0))

    @property
    def active(self) -> bool:
        """Whether any knob is on (a recipe with all of them at 0 trains on the digits as they are)."""
        return bool(self.rotation_deg or self.translate or self.zoom or self.stroke or self.lowres)


def augmenter(config: Augmentation | TrainConfig, seed: int):
    """A function (images (B,28,28,1), labels) -> augmented batch, for ``tf.data.map``.

    Geometric changes (rotation, translation, zoom) are Keras preprocessing layers;
    stroke thickness is a grey-level dilation or erosion (3x3 max/min filter)
    blended in with a random weight, so strokes come out anywhere from thinner to
    thicker than MNIST's ~2.3 px, as drawn digits do.  With ``lowres`` that share of the digits is
    re-sampled at a low resolution: shrunk by area to k x k (k from ``LOWRES_SIDES``, one k per batch)
    and enlarged back bilinearly, its contrast stretched so the ink is solid again, as a digit photographed or scanned with few
    pixels comes out of ``preprocess.prepare`` (blurred, blocky strokes).
    """
    import keras
    import tensorflow as tf

    config = Augmentation.of(config)  # any config with the knobs (TrainConfig, the gate's, fine-tuning's)
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
        if config.lowres > 0:
            b = tf.shape(x)[0]
            side = gen.uniform([], LOWRES_SIDES[0], LOWRES_SIDES[1] + 1, dtype=tf.int32)
            small = tf.image.resize(x, tf.stack([side, side]), method="area")
            back = tf.image.resize(small, [28, 28], method="bilinear")
            peak = tf.reduce_max(x, axis=[1, 2, 3], keepdims=True)
            back = back / tf.maximum(tf.reduce_max(back, axis=[1, 2, 3], keepdims=True), 1e-6)
            back = peak * tf.clip_by_value((back - 0.1) / 0.5, 0.0, 1.0)  # ink solid where the blur is dark, as a pen's is
            x = tf.where(gen.uniform([b, 1, 1, 1]) < config.lowres, back, x)
        return tf.clip_by_value(x, 0.0, 1.0), y

    return apply


class TeacherError(ValueError):
    """``TrainConfig.distill_from`` names a model whose probabilities cannot be training targets; the message says why."""


def teacher_targets(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> np.ndarray:
    """(N, 10) float32 training targets for digits ``x`` (N, 28, 28) in [0, 1] with labels ``y``, softened by the
    trained model ``config.distill_from`` (knowledge distillation, Hinton et al. 2015, used as in "Learning without
    Forgetting", Li & Hoiem 2016): where the teacher reads a digit right, (1 - distill) x one-hot + distill x its
    probabilities; one-hot where it reads it wrong.  A model trained further with a new recipe
    (``--init-from``) keeps the teacher's view of MNIST's own digits instead of drifting from it.

    The targets are the teacher's reading of the plain digits, computed once; an augmented copy keeps its digit's
    target (the augmentation keeps the label), and a digit swapped for a pool's (re-drawn, convention-edited) gets
    its one-hot label back in ``mixer``: the teacher never saw those."""
    from pathlib import Path

    from digitlab.models import artifacts

    path = Path(config.distill_from)
    try:
        teacher = artifacts.load_model(path)
    except artifacts.ModelError as e:
        raise TeacherError(f"distill_from={str(path)!r}: {e}") from e
    try:
        p = np.asarray(teacher.predict(x[..., None].astype(np.float32), batch_size=1000, verbose=0), np.float64)
    except Exception as e:  # noqa: BLE001 - a model that loads but cannot read 28x28x1 digits
        raise TeacherError(f"distill_from={path.name!r}: it cannot read (28, 28, 1) digits: {str(e).splitlines()[0]}") from e
    if p.shape != (len(x), 10) or not np.all(np.isfinite(p)) or p.min() < -1e-6 or np.abs(p.sum(axis=1) - 1).max() > 1e-3:
        raise TeacherError(f"distill_from={path.name!r}: it must output 10 probabilities per digit (softmax), "
                           f"not an array of shape {p.shape} whose rows sum to {p.sum(axis=1)[:1].round(3).tolist()}...")
    one_hot = np.eye(10)[y]
    right = p.argmax(axis=1) == y
    print(f"distillation: {path.name} reads {right.mean():.2%} of the {len(y)} training digits right; "
          f"their targets are {1 - config.distill:g} x label + {config.distill:g} x its probabilities", flush=True)
    soft = (1 - config.distill) * one_hot + config.distill * p
    return np.where(right[:, None], soft, one_hot).astype(np.float32)


def redraw_pool(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """``config.redraw_size`` digits of (x, y) re-drawn as canvas strokes and prepared (``stroke_augment.pool``):
    ((P, 28, 28) uint8, (P,) labels); kept in runs/cache/ so the next run with the same digits and
    settings reuses them (a dry run draws 256)."""
    from digitlab.data import stroke_augment
    from digitlab.paths import RUNS_DIR

    return stroke_augment.pool(x, y, redraw_settings(config), cache_dir=RUNS_DIR / "cache", log=lambda m: print(m, flush=True))


def redraw_settings(config: TrainConfig):
    """How ``config`` re-draws its digits as canvas strokes: a ``stroke_augment.Redraw`` (the pool's settings and its card)."""
    from digitlab.data import stroke_augment

    return stroke_augment.Redraw(
        size=min(config.redraw_size, 256) if config.dry_run else config.redraw_size, few_points=config.redraw_few_points,
        elastic=config.redraw_elastic, brush_min=config.redraw_brush_min, brush_max=config.redraw_brush_max,
        conventions=config.redraw_conventions, pen_path=config.redraw_pen_path, seed=config.seed,
        classes=config.conventions_classes,
    )


def convention_pool(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """``config.conventions_size`` digits of (x, y) given a writing-convention edit in MNIST's own pen
    (``stroke_augment.edit_pool``): ((P, 28, 28) uint8, (P,) labels); cached like ``redraw_pool``."""
    from digitlab.data import stroke_augment
    from digitlab.paths import RUNS_DIR

    size = min(config.conventions_size, 256) if config.dry_run else config.conventions_size
    return stroke_augment.edit_pool(x, y, size, config.seed, classes=[int(c) for c in config.conventions_classes],
                                    cache_dir=RUNS_DIR / "cache", log=lambda m: print(m, flush=True))


def paper_pool(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """``config.paper_size`` digits of (x, y) in a paper hand's style (``paper_hands.pool``: a looped 2, a struck 0,
    a thick pen, a box-stretched scan...), prepared as scans: ((P, 28, 28) uint8, (P,) labels); cached like ``redraw_pool``."""
    from digitlab.data import paper_hands
    from digitlab.paths import RUNS_DIR

    size = min(config.paper_size, 256) if config.dry_run else config.paper_size
    return paper_hands.pool(x, y, size, config.seed, cache_dir=RUNS_DIR / "cache", log=lambda m: print(m, flush=True),
                            narrow=config.paper_narrow)


def real_pool(config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """The real-strokes file's training writers (never its held-out site or validation writers: ``unipen.split``)
    rendered ``config.real_renders`` times each like canvas drawings and prepared: ((P, 28, 28) uint8, (P,)
    labels), cached in runs/cache/ under the file's hash and the settings (a dry run renders 200 once)."""
    from digitlab.data import unipen
    from digitlab.paths import RUNS_DIR

    p = unipen.Pool(renders=config.real_renders, conventions=config.real_conventions, joined=config.real_joined, seed=config.seed,
                    classes="".join(c for c in config.conventions_classes if int(c) in unipen.EDITS), coarse=config.real_coarse,
                    warp=config.real_warp, path=config.real_path)
    return unipen.pool(config.real_strokes, p, dry_run=config.dry_run, cache_dir=RUNS_DIR / "cache", log=lambda m: print(m, flush=True))


def mixer(pools: list[tuple[np.ndarray, np.ndarray, float]], seed: int):
    """A function (images (B,28,28,1), one-hot labels (B,10)) -> the batch with each digit swapped, with
    probability ``share``, for a random digit of the same class from a pool ((P, 28, 28) uint8, (P,)
    labels, share), for ``tf.data.map``.  Same class: a pool of some classes only (the convention edits)
    must not shift the class balance.  The shares add up (at most 1); a digit is swapped once at most."""
    import tensorflow as tf

    if sum(share for _, _, share in pools) > 1 + 1e-9:
        raise ValueError("the pools' shares add up to more than 1")
    gen = tf.random.Generator.from_seed(seed + 11)
    consts = []
    for px, py, share in pools:
        order = np.argsort(py, kind="stable")  # the pool by class: class c is rows start[c] .. start[c] + count[c]
        count = np.bincount(py, minlength=10)
        start = np.concatenate([[0], np.cumsum(count)[:-1]])
        consts.append((tf.constant(px[order][..., None]), tf.constant(start, tf.int64), tf.constant(count, tf.int64), share))

    def apply(x, y):
        b = tf.shape(x)[0]
        label = tf.argmax(y, axis=1)
        u = gen.uniform([b])
        low = 0.0
        for px, start, count, share in consts:
            n = tf.gather(count, label)
            take = (u >= low) & (u < low + share) & (n > 0)
            i = tf.gather(start, label) + tf.minimum(tf.cast(gen.uniform([b]) * tf.cast(n, tf.float32), tf.int64), tf.maximum(n - 1, 0))
            i = tf.minimum(i, tf.cast(tf.shape(px)[0] - 1, tf.int64))  # a class the pool lacks: any row, not taken
            x = tf.where(take[:, None, None, None], tf.cast(tf.gather(px, i), tf.float32) / 255.0, x)
            y = tf.where(take[:, None], tf.one_hot(label, 10, dtype=y.dtype), y)  # a distilled target was its digit's, not this one's
            low += share
        return x, y

    return apply


def make_dataset(x: np.ndarray, y: np.ndarray, config: TrainConfig, training: bool, augment=None):
    """Batches of ((B,28,28,1) float32, (B,10) one-hot or distilled targets: ``teacher_targets``); training
    shuffles and augments: re-drawn digits (``config.redraw``), convention-edited digits (``config.conventions``),
    real pen strokes (``config.real_share``) and paper hands (``config.paper``) mixed in, then the geometric
    and stroke augmentation, applied to all.

    ``augment``: an optional boolean ``tf.Variable`` read at every batch; augmentation happens
    only while it is True (see ``training_data``).
    """
    import tensorflow as tf

    steps, pools = [], []
    if training and config.redraw > 0:
        pools.append((*redraw_pool(x, y, config), config.redraw))
    if training and config.conventions > 0:
        pools.append((*convention_pool(x, y, config), config.conventions))
    if training and config.real_share > 0:
        pools.append((*real_pool(config), config.real_share))
    if training and config.paper > 0:
        pools.append((*paper_pool(x, y, config), config.paper))
    if pools:
        steps.append(mixer(pools, config.seed))
    if training and Augmentation.of(config).active:
        steps.append(augmenter(config, config.seed))
    y1 = teacher_targets(x, y, config) if training and config.distill > 0 else np.eye(10, dtype=np.float32)[y]
    x = x[..., None].astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y1))
    if training:
        ds = ds.shuffle(len(x), seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.batch(config.batch_size)
    if steps:
        def apply(xb, yb):
            for step in steps:
                xb, yb = step(xb, yb)
            return xb, yb

        ds = ds.map(apply if augment is None else _switched(apply, augment), num_parallel_calls=tf.data.AUTOTUNE)
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
    The "plateau" schedule is a callback too (``keras.callbacks.ReduceLROnPlateau`` on val_loss).
    """
    import keras

    callbacks = []
    if config.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=config.plateau_factor, patience=config.plateau_patience,
            min_lr=config.learning_rate / 100, verbose=1,
        ))
    if not config.clean_epochs:
        return make_dataset(x, y, config, training=True), callbacks
    import tensorflow as tf

    augment = tf.Variable(False, trainable=False, name="augment")
    clean = config.clean_epochs

    class AugmentationSwitch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            augment.assign(epoch >= clean)

    return make_dataset(x, y, config, training=True, augment=augment), [AugmentationSwitch(), *callbacks]


def learning_rate(config: TrainConfig, steps_per_epoch: int):
    import keras

    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule in ("constant", "plateau"):  # plateau: lowered by training_data's callback
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


def dry_sized(config, limits: dict):
    """``config`` (a frozen dataclass) with each field named in ``limits`` cut down to at most its limit: what a
    ``--dry-run`` trains on (the gate's, the number reader's and the fine-tune's ``DRY_RUN``)."""
    return dataclasses.replace(config, **{k: min(getattr(config, k), v) for k, v in limits.items()})
