"""Per-run records in the experiment tracker: TensorBoard's scalars and its HParams dashboard.

Every Keras training run writes ``runs/tensorboard/<name>-<start time>/``: the loss, accuracy and
learning rate of each epoch (Keras's ``TensorBoard`` callback) and the run's whole recipe as hyperparameters
with its final validation accuracy (the HParams plugin), so

    tensorboard --logdir runs

lists every run made on this machine and compares them, recipe against figures.  A resumed run goes on
writing into the folder its first part started.  ``runs/`` is scratch: nothing in it is tracked by git.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from digitlab.training.recipe import TrainConfig

TRACKER_DIR = "tensorboard"  # beside the runs' own folders, under runs/


def hparams(config: TrainConfig) -> dict[str, bool | int | float | str]:
    """The recipe as the HParams dashboard takes it: scalars only (``model_kwargs`` flattened to ``model.<key>``,
    a list or dict as text, None left out)."""
    out = {}
    for key, value in dataclasses.asdict(config).items():
        items = {f"model.{k}": v for k, v in value.items()} if key == "model_kwargs" else {key: value}
        for k, v in items.items():
            if v is None:
                continue
            out[k] = v if isinstance(v, bool | int | float | str) else str(v)
    return out


def log_dir(run_dir: Path, resuming: bool) -> Path:
    """The run's tracker folder: a new one per run, the same one for every part of a resumed run."""
    marker = run_dir / "tracker.txt"
    if resuming and marker.is_file():
        return Path(marker.read_text().strip())
    path = run_dir.parent / TRACKER_DIR / f"{run_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(path))
    return path


def callbacks(config: TrainConfig, run_dir: Path, resuming: bool) -> list:
    """Keras callbacks that write the run's scalars and, where TensorBoard is installed, its hyperparameters."""
    import keras

    path = log_dir(run_dir, resuming)
    out = [keras.callbacks.TensorBoard(log_dir=str(path), histogram_freq=0, write_graph=False, update_freq="epoch")]
    try:
        from tensorboard.plugins.hparams import api as hp
    except ImportError:  # the scalars are written by TensorFlow itself; the dashboard's records need the package
        return out
    out.append(hp.KerasCallback(str(path), hparams(config), trial_id=path.name))
    return out
