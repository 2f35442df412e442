"""One anchor for every path, so nothing depends on the current directory."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = Path(os.environ.get("DIGITLAB_MODELS_DIR", ROOT / "models"))
REPORTS_DIR = ROOT / "evaluation" / "reports"
RESULTS_FILE = ROOT / "docs" / "results.json"  # every measured figure (digitlab.report.results writes it)
RUNS_DIR = ROOT / "runs"  # checkpoints and BackupAndRestore state; git-ignored
USER_MODELS_ENV = "DIGITLAB_USER_MODELS"
USER_MODELS_DIR = ROOT / "user_models"  # models a user makes (the app's fine-tuning); git-ignored


def user_models_dir() -> Path:
    """Where models made by the user go ($DIGITLAB_USER_MODELS, else user_models/): never the tracked
    models/, so fine-tuning in the app leaves the checkout clean.  Read on every call: the app and the
    tests point it at another folder without restarting anything."""
    env = os.environ.get(USER_MODELS_ENV)
    return Path(env) if env else USER_MODELS_DIR


def shown(path, follow_links: bool = True) -> str:
    """A path as cards and messages show it: relative to the repository root when inside it, else absolute;
    ``follow_links=False``: as its folder holds it (a link named, not its target), as a command to run on it needs."""
    path = Path(path).resolve() if follow_links else Path(os.path.abspath(path))
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)
