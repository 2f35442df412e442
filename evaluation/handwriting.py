"""python evaluation/handwriting.py [--model NAME_OR_FILE ...] [--n 2000] [--seed 0] [--tta] [--out evaluation/reports/handwriting/] [--dry-run]

The real-handwriting dev benchmark: digits that are not MNIST's, through the one preprocessing path
(digitlab.preprocess.prepare, as the app and the predict CLI call it) and each model's classifier:

  load_digits upload          scikit-learn's bundled 8x8 digits (1,797, 43 writers) as uploaded photos
  load_digits canvas S/M/L    the same digits drawn on the dark canvas, small, medium and large
  conventions                 writing conventions MNIST rarely has, drawn as canvas strokes (crossed 7,
                              1 with flag and foot, closed 4, straight-stem 9, few-point digits, ...)
  MNIST strokes               MNIST test digits re-drawn as strokes: skeleton -> polyline -> one brush
  real strokes (the project's data/unipen/ file, --real-strokes or $DIGITLAB_UNIPEN): real pen strokes of writers no model trained on
    held-out site             a whole site (digitlab.data.unipen.HELD_OUT_SITE) on the canvas, pen-ups kept
    held-out site, pen-ups    the same digits with the pen's moves between strokes drawn (pen-ups lost)
    unseen writers            the training sites' validation writers, per site
    held-out site / unseen writers, 8 points
                              the same digits as the pen's whole path through 8 points (the UCI pendigits protocol)
    real numbers              2-6 digits one writer wrote in a row, read through the Numbers path (--number)

Pictures come from digitlab/data/handwriting_test.py, which training never uses (own code path,
parameters and seeds).  Writes <out>/handwriting.json (accuracy, per-class accuracy, confusion,
most-confused pairs, per style, the misread pictures), handwriting.md (the tables), confusion_<model>.png
(the conventions set), samples.png (the model inputs, a row per set) and misreads.png (the real writers'
digits the default model misreads, most confident first); prints the Markdown.  Without --model,
every usable model in models/.  --tta also measures test-time augmentation (digitlab.evaluation.handwriting.tta_proba).

--dry-run: 30 pictures per set, written into a new temporary folder unless --out is
given (never over the committed report): seconds, for tests.

Longer than a thin script because it gathers its sets from three sources (the generated ones, MNIST, the
optional real-strokes file, whose absence is said and skipped) and writes five kinds of files and the results file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from digitlab import cli
from digitlab.paths import REPORTS_DIR

DEFAULT_OUT = REPORTS_DIR / "handwriting"
QUICK_N = 30  # pictures per set in --dry-run


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    cli.add_models(p, "model name in models/, a .keras file or an exported model")
    p.add_argument("--n", type=int, default=2000, help=f"pictures per set at most; load_digits has 1,797 (default 2000; --dry-run {QUICK_N})")
    p.add_argument("--seed", type=int, default=0, help="seed of the benchmark's pictures (default 0: the committed report's)")
    p.add_argument("--real-strokes", type=Path, default=None, metavar="PATH",
                   help="real-strokes file (gzipped JSON, digitlab/data/unipen.py) for the real sets (default $DIGITLAB_UNIPEN; none: skipped)")
    p.add_argument("--no-reader", action="store_true",
                   help="read the real numbers by the cuts alone, without the number reader (a comparison: not recorded in docs/results.json)")
    p.add_argument("--tta", action="store_true", help="also measure test-time augmentation (11 variants of each input; ~11x the model time)")
    cli.add_out(p, DEFAULT_OUT, "folder for handwriting.json, handwriting.md and the figures")
    cli.add_mnist(p)
    cli.add_dry_run(p, f"{QUICK_N} pictures per set, report into a temporary folder unless --out is given: seconds, for tests")
    a = p.parse_args(argv)
    if a.n < 1:
        p.error("--n must be at least 1")
    n = min(a.n, QUICK_N) if a.dry_run else a.n

    from digitlab import data
    from digitlab.data import unipen
    from digitlab.evaluation import handwriting
    from digitlab.files import atomic_write_bytes, atomic_write_json
    from digitlab.models import artifacts, cards
    from digitlab.paths import shown
    from digitlab.report import extractors, plots, results
    from digitlab.serving import classifiers, reader

    try:
        models = classifiers.load_classifiers(a.model)
        mnist = data.load(a.mnist)
        number_reader = None if a.no_reader else reader.load()
    except (artifacts.ModelError, data.DataError) as e:
        return cli.error(e)
    sets = list(handwriting.build_sets(n, a.seed, (mnist.x_test, mnist.y_test)))
    real = a.real_strokes or unipen.default_path()
    split = None
    if real is None:
        print(f"real-strokes sets skipped: no --real-strokes and no ${unipen.ENV_VAR}", file=sys.stderr)
    else:
        try:
            split = unipen.split(unipen.load(real))
        except unipen.UnipenError as e:
            return cli.error(e)
        sets += list(handwriting.real_sets(split, n, a.seed))
    inputs = [handwriting.prepare_set(s) for s in sets]
    print(f"prepared {sum(len(s.labels) for s in inputs)} pictures in {len(inputs)} sets", file=sys.stderr, flush=True)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    report = handwriting.run(models, inputs, tta=a.tta, progress=log)
    if split is not None:
        report["real_numbers"] = {m.name: handwriting.real_numbers(split, m, a.seed, n if a.dry_run else None, log, number_reader) for m in models}
        report["real_numbers_scanned"] = {m.name: handwriting.real_numbers(split, m, a.seed, n if a.dry_run else None, log, number_reader, scanned=True)
                                          for m in models}
        report["real_strokes"] = {"file": str(real), "sha256": unipen.fingerprint(real), "split": split.describe()}
    default = artifacts.resolve(None).name if not a.model else None
    report = {
        "command": cards.command_line(argv, __file__),
        "date": cards.provenance()["date"],
        "n": n, "seed": a.seed, "quick": a.dry_run,
        "models": classifiers.files_measured(models),
        "sets": {s.name: {"n": int(len(s.labels)), "about": s.about} for s in inputs},
        "number_reader": None if number_reader is None else {"file": shown(number_reader.path), "sha256": number_reader.fingerprint(),
                          "margin": number_reader.margin},
        **report,
    }
    out = cli.output_folder(a.out, DEFAULT_OUT, a.dry_run, "handwriting")
    out.mkdir(parents=True, exist_ok=True)
    text = handwriting.markdown(report, default)
    atomic_write_json(out / "handwriting.json", report)
    atomic_write_bytes(out / "handwriting.md", (text + "\n").encode())
    for name, table in report["results"].items():
        atomic_write_bytes(out / f"confusion_{name}.png", plots.confusion_png(table[handwriting.CONVENTIONS]["confusion"],
                                                                              f"{name}: conventions set"))
    atomic_write_bytes(out / "samples.png", handwriting.samples_png(inputs))
    shown_model = default or models[0].name  # the real writers' misreads of the default model (or the first given)
    gallery = handwriting.misreads_png(inputs, report["results"][shown_model], f"{shown_model}: real writers' digits it misreads (unseen writers, held-out site)")
    if gallery is not None:
        atomic_write_bytes(out / "misreads.png", gallery)
    if a.no_reader:
        print("--no-reader: a comparison, not recorded in docs/results.json", file=sys.stderr)
    elif not a.dry_run:  # the committed models' figures go to docs/results.json (a smoke run's are no figures)
        results.record_all(extractors.committed(extractors.from_handwriting(report, source=shown(out / "handwriting.json"))))
    print(text)
    print(f"\nwritten {out / 'handwriting.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
