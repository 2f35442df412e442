"""python evaluation/leaderboard.py [--models NAME_OR_FILE ...] [--refresh] [--dry-run] [--out evaluation/reports]

One row per usable model in models/ (or per --models): clean accuracy and weighted F1 on the MNIST
test split, mean accuracy over the 15 MNIST-C-style corruptions (1,000 test digits), FGSM eps 0.1 and
PGD-40 eps 0.3 accuracy (500 test digits), ECE before and after the card's temperature, single-image
latency, parameters and file size, all from digitlab.evaluation.leaderboard.table(), the function the app's
Leaderboard page calls, so both show the same numbers.  Rows are cached per model file, calibration
and settings in <out>/leaderboard/<model>.json; --refresh measures every model again.
Writes <out>/leaderboard.md and <out>/leaderboard.json (every number) and prints the Markdown table; a full run
into the default folder records the committed models' FGSM and PGD-40 figures in docs/results.json.
--dry-run: the app's quick settings (1,000 clean, 100 corrupted and 50 attacked digits, PGD-10), 5-35 s a model,
written as leaderboard_quick.md / .json so the full table is never replaced by a rough one.
--progress-json prints progress as JSON lines instead of the table (the app's Leaderboard page runs
this script in its own process, so a measurement's memory is given back when it ends).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from digitlab import cli


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--models", nargs="+", metavar="NAME_OR_FILE", help="model names in models/ or .keras files (default: every usable model)")
    p.add_argument("--refresh", action="store_true", help="measure again even when a cached row matches (default off)")
    cli.add_dry_run(p, "quick settings: 1,000 clean / 100 corrupted / 50 attacked digits, PGD-10 (default off)")
    cli.add_mnist(p)
    p.add_argument("--out", type=Path, default=None, help="reports folder (default evaluation/reports/)")
    p.add_argument("--progress-json", action="store_true", help="progress as JSON lines on stdout (the app's Leaderboard page reads them)")
    a = p.parse_args(argv)

    from digitlab import data
    from digitlab.evaluation import leaderboard
    from digitlab.files import atomic_write_bytes, atomic_write_json
    from digitlab.models import artifacts, cards
    from digitlab.paths import REPORTS_DIR
    from digitlab.report import tables
    from digitlab.report.progress import console_progress, json_progress

    settings = dataclasses.replace(leaderboard.QUICK if a.dry_run else leaderboard.Settings(), mnist_path=a.mnist)
    out = a.out or REPORTS_DIR
    try:
        entries = leaderboard.usable_models(names=a.models)
        if not entries:
            raise artifacts.ModelError("no usable model in models/; train one with training/train_cnn.py")
        rows = leaderboard.table(settings=settings, refresh=a.refresh, cache_dir=out / "leaderboard", names=a.models,
                                 progress=json_progress() if a.progress_json else console_progress("leaderboard"))
    except (artifacts.ModelError, data.DataError) as e:
        return cli.error(e)
    stem = "leaderboard_quick" if a.dry_run else "leaderboard"
    command = cards.command_line(argv, __file__)
    table = tables.records(leaderboard.formatted(rows, settings))
    md = f"# Leaderboard\n\n`{command.strip()}`: {leaderboard.describe(settings)}\n\n{table}\n"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / f"{stem}.md", md.encode())
    atomic_write_json(out / f"{stem}.json", {"command": command, "settings": dataclasses.asdict(settings), "rows": rows})
    if not a.dry_run and a.out is None:  # the committed models' attack figures go to docs/results.json (a quick run's are no figures)
        from digitlab.report import extractors, results

        results.record_all(extractors.committed(extractors.from_leaderboard(rows, command, {e.name: e.path for e in entries})))
    if not a.progress_json:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
