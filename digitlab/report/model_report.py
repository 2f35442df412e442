"""What the Models page shows about each model: card summary, curves, confusion matrix.

Reads only what ``digitlab.training.trainer`` wrote beside each model (``<name>.json`` card,
``<name>.metrics.json`` with the test confusion matrix under ["test"]["confusion"],
``<name>.curves.png``), so the page shows the numbers the training run printed.
Models dropped in without a card still get their size and parameter count.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from digitlab.models.artifacts import ModelEntry


def read_metrics(model_path: Path) -> dict | None:
    """``<name>.metrics.json`` beside the model, or None when missing or unreadable."""
    p = _side(model_path, ".metrics.json")
    try:
        m = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def confusion(model_path: Path, split: str = "test") -> np.ndarray | None:
    """(10, 10) int confusion matrix (rows true digit, columns prediction), or None."""
    m = read_metrics(model_path) or {}
    cm = (m.get(split) or {}).get("confusion")
    if cm is None:
        return None
    cm = np.asarray(cm)
    return cm.astype(np.int64) if cm.shape == (10, 10) else None


def curves_path(model_path: Path) -> Path | None:
    """``<name>.curves.png`` (loss and accuracy per epoch) when the training run wrote one."""
    p = _side(model_path, ".curves.png")
    return p if p.is_file() else None


def _side(model_path: Path, suffix: str) -> Path:
    model_path = Path(model_path)
    stem = model_path.name[: -len(".keras")] if model_path.name.endswith(".keras") else model_path.stem
    return model_path.with_name(stem + suffix)

MISSING = "—"  # a value the card lacks (a lone "-" would render as a Markdown list bullet in a table)


def summary(entry: ModelEntry) -> dict[str, str]:
    """Card headline numbers as display strings, in a fixed order; ``MISSING`` when the card lacks one."""
    card = entry.card or {}
    m = card.get("metrics") or {}
    size = card.get("file_bytes")
    if size is None and entry.path.is_file():
        size = entry.path.stat().st_size
    params = card.get("params")
    if params is None and entry.model is not None:
        params = int(entry.model.count_params())
    secs = card.get("train_seconds")
    builder = str(card.get("builder", MISSING)) + _made(card)
    if card.get("members"):
        builder = f"{builder} of {len(card['members'])}: " + ", ".join(str(m.get("builder", "?")) + _made(m) for m in card["members"])
    return {
        "test accuracy": _pct(m.get("test_accuracy")),
        "test weighted F1": _num(m.get("test_weighted_f1")),
        "validation accuracy": _pct(m.get("val_accuracy")),
        "parameters": f"{params:,}" if isinstance(params, int) else MISSING,
        "file size": f"{size / 1e6:.2f} MB" if isinstance(size, (int, float)) else MISSING,
        "training time": _duration(secs) if isinstance(secs, (int, float)) else MISSING,
        "epochs": str(card["epochs_run"]) if card.get("epochs_run") is not None else MISSING,
        "builder": builder,
        "date": str(card.get("date", MISSING)).replace("T", " "),
        "command": str(card.get("command") or MISSING),
        "input": f"{entry.layout}, outputs {entry.outputs}" if entry.usable else MISSING,
    }


def _made(card: dict) -> str:
    """How a network was made beyond its builder: trained further from another model (``init``), then
    mixed back with it (``interpolation``, training/interpolate.py)."""
    mixed = card.get("interpolation") or {}
    if isinstance(mixed.get("alpha"), (int, float)):
        return f" (trained further, mixed back at {mixed['alpha']:g})"
    return " (trained further)" if card.get("init") else ""


def _pct(v) -> str:
    return f"{v:.2%}" if isinstance(v, (int, float)) else MISSING


def _num(v) -> str:
    return f"{v:.4f}" if isinstance(v, (int, float)) else MISSING


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
