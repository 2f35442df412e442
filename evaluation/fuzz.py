"""python evaluation/fuzz.py [--n 20000] [--seed 0] [--out evaluation/reports/fuzz.json] [--dry-run] [--models N] [--model-files N]

Fuzz the picture path: generate hostile pictures from a seed (byte flips, truncations, bomb headers,
deep and odd modes, animated and multi-page files, EXIF, odd names, special files, formats we do not
read, ...; every kind is listed in digitlab/hardening/hostile_pictures.py), run each through the predict CLI's
per-file code and the app's upload path with a real committed model loaded once, then run the real CLI
over the whole folder.  Reports crashes (anything but a clean refusal), hangs (no answer within
--timeout: the worker is killed and the run goes on), wrong refusals (a valid picture refused), wrong
acceptances, lines that are not JSON, and peak RSS per file.  --models N also fuzzes N hostile model
files (digitlab.hardening.hostile_models) through artifacts.inspect and list_models; --model-files N, N hostile files
beside a model (digitlab.hardening.hostile_files: damaged or foreign serving files and records, cards whose values
break the answers, side files of the wrong shape) through the listing, the model's load, the predict command's lines
and the Models page's panels, each of which must refuse with a reason (or, for the digit gate and the number reader,
read without them and say so), never crash, hang or serve the damage.

The files of a run are remade from (--seed, index): --n 2000 is the start of the --n 20000 run with
the same seed, and each problem in the report comes with the command that remakes its file (--only).
Writes the report as JSON (--out) and, unless --dry-run or --only, its headline figures into
docs/results.json; prints the headline; exit code 0 when clean, 1 when anything was
found.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from digitlab import cli


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    from digitlab.paths import REPORTS_DIR, shown

    default_out = REPORTS_DIR / "fuzz.json"
    p = cli.parser(__doc__)
    p.add_argument("--n", type=int, default=None, help="how many pictures (default 20000; 200 with --dry-run)")
    p.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")
    p.add_argument("--out", type=cli.report_file(default_out.name), default=default_out, help=f"report JSON (default {shown(default_out)})")
    cli.add_dry_run(p, "a smoke run for tests: 200 pictures, the report in a temporary folder")
    p.add_argument("--models", type=int, default=0, metavar="N", help="also fuzz N hostile model files (default 0)")
    p.add_argument("--model-files", type=int, default=0, metavar="N",
                   help="also fuzz N hostile serving files, cards and side files beside a model (default 0)")
    p.add_argument("--model", default=None, help="the model that predicts (default: the best usable model in models/, as the CLI)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds one file may take before it counts as a hang (default 30)")
    p.add_argument("--only", type=int, default=None, metavar="I", help="remake and run file I of the run only")
    p.add_argument("--keep", type=Path, default=None, metavar="DIR", help="generate into DIR and keep the files (default: a temporary folder, removed)")
    p.add_argument("--workers", type=int, default=2, help="worker processes, each with the model loaded (default 2)")
    p.add_argument("--no-cli-run", action="store_true", help="skip the real CLI's run over the whole folder")
    cli.add_mnist(p)
    a = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill ends the workers too (finally blocks run)
    n = a.n if a.n is not None else 200 if a.dry_run else 20000
    if n < 1 or a.timeout <= 0 or a.models < 0 or a.model_files < 0 or a.workers < 1:
        return cli.error("--n and --workers must be at least 1, --timeout positive, --models and --model-files at least 0")

    from digitlab import data
    from digitlab.files import atomic_write_json
    from digitlab.hardening import fuzz, pool, tally
    from digitlab.report import extractors
    from digitlab.report import results as recorded

    try:
        pool.mnist_digits(a.mnist)  # the workers draw every picture from MNIST test digits: fail here, clearly
    except data.DataError as e:
        return cli.error(e)
    out = cli.output_folder(a.out.parent, default_out.parent, a.dry_run, "fuzz") / a.out.name
    folder = a.keep or Path(tempfile.mkdtemp(prefix="fuzz-"))
    t0 = time.monotonic()
    report: dict = {"command": " ".join(["python", "evaluation/fuzz.py", *(argv if argv is not None else sys.argv[1:])]),
                    "seed": a.seed, "n": n if a.only is None else 1, "timeout_s": a.timeout}
    try:
        report["pictures"] = fuzz.fuzz_pictures(a.seed, n, folder / "pictures", a.model, a.timeout, a.mnist, a.workers,
                                                cli_run=not a.no_cli_run, only=a.only, log=log)
        if a.models:
            report["models"] = fuzz.fuzz_models(a.seed, a.models, folder / "models", a.model, a.timeout, a.mnist, log=log)
        if a.model_files:
            report["model_files"] = fuzz.fuzz_files(a.seed, a.model_files, folder / "model_files", a.timeout, a.mnist, a.workers, log=log)
    finally:
        if a.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    report["seconds"] = round(time.monotonic() - t0, 1)
    report["ok"] = tally.passed(report)
    atomic_write_json(out, report)
    if not a.dry_run and a.only is None:  # docs/results.json
        recorded.record_all(extractors.from_fuzz(report, tally.headline(report)))
    print(json.dumps(tally.headline(report)))
    print(f"report: {out}", file=sys.stderr)
    return cli.OK if report["ok"] else cli.SOME_FAILED


if __name__ == "__main__":
    sys.exit(main())
