"""One anchor for every path, so nothing depends on the current directory."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = Path(os.environ.get("DIGITLAB_MODELS_DIR", ROOT / "models"))
REPORTS_DIR = ROOT / "evaluation" / "reports"
RUNS_DIR = ROOT / "runs"  # checkpoints and BackupAndRestore state; git-ignored
