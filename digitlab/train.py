"""Shared training: one config dataclass, one ``run`` used by every training script.

    config (argparse) -> load MNIST -> the one preprocessing path -> fit -> evaluate -> save + card

Keras models train with augmentation as Keras preprocessing layers inside
``tf.data.map`` (faster than inside the model, and the saved model stays free of
them), ModelCheckpoint on validation accuracy, EarlyStopping, BackupAndRestore
(an interrupted run resumes where it stopped) and a CSV log of every epoch.
The baseline is scikit-learn's LogisticRegression, copied into a Keras softmax
layer so the app and the CLI treat it like any other model.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import platform
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from digitlab import artifacts, data, metrics, plots, preprocess
from digitlab.distributed import DistributedError
from digitlab.paths import MODELS_DIR, RUNS_DIR

DRY_RUN_SIZES = (1024, 256, 256)  # train, val, test images in --dry-run


@dataclass(frozen=True)
class TrainConfig:
    name: str = "mnist_cnn"  # file stem in models/
    builder: str = "cnn"  # key of digitlab.models.BUILDERS, or "logistic" for the scikit-learn baseline
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
    adversarial: dict = field(default_factory=dict)  # adversarial training recipe (digitlab.attacks.install_adversarial_training); {} = plain
    monitor: str = "val_accuracy"  # metric that picks the checkpoint and stops early (robust training: "val_pgd_accuracy")
    val_size: int = data.VAL_SIZE
    mnist_path: str | None = None  # explicit MNIST .npz (else $DIGITLAB_MNIST, keras cache, download)
    dry_run: bool = False  # a few batches on a subset: seconds, for tests
    distribute: str = "none"  # "multiworker": MultiWorkerMirroredStrategy over the workers in $TF_CONFIG (digitlab.distributed)


# ----------------------------------------------------------------------------- command line


def parse_args(defaults: TrainConfig, doc: str | None, argv: list[str] | None = None) -> tuple[TrainConfig, Path]:
    """Flags common to every training script; help strings show the script's defaults."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = defaults
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"maximum epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"batch size (default {d.batch_size})")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help=f"peak learning rate (default {d.learning_rate})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed for weights, shuffling and augmentation (default {d.seed})")
    p.add_argument("--ema", type=float, default=d.ema,
                   help=f"momentum of the moving average of the weights that is validated and saved; 0 = off (default {d.ema})")
    p.add_argument("--name", default=d.name, help=f"model file stem (default {d.name})")
    p.add_argument("--out", type=Path, default=MODELS_DIR, help="folder for <name>.keras and its card (default models/)")
    p.add_argument("--mnist", default=None, help="path to mnist.npz in keras layout (default: $DIGITLAB_MNIST, keras cache, download)")
    p.add_argument("--dry-run", action="store_true", help="a few batches on a small subset, in seconds (for tests)")
    p.add_argument("--distribute", choices=("none", "multiworker"), default=d.distribute,
                   help=f"multiworker: train on the workers listed in $TF_CONFIG, see digitlab/distributed.py (default {d.distribute})")
    a = p.parse_args(argv)
    for flag, value in (("--epochs", a.epochs), ("--batch-size", a.batch_size)):
        if value < 1:
            p.error(f"{flag} must be at least 1")
    if not 0 <= a.ema < 1:
        p.error("--ema must be in [0, 1)")
    if not artifacts.NAME_RE.match(a.name):
        p.error(f"--name {a.name!r}: use letters, digits, '_', '.', '-'")
    config = dataclasses.replace(
        d, epochs=a.epochs, batch_size=a.batch_size, learning_rate=a.learning_rate, seed=a.seed,
        name=a.name, mnist_path=a.mnist, dry_run=a.dry_run, distribute=a.distribute, ema=a.ema,
    )
    return config, a.out


def main(defaults: TrainConfig, doc: str | None = None, argv: list[str] | None = None) -> Path:
    config, out = parse_args(defaults, doc, argv)
    try:
        return run(config, out)
    except (data.DataError, DistributedError) as e:
        sys.exit(f"error: {e}")


# ----------------------------------------------------------------------------- data


@dataclass
class MnistInputs:
    """Model inputs (N, 28, 28) float32 in [0, 1] and labels (N,) int for the three splits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    fingerprint: str
    source: str


def prepare_mnist(config: TrainConfig) -> MnistInputs:
    """Load MNIST and send every split through ``preprocess.prepare_batch``; cached on disk per
    data fingerprint and preprocessing version (it takes ~20 s)."""
    mnist = data.load_mnist(config.mnist_path, val_size=config.val_size)
    splits = {
        "train": (mnist.x_train, mnist.y_train),
        "val": (mnist.x_val, mnist.y_val),
        "test": (mnist.x_test, mnist.y_test),
    }
    if config.dry_run:
        splits = {k: (x[:n], y[:n]) for (k, (x, y)), n in zip(splits.items(), DRY_RUN_SIZES)}
    cache = RUNS_DIR / "cache" / f"mnist-{mnist.fingerprint[7:]}-v{preprocess.PREPROCESS_VERSION}-val{config.val_size}.npz"
    if not config.dry_run and cache.is_file():
        with np.load(cache) as f:
            arrays = {k: f[k] for k in f.files}
    else:
        arrays = {}
        for k, (x, y) in splits.items():
            arrays[f"x_{k}"] = preprocess.prepare_batch(x)
            arrays[f"y_{k}"] = y.astype(np.int64)
        if not config.dry_run:
            cache.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            artifacts.atomic_write_bytes(cache, buf.getvalue())  # atomic: workers sharing a host may write it at once
    return MnistInputs(**arrays, fingerprint=mnist.fingerprint, source=mnist.source)


# ----------------------------------------------------------------------------- keras training


def augmenter(config: TrainConfig, seed: int):
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


def fit_keras(config: TrainConfig, d: MnistInputs, run_dir: Path, extra_callbacks=()):
    """Train a registered builder; returns (best model by val accuracy, history dict)."""
    import keras

    from digitlab import models

    model = models.build(config.builder, **config.model_kwargs)
    train_ds, recipe_callbacks = training_data(d.x_train, d.y_train, config)
    val_ds = make_dataset(d.x_val, d.y_val, config, training=False)
    compile_model(model, config, steps_per_epoch=int(np.ceil(len(d.x_train) / config.batch_size)))
    if config.adversarial:
        from digitlab import attacks

        attacks.install_adversarial_training(model, config.adversarial, steps_per_epoch=int(np.ceil(len(d.x_train) / config.batch_size)))
    best_path = run_dir / "best.keras"
    log_path = run_dir / "history.csv"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),  # first: backs up the raw weights, as training needs them
        # Polyak averaging: validation, early stopping and the checkpoint after it see the averaged weights
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if config.ema else []),
        keras.callbacks.ModelCheckpoint(str(best_path), monitor=config.monitor, mode="max", save_best_only=True),
        keras.callbacks.EarlyStopping(monitor=config.monitor, mode="max", patience=config.patience),
        keras.callbacks.CSVLogger(str(log_path), append=True),
        *recipe_callbacks,
        *extra_callbacks,
    ]
    model.fit(
        train_ds, validation_data=val_ds, epochs=min(config.epochs, 2) if config.dry_run else config.epochs, callbacks=callbacks,
        steps_per_epoch=2 if config.dry_run else None,
        shuffle=False,  # the dataset shuffles itself
        verbose=1 if sys.stdout.isatty() else 2,
    )
    history = read_history(log_path)
    best = artifacts.load_model(best_path) if best_path.is_file() else model
    return best, history


def read_history(csv_path: Path) -> dict[str, list[float]]:
    """The CSVLogger file (which survives a resume) as {metric: [value per epoch]}."""
    import csv

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k]
    return {k: [float(r[k]) for r in rows] for k in keys}


def fit_logistic(config: TrainConfig, d: MnistInputs):
    """scikit-learn LogisticRegression on the 784 pixels, copied into ``models.build_baseline``."""
    from sklearn.linear_model import LogisticRegression

    from digitlab import models

    clf = LogisticRegression(C=config.l2_c, max_iter=20 if config.dry_run else config.max_iter, random_state=config.seed)
    clf.fit(d.x_train.reshape(len(d.x_train), -1), d.y_train)
    model = models.build_baseline(name=config.name)
    dense = model.get_layer("logits")
    dense.set_weights([clf.coef_.T.astype(np.float32), clf.intercept_.astype(np.float32)])
    val = clf.score(d.x_val.reshape(len(d.x_val), -1), d.y_val)
    return model, {"val_accuracy": [float(val)]}, clf


# ----------------------------------------------------------------------------- evaluation + card


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("tensorflow-cpu", "tensorflow", "keras", "numpy", "scikit-learn", "opencv-python-headless", "pillow"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def evaluate_splits(name: str, path: Path, model, d: MnistInputs) -> tuple[dict, dict]:
    """Validation and test metrics of a just-built digitlab model, through the Classifier path that
    the app and the CLI use."""
    from digitlab.inference import Classifier

    entry = artifacts.ModelEntry(name, Path(path), None, True, layout="28x28x1", outputs="probabilities", model=model)
    classifier = Classifier(entry)
    val = metrics.classification_metrics(classifier.predict_proba(d.x_val), d.y_val)
    test = metrics.classification_metrics(classifier.predict_proba(d.x_test), d.y_test)
    return val, test


def provenance() -> dict:
    """The card fields that say with what and when a model was made, and what input it expects."""
    return {
        "versions": versions(),
        "preprocess_version": preprocess.PREPROCESS_VERSION,
        "input": "28x28x1 float32 in [0,1], light ink on black, via digitlab.preprocess",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def data_summary(d: MnistInputs) -> dict:
    """The card's "data" entry: where MNIST came from, its fingerprint and the split sizes."""
    return {"source": d.source, "fingerprint": d.fingerprint, "train": len(d.x_train), "val": len(d.x_val), "test": len(d.x_test)}


def _can_resume(run_dir: Path, config: TrainConfig) -> bool:
    """BackupAndRestore left state behind for this very config (an interrupted run of another
    architecture or recipe must not be resumed: its weights would not fit)."""
    saved = run_dir / "config.json"
    if not (run_dir / "backup").exists() or not saved.is_file():
        return False
    return json.loads(saved.read_text()) == json.loads(json.dumps(dataclasses.asdict(config), sort_keys=True))


def run(config: TrainConfig, out: Path = MODELS_DIR, callbacks=()) -> Path:
    """Train per ``config``, evaluate on validation and test, save model + card into ``out``.

    ``callbacks``: extra Keras callbacks for the fit (e.g. progress reporting in the app).
    """
    import keras


    worker = None
    if config.distribute == "multiworker":
        from digitlab import distributed

        if callbacks:
            raise DistributedError("Keras callbacks need model.fit, which --distribute multiworker does not use")
        worker = distributed.start(config)  # first: the strategy must exist before any other TensorFlow op
        out = worker.output_dir(out)  # only the chief writes into the models folder
    elif config.distribute != "none":
        raise ValueError(f"unknown distribute {config.distribute!r}")
    keras.utils.set_random_seed(config.seed)
    command = "python " + shlex.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]) if sys.argv and sys.argv[0] else None
    t0 = time.time()
    d = prepare_mnist(config)
    print(f"data: {len(d.x_train)} train / {len(d.x_val)} val / {len(d.x_test)} test from {d.source}", flush=True)
    run_dir = RUNS_DIR / (config.name + ("-dry" if config.dry_run else "") + (worker.run_suffix() if worker else ""))
    resuming = _can_resume(run_dir, config)
    if run_dir.exists() and not resuming:
        shutil.rmtree(run_dir)  # a fresh run must not append to an old log or reuse an old checkpoint
    if resuming:
        print(f"resuming the interrupted run from {run_dir / 'backup'}", flush=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), sort_keys=True))
    t_fit = time.time()
    if config.builder == "logistic":
        model, history, clf = fit_logistic(config, d)
    else:
        model, history = distributed.fit(worker, config, d, run_dir) if worker else fit_keras(config, d, run_dir, callbacks)
    train_seconds = time.time() - t_fit

    val, test = evaluate_splits(config.name, run_dir / "best.keras", model, d)
    extra_metrics = {}
    if config.builder == "logistic":  # the Keras copy must agree with scikit-learn
        agree = float((clf.predict(d.x_test.reshape(len(d.x_test), -1)) == test["pred"]).mean())
        print(f"keras copy agrees with scikit-learn on {agree:.2%} of test", flush=True)
        extra_metrics["sklearn_agreement"] = agree
    card = {
        "name": config.name,
        "builder": config.builder,
        "config": dataclasses.asdict(config),
        "seed": config.seed,
        "data": data_summary(d),
        "metrics": {
            "val_accuracy": val["accuracy"],
            "test_accuracy": test["accuracy"],
            "test_weighted_f1": test["weighted_f1"],
            **extra_metrics,
        },
        "epochs_run": len(next(iter(history.values()), [])),
        "params": int(model.count_params()),
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.time() - t0, 1),
        "command": command,
        **provenance(),
        "dry_run": config.dry_run,
        **({"distributed": worker.card(model)} if worker else {}),
    }
    report = {"val": metrics.jsonable(val), "test": metrics.jsonable(test), "history": history}
    extras = {
        ".history.json": json.dumps(history, indent=1).encode(),
        ".metrics.json": json.dumps(report, indent=1).encode(),
    }
    if history and any(len(v) > 0 for v in history.values()):
        extras[".curves.png"] = plots.curves_png(history, f"{config.name} ({config.builder})")
    path = artifacts.save_model(model, card, config.name, Path(out), extras=extras)
    print(
        f"saved {path} | val {val['accuracy']:.4f} | test {test['accuracy']:.4f} | "
        f"weighted F1 {test['weighted_f1']:.4f} | {card['params']:,} params | {train_seconds:.0f}s",
        flush=True,
    )
    shutil.rmtree(run_dir / "backup", ignore_errors=True)  # finished: the next run starts fresh
    if worker:
        worker.finish(path)
    return path
