"""The command line every training script shares: flags (help shows the script's defaults) -> config -> run.

Exit codes, as everywhere in this project (``digitlab.cli``): 0 done, 2 usage or configuration
error (bad flag, MNIST missing, a multi-worker cluster that cannot start).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from digitlab import cli, data
from digitlab.models import cards
from digitlab.paths import MODELS_DIR
from digitlab.training.distributed import DistributedError
from digitlab.training.recipe import TrainConfig


def parse_args(defaults: TrainConfig, doc: str | None, argv: list[str] | None = None) -> tuple[TrainConfig, Path]:
    """Flags common to every training script; help strings show the script's defaults."""
    p = cli.parser(doc)
    d = defaults
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"maximum epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"batch size (default {d.batch_size})")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help=f"peak learning rate (default {d.learning_rate})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed for weights, shuffling and augmentation (default {d.seed})")
    p.add_argument("--ema", type=float, default=d.ema,
                   help=f"momentum of the moving average of the weights that is validated and saved; 0 = off (default {d.ema})")
    p.add_argument("--name", type=cli.model_name, default=d.name, help=f"model file stem (default {d.name})")
    cli.add_out(p, MODELS_DIR, "folder for <name>.keras and its card")
    cli.add_mnist(p)
    cli.add_dry_run(p)
    p.add_argument("--distribute", choices=("none", "multiworker"), default=d.distribute,
                   help=f"multiworker: train on the workers listed in $TF_CONFIG, see digitlab/distributed.py (default {d.distribute})")
    a = p.parse_args(argv)
    for flag, value in (("--epochs", a.epochs), ("--batch-size", a.batch_size)):
        if value < 1:
            p.error(f"{flag} must be at least 1")
    if not 0 <= a.ema < 1:
        p.error("--ema must be in [0, 1)")
    config = dataclasses.replace(
        d, epochs=a.epochs, batch_size=a.batch_size, learning_rate=a.learning_rate, seed=a.seed,
        name=a.name, mnist_path=a.mnist, dry_run=a.dry_run, distribute=a.distribute, ema=a.ema,
    )
    return config, a.out


def main(defaults: TrainConfig, doc: str | None = None, argv: list[str] | None = None) -> Path:
    from digitlab.training import trainer

    config, out = parse_args(defaults, doc, argv)
    try:
        return trainer.run(config, out, command=cards.command_line(argv))
    except (data.DataError, DistributedError) as e:
        cli.fail(e)
