"""The command line every training script shares: flags (help shows the script's defaults) -> config -> run.

Exit codes, as everywhere in this project (``digitlab.cli``): 0 done, 2 usage or configuration
error (bad flag, MNIST missing, a multi-worker cluster that cannot start).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

from digitlab import cli, data
from digitlab.data import user_digits
from digitlab.files import atomic_write_json
from digitlab.models import artifacts, cards
from digitlab.paths import MODELS_DIR, USER_MODELS_ENV, shown, user_models_dir
from digitlab.report import tables
from digitlab.training import finetune, recipes
from digitlab.training.distributed import DistributedError
from digitlab.training.finetune import FinetuneConfig
from digitlab.training.recipe import TeacherError, TrainConfig

DISTILL_WEIGHT = 0.5  # --distill's default: half the label, half the teacher
REAL_SHARE = 0.2  # --real-share's default: a fifth of every batch real pen strokes
SCHEDULES = ("cosine-restarts", "onecycle", "plateau", "constant")  # TrainConfig.schedule with "_" for "-" ("cosine_restarts" is accepted)


# The script whose defaults each preset is, so a recipe file is given to the script it was written for.
SCRIPTS = {"mnist_baseline": "training/train_baseline.py", "mnist_cnn": "training/train_cnn.py",
           "mnist_advanced": "training/train_advanced.py", "mnist_robust": "training/train_robust.py"}


def parse_args(defaults: TrainConfig, doc: str | None, argv: list[str] | None = None) -> tuple[TrainConfig, Path]:
    """Flags common to every training script -> (config, --out); help strings show the script's defaults."""
    return _parse(defaults, doc, argv)[:2]


def _parse(defaults: TrainConfig, doc: str | None, argv: list[str] | None) -> tuple[TrainConfig, Path, argparse.ArgumentParser, dict]:
    """``parse_args``, the parser, which names the flags in the run's error messages (``cli.in_flags``), and the run's
    options: ``overwrite`` and ``recipe_card`` (what the card keeps of a ``--config`` file, or None)."""
    p = cli.parser(doc)
    d = defaults
    recipes.add_config(p)
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"maximum epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"batch size (default {d.batch_size})")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help=f"peak learning rate (default {d.learning_rate})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed for weights, shuffling and augmentation (default {d.seed})")
    if "width" in d.model_kwargs:
        p.add_argument("--width", type=int, default=d.model_kwargs["width"],
                       help=f"filters of the network's first stage; the later stages scale with it (default {d.model_kwargs['width']})")
    p.add_argument("--ema", type=float, default=d.ema,
                   help=f"momentum of the moving average of the weights that is validated and saved; 0 = off (default {d.ema})")
    p.add_argument("--name", type=cli.model_name, default=d.name, help=f"model file stem (default {d.name})")
    cli.add_out(p, MODELS_DIR, "folder for <name>.keras and its card")
    add_overwrite(p)
    cli.add_mnist(p)
    cli.add_dry_run(p)
    p.add_argument("--distribute", choices=("none", "multiworker"), default=d.distribute,
                   help=f"multiworker: train on the workers listed in $TF_CONFIG, see digitlab/training/distributed.py (default {d.distribute})")
    p.add_argument("--clean-epochs", type=int, default=d.clean_epochs,
                   help=f"first epochs on plain digits before any augmentation (default {d.clean_epochs})")
    p.add_argument("--schedule", choices=SCHEDULES, type=lambda v: v.replace("_", "-"), default=d.schedule.replace("_", "-"),
                   help="learning-rate schedule: cosine-restarts (cosine decay with warm restarts), onecycle (warm-up, cosine decay), "
                        "plateau (constant, x --plateau-factor when the validation loss stalls: keras ReduceLROnPlateau), "
                        f"constant (default {d.schedule.replace('_', '-')})")
    p.add_argument("--plateau-factor", type=float, default=d.plateau_factor, help=f"plateau: learning-rate factor (default {d.plateau_factor})")
    p.add_argument("--plateau-patience", type=int, default=d.plateau_patience,
                   help=f"plateau: epochs without a lower validation loss before lowering (default {d.plateau_patience})")
    p.add_argument("--init-from", type=Path, default=None, metavar="FILE",
                   help="start from this trained .keras model's weights (same builder and size) instead of random ones: "
                        "train a committed model further with another recipe (default: random weights)")
    p.add_argument("--checkpoint", choices=("best", "last"), default=d.checkpoint,
                   help="the model saved: the epoch with the best validation accuracy, or the last epoch "
                        f"(with --init-from, the best is often the start itself) (default {d.checkpoint})")
    p.add_argument("--init-member", type=int, default=None, metavar="K",
                   help="--init-from is an ensemble (training/ensemble.py): start from its member K, counted from 0")
    p.add_argument("--distill-from", type=Path, default=None, metavar="FILE",
                   help="a trained .keras model (the teacher, e.g. the committed one) whose probabilities soften the target of "
                        "every training digit it reads right, so a model trained further keeps its view of MNIST (default: off)")
    p.add_argument("--distill", type=float, default=None, metavar="W",
                   help=f"with --distill-from: the teacher's weight in those targets, in (0, 1] (default {DISTILL_WEIGHT})")
    g = p.add_argument_group("real-handwriting augmentation (digitlab/data/stroke_augment.py)")
    g.add_argument("--redraw", type=float, default=d.redraw,
                   help=f"share of every augmented batch swapped for training digits re-drawn as canvas strokes; 0 = off (default {d.redraw})")
    g.add_argument("--redraw-size", type=int, default=d.redraw_size, help=f"digits re-drawn once per run (default {d.redraw_size})")
    g.add_argument("--redraw-few-points", type=float, default=d.redraw_few_points,
                   help=f"share of them drawn from a few points (default {d.redraw_few_points})")
    g.add_argument("--redraw-elastic", type=float, default=d.redraw_elastic,
                   help=f"elastic distortion of their strokes, fraction of the height; 0 = off (default {d.redraw_elastic})")
    g.add_argument("--redraw-brush", type=float, nargs=2, metavar=("MIN", "MAX"), default=(d.redraw_brush_min, d.redraw_brush_max),
                   help=f"brush width range, fraction of the digit height (default {d.redraw_brush_min} {d.redraw_brush_max})")
    g.add_argument("--redraw-conventions", type=float, default=d.redraw_conventions,
                   help="share of re-drawn digits of --conventions-classes given a writing-convention edit: crossed 7, 1 with flag "
                        f"and foot, closed 4, open loops, slashed 0, 8 as two circles (default {d.redraw_conventions})")
    g.add_argument("--redraw-pen-path", type=float, default=d.redraw_pen_path,
                   help=f"share of them drawn as one pen path through few points, the moves between strokes drawn too (default {d.redraw_pen_path})")
    g.add_argument("--lowres", type=float, default=d.lowres,
                   help="share of every augmented batch re-sampled at 8x8 to 16x16 pixels and enlarged back: digits "
                        f"photographed or scanned with few pixels; 0 = off (default {d.lowres})")
    g.add_argument("--conventions", type=float, default=d.conventions,
                   help="share of every augmented batch swapped for digits of --conventions-classes given a writing-convention edit "
                        f"in MNIST's own pen (writing-convention synthesis); 0 = off (default {d.conventions})")
    g.add_argument("--conventions-size", type=int, default=d.conventions_size, help=f"digits edited once per run (default {d.conventions_size})")
    g.add_argument("--conventions-classes", default=d.conventions_classes,
                   help="the digits any writing-convention edit is given, here and in --redraw-conventions and --real-conventions: "
                        f"0 (open top, slash or dot), 1 (flag and foot), 4 (closed top), 7 (crossbar), 9 (open loop), "
                        f"8 (two circles) (default {d.conventions_classes})")
    g.add_argument("--paper", type=float, default=d.paper,
                   help="share of every augmented batch swapped for digits as older hands and other pens write them on paper: "
                        f"a looped 2, a struck 0, a long crossed 7, a flagged 1, a thick pen, a scan stretched to its box; 0 = off (default {d.paper})")
    g.add_argument("--paper-size", type=int, default=d.paper_size, help=f"digits given a paper style once per run (default {d.paper_size})")
    g.add_argument("--paper-narrow", type=float, default=d.paper_narrow,
                   help="share of the paper digits written narrow and leant right with a fine pen, as clerks wrote row numbers, "
                        f"before the other styles (default {d.paper_narrow})")
    g = p.add_argument_group("real pen strokes (digitlab/data/unipen.py; docs/training.md#real-pen-strokes---real-strokes)")
    g.add_argument("--real-strokes", type=Path, default=d.real_strokes, metavar="PATH",
                   help="UNIPEN-style real-strokes file (gzipped JSON) whose training writers are rendered like canvas drawings "
                        "and mixed into training; its held-out site and validation writers never are (default: off)")
    g.add_argument("--real-share", type=float, default=None, metavar="P",
                   help=f"with --real-strokes: share of every augmented batch swapped for real digits of the same class (default {REAL_SHARE})")
    g.add_argument("--real-renders", type=int, default=d.real_renders, help=f"canvas pictures per real digit (default {d.real_renders})")
    g.add_argument("--real-conventions", type=float, default=d.real_conventions,
                   help=f"share of real 0s, 1s and 7s (and 8s, when --conventions-classes holds 8) given a writing convention: "
                        f"slash or dot, flag and foot, crossbar, two circles (default {d.real_conventions})")
    g.add_argument("--real-joined", type=float, default=d.real_joined,
                   help=f"share of real digits drawn with their pen-ups lost: one line through every stroke (default {d.real_joined})")
    g.add_argument("--real-coarse", type=float, default=d.real_coarse,
                   help="share of real digits drawn from few points, as a coarse device reports them: a point every 0.1-0.45 of "
                        f"the digit's height, at equal distances along the path or every k-th sample in time (default {d.real_coarse})")
    g.add_argument("--real-warp", type=float, default=d.real_warp,
                   help="share of real digits whose pen's path is reshaped as another hand would shape the same digit: slant, "
                        f"width, a small turn, each pen-down moved a little, a smooth bend (default {d.real_warp})")
    g.add_argument("--real-path", type=float, default=d.real_path,
                   help="share of real digits drawn as the pen's whole path (pen-ups lost) through 8-16 points at equal distances "
                        f"along it, as the UCI pendigits set keeps a tablet's digit (default {d.real_path})")
    from_file = recipes.apply(p, argv, SCRIPTS.get(d.name, "training/train_cnn.py"))
    a = p.parse_args(argv)
    if a.real_share is not None and a.real_strokes is None:
        p.error("--real-share needs --real-strokes")
    if a.real_coarse and a.real_strokes is None:
        p.error("--real-coarse needs --real-strokes")
    if a.real_warp and a.real_strokes is None:
        p.error("--real-warp needs --real-strokes")
    if a.real_path and a.real_strokes is None:
        p.error("--real-path needs --real-strokes")
    real_share = (REAL_SHARE if a.real_share is None else a.real_share) if a.real_strokes is not None else 0.0
    if a.real_strokes is not None and not a.real_strokes.is_file():
        p.error(f"--real-strokes {a.real_strokes}: no such file")
    if a.real_renders < 1:
        p.error("--real-renders must be at least 1")
    width = getattr(a, "width", None)  # None where the builder has no width (the baseline, the robust model)
    for flag, value in (*((("--width", width),) if width is not None else ()), ("--epochs", a.epochs), ("--batch-size", a.batch_size), ("--conventions-size", a.conventions_size), ("--redraw-size", a.redraw_size), ("--paper-size", a.paper_size), ("--plateau-patience", a.plateau_patience)):
        if value < 1:
            p.error(f"{flag} must be at least 1")
    if not 0 <= a.ema < 1:
        p.error("--ema must be in [0, 1)")
    if a.clean_epochs < 0:
        p.error("--clean-epochs must be 0 or more")
    for flag, value in (("--redraw", a.redraw), ("--redraw-few-points", a.redraw_few_points), ("--redraw-conventions", a.redraw_conventions),
                        ("--redraw-elastic", a.redraw_elastic), ("--redraw-pen-path", a.redraw_pen_path), ("--conventions", a.conventions), ("--lowres", a.lowres), ("--paper", a.paper), ("--paper-narrow", a.paper_narrow),
                        ("--real-share", real_share), ("--real-conventions", a.real_conventions), ("--real-joined", a.real_joined),
                        ("--real-coarse", a.real_coarse), ("--real-warp", a.real_warp), ("--real-path", a.real_path)):
        if not 0 <= value <= 1:
            p.error(f"{flag} must be in [0, 1]")
    if not 0 < a.plateau_factor < 1:
        p.error("--plateau-factor must be in (0, 1)")
    if not 0 < a.redraw_brush[0] <= a.redraw_brush[1] <= 1:
        p.error("--redraw-brush needs 0 < MIN <= MAX <= 1")
    if not a.conventions_classes or set(a.conventions_classes) - set("014789"):
        p.error("--conventions-classes takes digits among 0, 1, 4, 7, 8, 9 (e.g. 17)")
    if a.init_member is not None and (a.init_from is None or a.init_member < 0):
        p.error("--init-member needs --init-from and a member index of 0 or more")
    if a.init_from is not None and not a.init_from.is_file():
        p.error(f"--init-from {a.init_from}: no such file")
    if a.distill is not None and (a.distill_from is None or not 0 < a.distill <= 1):
        p.error("--distill needs --distill-from and a weight in (0, 1]")
    if a.distill_from is not None and not a.distill_from.is_file():
        p.error(f"--distill-from {a.distill_from}: no such file")
    if a.redraw + a.conventions + real_share + a.paper > 1:
        p.error("--redraw, --conventions, --real-share and --paper add up to more than 1")
    if a.paper_narrow > 0 and a.paper == 0:
        p.error("--paper-narrow is a share of the paper digits: give --paper too")
    if a.schedule == "plateau" and a.distribute == "multiworker":
        p.error("--schedule plateau needs model.fit's callbacks, which --distribute multiworker does not run")
    config = dataclasses.replace(
        d, model_kwargs=d.model_kwargs if width is None else {**d.model_kwargs, "width": width}, epochs=a.epochs, batch_size=a.batch_size, learning_rate=a.learning_rate, seed=a.seed,
        name=a.name, mnist_path=a.mnist, dry_run=a.dry_run, distribute=a.distribute, ema=a.ema,
        clean_epochs=a.clean_epochs, schedule=a.schedule.replace("-", "_"), plateau_factor=a.plateau_factor, plateau_patience=a.plateau_patience,
        redraw=a.redraw, redraw_size=a.redraw_size, redraw_few_points=a.redraw_few_points, redraw_elastic=a.redraw_elastic,
        redraw_brush_min=a.redraw_brush[0], redraw_brush_max=a.redraw_brush[1], redraw_conventions=a.redraw_conventions,
        redraw_pen_path=a.redraw_pen_path, conventions=a.conventions, conventions_size=a.conventions_size,
        conventions_classes="".join(sorted(set(a.conventions_classes))),
        init_from=str(a.init_from) if a.init_from is not None else None, init_member=a.init_member,
        checkpoint=a.checkpoint, lowres=a.lowres, paper=a.paper, paper_size=a.paper_size, paper_narrow=a.paper_narrow,
        distill_from=str(a.distill_from) if a.distill_from is not None else None,
        distill=(DISTILL_WEIGHT if a.distill is None else a.distill) if a.distill_from is not None else 0.0,
        real_strokes=shown(a.real_strokes) if a.real_strokes is not None else None, real_share=real_share,
        real_renders=a.real_renders, real_conventions=a.real_conventions, real_joined=a.real_joined,
        real_coarse=a.real_coarse, real_warp=a.real_warp, real_path=a.real_path,
    )
    return config, a.out, p, {"overwrite": a.overwrite, "recipe_card": recipes.card(*from_file) if from_file else None}


def add_overwrite(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace a model of the same name in --out (default: never; a taken name gets a fresh one, "
                        "<name>_2, said in the output; training/promote.py replaces a committed model)")


def main(defaults: TrainConfig, doc: str | None = None, argv: list[str] | None = None, command: str | None = None) -> Path:
    """Parse ``argv`` and train.  ``command``: the card's command line when the script parsed some flags
    itself (default: ``argv`` as given)."""
    from digitlab.training import trainer

    config, out, p, options = _parse(defaults, doc, argv)
    try:
        return trainer.run(config, out, command=command or cards.command_line(argv), **options)
    except (data.DataError, DistributedError, trainer.InitError, TeacherError) as e:
        cli.fail(e, p=p)  # the library names TrainConfig's fields; the user reads the flags


# ----------------------------------------------------------------------------- fine-tuning (training/finetune_on_custom.py)


def parse_finetune_args(doc: str | None, argv: list[str] | None = None) -> tuple[FinetuneConfig, Path, Path, Path | None]:
    d = FinetuneConfig()
    p = cli.parser(doc)
    p.add_argument("folder", nargs="?", type=Path, default=None,
                   help=f"folder with subfolders 0 … 9 of pictures (default ${user_digits.ENV_VAR} or {user_digits.DEFAULT_DIR.name}/)")
    p.add_argument("--base", default=d.base, help=f"model to start from: a name in models/ or a .keras file (default {d.base})")
    cli.add_out(p, user_models_dir(), f"folder for <name>.keras and its card; a user folder, never the tracked models/ (${USER_MODELS_ENV})")
    p.add_argument("--name", type=cli.model_name, default=d.name, help=f"model file stem (default {d.name})")
    p.add_argument("--head-epochs", type=int, default=d.head_epochs, help=f"epochs with only the head learning (default {d.head_epochs})")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs with every layer but BatchNorm learning (default {d.epochs})")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help=f"AdamW peak learning rate (default {d.learning_rate})")
    p.add_argument("--replay", type=float, default=d.replay, help=f"MNIST train digits per user picture each epoch; 0 turns replay off (default {d.replay})")
    p.add_argument("--holdout", type=float, default=d.holdout, help=f"share of each digit's pictures held out to measure (default {d.holdout})")
    p.add_argument("--min-per-class", type=int, default=d.min_per_class, help=f"usable pictures each digit in the folder needs; digits with none are left to MNIST replay (default {d.min_per_class})")
    p.add_argument("--mnist-test", type=int, default=d.mnist_test, help=f"MNIST test digits for the forgetting check (default {d.mnist_test})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed for the split, replay, augmentation and weights (default {d.seed})")
    cli.add_mnist(p)
    p.add_argument("--status-file", type=Path, default=None, help="write progress as JSON here (the app reads it)")
    cli.add_dry_run(p, "one short epoch per phase and 256 MNIST test digits, in seconds (for tests)")
    a = p.parse_args(argv)
    for flag, value, low in (("--head-epochs", a.head_epochs, 0), ("--epochs", a.epochs, 1), ("--min-per-class", a.min_per_class, 2),
                             ("--mnist-test", a.mnist_test, 1)):
        if value < low:
            p.error(f"{flag} must be at least {low}")
    if not 0 < a.holdout < 1:
        p.error("--holdout must be between 0 and 1 (e.g. 0.25)")
    if a.replay < 0:
        p.error("--replay must be 0 or more")
    if not a.learning_rate > 0:
        p.error("--learning-rate must be positive")
    config = dataclasses.replace(
        d, base=a.base, name=a.name, head_epochs=a.head_epochs, epochs=a.epochs, learning_rate=a.learning_rate,
        replay=a.replay, holdout=a.holdout, min_per_class=a.min_per_class, mnist_test=a.mnist_test, seed=a.seed,
        mnist_path=a.mnist, dry_run=a.dry_run,
    )
    return config, a.folder if a.folder is not None else user_digits.default_dir(), a.out, a.status_file


def _status_writer(path: Path | None) -> Callable[[dict], None]:
    def write(state: dict) -> None:
        if path is not None:
            atomic_write_json(path, state)

    return write


def finetune_main(doc: str | None = None, argv: list[str] | None = None) -> int:
    """``training/finetune_on_custom.py``: fine-tune, print the before/after table, report progress to ``--status-file``."""
    config, folder, out, status_path = parse_finetune_args(doc, argv)
    status = _status_writer(status_path)

    def progress(fraction: float, message: str) -> None:
        print(f"[{fraction:4.0%}] {message}", flush=True)
        status({"state": "running", "fraction": round(fraction, 3), "message": message})

    try:
        result = finetune.run(config, folder, out, progress)
    except (user_digits.CollectError, artifacts.ModelError, data.DataError) as e:
        status({"state": "error", "message": str(e)})
        return cli.error(e)  # a configuration error (exit 2): the folder, the base model or MNIST
    except BaseException as e:  # the app must hear about a crash too, not wait forever
        status({"state": "error", "message": f"{type(e).__name__}: {e}"})
        raise
    card = result.card
    for s in card["data"]["skipped"]:
        print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)
    print(tables.finetune_summary(card))
    print(f"saved {result.path} (base {card['base']['name']})")
    status({"state": "done", "fraction": 1.0, "message": f"saved {result.path.name}", "model": str(result.path), "card": card})
    return 0
