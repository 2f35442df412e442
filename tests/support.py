"""Helpers the test files import (pytest puts tests/ and app/ on the path: pyproject.toml, pythonpath)."""

from __future__ import annotations

import importlib.util

from digitlab.paths import ROOT


def load_script(relpath: str):
    """A repo script (e.g. "evaluation/predict.py") as a module, to call its main(argv) in this process:
    TensorFlow is loaded once per test file instead of once per run (the ``run_script`` fixture runs a
    real process instead)."""
    path = ROOT / relpath
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
