"""python evaluation/finetune_memory.py [--base mnist_advanced --base mnist_cnn] [--per-class 5] [--dry-run]

How much memory fine-tuning takes, as the app's Collect page runs it: training/finetune_on_custom.py in its own
process with the environment the app gives the processes it starts (digitlab.memory: MALLOC_ARENA_MAX=2, and
TensorFlow's oneDNN kernels off as in the server), on one generated writer's digits (--per-class of each, the
drawings evaluation/make_user_digits.py writes), models written into a temporary folder and thrown away.  Measures
each base's peak resident memory (/usr/bin/time, Linux) and wall time, prints them and, for a full run on committed
models, records the peaks in docs/results.json (the memory table of docs/results.md).

--dry-run: the fine-tune's own smoke mode (seconds): figures printed, nothing recorded.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from digitlab import cli
from digitlab.paths import ROOT


def peak(base: str, folder: Path, out: Path, dry_run: bool, mnist: str | None) -> dict:
    """One fine-tune of ``base`` on ``folder`` in its own process -> {"peak_rss_mb", "seconds"}."""
    from digitlab import memory

    argv = [sys.executable, ROOT / "training" / "finetune_on_custom.py", folder, "--base", base, "--out", out, "--name", f"memory_{base}",
            *(["--dry-run"] if dry_run else []), *(["--mnist", mnist] if mnist else [])]
    proc, seconds, peak_bytes = memory.run_measured(argv, cwd=ROOT, env={**os.environ, **memory.SUBPROCESS_ENV, **memory.SERVER_TF_ENV})
    if proc.returncode != 0:
        raise RuntimeError(f"fine-tuning {base} failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
    return {"peak_rss_mb": round(peak_bytes / 2**20), "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("--base", action="append", help="model to fine-tune, a name in models/ (repeatable; default mnist_advanced and mnist_cnn)")
    p.add_argument("--per-class", type=int, default=5, help="generated drawings of each digit (default 5: 50 pictures)")
    cli.add_mnist(p)
    cli.add_dry_run(p, "the fine-tune's smoke mode, nothing recorded (default off)")
    a = p.parse_args(argv)
    if a.per_class < 2:
        p.error("--per-class must be at least 2 (a digit needs a picture to train on and one to hold out)")
    from digitlab.memory import TIME

    if not Path(TIME).is_file():
        return cli.error(f"{TIME} is missing: it measures the process's peak memory (Linux: apt-get install -y time)")
    from digitlab.data import user_style
    from digitlab.models import artifacts, cards
    from digitlab.report import extractors, results, schema

    bases = a.base or ["mnist_advanced", "mnist_cnn"]
    try:
        files = {b: artifacts.resolve(b).path for b in bases}
    except artifacts.ModelError as e:
        return cli.error(e)
    command = cards.command_line(argv, __file__)
    figures, load = [], [round(v, 1) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="finetune-memory-") as tmp:
        folder = Path(tmp) / "my_digits"
        n = user_style.save_drawings(folder, a.per_class, 0)
        for base in bases:
            try:
                r = peak(base, folder, Path(tmp) / "models", a.dry_run, a.mnist)
            except RuntimeError as e:
                return cli.error(e, cli.SOME_FAILED)
            print(f"fine-tuning {base} on {n} pictures: peak RSS {r['peak_rss_mb']} MiB, {r['seconds']} s", flush=True)
            figures.append(schema.Figure("app", "server RSS", r["peak_rss_mb"], command, row=f"fine-tuning {base} in its own process, peak",
                                          model=base, model_sha=extractors.model_sha(files[base]), fmt="MiB",
                                          note=f"{n} pictures ({a.per_class} per digit); load average at start {load}"))
    if not a.dry_run:
        results.record_all(extractors.committed(figures))
        print(f"recorded the committed models' figures in {results.results_path()}")
    return cli.OK


if __name__ == "__main__":
    sys.exit(main())
