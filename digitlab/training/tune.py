"""Hyperparameter search over the CNN recipe with Keras Tuner.

    search space (SPACE) -> Keras Tuner trials on a subset of the preprocessed train split,
    scored on the validation split -> trial table (JSON + markdown) -> the best recipe retrained
    on the whole train split by ``trainer.run`` -> models/<name>.keras + card with a "tuning" section

Every trial is an ordinary ``TrainConfig`` (``config_for``): the ``cnn`` builder with the trial's
width, depth and dropout, ``recipe.compile_model``'s optimizer and schedule at the trial's peak
learning rate, and ``recipe.training_data``'s tf.data pipeline with the trial's augmentation
(rotation, translation, zoom, stroke).  The objective is the best epoch's accuracy on the
validation split; the test split is never seen during the search (``trainer.run`` reports it for
the retrained model only).  Each trial starts from the same random seed, so two trials differ
by their hyperparameters alone.

Keras Tuner keeps its state in runs/tune/<name>: rerunning the same search resumes it (finished
trials are not run again); a search with other settings starts afresh.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab import data
from digitlab.files import atomic_write_bytes, atomic_write_json
from digitlab.models import artifacts, cards
from digitlab.paths import REPORTS_DIR, ROOT, RUNS_DIR
from digitlab.report import tables
from digitlab.training import recipe, trainer

# name -> how Keras Tuner samples it; written as is into the model card.
SPACE: dict[str, dict] = {
    "width": {"type": "choice", "values": [16, 24, 32, 48]},  # filters of the first convolution (then 2x)
    "depth": {"type": "int", "min": 3, "max": 5},  # convolutions in all (builders.build_cnn)
    "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.05},  # before the logits
    "learning_rate": {"type": "float", "min": 3e-4, "max": 1e-2, "sampling": "log"},  # peak of the schedule
    "rotation_deg": {"type": "float", "min": 0.0, "max": 20.0, "step": 2.5},  # augmentation, recipe.augmenter
    "translate": {"type": "float", "min": 0.0, "max": 0.2, "step": 0.025},
    "zoom": {"type": "float", "min": 0.0, "max": 0.2, "step": 0.025},
    "stroke": {"type": "float", "min": 0.0, "max": 0.6, "step": 0.1},
}
MODEL_KEYS = ("width", "depth", "dropout")  # go to the builder; the rest are TrainConfig fields
DRY_RUN_TRIALS = 2
TUNERS = ("random", "hyperband")


class TuneError(RuntimeError):
    """A search that cannot run or produced nothing usable; the message says why."""


@dataclass(frozen=True)
class TuneConfig:
    name: str = "mnist_tuned"  # file stem of the retrained best model in models/
    tuner: str = "random"  # "random" (RandomSearch) or "hyperband"
    max_trials: int = 6  # random search: trials to run (hyperband sets its own count from epochs and factor)
    epochs: int = 2  # epochs per trial (hyperband: the most a trial gets)
    hyperband_factor: int = 3  # hyperband: keep 1/factor of the trials at each round
    subset: int = 10000  # training digits per trial, a seeded random subset; validation uses the whole split
    final_epochs: int = 8  # retraining the best recipe on the whole train split
    seed: int = 42  # subset, tuner sampling and every trial's weights
    mnist_path: str | None = None
    dry_run: bool = False  # 2 trials of 1 epoch of a few batches: seconds, for tests


def require_tuner() -> None:
    """Keras Tuner imports tensorboard inside every trial: without it each trial fails on its own."""
    missing = [m for m in ("keras_tuner", "tensorboard") if importlib.util.find_spec(m) is None]
    if missing:
        raise TuneError(f"missing {' and '.join(missing)}: pip install -r requirements-dev.txt (keras-tuner needs tensorboard)")


def declare(hp) -> dict:
    """Declare ``SPACE`` on a ``keras_tuner.HyperParameters`` and return this trial's values."""
    values = {}
    for name, s in SPACE.items():
        if s["type"] == "choice":
            values[name] = hp.Choice(name, s["values"])
        elif s["type"] == "int":
            values[name] = hp.Int(name, s["min"], s["max"])
        else:
            values[name] = hp.Float(name, s["min"], s["max"], step=s.get("step"), sampling=s.get("sampling", "linear"))
    return values


def _tidy(v):
    """6 significant digits: Keras Tuner's stepped floats come out as 0.15000000000000002."""
    return float(f"{v:.6g}") if isinstance(v, float) else v


def config_for(base: recipe.TrainConfig, values: dict, **overrides) -> recipe.TrainConfig:
    """The TrainConfig of one point of the search space: ``base`` with the trial's values."""
    values = {k: _tidy(v) for k, v in values.items()}
    model_kwargs = {**base.model_kwargs, **{k: values[k] for k in MODEL_KEYS}}
    fields = {k: float(v) for k, v in values.items() if k not in MODEL_KEYS}
    return dataclasses.replace(base, model_kwargs=model_kwargs, **fields, **overrides)


def trial_subset(x: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random subset of n training digits (all of them when n >= len(x))."""
    if n >= len(x):
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(x), size=n, replace=False))
    return x[idx], y[idx]


# ----------------------------------------------------------------------------- the search


def _hypermodel(base: recipe.TrainConfig, tune: TuneConfig, x, y, x_val, y_val):
    import keras
    import keras_tuner as kt

    from digitlab.models import builders

    steps_per_epoch = int(np.ceil(len(x) / base.batch_size))

    class CnnHyperModel(kt.HyperModel):
        def build(self, hp):
            keras.utils.set_random_seed(tune.seed)  # same start for every trial
            config = config_for(base, declare(hp), epochs=tune.epochs)
            model = builders.build(config.builder, **config.model_kwargs)
            recipe.compile_model(model, config, steps_per_epoch)
            return model

        def fit(self, hp, model, *args, **kwargs):
            config = config_for(base, {k: hp.get(k) for k in SPACE}, epochs=tune.epochs)
            kwargs["verbose"] = 1 if sys.stdout.isatty() else 2
            train_ds, recipe_callbacks = recipe.training_data(x, y, config)  # the recipe's pipeline, e.g. progressive augmentation
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), *recipe_callbacks]
            return model.fit(
                train_ds,
                validation_data=recipe.make_dataset(x_val, y_val, config, training=False),
                steps_per_epoch=2 if tune.dry_run else None,
                shuffle=False,  # the dataset shuffles itself
                **kwargs,
            )

    return CnnHyperModel()


def _tuner(tune: TuneConfig, hypermodel, directory: Path, seconds: dict):
    import keras_tuner as kt

    base_cls = {"random": kt.RandomSearch, "hyperband": kt.Hyperband}[tune.tuner]

    class Timed(base_cls):
        """Records each trial's wall time next to Keras Tuner's own state (it keeps none)."""

        def run_trial(self, trial, *args, **kwargs):
            t0 = time.time()
            result = super().run_trial(trial, *args, **kwargs)
            seconds[trial.trial_id] = round(time.time() - t0, 1)
            atomic_write_json(directory / "trial_seconds.json", seconds)
            return result

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            values = {k: trial.hyperparameters.values.get(k) for k in SPACE}
            score = "failed" if trial.score is None else f"val_accuracy {trial.score:.4f}"
            print(f"trial {trial.trial_id}: {_fmt_values(values)} -> {score} ({seconds.get(trial.trial_id, '?')} s)", flush=True)

    objective = kt.Objective("val_accuracy", direction="max")
    common = dict(objective=objective, seed=tune.seed, directory=str(directory.parent), project_name=directory.name, overwrite=False)
    if tune.tuner == "random":
        return Timed(hypermodel, max_trials=DRY_RUN_TRIALS if tune.dry_run else tune.max_trials, **common)
    return Timed(hypermodel, max_epochs=2 if tune.dry_run else tune.epochs, factor=tune.hyperband_factor, **common)  # dry run: 2 trials


def _fmt_values(values: dict) -> str:
    return " ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())


def trial_table(tuner, seconds: dict) -> list[dict]:
    """One row per trial, in the order they ran: id, status, every hyperparameter, best
    validation accuracy and its epoch, wall seconds."""
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items(), key=lambda kv: (len(kv[0]), kv[0])):  # "9" before "10"
        hp = trial.hyperparameters.values
        row = {"trial": trial_id, "status": trial.status}
        row.update({k: _tidy(hp.get(k)) for k in SPACE})
        if "tuner/epochs" in hp:  # hyperband: the epochs this trial trained for
            row["epochs"] = hp["tuner/epochs"]
        row["val_accuracy"] = None if trial.score is None else round(float(trial.score), 5)
        row["best_epoch"] = None if trial.score is None else int(trial.best_step) + 1
        row["seconds"] = seconds.get(trial_id)
        if trial.message:
            row["error"] = str(trial.message).strip().splitlines()[-1][:300]
        rows.append(row)
    return rows


def _display(path: Path) -> str:
    path = Path(path).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def search(tune: TuneConfig, base: recipe.TrainConfig, reports_dir: Path) -> dict:
    """Run (or resume) the search and write the trial table; returns the "tuning" card section."""
    require_tuner()
    if tune.tuner not in TUNERS:
        raise TuneError(f"unknown tuner {tune.tuner!r}; known: {TUNERS}")
    stem = tune.name + ("-dry" if tune.dry_run else "")
    directory = RUNS_DIR / "tune" / stem
    settings = {"tune": dataclasses.asdict(tune), "base": dataclasses.asdict(base), "space": SPACE}
    settings = json.loads(json.dumps(settings, sort_keys=True))
    saved = directory / "settings.json"
    if directory.exists() and (tune.dry_run or not saved.is_file() or json.loads(saved.read_text()) != settings):
        shutil.rmtree(directory)  # another search under this name: its trials do not belong to this one
    elif directory.exists():
        print(f"resuming the search in {_display(directory)}", flush=True)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_json(saved, settings)
    seconds_path = directory / "trial_seconds.json"
    seconds = json.loads(seconds_path.read_text()) if seconds_path.is_file() else {}

    d = data.load(tune.mnist_path, prepared=True, dry_run=tune.dry_run, val_size=base.val_size)
    x, y = trial_subset(d.x_train, d.y_train, tune.subset, tune.seed)
    print(f"search: {tune.tuner}, {len(x)} train digits per trial (of {len(d.x_train)}), "
          f"scored on {len(d.x_val)} validation digits from {d.source}", flush=True)
    t0 = time.time()
    tuner = _tuner(tune, _hypermodel(base, tune, x, y, d.x_val, d.y_val), directory, seconds)
    tuner.search(epochs=1 if tune.dry_run else tune.epochs, verbose=0)
    rows = trial_table(tuner, seconds)
    done = [r for r in rows if r["status"] == "COMPLETED" and r["val_accuracy"] is not None]

    reports_dir = Path(reports_dir) / stem
    atomic_write_json(reports_dir / "trials.json", {"space": SPACE, "settings": settings, "trials": rows})
    atomic_write_bytes(reports_dir / "trials.md", tables.tune_trials(rows).encode())
    failed = [r for r in rows if r not in done]
    if failed:
        reasons = "; ".join(f"trial {r['trial']}: {r.get('error', r['status'])}" for r in failed)
        print(f"warning: {len(failed)} of {len(rows)} trials did not complete ({reasons})", flush=True)
    if not done:
        raise TuneError(f"no trial completed, see {_display(reports_dir / 'trials.md')}")
    best = max(done, key=lambda r: r["val_accuracy"])
    print(tables.tune_trials(rows), flush=True)
    print(f"best: trial {best['trial']} val_accuracy {best['val_accuracy']:.4f}; table in {_display(reports_dir / 'trials.md')}", flush=True)
    return {
        "tuner": tune.tuner,
        "objective": f"best-epoch val_accuracy on the validation split ({len(d.x_val)} digits); test never used in the search",
        "search_space": SPACE,
        "settings": dataclasses.asdict(tune),
        "trial_train_digits": len(x),
        "trials_report": _display(reports_dir / "trials.md"),
        "trials": rows,
        "best_trial": best["trial"],
        "best_values": {k: best[k] for k in SPACE},
        "search_seconds": round(time.time() - t0, 1),
    }


def run(tune: TuneConfig, base: recipe.TrainConfig, out: Path, reports_dir: Path = REPORTS_DIR / "tune") -> Path:
    """Search, then retrain the best recipe on the whole train split through ``trainer.run`` (same
    card and side files as every model) and add the "tuning" section to its card."""
    tuning = search(tune, base, reports_dir)
    tuning["command"] = cards.command_line()
    config = config_for(
        base, tuning["best_values"], name=tune.name, epochs=tune.final_epochs, seed=tune.seed,
        mnist_path=tune.mnist_path, dry_run=tune.dry_run,
    )
    import keras

    keras.utils.clear_session()  # drop the trial models and their traced functions
    print(f"retraining the best recipe (trial {tuning['best_trial']}) on the whole train split", flush=True)
    path = trainer.run(config, out)
    artifacts.update_card(path, {"tuning": tuning})
    return path
