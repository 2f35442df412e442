"""python training/train_gate.py [--epochs N] [--n-negatives N] [--n-uploads N] [--dry-run]   (--help shows the defaults)

The digit gate (digitlab.training.gate trains it, digitlab.serving.gate serves it): a tiny CNN telling digits from non-digits, used by the "not a digit"
rule for every model.  Positives: preprocessed MNIST train digits, MNIST train digits redrawn with a
canvas brush, digits printed from the training fonts, both rendered as uploads (canvas, or paper photos
at any size), MNIST train digits in writing conventions (a slashed 0, a crossed 7, ...) and, with --real-strokes, real
pen strokes of the file's training writers drawn like the canvas draws; negatives: generated non-digits from the training generators and seeds only (digitlab.nondigits):
pen scribbles, letters, textures, shapes, uploads of cartoon faces, emoji, letters, scribbles, shapes, text, and
MNIST train digits written two or three in a row, touching (a number is not one digit).  The threshold is fitted on the MNIST
validation split; the gate is then measured on MNIST test, drawn and printed digits, and on
non-digits from another seed and from held-out generators, and on the gate benchmark (digitlab.evaluation.gate).
About 20 minutes on 2 cores (the generated pictures are cached in runs/cache/, so a rerun skips making them).
Writes models/gate/not_a_digit.keras with its card (not listed as a classifier: list_models only
reads models/*.keras): this command with no flags is the committed gate's recipe.  Then rebuild its serving copy
(python evaluation/serving.py), measure it (python evaluation/gate.py) and rerun python evaluation/calibrate.py
for the per-model figures.
"""

import dataclasses
import sys
from pathlib import Path

from digitlab import cli, data
from digitlab.paths import shown
from digitlab.training import recipes
from digitlab.training.cli import add_overwrite
from digitlab.training.gate import GATE_DIR, GateConfig, run


def main(argv: list[str] | None = None) -> int:
    d = GateConfig()
    p = cli.parser(__doc__)
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs (default {d.epochs})")
    p.add_argument("--width", type=int, default=d.width, help=f"filters of the first convolution (default {d.width})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"batch size (default {d.batch_size})")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help=f"peak learning rate (default {d.learning_rate})")
    p.add_argument("--n-negatives", type=int, default=d.n_negatives, help=f"generated non-digits (default {d.n_negatives})")
    p.add_argument("--n-drawn", type=int, default=d.n_drawn, help=f"MNIST train digits redrawn with a brush (default {d.n_drawn})")
    p.add_argument("--n-printed", type=int, default=d.n_printed, help=f"digits printed from the training fonts (default {d.n_printed})")
    p.add_argument("--n-uploads", type=int, default=d.n_uploads,
                   help=f"generated uploads that are not digits: faces, emoji, letters, scribbles, shapes, text (default {d.n_uploads})")
    p.add_argument("--n-digit-uploads", type=int, default=d.n_digit_uploads,
                   help=f"digits rendered like those uploads, the positives' counterpart (default {d.n_digit_uploads})")
    p.add_argument("--n-touching", type=int, default=d.n_touching,
                   help=f"MNIST train digits written two or three in a row, touching: negatives (default {d.n_touching})")
    p.add_argument("--n-conventions", type=int, default=d.n_conventions,
                   help=f"MNIST train digits given a writing-convention edit (slashed 0, crossed 7, ...): positives (default {d.n_conventions})")
    p.add_argument("--n-zeros", type=int, default=d.n_zeros,
                   help=f"and MNIST train 0s so edited (opened, slashed, dotted), more positives (default {d.n_zeros})")
    p.add_argument("--real-strokes", type=Path, default=None, metavar="PATH",
                   help="real-strokes file (gzipped JSON, digitlab/data/unipen.py): its training writers' digits, drawn like "
                        "canvas drawings, are positives too; its held-out site and validation writers never are (default: off)")
    p.add_argument("--n-real", type=int, default=d.n_real, help=f"with --real-strokes: real digits among the positives (default {d.n_real})")
    p.add_argument("--real-path", type=float, default=d.real_path, metavar="P",
                   help=f"with --real-strokes: share of them drawn as the pen's whole path through 8-16 points, pen-ups lost, as a "
                        f"tablet keeping 8 points hands them over (default {d.real_path})")
    p.add_argument("--reject-rate", type=float, default=d.reject_rate,
                   help=f"share of MNIST validation digits the gate may reject (default {d.reject_rate})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed of weights, shuffling and augmentation (default {d.seed})")
    p.add_argument("--name", type=cli.model_name, default=d.name, help=f"model file stem (default {d.name})")
    p.add_argument("--out", type=Path, default=GATE_DIR, help="folder for <name>.keras and its card (default models/gate/)")
    cli.add_mnist(p)
    recipes.add_config(p)
    add_overwrite(p)
    cli.add_dry_run(p, "tiny sets and two steps, in seconds (for tests)")
    recipes.apply(p, argv, __file__)
    a = p.parse_args(argv)
    for flag, value in (("--epochs", a.epochs), ("--width", a.width), ("--batch-size", a.batch_size), ("--n-negatives", a.n_negatives)):
        if value < 1:
            p.error(f"{flag} must be at least 1")
    if min(a.n_drawn, a.n_printed, a.n_uploads, a.n_digit_uploads, a.n_touching, a.n_conventions, a.n_zeros, a.n_real) < 0:
        p.error("--n-drawn, --n-printed, --n-uploads, --n-digit-uploads, --n-touching, --n-conventions, --n-zeros and --n-real must not be negative")
    if a.real_strokes is not None and not a.real_strokes.is_file():
        p.error(f"--real-strokes: no such file: {a.real_strokes}")
    if not 0 <= a.real_path <= 1:
        p.error("--real-path must be in [0, 1]")
    if a.real_path and a.real_strokes is None:
        p.error("--real-path needs --real-strokes")
    if not 0 < a.reject_rate < 0.5:
        p.error("--reject-rate must be in (0, 0.5)")
    config = dataclasses.replace(
        d, epochs=a.epochs, width=a.width, batch_size=a.batch_size, learning_rate=a.learning_rate, n_negatives=a.n_negatives, n_drawn=a.n_drawn,
        n_printed=a.n_printed, n_uploads=a.n_uploads, n_digit_uploads=a.n_digit_uploads, n_touching=a.n_touching, n_conventions=a.n_conventions, n_zeros=a.n_zeros,
        real_strokes=shown(a.real_strokes) if a.real_strokes is not None else None, n_real=a.n_real, real_path=a.real_path, reject_rate=a.reject_rate, seed=a.seed, name=a.name, mnist_path=a.mnist, dry_run=a.dry_run,
    )
    try:
        run(config, a.out, overwrite=a.overwrite)
    except data.DataError as e:
        return cli.error(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
