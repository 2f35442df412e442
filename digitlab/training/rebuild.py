"""Every committed model as the few commands that make it from its recipe: ``python training/rebuild.py NAME``.

A model's recipe is ``training/configs/NAME.toml`` (``digitlab.training.recipes``).  Its commands:

    train       one command per network: ``python training/train_X.py --config training/configs/NET.toml``,
                each one run from random weights
    ensemble    for a model of several networks: the (weighted) mean of their logits
    calibrate   the temperature and the abstain threshold of a classifier, written into its card
    promote     the copy into the models folder, with the recipe and these commands on its card, then the
                serving files (ONNX) made again

Every network's output lands in one work folder (``runs/rebuild/`` by default), so a network two models' recipes
share is trained once; a step whose output is already there is
kept, so an interrupted rebuild goes on where it stopped (and a killed training resumes its own epochs).  An ensemble
older than one of its networks, or missing one the recipe now lists, is made again; a network is kept while its file
is there (delete it to train it again after changing its recipe).
``--dry-run`` runs every step in its smoke mode in a temporary folder: the tests run every chain that way.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from digitlab.paths import MODELS_DIR, ROOT, shown
from digitlab.training import recipes

MODELS = ("mnist_baseline", "mnist_cnn", "mnist_advanced", "mnist_robust", "gate", "reader")  # training/configs/<name>.toml
KIND = {"training/train_gate.py": "--gate", "training/train_reader.py": "--reader"}  # not classifiers: promoted as what they are
SUBFOLDER = {"--gate": "gate", "--reader": "reader"}


@dataclass(frozen=True)
class Step:
    script: str  # repo-relative path of the script
    args: tuple[str, ...]  # its flags, with {run} and {models} placeholders
    makes: str | None = None  # the file it writes, relative to {run}: present means done (None: always runs)...
    reads: tuple[str, ...] = ()  # ...unless one of these files it reads (relative to {run}) is newer: made again
    dry_flag: str = "--dry-run"  # the script's smoke mode ("": it has none)


class RebuildError(ValueError):
    """A model that has no recipe, or a recipe that cannot be made into commands."""


def steps(name: str) -> list[Step]:
    """The commands that make model ``name`` from its recipe, placeholders unfilled."""
    if name not in MODELS:
        raise RebuildError(f"no model named {name!r} to rebuild; the committed models: {', '.join(MODELS)}")
    try:
        r = recipes.model(name)
    except recipes.RecipeError as e:
        raise RebuildError(str(e)) from e
    train = [Step(net["script"], ("--config", shown(path), "--out", "{run}"), f"{net['name']}.keras") for path, net in r["networks"]]
    out = list(train)
    if "members" in r:
        weights = ("--weights", *(f"{w:g}" for w in r["weights"])) if r.get("weights") else ()
        final = f"final/{name}.keras"
        out.append(Step("training/ensemble.py", (*(f"{{run}}/{s.makes}" for s in train), *weights, "--name", name,
                                                 "--out", "{run}/final", "--overwrite"), final, tuple(s.makes for s in train)))
    else:
        final = train[0].makes
    kind = KIND.get(r["networks"][0][1]["script"]) if "members" not in r else None
    if kind is None:
        out.append(Step("evaluation/calibrate.py", ("--model", f"{{run}}/{final}", "--write-card", "--out", "{run}/reports")))
    target = "{models}" + (f"/{SUBFOLDER[kind]}" if kind else "")
    out.append(Step("training/promote.py", (f"{{run}}/{final}", *((kind,) if kind else ("--name", name)), "--out", target,
                                            "--overwrite", "--recipe", name), dry_flag=""))
    return out


def plan(name: str, run_dir: Path, models_dir: Path, dry_run: bool = False) -> list[tuple[Step, list[str]]]:
    """The steps with their command lines (script first), placeholders filled."""
    values = {"run": shown(run_dir), "models": shown(models_dir)}  # as cards show paths: relative to the repository
    out = []
    for step in steps(name):
        args = [a.format(**values) for a in step.args]
        if dry_run and step.dry_flag:
            args.append(step.dry_flag)
        out.append((step, [step.script, *args]))
    return out


def shown_command(argv: list[str]) -> str:
    return "python " + shlex.join(argv)


def card(name: str) -> dict:
    """What the promoted card keeps: the command that makes the model again and its steps (``{run}``: the work
    folder, ``{models}``: the models folder)."""
    return {"command": f"python training/rebuild.py {name}", "steps": [shown_command([s.script, *s.args]) for s in steps(name)]}


def in_checkout(name: str) -> dict | None:
    """The model ``name``'s recipe in training/configs/ as the Models page shows it ("file", "description", the
    rebuild's "steps"), or None when the checkout has none (``model_report.how_made``'s ``recipe_of``)."""
    try:
        recipe, made = recipes.model(name), card(name)
    except (recipes.RecipeError, RebuildError):
        return None
    return {**recipes.card(recipe["file"], recipe), "steps": made["steps"]}


def up_to_date(run_dir: Path, step: Step) -> bool:
    """Whether ``step``'s output is in ``run_dir`` and newer than every file it reads there, and (an ensemble) made of
    exactly those files: an ensemble made before one of its networks was trained again, or before the recipe gained
    or dropped a network, is made again."""
    out = run_dir / step.makes
    if not out.is_file():
        return False
    made = out.stat().st_mtime
    if not all((run_dir / f).is_file() and (run_dir / f).stat().st_mtime <= made for f in step.reads):
        return False
    if len(step.reads) > 1:  # an ensemble: its card lists the files it was made of
        try:
            members = json.loads(out.with_suffix(".json").read_text())["members"]
            return [m["file"] for m in members] == [Path(f).name for f in step.reads]
        except (OSError, ValueError, KeyError, TypeError):
            return False
    return True


def run(name: str, run_dir: Path, models_dir: Path = MODELS_DIR, dry_run: bool = False,
        log: Callable[[str], None] = print) -> list[dict]:
    """Run the steps; returns one record per step (command, kept or ran, seconds).  Raises ``StepFailed``."""
    planned = plan(name, run_dir, models_dir, dry_run)
    run_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for k, (step, argv) in enumerate(planned, 1):
        command = shown_command(argv)
        if step.makes and not dry_run and up_to_date(run_dir, step):
            log(f"[{k}/{len(planned)}] kept ({step.makes} already made): {command}")
            records.append({"command": command, "ran": False})
            continue
        log(f"[{k}/{len(planned)}] {command}")
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
