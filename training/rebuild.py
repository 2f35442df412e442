"""python training/rebuild.py NAME [--run runs/rebuild/NAME] [--real-strokes PATH] [--models models/] [--dry-run] [--list]

Makes a committed model again from random weights: every step of its chain (train, train further, mix
back, ensemble, calibrate, copy into the models folder, serving file), each as its own process, in the
order digitlab/training/rebuild.py lists them.  A step whose output is already in the --run folder is
kept, so an interrupted rebuild goes on where it stopped.  NAME: mnist_baseline, mnist_robust, mnist_cnn,
mnist_advanced, gate or reader.  mnist_cnn, mnist_advanced and the number reader are trained on real pen strokes too: give the file
(--real-strokes, or $DIGITLAB_UNIPEN).  Hours of CPU for mnist_advanced (four 36- or 6-epoch trainings).

--dry-run runs every step in its smoke mode in a temporary folder (or --run) and promotes into a folder
inside it (or --models, never models/): seconds per step, for tests and CI.  --list prints the chains' commands.
"""

import sys
import tempfile
from pathlib import Path

from digitlab import cli
from digitlab.data import unipen
from digitlab.paths import MODELS_DIR, RUNS_DIR
from digitlab.training import rebuild


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("name", nargs="?", choices=tuple(rebuild.CHAINS), help="the model to make again")
    p.add_argument("--run", type=Path, default=None, help="work folder of the chain (default runs/rebuild/NAME)")
    p.add_argument("--real-strokes", type=Path, default=None, metavar="PATH", help=f"real-strokes file (default ${unipen.ENV_VAR})")
    p.add_argument("--models", type=Path, default=MODELS_DIR, help="models folder the result is copied into (default models/)")
    cli.add_dry_run(p, "every step in its smoke mode, in a temporary folder; promotes into that folder, never into models/")
    p.add_argument("--list", action="store_true", help="print every chain's commands and exit")
    a = p.parse_args(argv)
    if a.list:
        for name in rebuild.CHAINS:
            print(f"# {name}")
            print("\n".join(rebuild.card(name)["steps"]), end="\n\n")
        return cli.OK
    if a.name is None:
        p.error("give the NAME of the model to rebuild (or --list)")
    real = a.real_strokes or unipen.default_path()
    if real is not None and not real.is_file():
        p.error(f"--real-strokes {real}: no such file")
    with tempfile.TemporaryDirectory(prefix=f"rebuild-{a.name}-") as tmp:
        if a.dry_run:  # never into the real models folder; --run and --models only when given (the tests keep the result)
            run_dir = a.run or Path(tmp) / "run"
            models = a.models if a.models != MODELS_DIR else Path(tmp) / "models"
        else:
            run_dir, models = a.run or RUNS_DIR / "rebuild" / a.name, a.models
        try:
            records = rebuild.run(a.name, run_dir, models, real, a.dry_run, log=lambda m: print(m, flush=True))
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
