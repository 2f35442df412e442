"""python training/tune.py [--tuner random|hyperband] [--max-trials 6] [--epochs 2] [--subset 10000] [--dry-run]

Keras Tuner search over the compact CNN (width, depth, dropout), its peak learning rate and
its augmentation (rotation, translation, zoom, stroke), scored on the validation split, never
on test.  Every trial's hyperparameters and validation accuracy go to
evaluation/reports/tune/<name>/trials.{json,md}; the best recipe is then retrained on the whole
train split and written to models/<name>.keras with its card (search space, trial table,
best trial).  Tuner state lives in runs/tune/<name>; rerunning the same command resumes it.
See digitlab/training/tune.py.
"""

import sys
from pathlib import Path

from digitlab import cli, data
from digitlab.paths import MODELS_DIR, REPORTS_DIR
from digitlab.training import tune
from digitlab.training.recipe import TrainConfig

# The recipe every trial starts from (train_cnn.py's when the search was written, kept fixed here
# so the README's search figures stay reproducible); the search replaces width, depth, dropout,
# the peak learning rate and the augmentation.
BASE = TrainConfig(
    builder="cnn",
    model_kwargs={"width": 32, "dropout": 0.25},
    batch_size=128,
    learning_rate=3e-3,
    warmup_epochs=0.3,
    schedule="onecycle",
    label_smoothing=0.05,
)
DEFAULTS = tune.TuneConfig()


def parse(argv=None) -> tuple[tune.TuneConfig, Path, Path]:
    d = DEFAULTS
    p = cli.parser(__doc__)
    p.add_argument("--tuner", choices=tune.TUNERS, default=d.tuner, help=f"search algorithm (default {d.tuner})")
    p.add_argument("--max-trials", type=int, default=d.max_trials, help=f"random search: trials to run (default {d.max_trials}; hyperband ignores it)")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs per trial, hyperband: the most a trial gets (default {d.epochs})")
    p.add_argument("--subset", type=int, default=d.subset, help=f"training digits per trial (default {d.subset})")
    p.add_argument("--final-epochs", type=int, default=d.final_epochs, help=f"epochs to retrain the best recipe on the whole train split (default {d.final_epochs})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed for the subset, the sampling and every trial (default {d.seed})")
    p.add_argument("--name", type=cli.model_name, default=d.name, help=f"model file stem (default {d.name})")
    p.add_argument("--out", type=Path, default=MODELS_DIR, help="folder for <name>.keras and its card (default models/)")
    p.add_argument("--reports", type=Path, default=REPORTS_DIR / "tune", help="folder for <name>/trials.{json,md} (default evaluation/reports/tune/)")
    cli.add_mnist(p)
    cli.add_dry_run(p, f"{tune.DRY_RUN_TRIALS} trials of a few batches and a tiny retrain, in seconds (for tests)")
    a = p.parse_args(argv)
    for flag, value in (("--max-trials", a.max_trials), ("--epochs", a.epochs), ("--subset", a.subset), ("--final-epochs", a.final_epochs)):
        if value < 1:
            p.error(f"{flag} must be at least 1")
    if a.tuner == "hyperband" and a.epochs < 2:
        p.error("--tuner hyperband needs --epochs of at least 2 (it trains promising trials for longer)")
    config = tune.TuneConfig(
        name=a.name, tuner=a.tuner, max_trials=a.max_trials, epochs=a.epochs, subset=a.subset, final_epochs=a.final_epochs,
        seed=a.seed, mnist_path=a.mnist, dry_run=a.dry_run,
    )
    return config, a.out, a.reports


def main(argv=None) -> int:
    config, out, reports = parse(argv)
    try:
        tune.run(config, BASE, out, reports)
    except (data.DataError, tune.TuneError) as e:
        return cli.error(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
