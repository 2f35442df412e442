"""Every committed model as the chain of commands that makes it, from random weights to ``models/``.

    CHAINS      name -> the steps: each one a project script and its flags (train, train further, mix,
                ensemble, calibrate), then the copy into the models folder and its serving file
    plan        a chain with its placeholders filled: {run} (the chain's work folder), {real} (the
                real-strokes file), {models} (where the result goes)
    run         the steps one after another, each as its own process (as a person runs it); a step whose
                output (or a later step's) is already in the work folder is kept, so an interrupted rebuild
                goes on where it stopped; the first failing step stops the chain with its exit code

``python training/rebuild.py NAME`` runs one chain; ``--dry-run`` runs every step in its smoke mode in a
temporary folder (seconds per step: the tests and CI run every chain that way); ``--list`` prints them.
The promoted card's ``promoted.command`` is the rebuild command and its ``rebuild`` key lists every
step, so the card says how to make the model again.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from digitlab.paths import MODELS_DIR, ROOT, shown


@dataclass(frozen=True)
class Step:
    script: str  # repo-relative path of the script
    args: tuple[str, ...]  # its flags, with {run}, {real} and {models} placeholders
    makes: str | None = None  # the file it writes, relative to {run}: present means done (None: always runs)
    dry_flag: str = "--dry-run"  # the script's smoke mode ("": it has none, it runs as it is: a copy, a conversion)


def _stroke_recipe(*extra: str) -> tuple[str, ...]:
    return ("--clean-epochs", "0", *extra)


_REDRAW = ("--redraw-brush", "0.06", "0.14", "--redraw-conventions", "1.0", "--redraw-pen-path", "0.5")
_REAL = ("--real-strokes", "{real}", "--real-share", "0.25")


def _advanced_member(k: int, start: str, name: str, real: bool) -> Step:
    """A member ``k`` of the ensemble ``start`` trained 6 epochs further with the stroke recipe (and real strokes),
    distilled from that ensemble."""
    if real:
        args = ("--out", "{run}", "--name", f"{name}{k}", "--clean-epochs", "0", "--redraw", "0.15", *_REDRAW,
                "--seed", str(47 + k), "--epochs", "6", "--learning-rate", "0.001", "--checkpoint", "last", "--lowres", "0.2",
                "--init-from", f"{{run}}/{start}", "--init-member", str(k), "--distill-from", f"{{run}}/{start}", "--distill", "0.8", *_REAL)
    else:
        args = ("--init-from", f"{{run}}/{start}", "--init-member", str(k), "--distill-from", f"{{run}}/{start}", "--distill", "0.8",
                "--epochs", "6", "--learning-rate", "0.001", "--checkpoint", "last", "--lowres", "0.2", "--clean-epochs", "0",
                "--redraw", "0.15", *_REDRAW, "--seed", str(47 + k), "--name", f"{name}{k}", "--out", "{run}")
    return Step("training/train_advanced.py", args, f"{name}{k}.keras")


def _finish(name: str, final: str, calibrate: bool = True) -> list[Step]:
    """Calibrate the result in its folder, copy it into {models}, rebuild the serving copies there."""
    steps = [Step("evaluation/calibrate.py", ("--model", f"{{run}}/{final}", "--write-card", "--out", "{run}/reports"))] if calibrate else []
    return [*steps, Step("training/promote.py", (f"{{run}}/{final}", "--name", name, "--out", "{models}", "--overwrite", "--chain", name), dry_flag=""),
            Step("evaluation/serving.py", ("--models-dir", "{models}"), dry_flag="")]


# WiSE-FT weight of mnist_advanced's real-strokes fine-tunes, chosen by a rule written before the sweep: of 0.3, 0.5,
# 0.7 and the fine-tune alone, the best on the real strokes' validation writers whose MNIST validation accuracy is
# within 0.1 point of the start's (ties: the smaller weight), holding the MNIST test floor (docs/training.md)
ALPHA_ADVANCED = 0.3

# Beside mnist_advanced's pair, a network trained on real pen strokes from its first epoch, 1.5 times as wide (the
# preset's 36 epochs, session 16's recipe), then two more 12-epoch cosine cycles by the same recipe, weighted
# WEIGHT_WIDE in the mean of the logits: (m0 + m1 + w x) / (2 + w). w was chosen of 0.25, 0.5, 0.75 and 1 by a rule
# written before the last cycle trained (runs/s22/RULE2.md, docs/experiments.md).
WEIGHT_WIDE = 1.0
_WIDE_DATA = ("--redraw", "0.15", *_REDRAW, "--lowres", "0.2", *_REAL)  # the wide network's data, in every cycle of it
_WIDE = Step("training/train_advanced.py", ("--width", "96", "--seed", "59", *_WIDE_DATA, "--name", "rsw_s59", "--out", "{run}"),
             "rsw_s59.keras")


def _wide_cycle(start: str, name: str, seed: int) -> Step:
    """The wide network trained one more 12-epoch cosine cycle by its own recipe, at a third of its peak learning rate,
    keeping the last epoch's weights (runs/s22/RULE2.md)."""
    return Step("training/train_advanced.py", ("--init-from", f"{{run}}/{start}", "--width", "96", "--seed", str(seed), "--epochs", "12",
                                               "--learning-rate", "0.001", "--checkpoint", "last", *_WIDE_DATA, "--name", name,
                                               "--out", "{run}"), f"{name}.keras")


def _cnn_member(name: str, seed: int, *extra: str) -> Step:
    """One of mnist_cnn's two networks: the compact CNN at width 64, 15 epochs with weight EMA, re-drawn and real pen
    strokes and low-resolution copies from its first epoch."""
    return Step("training/train_cnn.py", ("--out", "{run}", "--name", name, "--width", "64", "--seed", str(seed),
                                          *_stroke_recipe("--epochs", "15", "--ema", "0.999", "--redraw", "0.25", *_REDRAW),
                                          "--lowres", "0.2", *_REAL, *extra), f"{name}.keras")


# mnist_cnn's second network (c8v8_82, trained with 0, 1, 4, 7, 8 and 9 drawn in the writing conventions) is also
# mnist_advanced's fourth network, at weight WEIGHT_COMPACT: rule 43 picked it of six compact networks at weight 1 or 2
# (runs/s42/RULE43.md, docs/experiments.md); it lifted the slashed 0 from 96.6% to 97.8% of 4,800 fresh drawings
_COMPACT_PARTNER = _cnn_member("c8v8_82", 82, "--conventions-classes", "014789")
WEIGHT_COMPACT = 1.0

CHAINS: dict[str, list[Step]] = {
    "mnist_baseline": [
        Step("training/train_baseline.py", ("--out", "{run}"), "mnist_baseline.keras"),
        *_finish("mnist_baseline", "mnist_baseline.keras"),
    ],
    "mnist_robust": [
        Step("training/train_robust.py", ("--out", "{run}"), "mnist_robust.keras"),
        *_finish("mnist_robust", "mnist_robust.keras"),
    ],
    "mnist_cnn": [
        # twice as wide as the builder's default, real pen strokes and low-resolution copies from the first epoch
        # (runs/s24/RULE3.md, docs/experiments.md)
        _cnn_member("rscl64", 76),
        # a second network by the same recipe from another start, with 0, 1, 4, 7, 8 and 9 drawn in the writing
        # conventions (the 8 as two circles too); the mean of the two networks' logits (runs/s41/RULE42.md)
        _COMPACT_PARTNER,
        Step("training/ensemble.py", ("{run}/rscl64.keras", "{run}/c8v8_82.keras", "--name", "mnist_cnn", "--out", "{run}/final"),
             "final/mnist_cnn.keras"),
        *_finish("mnist_cnn", "final/mnist_cnn.keras"),
    ],
    "mnist_advanced": [
        # the first ensemble: two 36-epoch runs of the preset, averaged
        Step("training/train_advanced.py", ("--ema", "0", "--name", "advanced_s42_plain", "--out", "{run}"), "advanced_s42_plain.keras"),
        Step("training/train_advanced.py", ("--name", "advanced_s42_ema", "--out", "{run}"), "advanced_s42_ema.keras"),
        Step("training/ensemble.py", ("{run}/advanced_s42_plain.keras", "{run}/advanced_s42_ema.keras", "--name", "start", "--out", "{run}"),
             "start.keras"),
        # each network trained further with the stroke recipe, mixed back with its start, averaged
        _advanced_member(0, "start.keras", "ke_m", real=False),
        _advanced_member(1, "start.keras", "ke_m", real=False),
        Step("training/interpolate.py", ("{run}/ke_m0.keras", "--alpha", "0.6", "--out", "{run}"), "ke_m0_mixed.keras"),
        Step("training/interpolate.py", ("{run}/ke_m1.keras", "--alpha", "0.6", "--out", "{run}"), "ke_m1_mixed.keras"),
        Step("training/ensemble.py", ("{run}/ke_m0_mixed.keras", "{run}/ke_m1_mixed.keras", "--name", "mnist_advanced", "--out", "{run}"),
             "mnist_advanced.keras"),
        # each network trained further with real pen strokes too, mixed back, averaged
        _advanced_member(0, "mnist_advanced.keras", "rs_m", real=True),
        _advanced_member(1, "mnist_advanced.keras", "rs_m", real=True),
        Step("training/interpolate.py", ("{run}/rs_m0.keras", "--alpha", str(ALPHA_ADVANCED), "--out", "{run}"), "rs_m0_mixed.keras"),
        Step("training/interpolate.py", ("{run}/rs_m1.keras", "--alpha", str(ALPHA_ADVANCED), "--out", "{run}"), "rs_m1_mixed.keras"),
        Step("training/ensemble.py", ("{run}/rs_m0_mixed.keras", "{run}/rs_m1_mixed.keras", "--name", "pair", "--out", "{run}"), "pair.keras"),
        # a network that learnt real strokes from its first epoch, trained two more cycles, weighted in beside the pair
        _WIDE,
        _wide_cycle("rsw_s59.keras", "rsw_s59c", 61),
        _wide_cycle("rsw_s59c.keras", "rsw_s59cc", 62),
        # a compact network from another start, the one mnist_cnn's chain trains second, weighted in beside them:
        # (m0 + m1 + w x + v y) / (2 + w + v) (runs/s42/RULE43.md)
        _COMPACT_PARTNER,
        Step("training/ensemble.py", ("{run}/pair.keras", "{run}/rsw_s59cc.keras", f"{{run}}/{_COMPACT_PARTNER.makes}", "--weights", "2",
                                      str(WEIGHT_WIDE), str(WEIGHT_COMPACT), "--name", "mnist_advanced", "--out", "{run}/final"),
             "final/mnist_advanced.keras"),
        *_finish("mnist_advanced", "final/mnist_advanced.keras"),
    ],
    "gate": [
        Step("training/train_gate.py", ("--out", "{run}/gate"), "gate/not_a_digit.keras"),
        Step("training/promote.py", ("{run}/gate/not_a_digit.keras", "--gate", "--out", "{models}/gate", "--overwrite", "--chain", "gate"), dry_flag=""),
        Step("evaluation/serving.py", ("--models-dir", "{models}"), dry_flag=""),
    ],
    "reader": [
        Step("training/train_reader.py", ("--real-strokes", "{real}", "--out", "{run}/reader"), "reader/number_reader.keras"),
        Step("training/promote.py", ("{run}/reader/number_reader.keras", "--reader", "--out", "{models}/reader", "--overwrite", "--chain", "reader"),
             dry_flag=""),
        Step("evaluation/serving.py", ("--models-dir", "{models}"), dry_flag=""),
    ],
}


class RebuildError(ValueError):
    """A chain that cannot run as asked (unknown name, a real-strokes file it needs and has not got)."""


def needs_real_strokes(name: str) -> bool:
    return any("{real}" in a for s in CHAINS[name] for a in s.args)


def plan(name: str, run_dir: Path, models_dir: Path, real: Path | None, dry_run: bool = False) -> list[tuple[Step, list[str]]]:
    """The chain's steps with their command lines (script first), placeholders filled."""
    if name not in CHAINS:
        raise RebuildError(f"no chain named {name!r}; the chains: {', '.join(CHAINS)}")
    if needs_real_strokes(name) and real is None:
        raise RebuildError(f"{name} is trained on real pen strokes too: give the real-strokes file (unipen_dev.json.gz)")
    # as cards show paths (relative to the repository when inside it: the steps run from its root), so a card's
    # command reads the same on every machine
    values = {"run": shown(run_dir), "real": shown(real) if real is not None else "None", "models": shown(models_dir)}
    out = []
    for step in CHAINS[name]:
        args = [a.format(**values) for a in step.args]
        if dry_run and step.dry_flag:
            args.append(step.dry_flag)
        out.append((step, [step.script, *args]))
    return out


def shown_command(argv: list[str]) -> str:
    return "python " + shlex.join(argv)


def card(name: str) -> dict:
    """What the promoted card keeps of its chain: the command that runs it again and every step, placeholders
    unfilled ({run}: any work folder, {real}: the real-strokes file, {models}: the models folder)."""
    if name not in CHAINS:
        raise RebuildError(f"no chain named {name!r}; the chains: {', '.join(CHAINS)}")
    return {"command": f"python training/rebuild.py {name}", "steps": [shown_command([s.script, *s.args]) for s in CHAINS[name]]}


def run(name: str, run_dir: Path, models_dir: Path = MODELS_DIR, real: Path | None = None, dry_run: bool = False,
        log: Callable[[str], None] = print) -> list[dict]:
    """Run the chain; returns one record per step (command, kept or ran, seconds).  Raises ``StepFailed``."""
    steps = plan(name, run_dir, models_dir, real, dry_run)
    run_dir.mkdir(parents=True, exist_ok=True)
    # A step is done when its output, or a later step's, is in the work folder (what it made was used); a rebuild
    # that was stopped goes on from the first step after the last output found.
    made = [k for k, (step, _) in enumerate(steps) if step.makes and (run_dir / step.makes).is_file()]
    done = -1 if dry_run or not made else made[-1]
    records = []
    for k, (step, argv) in enumerate(steps, 1):
        command = shown_command(argv)
        if k - 1 <= done:
            why = f"{step.makes} already made" if step.makes and (run_dir / step.makes).is_file() else "a later step's output already made"
            log(f"[{k}/{len(steps)}] kept ({why}): {command}")
            records.append({"command": command, "ran": False})
            continue
        log(f"[{k}/{len(steps)}] {command}")
        t0 = time.time()
        proc = subprocess.run([sys.executable, str(ROOT / argv[0]), *argv[1:]], cwd=ROOT)
        if proc.returncode != 0:
            raise StepFailed(k, command, proc.returncode)
        records.append({"command": command, "ran": True, "seconds": round(time.time() - t0, 1)})
    return records


class StepFailed(RuntimeError):
    def __init__(self, index: int, command: str, code: int):
        super().__init__(f"step {index} failed with exit code {code}: {command}")
        self.code = code
