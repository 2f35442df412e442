"""python evaluation/writers.py [--part val] [--model NAME_OR_FILE] [--renders 1] [--top 15] [--seed 0] [--real-strokes PATH] [--out FILE]

Which real writers a model reads worst (digitlab.evaluation.writers): every digit of one part of the real-strokes
file drawn on the canvas as the benchmark draws real strokes, read through the one preprocessing path, and a row
per writer, the most misread first, with what the misreads were read as and the writer's weakest digit.  A
writer's own convention (a slashed zero, a 1 with a long flag) shows here while the benchmark's per-class figures
average it away.  --part train reads the training writers (a tuning set: the model saw their strokes), val the
validation writers, held-out the held-out site (read it, never tune on it).  Prints the table and writes the rows
as JSON (--out, default evaluation/reports/writers/<model>_<part>.json); a committed model's figure goes into
docs/results.json ("Real writers, several draws per digit").
"""

from __future__ import annotations

import sys
from pathlib import Path

from digitlab import cli


def main(argv: list[str] | None = None) -> int:
    from digitlab.evaluation import writers

    p = cli.parser(__doc__)
    p.add_argument("--part", choices=writers.PARTS, default="val", help="which writers (default val)")
    p.add_argument("--model", default=None, help="model name in models/ or a file (default: the best by its card)")
    p.add_argument("--renders", type=int, default=1, help="drawings per digit, each with its own brush, size and place (default 1)")
    p.add_argument("--top", type=int, default=15, help="writers shown (default 15)")
    p.add_argument("--seed", type=int, default=0, help="seed of the drawings (default 0)")
    p.add_argument("--real-strokes", type=Path, default=None, metavar="PATH",
                   help="real-strokes file (gzipped JSON, digitlab/data/unipen.py) (default $DIGITLAB_UNIPEN, else data/unipen/unipen_dev.json.gz)")
    p.add_argument("--out", type=Path, default=None, help="the rows as JSON (default evaluation/reports/writers/<model>_<part>.json)")
    a = p.parse_args(argv)
    if a.renders < 1 or a.top < 1:
        p.error("--renders and --top must be at least 1")
    from digitlab import files
    from digitlab.data import unipen
    from digitlab.models import artifacts, cards
    from digitlab.paths import REPORTS_DIR
    from digitlab.report import extractors
    from digitlab.report import results as recorded
    from digitlab.serving import runtime

    real = a.real_strokes or unipen.default_path()
    if real is None:
        cli.fail(f"no real-strokes file: give --real-strokes PATH or set ${unipen.ENV_VAR}", p=p)
    try:
        items = writers.items_of(unipen.split(unipen.load(real)), a.part)
        classifier = runtime.load(a.model)
    except (unipen.UnipenError, artifacts.ModelError) as e:
        cli.fail(e)
    rows = writers.by_writer(items, classifier, a.seed, a.renders, progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"{classifier.name}, {a.part} writers of {real.name}: ", end="")
    print(writers.markdown(rows, a.top))
    report = {"model": classifier.name, "part": a.part, "seed": a.seed, "renders": a.renders, "file": real.name,
              "sha256": unipen.fingerprint(real), "command": cards.command_line(argv, __file__), "summary": writers.summary(rows), "writers": rows}
    out = a.out or REPORTS_DIR / "writers" / f"{classifier.name}_{a.part}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_write_json(out, report)
    recorded.record_all(extractors.committed(extractors.from_writers(report, classifier.entry.path)))  # docs/results.json
    return cli.OK


if __name__ == "__main__":
    sys.exit(main())
