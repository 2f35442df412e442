"""python training/rebuild.py NAME [--run runs/rebuild] [--models models/] [--dry-run] [--list]

Makes a committed model again from its recipe, training/configs/NAME.toml: each of its networks trained
once from random weights, their average, calibration, and the copy into the models folder with its serving
files, each step as its own process, as a person would run them (--list prints them).  A step whose output
is already in the --run folder is kept, so an interrupted rebuild goes on where it stopped.  NAME:
mnist_baseline, mnist_cnn, mnist_advanced, mnist_robust, gate or reader.  Hours of CPU for the ensembles
(about 20 minutes per compact network, 45 per advanced one, on 2 cores).

--dry-run runs every step in its smoke mode in a temporary folder (or --run) and promotes into a folder
inside it (or --models, never models/): seconds per step, for tests and CI.
"""

import sys
import tempfile
from pathlib import Path

from digitlab import cli
from digitlab.paths import MODELS_DIR, RUNS_DIR
from digitlab.training import rebuild


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("name", nargs="?", choices=rebuild.MODELS, help="the model to make again")
    p.add_argument("--run", type=Path, default=None, help="work folder of the networks (default runs/rebuild)")
    p.add_argument("--models", type=Path, default=MODELS_DIR, help="models folder the result is copied into (default models/)")
    cli.add_dry_run(p, "every step in its smoke mode, in a temporary folder; promotes into that folder, never into models/")
    p.add_argument("--list", action="store_true", help="print every model's commands and exit")
    a = p.parse_args(argv)
    try:
        if a.list:
            for name in rebuild.MODELS:
                print(f"# {name}")
                print("\n".join(rebuild.card(name)["steps"]), end="\n\n")
            return cli.OK
        if a.name is None:
            p.error("give the NAME of the model to rebuild (or --list)")
        with tempfile.TemporaryDirectory(prefix=f"rebuild-{a.name}-") as tmp:
            if a.dry_run:  # never into the real models folder; --run and --models only when given (the tests keep the result)
                run_dir = a.run or Path(tmp) / "run"
                models = a.models if a.models != MODELS_DIR else Path(tmp) / "models"
            else:
                run_dir, models = a.run or RUNS_DIR / "rebuild", a.models
            records = rebuild.run(a.name, run_dir, models, a.dry_run, log=lambda m: print(m, flush=True))
    except rebuild.RebuildError as e:
        return cli.error(e)
    except rebuild.StepFailed as e:
        print(f"rebuild {a.name}: {e}", file=sys.stderr)
        return e.code
    ran = sum(r["ran"] for r in records)
    print(f"rebuilt {a.name}: {ran} steps ran, {len(records) - ran} kept" + (" (dry run: nothing written outside a temporary folder)" if a.dry_run else ""))
    return cli.OK


if __name__ == "__main__":
    sys.exit(main())
