"""The training run: one ``run`` used by every training script.

    config -> prepared MNIST (digitlab.data) -> fit (the recipe, digitlab.training.recipe) -> evaluate -> model + card

Keras models train with ``model.fit``: the recipe's ``tf.data`` pipeline (augmentation as Keras
preprocessing layers inside ``tf.data.map``, so the saved model stays free of them),
ModelCheckpoint on validation accuracy, EarlyStopping, BackupAndRestore (an interrupted run
resumes where it stopped) and a CSV log of every epoch.  ``--distribute multiworker`` trains with
``digitlab.training.distributed``'s custom loop instead, from the same recipe.  The baseline is
scikit-learn's LogisticRegression, copied into a Keras softmax layer so the app and the CLI treat
it like any other model.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from digitlab import data
from digitlab.evaluation import evaluate, metrics
from digitlab.models import artifacts, cards
from digitlab.paths import MODELS_DIR, RUNS_DIR
from digitlab.report import plots
from digitlab.training import recipe
from digitlab.training.distributed import DistributedError
from digitlab.training.recipe import TrainConfig


def fit_keras(config: TrainConfig, d: data.Mnist, run_dir: Path, extra_callbacks=()):
    """Train a registered builder; returns (best model by val accuracy, history dict)."""
    import keras

    from digitlab.models import builders

    model = builders.build(config.builder, **config.model_kwargs)
    train_ds, recipe_callbacks = recipe.training_data(d.x_train, d.y_train, config)
    val_ds = recipe.make_dataset(d.x_val, d.y_val, config, training=False)
    recipe.compile_model(model, config, steps_per_epoch=int(np.ceil(len(d.x_train) / config.batch_size)))
    if config.adversarial:
        from digitlab.evaluation import attacks

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


def fit_logistic(config: TrainConfig, d: data.Mnist):
    """scikit-learn LogisticRegression on the 784 pixels, copied into ``builders.build_baseline``."""
    from sklearn.linear_model import LogisticRegression

    from digitlab.models import builders

    clf = LogisticRegression(C=config.l2_c, max_iter=20 if config.dry_run else config.max_iter, random_state=config.seed)
    clf.fit(d.x_train.reshape(len(d.x_train), -1), d.y_train)
    model = builders.build_baseline(name=config.name)
    dense = model.get_layer("logits")
    dense.set_weights([clf.coef_.T.astype(np.float32), clf.intercept_.astype(np.float32)])
    val = clf.score(d.x_val.reshape(len(d.x_val), -1), d.y_val)
    return model, {"val_accuracy": [float(val)]}, clf


# ----------------------------------------------------------------------------- evaluation + card


def _can_resume(run_dir: Path, config: TrainConfig) -> bool:
    """BackupAndRestore left state behind for this very config (an interrupted run of another
    architecture or recipe must not be resumed: its weights would not fit)."""
    saved = run_dir / "config.json"
    if not (run_dir / "backup").exists() or not saved.is_file():
        return False
    return json.loads(saved.read_text()) == json.loads(json.dumps(dataclasses.asdict(config), sort_keys=True))


def run(config: TrainConfig, out: Path = MODELS_DIR, callbacks=(), command: str | None = None) -> Path:
    """Train per ``config``, evaluate on validation and test, save model + card into ``out``.

    ``callbacks``: extra Keras callbacks for the fit (e.g. progress reporting in the app).
    ``command``: the command line recorded on the card (``cards.command_line()`` of the script).
    """
    import keras


    worker = None
    if config.distribute == "multiworker":
        from digitlab.training import distributed

        if callbacks:
            raise DistributedError("Keras callbacks need model.fit, which --distribute multiworker does not use")
        worker = distributed.start(config)  # first: the strategy must exist before any other TensorFlow op
        out = worker.output_dir(out)  # only the chief writes into the models folder
    elif config.distribute != "none":
        raise ValueError(f"unknown distribute {config.distribute!r}")
    keras.utils.set_random_seed(config.seed)
    t0 = time.time()
    d = data.prepared_mnist(config.mnist_path, val_size=config.val_size, dry_run=config.dry_run)
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

    val, test = evaluate.evaluate_splits(config.name, run_dir / "best.keras", model, d)
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
        "data": cards.data_summary(d),
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
        **cards.provenance(),
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
