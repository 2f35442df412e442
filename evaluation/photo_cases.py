"""python evaluation/photo_cases.py [--n 200] [--model NAME_OR_FILE] [--cases plain,half_shadow,...] [--seed 0] [--out FILE]

Photos of handwritten digits under the conditions that break background removal (digitlab.data.photo_cases:
a plain photo, a hard half shadow, a desk corner in the frame, lined paper, faint pencil, a 3000x4000
phone photo with a small digit, a fat marker filling a tight crop, a form's printed box or line), made from the first N MNIST test digits, read through the predict
CLI's own path (JPEG bytes -> digitlab.preprocess.prepare -> the served model).  Prints per-case
accuracy (no-ink answers count as wrong) and writes evaluation/reports/photo_cases.json.
Target: >= 95% on every case with the default model.
"""

from __future__ import annotations

import sys
import time

from digitlab import cli
from digitlab.paths import REPORTS_DIR


def measure(classifier, x, y, cases, seed: int = 0) -> dict:
    import numpy as np

    from digitlab import preprocess
    from digitlab.data import photo_cases

    out = {}
    for case in cases:
        t0 = time.perf_counter()
        prepared = [preprocess.prepare(photo_cases.make(case, x[i], seed * 100_003 + i)) for i in range(len(x))]
        preds = classifier.predict_prepared(prepared)
        right = np.array([p.label == int(t) for p, t in zip(preds, y)])
        out[case] = {"n": len(x), "accuracy": float(right.mean()), "no_ink": sum(p.no_ink for p in preds),
                     "wrong": [int(i) for i in np.flatnonzero(~right)][:50], "seconds": round(time.perf_counter() - t0, 1)}
        print(f"{case:12s} {out[case]['accuracy']:7.2%}  (no ink {out[case]['no_ink']}, {out[case]['seconds']} s)", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    from digitlab.data import photo_cases

    p = cli.parser(__doc__)
    p.add_argument("--n", type=int, default=200, help="MNIST test digits per case (default 200)")
    p.add_argument("--model", default=None, help="model name in models/ or a file (default: the best by its card)")
    p.add_argument("--cases", default=",".join(photo_cases.CASES), help=f"comma-separated (default {','.join(photo_cases.CASES)})")
    p.add_argument("--seed", type=int, default=0, help="seed of the photo conditions (default 0)")
    p.add_argument("--out", type=cli.report_file("photo_cases.json"), default=REPORTS_DIR / "photo_cases.json", help="report (default evaluation/reports/photo_cases.json)")
    cli.add_mnist(p)
    a = p.parse_args(argv)
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in photo_cases.CASES]
    if unknown or not cases:
        p.error(f"unknown case(s) {unknown}; choose from {', '.join(photo_cases.CASES)}")
    from digitlab import data, files, preprocess
    from digitlab.models import artifacts
    from digitlab.report import extractors
    from digitlab.report import results as recorded
    from digitlab.serving import runtime

    try:
        classifier = runtime.load(a.model)
        d = data.load(a.mnist)
    except (artifacts.ModelError, data.DataError) as e:
        cli.fail(e)
    report = {"model": classifier.name, "preprocess_version": preprocess.PREPROCESS_VERSION, "seed": a.seed,
              "cases": measure(classifier, d.x_test[: a.n], d.y_test[: a.n], cases, a.seed),
              "command": "python evaluation/photo_cases.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    files.atomic_write_json(a.out, report)
    recorded.record_all(extractors.committed(extractors.from_photo_cases(report, classifier.entry.path)))  # docs/results.json
    return cli.OK


if __name__ == "__main__":
    sys.exit(main())
