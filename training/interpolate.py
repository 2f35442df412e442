"""python training/interpolate.py FINETUNED.keras [--alpha 0.5] [--start FILE] [--name NAME] [--out models/] [--dry-run]

Mixes a fine-tuned network with the network it was trained from, weight by weight:
(1 - alpha) x start + alpha x fine-tune (WiSE-FT; see digitlab/training/interpolate.py).  The
fine-tune is a run of a training script with --init-from; its card names the start (file, sha256,
member of an ensemble), which is looked for where the run found it unless --start gives its path.
The mixture is evaluated on the validation and test splits and written as <out>/<name>.keras with a
card that keeps the fine-tune's recipe and records both sources and alpha.  No committed model uses it: each
network of a recipe in training/configs/ is one run from random weights (docs/training.md, "Recipes"; what the
mixes measured when an earlier mnist_advanced used them: docs/ablations.md).  A fine-tune of one member of an
ensemble, mixed back with it:

  python training/train_advanced.py --init-from runs/mine/ensemble.keras --init-member 0 --epochs 6 --name tuned --out runs/mine
  python training/interpolate.py runs/mine/tuned.keras --alpha 0.6 --out runs/mine
"""

import sys
from pathlib import Path

from digitlab import cli, data
from digitlab.models import cards
from digitlab.paths import MODELS_DIR
from digitlab.training.cli import add_overwrite
from digitlab.training.interpolate import InterpolateError, run


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("finetuned", type=Path, help="the fine-tuned .keras file (trained with --init-from; its card beside it)")
    p.add_argument("--alpha", type=float, default=0.5, help="weight of the fine-tune, between 0 and 1 (default 0.5)")
    p.add_argument("--start", type=Path, default=None, help="the model the fine-tune started from (default: the path its card names)")
    p.add_argument("--name", type=cli.model_name, default=None, help="model file stem (default <fine-tune>_mixed)")
    cli.add_out(p, MODELS_DIR, "folder for <name>.keras and its card")
    add_overwrite(p)
    cli.add_mnist(p)
    cli.add_dry_run(p, "evaluate on a small subset, in seconds (for tests); left at the default --out, writes to a temporary folder")
    a = p.parse_args(argv)
    if not a.finetuned.is_file():
        p.error(f"no such file: {a.finetuned}")
    name = a.name or f"{a.finetuned.stem}_mixed"
    out = cli.output_folder(a.out, MODELS_DIR, a.dry_run, "interpolate")
    try:
        mnist = data.load(a.mnist, prepared=True, dry_run=a.dry_run)
        run(a.finetuned, a.alpha, name, out, mnist, start=a.start, command=cards.command_line(argv, __file__), dry_run=a.dry_run,
            overwrite=a.overwrite)
    except (data.DataError, InterpolateError) as e:
        return cli.error(e, p=p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
