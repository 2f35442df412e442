"""Fine-tune a trained model on the user's own digits, and measure what it gained and forgot.

    my_digits/0 … 9 (any pictures) -> the one preprocessing path -> stratified held-out split
    base model -> 1. warm-up: only the head ("logits") learns, the body is frozen (Adam)
               -> 2. everything but BatchNorm learns, AdamW at a small learning rate
    every batch: the user's training digits (augmented) + MNIST train digits (replay)
    before/after accuracy on the held-out user digits and on MNIST test
    calibration: temperature and abstain threshold fitted on MNIST validation digits, as for every
               committed model (``evaluation.calibration.calibrate``) -> model (no optimizer state) + card
               in the user models folder (``paths.user_models_dir()``: git-ignored, never models/)

Why this recipe: with ~20 pictures the new head would otherwise start by pushing large,
random gradients into a body that already reads digits well; warming the head up first
keeps them small.  BatchNorm stays frozen (inference mode) in both phases because batch
statistics of a few dozen pictures would drag MNIST's running averages away.  Replay —
MNIST train digits mixed into every epoch — is what keeps the model from forgetting MNIST
while it learns someone's 7s (measured: ``evaluation/finetune_study.py``).  No checkpoint is
chosen on the held-out digits: they are only measured, once before and once after.

Used by ``training/finetune_on_custom.py`` (``main``) and, through ``start_job``, by the
app's Collect page, which runs that script in a background process and reads its progress
from a status file.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab import data, files, preprocess
from digitlab.data import user_digits
from digitlab.evaluation import metrics
from digitlab.models import adapter, artifacts, cards
from digitlab.paths import ROOT, user_models_dir
from digitlab.report.progress import Progress
from digitlab.training import recipe

SCRIPT = ROOT / "training" / "finetune_on_custom.py"


@dataclass(frozen=True)
class FinetuneConfig:
    base: str = "mnist_advanced"  # model name in models/, or a .keras file
    name: str = "mnist_finetuned"  # file stem of the result
    head_epochs: int = 3  # phase 1: only the last Dense layer ("logits") learns
    epochs: int = 12  # phase 2: every layer but BatchNorm learns
    head_learning_rate: float = 1e-3  # Adam, constant
    learning_rate: float = 1e-4  # AdamW peak, cosine decay to 1 %; small, the body already reads digits
    weight_decay: float = 1e-4
    batch_size: int = 32  # 64 took the process past 1 GiB with mnist_advanced (1,042 MiB; 32: 1,006 MiB) and forgot more
    # MNIST in finetune_study (5 digits a class, replay 3: 99.67% -> 99.44% at 64, -> 99.56% at 32)
    user_per_epoch: int = 384  # user pictures per epoch: the few training pictures cycled, each augmented anew
    replay: float = 3.0  # MNIST train digits per user picture in every epoch (0: no replay); 3 forgot least in finetune_study
    holdout: float = 0.25  # share of each digit's pictures held out to measure (at least one per digit)
    label_smoothing: float = 0.05
    rotation_deg: float = 10.0  # augmentation (digitlab.training.recipe.augmenter): max rotation either way
    translate: float = 0.1  # fraction of the side
    zoom: float = 0.1  # fraction, in and out
    stroke: float = 0.5  # probability of a thicker or thinner stroke
    min_per_class: int = user_digits.MIN_PER_CLASS
    mnist_test: int = 10000  # MNIST test digits for the forgetting check (the first n of the test split)
    calibration_val: int = 5000  # MNIST validation digits (never replayed) the temperature and abstain threshold are fitted on
    non_digits: int = 100  # generated non-digit pictures per set the abstain rule is measured on (calibrate.py: 400; ~9 s here)
    drawn_digits: int = 200  # MNIST test digits redrawn with a brush for the same measurement (calibrate.py: 1000)
    seed: int = 0
    mnist_path: str | None = None  # explicit MNIST .npz (else $DIGITLAB_MNIST, keras cache, download)
    dry_run: bool = False  # one short epoch per phase, 256 MNIST test digits: seconds, for tests


DRY_RUN = {"head_epochs": 1, "epochs": 1, "user_per_epoch": 64, "mnist_test": 256, "calibration_val": 500, "non_digits": 20, "drawn_digits": 20}


@dataclass
class Result:
    path: Path  # the saved model
    card: dict

    @property
    def before(self) -> dict:
        return self.card["finetune"]["before"]

    @property
    def after(self) -> dict:
        return self.card["finetune"]["after"]


# ----------------------------------------------------------------------------- pieces


def holdout_split(labels: np.ndarray, fraction: float, seed: int, keys: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split -> (train indices, held-out indices).

    Each digit with n pictures gives round(fraction * n) to the held-out set, but at least one
    and never all of them (n >= 2 is checked by ``user_digits.read_folder``).  ``keys`` (one per
    picture, e.g. its content's sha256) order the pictures before the seeded shuffle, so the same
    pictures are held out whatever order they come in (file names hold the time they were saved).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"holdout must be between 0 and 1, not {fraction}")
    rng = np.random.default_rng(seed)
    train, held = [], []
    for d in np.unique(labels):
        idx = np.flatnonzero(labels == d)
        if keys is not None:
            idx = idx[np.argsort([keys[i] for i in idx], kind="stable")]
        idx = rng.permutation(idx)
        k = int(np.clip(round(fraction * len(idx)), 1, len(idx) - 1))
        held.extend(idx[:k])
        train.extend(idx[k:])
    return np.sort(np.asarray(train, np.int64)), np.sort(np.asarray(held, np.int64))


def _set_trainable(model, phase: str) -> None:
    """phase "head": only the head learns; "body": everything but BatchNorm (kept in inference mode)."""
    import keras

    heads = adapter.head_layers(model)
    model.trainable = True
    for layer in model.layers:
        if phase == "head":
            layer.trainable = any(layer is h for h in heads)
        else:
            layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)


def _compile(model, config: FinetuneConfig, phase: str, outputs: str, steps: int) -> None:
    import keras

    loss = keras.losses.CategoricalCrossentropy(from_logits=outputs == "logits", label_smoothing=config.label_smoothing)
    if phase == "head":
        opt = keras.optimizers.Adam(config.head_learning_rate)
    else:
        lr = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=max(1, steps), alpha=0.01)
        opt = keras.optimizers.AdamW(lr, weight_decay=config.weight_decay)
    model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])


def _dataset(x: np.ndarray, y: np.ndarray, config: FinetuneConfig, layout: str, seed: int):
    """(N, 28, 28) inputs and labels -> shuffled, augmented batches shaped for the model's layout."""
    import tensorflow as tf

    from digitlab.training import recipe

    aug = recipe.augmenter(
        recipe.Augmentation.of(config),
        seed,
    )
    shape = adapter.batch_shape(layout)
    ds = tf.data.Dataset.from_tensor_slices((x[..., None].astype(np.float32), np.eye(10, dtype=np.float32)[y]))
    ds = ds.shuffle(len(x), seed=seed).batch(config.batch_size).map(aug)
    return ds.map(lambda a, b: (tf.reshape(a, shape), b)).prefetch(2)


def _accuracy(clf, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[float, np.ndarray]:
    """Accuracy and probabilities, ``batch_size`` images per forward pass: the training batch's size, so measuring
    grows no larger buffers than training needs (256: mnist_advanced's process peaked ~90 MiB higher)."""
    probs = clf.predict_proba(x, batch_size=batch_size)
    return float((probs.argmax(1) == y).mean()) if len(y) else float("nan"), probs


def _mnist(config: FinetuneConfig, n_replay: int) -> data.Mnist:
    """Only the MNIST digits fine-tuning needs: train = ``n_replay`` random train digits as stored
    (uint8: the replay pool, never validation or test, prepared a slice at a time by ``_epoch_data``,
    which keeps ~50 MB of float32 out of memory), val = ``config.calibration_val`` validation digits as
    model inputs (calibration), test = the first ``config.mnist_test`` test digits as model inputs (the
    forgetting check)."""
    m = data.load(config.mnist_path)
    rng = np.random.default_rng(config.seed + 1)
    pick = rng.choice(len(m.x_train), size=min(n_replay, len(m.x_train)), replace=False)
    x_replay, y_replay = m.x_train[pick], m.y_train[pick].astype(np.int64)
    x_val, y_val = m.inputs("val", min(config.calibration_val, len(m.x_val)), config.seed)
    x_test, y_test = m.inputs("test", indices=np.arange(min(config.mnist_test, len(m.x_test))))
    return data.Mnist(x_replay, y_replay, x_val, y_val, x_test, y_test, m.source, m.fingerprint)


def _calibrate(clf, mnist: data.Mnist, config: FinetuneConfig) -> dict:
    """The card's "calibration" entry for the fine-tuned model: ``calibration.calibrate``, the function
    evaluation/calibrate.py runs for the committed models (temperature by NLL and the abstain threshold on
    MNIST validation digits, the digit gate when it is there), measured on the forgetting check's MNIST
    test digits and on fewer generated pictures (``config.non_digits``, ``config.drawn_digits``).
    The base model's entry is not reused: fine-tuning changes how sure the model is."""
    from digitlab.evaluation import calibration, nondigit_sets
    from digitlab.serving import gate

    raw = data.load(config.mnist_path)  # the raw test digits, redrawn with a brush for the measuring set
    sets = nondigit_sets.measurement_sets(raw.x_test, raw.y_test, config.non_digits, config.drawn_digits)
    del raw
    report = calibration.calibrate(lambda x: clf.predict_proba(x, batch_size=config.batch_size), mnist.x_val, mnist.y_val,
                                   mnist.x_test, mnist.y_test, sets, gate=gate.default())
    return {**calibration.card_entry(report), "non_digit_seeds": nondigit_sets.MEASURE_SEEDS, "command": cards.command_line()}


def _without_training_state(model):
    """An uncompiled copy with the same weights, which is what is saved.  ``model.save`` keeps a compiled
    model's optimizer: AdamW's two slots per weight made mnist_advanced's fine-tune 3.5 MB against 1.3 MB
    for its start (model.weights.h5: 3,489,520 bytes against 1,306,960), state nothing that predicts needs,
    and a model trained again starts a fresh optimizer anyway."""
    # From the config, not keras.models.clone_model, which compiles the copy with the same optimizer again.
    # The same layers, names and config: what the adapter and Explain rely on.
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def epoch_sizes(config: FinetuneConfig, n_train: int, digits: int = 10) -> tuple[int, int]:
    """(user pictures, MNIST replay digits) in every epoch, for ``n_train`` training pictures of ``digits`` digits.
    A full folder: ``user_per_epoch`` pictures (every one at least once) and ``replay`` times as many MNIST digits.  A
    folder holding only some digits gives each of them the share it has in a full folder, and the epoch keeps a full
    folder's MNIST replay, so the digits it holds are not made more likely than the rest (a few kept 7s must not turn
    every doubtful 1 into a 7)."""
    full = max(config.user_per_epoch, n_train)
    return max(int(round(config.user_per_epoch * digits / 10)), n_train), int(round(config.replay * full))


def _epoch_data(x_user, y_user, mnist: data.Mnist, n_user: int, n_rep: int, epoch: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """One epoch: the user's training pictures cycled up to ``n_user`` (every picture at least once), plus ``n_rep``
    MNIST train digits, a different slice of the pool each epoch (prepared here, through the one path, as
    ``Mnist.inputs`` would); ``epoch_sizes`` says how many."""
    idx = np.concatenate([rng.permutation(len(x_user)) for _ in range(-(-n_user // len(x_user)))])[:n_user]
    xs, ys = [x_user[idx]], [y_user[idx]]
    if n_rep:
        start = (epoch * n_rep) % len(mnist.x_train)
        take = np.arange(start, start + n_rep) % len(mnist.x_train)
        xs.append(preprocess.prepare_batch(mnist.x_train[take]))
        ys.append(mnist.y_train[take])
    return np.concatenate(xs), np.concatenate(ys)


# ----------------------------------------------------------------------------- the run


def run(config: FinetuneConfig, folder: Path | None = None, out: Path | None = None, progress: Progress | None = None) -> Result:
    """Fine-tune ``config.base`` on the pictures in ``folder``, calibrate it and save ``<out>/<config.name>.keras``
    + card (``out`` None: the user models folder, ``paths.user_models_dir()``).

    Raises user_digits.CollectError (folder problems), artifacts.ModelError (base model) or
    data.DataError (MNIST); nothing is written then.
    """
    say = progress or (lambda f, m: None)
    if dry := config.dry_run:
        config = recipe.dry_sized(config, DRY_RUN)
    if not artifacts.NAME_RE.match(config.name):
        raise artifacts.ModelError(f"invalid model name {config.name!r}: use letters, digits, '_', '.', '-'")
    t0 = time.time()
    folder = Path(folder) if folder is not None else user_digits.default_dir()
    say(0.0, f"reading {folder}")
    user = user_digits.read_folder(folder, config.min_per_class)
    absent = user.absent()
    if absent and not config.replay:
        raise user_digits.CollectError(f"{folder} holds no {', '.join(map(str, absent))}: without MNIST replay the model would learn "
                                       "that those digits do not exist; keep the replay above 0, or add pictures of them")
    contents = [files.sha256(p) for p in user.paths]  # the same pictures are held out whatever their file names
    train_idx, held_idx = holdout_split(user.labels, config.holdout, config.seed, contents)
    x_tr, y_tr = user.images[train_idx], user.labels[train_idx]
    x_ho, y_ho = user.images[held_idx], user.labels[held_idx]

    base = artifacts.resolve(config.base)  # folder and model are checked before TensorFlow is imported: errors come fast

    import keras

    from digitlab.serving import classifiers

    keras.utils.set_random_seed(config.seed)
    model = artifacts.load_model(base.path)  # a fresh copy: the base file and any cached copy stay as they are
    layout, outputs = adapter.check_classifier(model)
    entry = artifacts.ModelEntry(config.name, base.path, None, True, None, layout, outputs, model)
    clf = classifiers.Classifier(entry)  # the traced forward pass reads the live weights, before and after

    total_epochs = config.head_epochs + config.epochs
    n_user, n_rep = epoch_sizes(config, len(x_tr), 10 - len(absent))
    say(0.02, "preparing MNIST digits for replay and the forgetting check")
    mnist = _mnist(config, n_rep * total_epochs)

    say(0.05, "measuring the base model")
    before = {
        "user_holdout": _accuracy(clf, x_ho, y_ho, config.batch_size)[0],
        "mnist_test": _accuracy(clf, mnist.x_test, mnist.y_test, config.batch_size)[0],
        "user_train": _accuracy(clf, x_tr, y_tr, config.batch_size)[0],
    }

    rng = np.random.default_rng(config.seed + 2)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    t_fit = time.time()
    for epoch in range(total_epochs):
        phase = "head" if epoch < config.head_epochs else "body"
        if epoch in (0, config.head_epochs):
            _set_trainable(model, phase)
            steps = (config.epochs if phase == "body" else config.head_epochs) * int(np.ceil((n_user + n_rep) / config.batch_size))
            _compile(model, config, phase, outputs, steps)
        x, y = _epoch_data(x_tr, y_tr, mnist, n_user, n_rep, epoch, rng)
        h = model.fit(_dataset(x, y, config, layout, config.seed + epoch), epochs=1, verbose=0, shuffle=False).history  # the dataset shuffles itself
        for k in history:
            history[k].append(float(h[k][-1]))
        say(0.08 + 0.82 * (epoch + 1) / total_epochs,
            f"epoch {epoch + 1}/{total_epochs} ({'head only' if phase == 'head' else 'all layers'}): loss {history['loss'][-1]:.3f}")
    train_seconds = time.time() - t_fit

    say(0.92, "measuring the fine-tuned model")
    ho_acc, ho_probs = _accuracy(clf, x_ho, y_ho, config.batch_size)
    test_acc, test_probs = _accuracy(clf, mnist.x_test, mnist.y_test, config.batch_size)
    after = {"user_holdout": ho_acc, "mnist_test": test_acc, "user_train": _accuracy(clf, x_tr, y_tr, config.batch_size)[0]}
    test = metrics.classification_metrics(test_probs, mnist.y_test)
    say(0.94, f"calibrating (temperature and abstain threshold on {len(mnist.y_val)} MNIST validation digits)")
    calibrated = _calibrate(clf, mnist, config)

    for layer in model.layers:  # saved as an ordinary model: whoever loads it can train every layer again
        layer.trainable = True
    model = _without_training_state(model)
    card = _card(config, dry, base, user, folder, train_idx, held_idx, mnist, before, after, test, ho_probs, y_ho,
                 model, train_seconds, time.time() - t0) | {"calibration": calibrated}
    report = {"test": metrics.jsonable(test), "history": history}
    extras = {".history.json": json.dumps(history, indent=1).encode(), ".metrics.json": json.dumps(report, indent=1).encode()}
    del mnist, clf, test_probs  # what saving does not need: its own buffers come on top of what is still held
    gc.collect()
    say(0.97, "saving")
    path = artifacts.save_model(model, card, config.name, Path(out) if out is not None else user_models_dir(), extras=extras)
    say(1.0, f"saved {path}")
    return Result(path, artifacts.read_card(path) or card)


def _card(config, dry, base, user, folder, train_idx, held_idx, mnist, before, after, test, ho_probs, y_ho, model,
          train_seconds, total_seconds) -> dict:

    base_card = base.card or {}
    command = cards.command_line()
    per_class_ho = {str(d): float((ho_probs.argmax(1)[y_ho == d] == d).mean()) for d in range(10) if (y_ho == d).any()}
    return cards.build({
        "name": config.name,
        "builder": base_card.get("builder", "unknown"),
        "config": dataclasses.asdict(config) | {"dry_run": dry},
        "seed": config.seed,
        "base": {
            "name": base.name,
            "file": str(base.path),
            "test_accuracy": (base_card.get("metrics") or {}).get("test_accuracy"),
            "command": base_card.get("command"),
        },
        "data": {
            "user_folder": str(folder),
            "user_pictures": len(user.labels),
            "user_per_class": {str(d): n for d, n in user.per_class().items()},
            "left_to_replay": user.absent(),
            "user_train": len(train_idx),
            "user_holdout": len(held_idx),
            "holdout_files": [str(user.paths[i].relative_to(folder)) for i in held_idx],
            "skipped": [{"path": str(p), "reason": r} for p, r in user.skipped],
            "replay_pool": len(mnist.x_train),
            "mnist_test": len(mnist.y_test),
            "source": mnist.source,
            "fingerprint": mnist.fingerprint,
        },
        "metrics": _headline(after, test, len(mnist.y_test)),
        "finetune": {
            "before": before,
            "after": after,
            "gain_user_holdout_pp": round(100 * (after["user_holdout"] - before["user_holdout"]), 2),
            "forgetting_mnist_pp": round(100 * (before["mnist_test"] - after["mnist_test"]), 2),
            "after_per_class_holdout": per_class_ho,
            "measured_on": f"{len(held_idx)} held-out user pictures (never trained on) and the first {len(mnist.y_test)} MNIST test digits",
        },
        "epochs_run": config.head_epochs + config.epochs,
        "params": int(model.count_params()),
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(total_seconds, 1),
        "command": command,
        "dry_run": dry,
        # The base card's calibration (temperature, abstain threshold) is not copied: it no longer holds (run fits its own).
    })


def _headline(after: dict, test: dict, n_test: int) -> dict:
    """The card's "metrics".  test_accuracy only when measured on the whole MNIST test split, as on
    every other card: pickers and ``artifacts.resolve(None)`` rank by it, and 100 % on 200 digits
    must not outrank 99.5 % on 10,000."""
    if n_test == data.EXPECTED["y_test"][0][0]:  # 10,000
        return {"test_accuracy": after["mnist_test"], "test_weighted_f1": test["weighted_f1"], "user_holdout_accuracy": after["user_holdout"]}
    return {"mnist_test_subset_accuracy": after["mnist_test"], "mnist_test_subset": n_test, "user_holdout_accuracy": after["user_holdout"]}
