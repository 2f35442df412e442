"""python evaluation/numbers.py [--per-cell 40] [--four 250] [--lengths 2,3,4,5,6,7,8] [--model NAME_OR_FILE] [--no-reader] [--seed 0] [--out DIR] [--dry-run]

The numbers dev benchmark: numbers of 2-8 digits built from MNIST *test* digits with controlled
gaps (wide, narrow, touching, overlapping by a few pixels), a tilted and jittered baseline, italic slant and
digits of different heights, rendered as canvas drawings (white on black, PNG) and as photos (dark ink on
shaded paper, JPEG) by digitlab.data.number_cases, and read through the predict CLI's --number path
(digitlab.serving.numbers.read_number on the file's bytes, the model and the number reader served by ONNX Runtime;
--no-reader: the cuts alone, a comparison not recorded in docs/results.json).  Prints and
writes whole-number and per-digit accuracy by gap class, render and length to DIR/numbers.json and
DIR/numbers.md (default evaluation/reports/numbers/).  Target: >= 97% of 4-digit numbers with visible gaps
(wide, narrow) read right with the default model.  --dry-run: a few numbers, into a temporary folder.

Longer than a thin script because its name is the standard library's `numbers`, which a script in evaluation/
shadows for numpy; the few lines at the top hand numpy the real module (see the comment there).
"""

from __future__ import annotations

import sys

if __name__ == "numbers":  # pragma: no cover - only when another script in evaluation/ imports numpy
    # This file has the standard library's name, and a script run from evaluation/ has this folder first on
    # the import path: numpy's `import numbers` finds this file.  It hands over the standard library's
    # module (beside `os` in the standard library's folder), which the import then returns (importlib takes
    # the module from sys.modules after running the file).
    import importlib.util
    import os

    _spec = importlib.util.spec_from_file_location("numbers", os.path.join(os.path.dirname(os.__file__), "numbers.py"))
    _stdlib = importlib.util.module_from_spec(_spec)
    sys.modules["numbers"] = _stdlib
    _spec.loader.exec_module(_stdlib)
    globals().update({k: v for k, v in vars(_stdlib).items() if not k.startswith("__")})

import time

from digitlab import cli, paths
from digitlab.paths import REPORTS_DIR

DEFAULT_OUT = REPORTS_DIR / "numbers"
TARGET = 0.97


def main(argv: list[str] | None = None) -> int:
    from digitlab.data import number_cases

    lengths_default = ",".join(map(str, number_cases.BENCHMARK_LENGTHS))
    p = cli.parser(__doc__)
    p.add_argument("--per-cell", type=int, default=number_cases.BENCHMARK_PER_CELL,
                   help=f"numbers per (length, gap class, render) (default {number_cases.BENCHMARK_PER_CELL})")
    p.add_argument("--four", type=int, default=number_cases.BENCHMARK_FOUR,
                   help=f"numbers per (gap class, render) of 4 digits, the target's length (default {number_cases.BENCHMARK_FOUR})")
    p.add_argument("--lengths", default=lengths_default, help=f"numbers of these lengths (default {lengths_default})")
    p.add_argument("--model", default=None, help="model name in models/ or a file (default: the best by its card)")
    p.add_argument("--no-reader", action="store_true", help="read by the cuts alone, without the number reader (not recorded in docs/results.json)")
    p.add_argument("--seed", type=int, default=0, help="seed of the digits drawn and of the layouts (default 0)")
    cli.add_out(p, DEFAULT_OUT, "report folder")
    cli.add_mnist(p)
    cli.add_dry_run(p, "2 numbers per cell of lengths 2 and 4, in seconds, into a temporary folder (for tests)")
    a = p.parse_args(argv)
    try:
        lengths = sorted({int(v) for v in a.lengths.split(",") if v.strip()})
    except ValueError:
        p.error(f"--lengths: whole numbers separated by commas, not {a.lengths!r}")
    if not lengths or min(lengths) < 1 or max(lengths) > 12:
        p.error("--lengths: between 1 and 12 digits")
    if a.per_cell < 1 or a.four < 0:
        p.error("--per-cell must be at least 1 and --four at least 0")
    if a.dry_run:
        lengths, a.per_cell, a.four = [2, 4], 2, 0

    from digitlab import data, files
    from digitlab.evaluation import numbers
    from digitlab.models import artifacts, cards
    from digitlab.report import extractors
    from digitlab.report import results as recorded
    from digitlab.serving import reader, runtime

    try:
        classifier = runtime.load(a.model)
        d = data.load(a.mnist)
        number_reader = None if a.no_reader else reader.load()
    except (artifacts.ModelError, data.DataError) as e:
        return cli.error(e)
    out = cli.output_folder(a.out, DEFAULT_OUT, a.dry_run, "numbers")
    print(f"model: {classifier.name}; lengths {lengths}, {a.per_cell} per cell" + (f", {a.four} per cell of 4 digits" if a.four else ""), flush=True)
    t0 = time.perf_counter()
    cases = number_cases.benchmark(d.x_test, d.y_test, lengths, per_cell=a.per_cell, four=a.four, seed=a.seed)
    rows = numbers.read_cases(classifier, cases, reader=number_reader)
    summary = numbers.summarise(rows)
    summary["causes"] = numbers.misread_causes(rows, d.x_test, d.y_test, classifier)
    four = [r for r in rows if r["length"] == 4 and r["gap"] in number_cases.VISIBLE]
    if four:
        summary["causes"]["four_digits_visible_gaps"] = {k: v for k, v in numbers.misread_causes(four, d.x_test, d.y_test, classifier).items() if k != "by_gap"}
    report = {"model": classifier.name, "seed": a.seed, "lengths": lengths, "per_cell": a.per_cell, "four": a.four, "target": TARGET,
              "summary": summary, "seconds": round(time.perf_counter() - t0, 1),
              "number_reader": None if number_reader is None else {"file": paths.shown(number_reader.path), "sha256": number_reader.fingerprint(),
                              "margin": number_reader.margin},
              "read_by_reader": sum(r["read_by"] == "reader" for r in rows),
              "command": cards.command_line(argv, __file__),
              "rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    text = numbers.markdown(report)
    report["rows"] = [r for r in rows if not r["right"]]  # the misread ones (with their MNIST test indices); the rest are summarised
    files.atomic_write_json(out / "numbers.json", report)
    if a.no_reader:
        print("--no-reader: a comparison, not recorded in docs/results.json", flush=True)
    elif not a.dry_run:  # the committed model's figures go to docs/results.json
        recorded.record_all(extractors.committed(extractors.from_numbers(report, classifier.entry.path)))
    files.atomic_write_bytes(out / "numbers.md", text.encode())
    print(text, flush=True)
    print(f"report: {out / 'numbers.json'} and numbers.md ({report['seconds']} s)")
    return cli.OK


if __name__ == "__main__":
    sys.exit(main())
