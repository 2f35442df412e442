"""python evaluation/finetune_study.py [--base mnist_advanced] [--per-class 2,5,20] [--replay 0,1] [--seeds 0] [--fresh 50] [--writer SITE/WRITER] [--out evaluation/reports/] [--dry-run]

Does fine-tuning on a few of one person's digits pay off, and does MNIST replay stop it from
forgetting?  For every combination of --per-class, --replay and --seeds: draw that many digits
per class in the synthetic user's hand (digitlab.user_style, the same drawings
`evaluation/make_user_digits.py --per-class N --seed S` writes), fine-tune --base on them with
training/finetune_on_custom.py's recipe (digitlab.finetune, everything at its defaults except
the replay and seed), and measure before/after accuracy on

  * the held-out share of those digits (what the script and the app report),
  * --fresh new drawings per class by the same hand, never seen (a larger, steadier check),
  * MNIST test (10,000 digits): how much it forgot.

--writer SITE/WRITER takes a real writer of the real-strokes file (--real-strokes, default $DIGITLAB_UNIPEN, else the project's data/unipen/ file;
evaluation/writers.py lists them) as the user instead: that many of his own digits per class, drawn on the dark
canvas and saved as the Collect page saves them, and his other digits (at most --fresh per class) as the fresh
ones.  Its report goes to <out>/finetune_study_<site>-<writer>.json and records no figure.

Markdown to stdout, everything to <out>/finetune_study.json (evaluation/reports/); a full run into the
default folder on a committed base records its figures in docs/results.json.  Models go to a temporary
folder and are thrown away.

--dry-run: one dry-run fine-tune (digitlab.training.finetune.DRY_RUN) with the first value of
--per-class, --replay and --seeds, and 2 fresh drawings per class; the report goes into a new
temporary folder unless --out is given (never over the committed report): seconds, for tests.

Longer than a thin script because it is a grid (digits per class x replay x seed), each cell a real
fine-tune through digitlab.training.finetune.run, measured on three sets.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

from digitlab import cli
from digitlab.paths import REPORTS_DIR

FRESH_SALT = 43  # a real writer's fresh digits: drawn with a seed salt no benchmark set uses


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--base", default="mnist_advanced", help="model to fine-tune (default mnist_advanced)")
    p.add_argument("--per-class", type=_ints, default=[2, 5, 20], help="user digits per class, comma-separated (default 2,5,20)")
    p.add_argument("--replay", type=_floats, default=[0.0, 1.0], help="replay ratios to compare, comma-separated (default 0,1)")
    p.add_argument("--seeds", type=_ints, default=[0], help="seeds (drawings, split, training), comma-separated (default 0)")
    p.add_argument("--fresh", type=int, default=50, help="new drawings per class for the steadier check (default 50)")
    p.add_argument("--writer", default=None, metavar="SITE/WRITER", help="a real writer of the real-strokes file as the user (default: the synthetic one)")
    p.add_argument("--real-strokes", type=Path, default=None, metavar="PATH", help="real-strokes file for --writer (default $DIGITLAB_UNIPEN, else data/unipen/unipen_dev.json.gz)")
    cli.add_out(p, REPORTS_DIR, "folder for finetune_study.json")
    cli.add_mnist(p)
    cli.add_dry_run(p, "one dry-run fine-tune with the first --per-class, --replay and --seeds; report into a temporary folder "
                       "unless --out is given: seconds, for tests")
    a = p.parse_args(argv)
    if min(a.per_class) < 2 or a.fresh < 1:
        p.error("--per-class needs at least 2 digits per class (train + held out), --fresh at least 1")
    if a.dry_run:
        a.per_class, a.replay, a.seeds = a.per_class[:1], a.replay[:1], a.seeds[:1]

    import numpy as np

    from digitlab import data, preprocess
    from digitlab.data import handwriting_test, unipen, user_digits, user_style
    from digitlab.evaluation import handwriting
    from digitlab.files import atomic_write_json
    from digitlab.models import artifacts, cards
    from digitlab.serving.classifiers import Classifier
    from digitlab.training import finetune

    try:
        base = Classifier(artifacts.resolve(a.base))
        writer = None
        if a.writer:
            real = a.real_strokes or unipen.default_path()
            if real is None:
                cli.fail(f"--writer needs the real-strokes file: give --real-strokes PATH or set ${unipen.ENV_VAR}", p=p)
            writer = unipen.writer_items(unipen.load(real), a.writer)
    except (artifacts.ModelError, unipen.UnipenError) as e:
        cli.fail(e)
    fresh_n = 2 if a.dry_run else a.fresh
    if writer is None:  # the synthetic user's fresh drawings: the same for every folder
        pictures, synthetic_y = user_style.drawings(fresh_n, seed=10_000)  # seeds of the studied folders are small: never the same drawings
        synthetic_x = np.stack([preprocess.prepare(pic, invert="yes").image for pic in pictures])

    def user(folder: Path, per_class: int, seed: int):
        """The user's folder written, and the fresh digits to measure on: (images, labels)."""
        if writer is None:
            user_style.save_drawings(folder, per_class, seed)
            return synthetic_x, synthetic_y
        rest = unipen.as_user(writer, folder, per_class, seed, handwriting_test.BRUSHES)
        fresh = [i for d in range(10) for i in [item for item in rest if item.label == d][:fresh_n]]
        drawn = handwriting.real_set("fresh", fresh, seed, FRESH_SALT, False, "")  # drawn as the benchmark draws real digits
        return np.stack([preprocess.prepare(pic, invert="no").image for pic in drawn.pictures]), drawn.labels

    rows = []
    with tempfile.TemporaryDirectory(prefix="finetune-study-") as tmp:
        for per_class in a.per_class:
            for seed in a.seeds:
                folder = Path(tmp) / f"user_{per_class}_{seed}"
                try:
                    fresh_x, fresh_y = user(folder, per_class, seed)
                except unipen.UnipenError as e:
                    cli.fail(e)
                right_before = base.predict_proba(fresh_x).argmax(1) == fresh_y
                fresh_before = float(right_before.mean())
                for replay in a.replay:
                    config = finetune.FinetuneConfig(base=str(base.entry.path), name="study", replay=replay, seed=seed,
                                                      mnist_path=a.mnist, dry_run=a.dry_run)
                    t0 = time.time()
                    try:
                        result = finetune.run(config, folder, Path(tmp) / "models")
                    except data.DataError as e:  # MNIST not found: configuration
                        cli.fail(e)
                    except user_digits.CollectError as e:  # the drawings written above could not be read back
                        cli.fail(e, cli.SOME_FAILED)
                    tuned = Classifier(artifacts.inspect(result.path))
                    right_after = tuned.predict_proba(fresh_x).argmax(1) == fresh_y
                    fresh_after = float(right_after.mean())
                    card = result.card
                    row = {
                        "per_class": per_class, "pictures": card["data"]["user_pictures"], "train": card["data"]["user_train"],
                        "holdout": card["data"]["user_holdout"], "replay": replay, "seed": seed,
                        "holdout_before": result.before["user_holdout"], "holdout_after": result.after["user_holdout"],
                        "fresh_before": fresh_before, "fresh_after": fresh_after, "fresh_n": len(fresh_y),
                        "fresh_per_class": {d: [float(right_before[fresh_y == d].mean()), float(right_after[fresh_y == d].mean())]
                                            for d in range(10) if (fresh_y == d).any()},  # before, after
                        "mnist_before": result.before["mnist_test"], "mnist_after": result.after["mnist_test"],
                        "mnist_n": card["data"]["mnist_test"], "seconds": round(time.time() - t0, 1),
                        "config": dataclasses.asdict(config),
                    }
                    rows.append(row)
                    print(json.dumps({k: v for k, v in row.items() if k != "config"}), flush=True)

    lines = [
        f"| user digits (train + held out) | replay | seed | held-out before -> after | {rows[0]['fresh_n']} fresh drawings before -> after | "
        f"MNIST test before -> after |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['pictures']} ({r['train']} + {r['holdout']}) | {r['replay']:g} | {r['seed']} | "
            f"{r['holdout_before']:.1%} -> {r['holdout_after']:.1%} | {r['fresh_before']:.1%} -> {r['fresh_after']:.1%} | "
            f"{r['mnist_before']:.2%} -> {r['mnist_after']:.2%} |"
        )
    print("\n".join(lines))
    stem = "finetune_study" + (f"_{a.writer.replace('/', '-')}" if a.writer else "")
    out = cli.output_folder(a.out, REPORTS_DIR, a.dry_run, "finetune-study") / f"{stem}.json"
    command = cards.command_line(argv, __file__)
    report = {"base": base.name, "command": command, "dry_run": a.dry_run, "user": a.writer or "digitlab.user_style", "rows": rows, "table": lines}
    atomic_write_json(out, report)
    if not a.dry_run and not a.writer and Path(a.out) == REPORTS_DIR:  # a committed base's figures go to docs/results.json (a dry run's are no figures)
        from digitlab.report import extractors, results

        results.record_all(extractors.committed(extractors.from_finetune_study(report, base.entry.path)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
