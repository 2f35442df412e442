"""python training/train_reader.py [--real-strokes PATH] [--epochs N] [--n-lines N] [--dry-run]   (--help shows the defaults)
   python training/train_reader.py --refit models/reader/number_reader.keras [--classifier NAME]
   python training/train_reader.py --combine A.keras B.keras C.keras [--name NAME] [--out DIR]

The number reader (digitlab.training.reader trains it, digitlab.serving.reader serves it): a network that reads
every digit of a line of handwriting at once, with no cuts between digits, so that touching and overlapping
digits are read too.  The Numbers page and predict.py --number read each number both ways, by the cuts of the
segmenter and by the reader, and take the reader's number where they differ and the reader finds the cuts' number
far less likely than its own (by the margin in its card, fitted on real writers the reader never trained on).

Training lines: numbers composed from MNIST train digits, and digits of the real-strokes file's training writers,
laid out on a line or as they wrote them in a row (default: the project's data/unipen/ file, or $DIGITLAB_UNIPEN).  About 45 minutes on 2 cores.  Writes models/reader/number_reader.keras with its card (not
listed as a classifier: list_models only reads models/*.keras): this command with no flags but the file is the
committed reader's recipe (training/configs/reader.toml).  Then rebuild the serving files (python evaluation/serving.py) and measure it
(python evaluation/handwriting.py --real-strokes PATH, python evaluation/numbers.py).

--refit fits a trained reader's margin again against --classifier's cuts, on the same tuning numbers, and
rewrites its card's margin (recording the command under "refit"): after the default classifier changed, or for a
reader whose card holds the confidence threshold the margin replaced (the app then reads numbers by the cuts alone
and says so). Then rebuild the serving files, since the card is part of what they record.

--combine reads several trained readers as one: a reader whose logits are the mean of theirs per frame, its margin
fitted on the tuning numbers as one reader's is (the readers must have kept the same tuning writers out of training).

Longer than a thin script because it has three modes, each with its own checks of the flags: train a reader,
fit a trained reader's margin again (--refit), and read several readers as one (--combine).
"""

import dataclasses
import sys
from pathlib import Path

from digitlab import cli, data
from digitlab.data import unipen
from digitlab.models import artifacts
from digitlab.paths import shown
from digitlab.training import recipes
from digitlab.training.cli import add_overwrite
from digitlab.training.reader import READER_DIR, ReaderConfig, combine, refit, run


def main(argv: list[str] | None = None) -> int:
    d = ReaderConfig()
    p = cli.parser(__doc__)
    p.add_argument("--real-strokes", type=Path, default=unipen.default_path(), metavar="PATH",
                   help=f"real-strokes file (gzipped JSON, digitlab/data/unipen.py; default ${unipen.ENV_VAR})")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs (default {d.epochs})")
    p.add_argument("--n-lines", type=int, default=d.n_lines, help=f"training lines (default {d.n_lines})")
    p.add_argument("--line-seed", type=int, default=d.line_seed, help=f"seed of the training lines (default {d.line_seed})")
    p.add_argument("--tuning-writers", type=float, default=d.tuning_writers,
                   help=f"share of each site's training writers kept out of training to fit the margin on (default {d.tuning_writers})")
    p.add_argument("--refit", type=Path, default=None, metavar="READER",
                   help="fit this trained reader's margin again (against --classifier) instead of training one")
    p.add_argument("--combine", type=Path, nargs="+", default=None, metavar="READER",
                   help="read these trained readers (two or more) as one, the mean of their logits, instead of training one")
    p.add_argument("--classifier", default=d.classifier, help=f"model whose cuts the margin is fitted against (default {d.classifier})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"batch size (default {d.batch_size})")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help=f"starting learning rate, cosine decay to 0 (default {d.learning_rate})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed of weights and shuffling (default {d.seed})")
    p.add_argument("--name", type=cli.model_name, default=d.name, help=f"model file stem (default {d.name})")
    p.add_argument("--out", type=Path, default=READER_DIR, help="folder for <name>.keras and its card (default models/reader/)")
    cli.add_mnist(p)
    recipes.add_config(p)
    add_overwrite(p)
    cli.add_dry_run(p, "a few lines and two steps, in seconds (for tests)")
    recipes.apply(p, argv, __file__)
    a = p.parse_args(argv)
    for flag, value in (("--epochs", a.epochs), ("--n-lines", a.n_lines), ("--batch-size", a.batch_size)):
        if value < 1:
            p.error(f"{flag} must be at least 1")
    if a.refit is not None and a.combine is not None:
        p.error("--refit and --combine: give one")
    if a.combine is not None:
        if len(a.combine) < 2:
            p.error("--combine needs at least two readers")
        missing = [str(f) for f in a.combine if not f.is_file()]
        if missing:
            p.error(f"--combine: no such file: {missing[0]}")
        try:
            combine(a.combine, a.name, a.out, a.classifier, a.mnist, a.real_strokes, a.dry_run, overwrite=a.overwrite)
        except (data.DataError, artifacts.ModelError) as e:
            return cli.error(e, p=p)
        return 0
    if a.refit is not None:
        if not a.refit.is_file():
            p.error(f"--refit: no such file: {a.refit}")
        try:
            refit(a.refit, a.classifier, a.real_strokes, a.mnist)
        except (data.DataError, artifacts.ModelError) as e:
            return cli.error(e, p=p)
        return 0
    if a.real_strokes is None:
        p.error(f"--real-strokes is required (or set ${unipen.ENV_VAR}): the reader learns from real writers' lines")
    if not a.real_strokes.is_file():
        p.error(f"--real-strokes: no such file: {a.real_strokes}")
    if not 0 < a.tuning_writers < 0.5:
        p.error("--tuning-writers must be in (0, 0.5)")
    if not a.learning_rate > 0:
        p.error("--learning-rate must be above 0")
    config = dataclasses.replace(d, real_strokes=shown(a.real_strokes), epochs=a.epochs, n_lines=a.n_lines, line_seed=a.line_seed,
                                 tuning_writers=a.tuning_writers, classifier=a.classifier, batch_size=a.batch_size,
                                 learning_rate=a.learning_rate, seed=a.seed, name=a.name, mnist_path=a.mnist, dry_run=a.dry_run)
    try:
        run(config, a.out, overwrite=a.overwrite)
    except data.DataError as e:
        return cli.error(e, p=p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
