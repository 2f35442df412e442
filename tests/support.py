"""Helpers the test files import (pytest puts tests/ and app/ on the path: pyproject.toml, pythonpath)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from digitlab.paths import ROOT

MODELS = ROOT / "models"


def load_script(relpath: str):
    """A repo script (e.g. "evaluation/predict.py") as a module, to call its main(argv) in this process:
    TensorFlow is loaded once per test file instead of once per run (the ``run_script`` fixture runs a
    real process instead)."""
    path = ROOT / relpath
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def link_models(folder: Path, names, gate: bool = True) -> Path:
    """``folder`` made a models folder of links to the named committed models (model, card, side files)
    and (``gate``) the digit gate, never to anything else in models/ (a user's own models change no test)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in MODELS.iterdir():
        if (gate and f.name == "gate") or f.name.split(".")[0] in set(names):
            (folder / f.name).symlink_to(f)
    return folder
