"""The training run: one ``run`` used by every training script.

    config -> prepared MNIST (digitlab.data) -> fit (the recipe, digitlab.training.recipe) -> evaluate -> model + card

Keras models train with ``model.fit``: the recipe's ``tf.data`` pipeline (augmentation as Keras
preprocessing layers inside ``tf.data.map``, so the saved model stays free of them), the best
checkpoint on validation accuracy, EarlyStopping, the run's state (an interrupted run resumes
where it stopped) and a CSV log of every epoch.

Surviving a kill at any moment, in ``runs/<name>/``:

    state/weights-<n>.weights.h5   weights and optimizer after n epochs: temp file, fsync, rename
    state/state.json               the commit point, written atomically after everything an epoch
                                   writes: the last two snapshots (epoch, weights file and its sha256,
                                   EarlyStopping / ReduceLROnPlateau counters, training seconds so far)
    best.keras + best.json         the best checkpoint, atomic; best.json (written before the rename)
                                   maps each checkpoint's sha256 to its score, so the best-so-far
                                   survives a resume; history.csv is cut back to the committed epochs

A snapshot whose weights do not match their sha256 is skipped for the one before it; temp files of a
killed write are removed on the next run; the state is deleted only once the final model is saved,
so a kill after training (or during the final save) resumes with nothing left to train.  A resumed
dry run replays the uninterrupted one exactly (its batches come from one endless stream, skipped to
where it stopped); a resumed full run draws new shuffles for the epochs that remain.  An epoch that
ran no training step is never committed, and ``read_history`` reads only complete rows of the log.  ``--distribute multiworker`` trains with
``digitlab.training.distributed``'s custom loop instead, from the same recipe.  The baseline is
scikit-learn's LogisticRegression, copied into a Keras softmax layer so the app and the CLI treat
it like any other model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from digitlab import data, files
from digitlab.data import unipen
from digitlab.evaluation import evaluate, metrics
from digitlab.models import artifacts, cards
from digitlab.paths import MODELS_DIR, RUNS_DIR
from digitlab.report import plots
from digitlab.training import recipe, tracker
from digitlab.training.distributed import DistributedError
from digitlab.training.recipe import TrainConfig


class RunState:
    """The resumable state of one run, in ``<run_dir>/state`` (see the module docstring).

    ``snapshots()``: the committed snapshots, newest first, whose weights file matches its sha256.
    """

    KEEP = 2  # snapshots kept: when the newest is damaged, the one before it is used

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / "state"
        self.file = self.dir / "state.json"
        self.skipped: list[str] = []  # why a snapshot was not usable (printed on resume)

    def _read(self) -> list[dict]:
        try:
            saved = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return []
        return [snap for snap in saved.get("snapshots", []) if isinstance(snap, dict)] if isinstance(saved, dict) else []

    def snapshots(self) -> list[dict]:
        good, self.skipped = [], []
        for snap in self._read():
            weights = self.dir / str(snap.get("weights"))
            if weights.is_file() and files.sha256(weights) == snap.get("sha256"):
                good.append(snap)
            else:
                self.skipped.append(f"{weights.name} (epoch {snap.get('epoch')}): missing or not what was written")
        return good

    def latest(self) -> dict | None:
        snaps = self.snapshots()
        return snaps[0] if snaps else None

    def write_weights(self, model, epoch: int) -> dict:
        """Weights and optimizer after ``epoch`` epochs, durably under a name no snapshot uses yet, and
        the random generators' states (dropout's), which a weights file does not hold."""
        target = self.dir / f"weights-{epoch:04d}.weights.h5"
        tmp = files.temp_file(target, suffix=".tmp.weights.h5")  # Keras insists on .weights.h5
        try:
            model.save_weights(str(tmp))
            files.pause_point("backup")
            files.replace_durably(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        seeds = [np.asarray(v).tolist() for v in _seed_states(model)]  # in the model's order (their names carry a process-wide counter)
        return {"epoch": epoch, "weights": target.name, "sha256": files.sha256(target), "seeds": seeds}

    def restore(self, model, snap: dict) -> None:
        """The model and its optimizer as ``snap`` saved them (the optimizer built first, so its slots load)."""
        model.optimizer.build(model.trainable_variables)
        model.load_weights(str(self.dir / snap["weights"]))
        states, seeds = _seed_states(model), snap.get("seeds") or []
        if len(states) == len(seeds):
            for v, value in zip(states, seeds):
                v.assign(np.asarray(value, dtype=v.dtype))

    def commit(self, snap: dict) -> None:
        """``snap`` becomes the newest snapshot (state.json replaced atomically); weights no snapshot
        names any more are removed."""
        keep = [snap] + [old for old in self.snapshots() if old["epoch"] < snap["epoch"]][: self.KEEP - 1]
        files.atomic_write_json(self.file, {"snapshots": keep})
        named = {k["weights"] for k in keep}
        for p in self.dir.glob("weights-*.weights.h5"):
            if p.name not in named:
                p.unlink(missing_ok=True)

    def remove_temps(self) -> None:
        """Temp files of writes a killed run left (snapshot weights, checkpoints, state.json, the log)."""
        for folder in (self.run_dir, self.dir):
            if folder.is_dir():
                files.remove_stale_temps(folder)


def _seed_states(model) -> list:
    """The model's random-generator states (Keras SeedGenerator: dropout, noise layers): variables
    ``save_weights`` leaves out, so a resumed run would draw other dropout masks without them."""
    saved = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in saved and v.path.endswith("seed_generator_state")]


_CALLBACK_STATE = ("wait", "best", "best_epoch", "stopped_epoch", "cooldown_counter")  # EarlyStopping, ReduceLROnPlateau


def _callback_state(callback) -> dict:
    out = {}
    for key in _CALLBACK_STATE:
        value = getattr(callback, key, None)
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            out[key] = float(value) if isinstance(value, (float, np.floating)) else int(value)
    return out


def _sha_or_none(path: Path) -> str | None:
    return files.sha256(path) if Path(path).is_file() else None


def _best_records(best_path: Path) -> list[dict]:
    try:
        saved = json.loads(Path(best_path).with_suffix(".json").read_text())
        return [c for c in saved.get("checkpoints", []) if isinstance(c, dict)]
    except (OSError, ValueError, AttributeError):
        return []


def best_score(best_path: Path) -> float:
    """The score of the checkpoint ``best_path`` holds now (best.json, by its sha256); -inf when there
    is none, or when its score is unknown (then it is removed: a later epoch must replace it)."""
    sha = _sha_or_none(best_path)
    if sha is None:
        return -math.inf
    for record in _best_records(best_path):
        if record.get("sha256") == sha:
            return float(record["score"])
    Path(best_path).unlink(missing_ok=True)
    return -math.inf


def _keras_callbacks(state: RunState, best_path: Path, monitor: str, start: dict | None, stateful: list, keep_last: bool = False):
    """(snapshot, checkpoint, commit): the three callbacks that make a run resumable.

    snapshot   first at every epoch end: the raw weights (before SwapEMAWeights puts the average in)
    checkpoint best.keras when ``monitor`` improves (strictly, like ModelCheckpoint), or after every epoch
               when ``keep_last`` (``--checkpoint last``), atomically; its
               score goes into best.json first, so whichever file best.keras is after a kill, its score
               is known, and a resumed run starts from the best so far
    commit     last of those the state holds: state.json, once the epoch's checkpoint, log and the
               counters of ``stateful`` (EarlyStopping, ReduceLROnPlateau) are written; on resume it gives
               them their counters back, after their own on_train_begin has reset them
    """
    import keras

    seconds_before = float(start.get("train_seconds", 0.0)) if start else 0.0
    cpu_before = float(start.get("cpu_seconds", 0.0)) if start else 0.0  # user + system, every thread of the process

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1

        def on_epoch_end(self, epoch, logs=None):
            if not self.steps:  # the data ran out: committing this epoch would skip it on resume, unlogged
                raise EmptyEpochError(f"epoch {epoch + 1} ran no training step: its training data ran out; "
                                      f"nothing of it was saved, the run can resume from epoch {epoch}")
            self.pending = state.write_weights(self.model, epoch + 1)

    class BestCheckpoint(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.best = best_score(best_path)

        def on_epoch_end(self, epoch, logs=None):
            current = (logs or {}).get(monitor)
            if current is None or not (keep_last or current > self.best):
                return
            tmp = files.temp_file(best_path, suffix=".tmp.keras")
            try:
                self.model.save(tmp)
                files.fsync_path(tmp)
                now = _sha_or_none(best_path)
                kept = [c for c in _best_records(best_path) if c.get("sha256") == now]
                record = {"sha256": files.sha256(tmp), "score": float(current), "epoch": epoch}
                files.atomic_write_json(best_path.with_suffix(".json"), {"monitor": monitor, "checkpoints": [record, *kept]})
                files.pause_point("checkpoint")
                files.replace_durably(tmp, best_path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self.best = float(current)

    class Commit(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.t0, self.cpu0 = time.time(), time.process_time()
            for i, cb in enumerate(stateful):
                for key, value in ((start or {}).get("callbacks", {}).get(str(i)) or {}).items():
                    setattr(cb, key, value)

        def on_epoch_end(self, epoch, logs=None):
            state.commit({**snapshot.pending, "stop_training": bool(self.model.stop_training),
                          "train_seconds": round(seconds_before + time.time() - self.t0, 3),
                          "cpu_seconds": round(cpu_before + time.process_time() - self.cpu0, 3),
                          "callbacks": {str(i): _callback_state(cb) for i, cb in enumerate(stateful)}})

    snapshot = Snapshot()
    return snapshot, BestCheckpoint(), Commit()


def _pause_mid_epoch():
    """Test hook (``files.pause_point("mid_epoch")``, only while $DIGITLAB_PAUSE_AT is set): after the
    first batch of the second epoch."""
    import keras

    class Pause(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 0:
                files.pause_point("mid_epoch")

    return Pause()


def _cut_log(log_path: Path, epochs: int) -> None:
    """Keep the CSV log's rows of epochs < ``epochs`` (an epoch logged after the last commit is run
    again, and logged again); drops a row a kill cut short."""
    import csv
    import io

    if not log_path.is_file():
        return
    with open(log_path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, kept = rows[0], [rows[0]]
    for row in rows[1:]:
        try:
            values = [float(v) for v in row]  # a row a kill cut short does not parse
        except ValueError:
            continue
        if len(values) == len(header) and "epoch" in header and values[header.index("epoch")] < epochs:
            kept.append(row)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(kept)
    files.atomic_write_bytes(log_path, buf.getvalue().encode())


class EmptyEpochError(RuntimeError):
    """An epoch ended without one training step (its data ran out); it is not committed."""


class InitError(ValueError):
    """``TrainConfig.init_from`` names a model this run cannot start from; the message says why."""


def initial_weights(model, config: TrainConfig) -> dict:
    """Copy the weights of ``config.init_from`` (member ``config.init_member`` of an ensemble, whose
    layers ``models.ensemble.combine`` named ``m<index>_<layer>``) into the freshly built ``model``,
    layer by layer and name by name, so a trained network can be trained further with another recipe.
    Every layer with weights must find its counterpart with the same shapes, else nothing is copied.
    Returns what the card keeps of the start: file, sha256, the source's name, member and figures."""
    path = Path(config.init_from)
    try:
        source = artifacts.load_model(path)
    except artifacts.ModelError as e:
        raise InitError(f"init_from={str(path)!r}: {e}") from e
    copies = twin_weights(model, source, config.init_member, f"init_from={path.name!r}", config.builder)
    for layer, weights in copies:
        layer.set_weights(weights)
    return {**model_source(path, config.init_member), "layers": len(copies)}


def twin_weights(model, source, member: int | None, what: str, builder: str) -> list[tuple]:
    """Each layer of ``model`` that has weights, paired with the weights of its twin of the same name in
    ``source`` (in member ``member`` of an ensemble: ``m<member>_<name>``).  Raises InitError, its message
    starting with ``what``, when the member is missing or a layer has no twin of the same shapes."""
    prefix = "" if member is None else f"m{member}_"
    by_name = {layer.name: layer for layer in source.layers}
    if prefix and not any(name.startswith(prefix) for name in by_name):
        members = sorted({int(m.group(1)) for name in by_name if (m := re.match(r"m(\d+)_", name))})
        raise InitError(f"{what} has no member {member}"
                        + (f" (its members: {', '.join(map(str, members))})" if members else " (it is not an ensemble)"))
    pairs = []
    for layer in model.layers:
        if not layer.weights:
            continue
        twin = by_name.get(prefix + layer.name)
        if twin is None:
            raise InitError(f"{what}: it has no layer {prefix + layer.name!r}; it must be a {builder!r} model of the same size"
                            + ("" if prefix else " (for an ensemble, pick a member with init_member)"))
        weights = twin.get_weights()
        shapes = [tuple(w.shape) for w in layer.weights]
        if [tuple(w.shape) for w in weights] != shapes:
            raise InitError(f"{what}: layer {twin.name!r} has weights of shapes "
                            f"{[tuple(w.shape) for w in weights]}, this model's {layer.name!r} needs {shapes}")
        pairs.append((layer, weights))
    return pairs


def model_source(path: Path, member: int | None = None) -> dict:
    """What a card keeps of a trained model a run used (``--init-from``, ``--distill-from``): file, sha256,
    member, and that model's (or member's) name, test accuracy and the edits it was trained with from its own card."""
    card = artifacts.read_card(path) or {}
    if member is not None and isinstance(card.get("members"), list) and member < len(card["members"]):
        card = card["members"][member] or {}
    return {"file": path.name, "sha256": files.sha256(path), "member": member, "name": card.get("name"),
            "test_accuracy": (card.get("metrics") or {}).get("test_accuracy"), **({"edits": card["edits"]} if card.get("edits") else {})}


def edits_used(config: TrainConfig) -> dict:
    """The versions of the writing-convention edits a run's augmentation draws (the card's "edits"): the stroke
    edits of re-drawn and edited MNIST digits, the real strokes' own; {} for a run that draws none.  A model
    trained before an edit changed says so, and is rebuilt with ``training/rebuild.py``."""
    from digitlab.data import stroke_augment

    out = {}
    if (config.redraw > 0 and config.redraw_conventions > 0) or config.conventions > 0:
        out["stroke_edits"] = stroke_augment.EDITS_VERSION
    if config.real_share > 0 and config.real_conventions > 0:
        out["real_strokes_edits"] = unipen.EDITS_VERSION
    if config.paper > 0:
        from digitlab.data import paper_hands

        out["paper_hands"] = paper_hands.VERSION
    return out


def fit_keras(config: TrainConfig, d: data.Mnist, run_dir: Path, extra_callbacks=()):
    """Train a registered builder, resuming from ``run_dir``'s state when it has one; returns (best
    model by ``config.monitor``, history dict, what ``initial_weights`` started from or None).  The training seconds of every part of the run are the
    newest snapshot's (``RunState(run_dir).latest()["train_seconds"]``)."""
    import keras

    from digitlab.models import builders

    model = builders.build(config.builder, **config.model_kwargs)
    init = initial_weights(model, config) if config.init_from else None  # a resumed run's snapshot replaces them below
    train_ds, recipe_callbacks = recipe.training_data(d.x_train, d.y_train, config)
    val_ds = recipe.make_dataset(d.x_val, d.y_val, config, training=False)
    steps = int(np.ceil(len(d.x_train) / config.batch_size))
    recipe.compile_model(model, config, steps_per_epoch=steps)
    if config.adversarial:
        from digitlab.training import adversarial

        adversarial.install_adversarial_training(model, config.adversarial, steps_per_epoch=steps)
    epochs = min(config.epochs, 2) if config.dry_run else config.epochs
    steps_per_epoch = 2 if config.dry_run else None
    state = RunState(run_dir)
    state.remove_temps()
    start = state.latest()
    if state.skipped:
        print(f"skipped damaged state: {'; '.join(state.skipped)}", flush=True)
    best_path = run_dir / "best.keras"
    log_path = run_dir / "history.csv"
    initial_epoch = 0
    if steps_per_epoch:
        # One endless stream across the epochs (a finite one runs dry, or is started over by Keras, after
        # its last batch): a resumed run skips the batches the epochs before took and goes on exactly as
        # the uninterrupted run does.
        train_ds = train_ds.repeat()
    if start:
        state.restore(model, start)
        initial_epoch = int(start["epoch"])
        if steps_per_epoch:
            train_ds = train_ds.skip(initial_epoch * steps_per_epoch)
    _cut_log(log_path, initial_epoch)
    early = keras.callbacks.EarlyStopping(monitor=config.monitor, mode="max", patience=config.patience)
    snapshot, checkpoint, commit = _keras_callbacks(state, best_path, config.monitor, start, [early, *recipe_callbacks],
                                                    keep_last=config.checkpoint == "last")
    callbacks = [
        snapshot,  # first: the raw weights, as training needs them
        # Polyak averaging: validation, early stopping and the checkpoint after it see the averaged weights
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if config.ema else []),
        checkpoint,
        early,
        keras.callbacks.CSVLogger(str(log_path), append=True),
        *recipe_callbacks,
        commit,  # the epoch is committed once all of the above wrote
        *tracker.callbacks(config, run_dir, resuming=start is not None),  # the experiment tracker's record of the run
        *([_pause_mid_epoch()] if os.environ.get(files.PAUSE_ENV) else []),
        *extra_callbacks,
    ]
    if start is None or (start["epoch"] < epochs and not start.get("stop_training")):
        model.fit(
            train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks,
            steps_per_epoch=steps_per_epoch,
            shuffle=False,  # the dataset shuffles itself
            verbose=1 if sys.stdout.isatty() else 2,
        )
    history = read_history(log_path)
    best = artifacts.load_model(best_path) if best_path.is_file() else model
    return best, history, init


def read_history(csv_path: Path) -> dict[str, list[float]]:
    """The CSVLogger file (which survives a resume) as {metric: [value per epoch]}, epochs in order.

    Only complete rows count: a row a kill cut short, or one logged without some columns of the header
    (a resumed epoch whose validation did not run: fewer fields, or Keras' "NA"), is left out, and an
    epoch logged twice keeps its last row.  So a damaged log gives the epochs it really holds."""
    import csv

    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        keys = [k for k in (reader.fieldnames or []) if k]
        by_epoch: dict[float, dict[str, float]] = {}
        for i, row in enumerate(reader):
            try:
                values = {k: float(row[k]) for k in keys}  # None (a missing field) or "NA" does not parse
            except (TypeError, ValueError):
                continue
            by_epoch[values.get("epoch", float(i))] = values
    rows = [by_epoch[e] for e in sorted(by_epoch)]
    return {k: [r[k] for r in rows] for k in keys}


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
    """An interrupted run left a usable snapshot for this very config (an interrupted run of another
    architecture or recipe must not be resumed: its weights would not fit)."""
    saved = run_dir / "config.json"
    try:
        same = json.loads(saved.read_text()) == json.loads(json.dumps(dataclasses.asdict(config), sort_keys=True))
    except (OSError, ValueError):
        return False
    return same and RunState(run_dir).latest() is not None


def run(config: TrainConfig, out: Path = MODELS_DIR, callbacks=(), command: str | None = None, overwrite: bool = False,
        recipe_card: dict | None = None) -> Path:
    """Train per ``config``, evaluate on validation and test, save model + card into ``out``.

    ``callbacks``: extra Keras callbacks for the fit (e.g. progress reporting in the app).
    ``command``: the command line recorded on the card (``cards.command_line()`` of the script).
    ``overwrite``: replace a model of the same name in ``out``; without it a taken name becomes a free one
    (``artifacts.free_name``), decided and said before training starts.
    ``recipe_card``: what the card keeps of the recipe file the run came from (``recipes.card``).
    """
    import keras

    if problem := artifacts.name_problem(config.name):  # before hours of training, not at the save
        raise InitError(problem)
    name = artifacts.free_name(out, config.name, overwrite)
    if name != config.name:
        print(f"{Path(out) / (config.name + artifacts.MODEL_SUFFIX)} exists and is kept: this run saves {name}{artifacts.MODEL_SUFFIX} "
              "(--overwrite replaces it)", flush=True)
        config = dataclasses.replace(config, name=name)

    worker = None
    if config.distribute == "multiworker":
        from digitlab.training import distributed

        if callbacks:
            raise DistributedError("Keras callbacks need model.fit, which distribute='multiworker' does not use")
        worker = distributed.start(config)  # first: the strategy must exist before any other TensorFlow op
        out = worker.output_dir(out)  # only the chief writes into the models folder
    elif config.distribute != "none":
        raise ValueError(f"unknown distribute {config.distribute!r}")
    keras.utils.set_random_seed(config.seed)
    t0 = time.time()
    d = data.load(config.mnist_path, prepared=True, dry_run=config.dry_run, val_size=config.val_size)
    print(f"data: {len(d.x_train)} train / {len(d.x_val)} val / {len(d.x_test)} test from {d.source}", flush=True)
    run_dir = RUNS_DIR / (config.name + ("-dry" if config.dry_run else "") + (worker.run_suffix() if worker else ""))
    resuming = _can_resume(run_dir, config)
    if run_dir.exists() and not resuming:
        shutil.rmtree(run_dir)  # a fresh run must not append to an old log or reuse an old checkpoint
    if resuming:
        snap = RunState(run_dir).latest()
        print(f"resuming the interrupted run from {run_dir / 'state'} after epoch {snap['epoch']}", flush=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    files.atomic_write_json(run_dir / "config.json", json.loads(json.dumps(dataclasses.asdict(config), sort_keys=True)))
    t_fit, cpu_fit = time.time(), time.process_time()
    init = None
    if config.init_from and config.builder == "logistic":  # multiworker refused it already (distributed.check_supported)
        raise InitError("init_from needs a Keras builder: the logistic baseline is a scikit-learn fit")
    if config.distill > 0 and config.builder == "logistic":  # its fit never sees the targets: a card must not claim it
        raise recipe.TeacherError("distill_from needs a Keras builder: the logistic baseline is a scikit-learn fit")
    if config.builder == "logistic":
        model, history, clf = fit_logistic(config, d)
        train_seconds, cpu_seconds = time.time() - t_fit, time.process_time() - cpu_fit
    elif worker:
        model, history = distributed.fit(worker, config, d, run_dir)
        train_seconds, cpu_seconds = time.time() - t_fit, time.process_time() - cpu_fit
    else:
        model, history, init = fit_keras(config, d, run_dir, callbacks)
        latest = RunState(run_dir).latest()  # every part of an interrupted run
        train_seconds, cpu_seconds = latest["train_seconds"], latest.get("cpu_seconds", time.process_time() - cpu_fit)
    files.pause_point("after_training")

    val, test = evaluate.evaluate_splits(config.name, run_dir / "best.keras", model, d)
    extra_metrics = {}
    if config.builder == "logistic":  # the Keras copy must agree with scikit-learn
        agree = float((clf.predict(d.x_test.reshape(len(d.x_test), -1)) == test["pred"]).mean())
        print(f"keras copy agrees with scikit-learn on {agree:.2%} of test", flush=True)
        extra_metrics["sklearn_agreement"] = agree
    card = cards.build({
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
        "cpu_seconds": round(cpu_seconds, 1),
        "total_seconds": round(time.time() - t0, 1),
        "command": command,
        **({"recipe": recipe_card} if recipe_card else {}),
        "dry_run": config.dry_run,
        **({"distributed": worker.card(model)} if worker else {}),
        **({"init": init} if init else {}),
        **({"distill": {**model_source(Path(config.distill_from)), "weight": config.distill}} if config.distill > 0 else {}),
        **({"real_strokes": unipen.card(config.real_strokes)} if config.real_share > 0 else {}),
        **({"edits": edits} if (edits := edits_used(config)) else {}),
    })
    report = {"val": metrics.jsonable(val), "test": metrics.jsonable(test), "history": history}
    extras = {
        ".history.json": json.dumps(history, indent=1).encode(),
        ".metrics.json": json.dumps(report, indent=1).encode(),
    }
    if history and any(len(v) > 0 for v in history.values()):
        extras[".curves.png"] = plots.curves_png(history, f"{config.name} ({config.builder})")
    path = artifacts.save_model(model, card, config.name, Path(out), extras=extras, overwrite=overwrite)
    print(
        f"saved {path} | val {val['accuracy']:.4f} | test {test['accuracy']:.4f} | "
        f"weighted F1 {test['weighted_f1']:.4f} | {card['params']:,} params | {train_seconds:.0f}s",
        flush=True,
    )
    shutil.rmtree(run_dir / "state", ignore_errors=True)  # saved: only now may the state go (the next run starts fresh)
    if worker:
        worker.finish(path)
    return path
