"""python training/ensemble.py MEMBER.keras MEMBER.keras [...] [--weights W W ...] [--name mnist_advanced] [--out models/] [--dry-run]

Averages trained digit models into one model (the mean of their logits, then softmax; see
digitlab/training/ensemble.py), evaluates it on the validation and test splits, and writes
<out>/<name>.keras with a card that embeds each member's card (recipe, seed, command, figures).
Members are models trained by this project's scripts.  The committed ensembles are the mean of networks
each trained once from random weights by its recipe (training/configs/*.toml; python training/rebuild.py
mnist_cnn runs the whole of one).  --weights gives each member its weight in the mean (sum of w x logits /
sum of w); a member that is itself an ensemble enters with the mean of its members' logits:

  python training/ensemble.py runs/rebuild/cnn_a.keras runs/rebuild/cnn_b.keras --name mine --out runs/mine
  python training/ensemble.py pair.keras x.keras y.keras --weights 2 0.5 0.5   # (a + b + 0.5 x + 0.5 y) / 3

A model of that name in --out is kept: the ensemble takes a free name (<name>_2) unless --overwrite.
"""

import functools
import sys
from pathlib import Path

from digitlab import cli, data
from digitlab.models import cards
from digitlab.models.ensemble import EnsembleError, check_weights
from digitlab.paths import MODELS_DIR
from digitlab.training.cli import add_overwrite
from digitlab.training.ensemble import build


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("members", nargs="+", type=Path, help="the members' .keras files (two or more)")
    p.add_argument("--weights", type=float, nargs="+", metavar="W",
                   help="one weight per member, each above 0: the weighted mean of their logits (default: the plain mean)")
    p.add_argument("--name", type=cli.model_name, default="mnist_advanced", help="model file stem (default mnist_advanced)")
    p.add_argument("--out", type=Path, default=MODELS_DIR, help="folder for <name>.keras and its card (default models/)")
    add_overwrite(p)
    cli.add_mnist(p)
    cli.add_dry_run(p, "evaluate on a small subset, in seconds (for tests)")
    a = p.parse_args(argv)
    if len(a.members) < 2:
        p.error("give at least two member models")
    target = (a.out / f"{a.name}.keras").resolve()
    if any(m.resolve() == target for m in a.members):
        p.error(f"{target} is one of the members: write the ensemble under another --name or --out")
    if a.weights is not None:
        try:
            check_weights(a.weights, len(a.members))
        except EnsembleError as e:
            p.error(str(e))
    missing = [str(m) for m in a.members if not m.is_file()]
    if missing:
        p.error(f"no such member file: {', '.join(missing)}")
    command = cards.command_line(argv, __file__)
    try:
        load_mnist = functools.partial(data.load, a.mnist, prepared=True, dry_run=a.dry_run)
        build(a.members, a.name, a.out, load_mnist, command=command, dry_run=a.dry_run, weights=a.weights, overwrite=a.overwrite)
    except (data.DataError, EnsembleError) as e:
        return cli.error(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
