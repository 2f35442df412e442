"""python evaluation/paper.py [--model NAME_OR_FILE ...] [--scans FOLDER] [--tta] [--out evaluation/reports/paper/] [--dry-run]

The real-paper dev benchmark: 2,341 handwritten digits cut from scans of 17 Danish church registers
(digitlab/data/parish.py: paper tone and grain, and whatever the clerk wrote beside the digit), each read
exactly as `python evaluation/predict.py FOLDER` reads it (the one preprocessing path, the model served by
ONNX Runtime).  Reports accuracy overall, per register and per class, and the most confused pairs, per model;
lists every misread picture, the ones judged mislabelled apart (they stay in every figure).  Writes
<out>/paper.json and paper.md, prints the Markdown, and records the headline figures in docs/results.json.
Without --model, every usable model in models/.  --tta also reads each model input with test-time augmentation
(shifted, turned, scaled, thickened and thinned, the probabilities averaged) and compares it picture by picture.

The pictures are not in the repository: --scans, else $DIGITLAB_PARISH, else ../shared/data/parish_dev beside
the checkout; none of them found is a configuration error (exit 2).

--dry-run: the first few pictures of each register, written into a new temporary folder unless --out is given;
records nothing: seconds, for tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

from digitlab import cli
from digitlab.paths import REPORTS_DIR

DEFAULT_OUT = REPORTS_DIR / "paper"
QUICK_PER_REGISTER = 4  # pictures per register in --dry-run


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    cli.add_models(p, "model name in models/, a .keras file or an exported model")
    p.add_argument("--scans", type=Path, default=None, metavar="FOLDER",
                   help="the parish_dev folder (default $DIGITLAB_PARISH, else ../shared/data/parish_dev)")
    p.add_argument("--tta", action="store_true", help="also read every model input with test-time augmentation")
    cli.add_out(p, DEFAULT_OUT, "folder for paper.json and paper.md")
    cli.add_dry_run(p, f"the first {QUICK_PER_REGISTER} pictures of each register, report into a temporary folder unless --out is given")
    a = p.parse_args(argv)

    from digitlab import preprocess
    from digitlab.data import parish
    from digitlab.evaluation import paper
    from digitlab.files import atomic_write_bytes, atomic_write_json
    from digitlab.models import artifacts, cards
    from digitlab.paths import shown
    from digitlab.report import extractors, results
    from digitlab.serving import classifiers

    try:
        scans = parish.load(a.scans)
        models = paper.served(a.model)
    except (parish.ParishError, artifacts.ModelError) as e:
        return cli.error(e)
    if a.dry_run:
        scans = scans.subset(QUICK_PER_REGISTER)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    report = {
        "command": cards.command_line(argv, __file__),
        "date": cards.provenance()["date"],
        "quick": a.dry_run,
        "scans": {"folder": shown(scans.folder), "pictures": len(scans.files), "registers": len(set(scans.registers))},
        "preprocess_version": preprocess.PREPROCESS_VERSION,
        "models": classifiers.files_measured(models),
        **paper.run(models, scans, log, tta=a.tta),
    }
    out = cli.output_folder(a.out, DEFAULT_OUT, a.dry_run, "paper")
    out.mkdir(parents=True, exist_ok=True)
    text = paper.markdown(report)
    atomic_write_json(out / "paper.json", report)
    atomic_write_bytes(out / "paper.md", (text + "\n").encode())
    if not a.dry_run:  # the committed models' figures go to docs/results.json (a smoke run's are no figures)
        results.record_all(extractors.committed(extractors.from_paper(report, source=shown(out / "paper.json"))))
    print(text)
    print(f"\nwritten {out / 'paper.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
