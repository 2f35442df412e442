"""One anchor for every path, so nothing depends on the current directory."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = Path(os.environ.get("DIGITLAB_MODELS_DIR", ROOT / "models"))
REPORTS_DIR = ROOT / "evaluation" / "reports"
RUNS_DIR = ROOT / "runs"  # checkpoints and BackupAndRestore state; git-ignored


def shown(path) -> str:
    """A path as cards and messages show it: relative to the repository root when inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)
