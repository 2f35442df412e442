"""python evaluation/drawn_digits.py [--model NAME ...] [--n 1000] [--out evaluation/reports/] [--dry-run]

How much the MNIST recipe matters, on pictures that do not look like MNIST:
  * drawn-style digits: MNIST test digits redrawn as solid canvas strokes (280x280 RGBA, white on transparency: what
    the app's canvas gives once it says it is a drawing, docs/evaluation.md)
    with a thin pen up to a fat brush (digitlab.data.synthetic.restroke);
  * photo-style digits: dark ink on shaded, noisy paper, small and off-centre, JPEG.
plus MNIST itself as a control. Each set is fed three ways: naive (whole picture squashed to 28x28), the MNIST recipe
(digitlab.preprocess), and the recipe with stroke-width normalisation.  Accuracy per
model and set goes to stdout (Markdown) and <out>/drawn_digits.json (evaluation/reports/).
These are synthetic pictures built from MNIST test digits, not real handwriting.

--dry-run: the same path on 20 digits per set, written into a new temporary folder unless
--out is given (never over the committed report): seconds, for tests.
"""

from __future__ import annotations

import sys

from digitlab import cli
from digitlab.paths import REPORTS_DIR

WIDTHS = (0.04, 0.07, 0.11, 0.2, 0.3)  # brush width / digit height; MNIST's own strokes are ~0.11
DRY_RUN_N = 20  # digits per set in --dry-run


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    cli.add_models(p)
    p.add_argument("--n", type=int, default=1000, help=f"MNIST test digits per set (default 1000; --dry-run {DRY_RUN_N})")
    cli.add_out(p, REPORTS_DIR, "folder for drawn_digits.json")
    cli.add_mnist(p)
    cli.add_dry_run(p, f"{DRY_RUN_N} digits per set, report into a temporary folder unless --out is given: seconds, for tests")
    a = p.parse_args(argv)
    if a.n < 1:
        p.error("--n must be at least 1")
    n = min(a.n, DRY_RUN_N) if a.dry_run else a.n

    import numpy as np

    from digitlab import data, preprocess
    from digitlab.data import synthetic
    from digitlab.files import atomic_write_json
    from digitlab.models import artifacts
    from digitlab.serving.classifiers import Classifier

    try:
        entries = artifacts.select(a.model)
        mnist = data.load(a.mnist)
    except (artifacts.ModelError, data.DataError) as e:
        cli.fail(e)
    x, y = mnist.x_test[:n], mnist.y_test[:n]
    sets = {f"drawn, brush {w:.2f}": [synthetic.restroke(d, w, seed=i) for i, d in enumerate(x)] for w in WIDTHS}
    sets["photo"] = [synthetic.photo(d, i) for i, d in enumerate(x)]
    sets["MNIST as is"] = list(x)  # the control: what each way costs on real MNIST digits

    def inputs(pictures, how):
        if how == "naive":
            return np.stack([synthetic.naive_input(pic) for pic in pictures])
        out = []
        for pic in pictures:
            prepared = preprocess.prepare(pic, stroke=how == "recipe + stroke")
            out.append(np.zeros((28, 28), np.float32) if prepared.no_ink else prepared.image)
        return np.stack(out)

    ways = ("naive", "recipe", "recipe + stroke")
    feeds = {name: {how: inputs(pics, how) for how in ways} for name, pics in sets.items()}
    results = {}
    for entry in entries:
        clf = Classifier(entry)
        results[entry.name] = {
            name: {how: float((clf.predict_proba(xs).argmax(1) == y).mean()) for how, xs in by_way.items()}
            for name, by_way in feeds.items()
        }
    out = cli.output_folder(a.out, REPORTS_DIR, a.dry_run, "drawn-digits") / "drawn_digits.json"
    atomic_write_json(out, {"n": int(len(y)), "dry_run": a.dry_run, "results": results})
    if not a.dry_run:  # the committed models' figures go to docs/results.json
        from digitlab.models.cards import command_line
        from digitlab.report import extractors
        from digitlab.report import results as recorded
        recorded.record_all(extractors.committed(extractors.from_drawn_digits(
            {"results": results}, command_line(argv, __file__), {e.name: e.path for e in entries})))
    for model, table in results.items():
        print(f"\n{model} ({len(y)} digits per set)\n\n| set | " + " | ".join(ways) + " |\n| --- |" + " --- |" * len(ways))
        for name, accs in table.items():
            print(f"| {name} | " + " | ".join(f"{accs[h]:.1%}" for h in ways) + " |")
        mean = {h: np.mean([acc[h] for name, acc in table.items() if name != "MNIST as is"]) for h in ways}
        print("| **mean (drawn + photo)** | " + " | ".join(f"**{mean[h]:.1%}**" for h in ways) + " |")
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
