"""python evaluation/conventions.py [--model NAME_OR_FILE ...] [--per-style 300] [--seed 1] [--target 0.97] [--misreads 10] [--out evaluation/reports/conventions/] [--dry-run]
                                  [--writing default|continental] [--style STYLE ...]

The writing-conventions set of the real-handwriting dev benchmark, style by style and precisely enough to hold
each style to a target: --per-style drawings of each of its 37 styles (digitlab/data/handwriting_test.py, drawn
as the benchmark draws them, a chunk at a time), read through the one preprocessing path by each model; per
style the accuracy, its 95 % Wilson interval and a verdict against --target: meets (accuracy at or above it),
below (the whole interval under it) or unresolved (under it, but the interval reaches it: more drawings would
tell).  The benchmark's 54 drawings per style cannot tell 94 % from 97 %.

Writes <out>/conventions.json (the figures, the models' file hashes, the command; per style also what its misreads
were read as and how many of each sampling's drawings were misread), conventions.md (the table, then the styles under
the target: read as what, misread by which sampling) and misreads_<model>.png for every model with a style under the
target (a row of its misread inputs per such style, --misreads of each); prints the Markdown.  The committed models'
figures go to docs/results.json.  Without --model, every usable model in models/.

--writing continental reads 1 and 7 as a writer who says "continental" on Home gets them (digitlab.serving.writing);
its report goes to evaluation/reports/conventions_continental/ unless --out is given, and its figures to their own
table.  The committed one: python evaluation/conventions.py --writing continental --per-style 1200 --seed 2.

--style STYLE (again for more) draws those styles only, as a draw of their own (the drawings differ from the whole
set's): to settle an unresolved style with many more drawings, e.g. --style "0 slashed" --per-style 4800 --seed 3
--out runs/slashed.  Its report goes to --out and records no figure.

With two --model or more, each model after the first is compared with the first on the same drawings: per style,
the drawings only one of the two reads right and the exact McNemar p-value (conventions.json: "paired"; the last
table of conventions.md).

--dry-run: 6 drawings per style, written into a new temporary folder unless --out is given: seconds, for tests.
"""

from __future__ import annotations

import sys

from digitlab import cli
from digitlab.data import handwriting_test
from digitlab.paths import REPORTS_DIR
from digitlab.serving import writing

DEFAULT_OUT = REPORTS_DIR / "conventions"
QUICK_PER_STYLE = 6  # drawings per style in --dry-run
MISREADS = 10  # misread drawings shown per style under the target


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    cli.add_models(p, "model name in models/, a .keras file or an exported model")
    p.add_argument("--per-style", type=int, default=300, help=f"drawings of each style (default 300; --dry-run {QUICK_PER_STYLE})")
    p.add_argument("--seed", type=int, default=1, help="seed of the drawings (default 1; the benchmark's committed report draws with 0)")
    p.add_argument("--target", type=float, default=0.97, help="the accuracy every style should reach, in (0, 1] (default 0.97)")
    p.add_argument("--misreads", type=int, default=MISREADS, help=f"misread drawings shown per style under the target in "
                   f"misreads_<model>.png (default {MISREADS}; 0: no pictures)")
    p.add_argument("--writing", choices=tuple(writing.WRITINGS), default=writing.DEFAULT,
                   help="read 1 and 7 as this writer writes them (digitlab.serving.writing; default: default). A continental "
                        "run's figures go to their own table of docs/results.json")
    p.add_argument("--style", action="append", choices=tuple(handwriting_test.STYLES), metavar="STYLE",
                   help="draw only this style (again for more; e.g. --style '0 slashed'), a draw of its own: its report needs --out "
                        f"and records no figure. The styles: {', '.join(handwriting_test.STYLES)}")
    cli.add_out(p, DEFAULT_OUT, "folder for conventions.json, conventions.md and misreads_<model>.png (--writing continental: "
                "conventions_continental/ beside it)")
    cli.add_dry_run(p, f"{QUICK_PER_STYLE} drawings per style, report into a temporary folder unless --out is given: seconds, for tests")
    a = p.parse_args(argv)
    if a.per_style < 1:
        p.error("--per-style must be at least 1")
    if not 0 < a.target <= 1:
        p.error("--target must be in (0, 1]")
    if a.misreads < 0:
        p.error("--misreads must be 0 or more")
    if a.style and a.out == DEFAULT_OUT and not a.dry_run:
        p.error("--style draws some styles only: give --out, so the committed report of every style stays as it is")
    per_style = min(a.per_style, QUICK_PER_STYLE) if a.dry_run else a.per_style

    from digitlab.evaluation import handwriting
    from digitlab.models import artifacts, cards
    from digitlab.paths import shown
    from digitlab.report import extractors, results
    from digitlab.serving import classifiers

    try:
        models = classifiers.load_classifiers(a.model)
    except artifacts.ModelError as e:
        return cli.error(e)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    report = {
        "command": cards.command_line(argv, __file__),
        "date": cards.provenance()["date"],
        "dry_run": a.dry_run,
        "models": classifiers.files_measured(models),
        **handwriting.conventions_per_style(models, per_style, a.seed, a.target, progress=log, keep=a.misreads, writing=a.writing,
                                            styles=list(dict.fromkeys(a.style)) if a.style else None),
    }
    galleries = {m.name: handwriting.conventions_misreads_png(report, m.name) for m in models} if a.misreads else {}
    report.pop("misread_inputs", None)  # the pictures go into the galleries, not the JSON
    default_out = DEFAULT_OUT if a.writing == writing.DEFAULT else DEFAULT_OUT.with_name(f"conventions_{a.writing}")
    out = cli.output_folder(default_out if a.out == DEFAULT_OUT else a.out, default_out, a.dry_run, "conventions")
    text = handwriting.save_conventions(out, report, galleries)
    if not a.dry_run and not a.style:  # the committed models' figures go to docs/results.json (a smoke run's or some styles' are no figures)
        results.record_all(extractors.committed(extractors.from_conventions(report, source=shown(out / "conventions.json"))))
    print(text)
    print(f"\nwritten {out / 'conventions.json'}")
    return cli.OK


if __name__ == "__main__":
    sys.exit(main())
