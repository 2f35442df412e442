"""What the Models page shows about each model: card summary, curves, confusion matrix.

Reads only what ``digitlab.training.trainer`` wrote beside each model (``<name>.json`` card,
``<name>.metrics.json`` with the test confusion matrix under ["test"]["confusion"],
``<name>.curves.png``), so the page shows the numbers the training run printed.
Models dropped in without a card still get their size and parameter count.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitlab.models import artifacts
from digitlab.models.artifacts import ModelEntry
from digitlab.paths import ROOT


def read_metrics(model_path: Path) -> dict | None:
    """``<name>.metrics.json`` beside the model, or None when missing or unreadable (``artifacts.read_json``: bounded,
    a folder or a FIFO never opened)."""
    m, _ = artifacts.read_json(_side(model_path, ".metrics.json"))
    return m if isinstance(m, dict) else None


def confusion(model_path: Path, split: str = "test") -> np.ndarray | None:
    """(10, 10) int64 confusion matrix (rows true digit, columns prediction), or None (none, or not usable:
    ``confusion_checked`` says why)."""
    return confusion_checked(model_path, split)[0]


MAX_COUNT = 10**9  # a cell of a confusion matrix: MNIST's test split is 10,000 digits


def confusion_checked(model_path: Path, split: str = "test") -> tuple[np.ndarray | None, str | None]:
    """The Models page's confusion panel, never raising: ((10, 10) int64 counts, None); (None, None) when the model
    has no metrics file or no matrix in it; (None, why) when ``<name>.metrics.json`` is there and its ``split``
    section or matrix is not what training writes (the page shows why instead of the panel).  Each cell a whole
    number in [0, MAX_COUNT]: a matrix of texts, ragged, 9x9, of 1e30 or of NaN is refused, not drawn."""
    path = _side(model_path, ".metrics.json")
    m, why = artifacts.read_json(path)
    if why is not None:
        return None, f"{path.name} {why}"
    if m is None:
        return None, None
    if not isinstance(m, dict):
        return None, f"{path.name} is a JSON {type(m).__name__}, not an object"
    section = m.get(split)
    if section is None:
        return None, None
    if not isinstance(section, dict):
        return None, f"{path.name}: its {split!r} is a JSON {type(section).__name__}, not an object"
    cm = section.get("confusion")
    if cm is None:
        return None, None
    rows_ok = isinstance(cm, list) and len(cm) == 10 and all(isinstance(r, list) and len(r) == 10 for r in cm)
    if not rows_ok:
        return None, f"{path.name}: its {split} confusion matrix is not 10 rows of 10 counts"
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_COUNT for r in cm for v in r):
        return None, f"{path.name}: its {split} confusion matrix holds values that are not counts in [0, {MAX_COUNT:,}]"
    return np.asarray(cm, np.int64), None


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


# ----------------------------------------------------------------------------- how a model is made

PATH_SUFFIXES = (".keras", ".json", ".toml", ".npz", ".py", ".h5", ".gz", ".png")  # a word ending so names a file


@dataclass(frozen=True)
class HowMade:
    """How a model is made, as the Models page shows it, from its card: the recipe (its file and one-paragraph
    description) and the command that makes it again (``rebuild``, with its steps) where the card has them,
    else the command that made it; and the paths these name that the checkout does not have (a command of an
    old card names the training run's files under runs/, which a clone never has)."""

    command: str  # the command to show: the card's rebuild command, else the command that made the model
    rebuild: bool = False  # ``command`` makes the model again from the recipe (training/rebuild.py)
    description: str | None = None  # the recipe's one paragraph
    recipe_file: str | None = None  # the recipe, e.g. training/configs/mnist_cnn.toml
    steps: list[str] = field(default_factory=list)  # the rebuild's steps ({run}: its work folder)
    missing: list[str] = field(default_factory=list)  # paths named above that are not in the checkout


def how_made(entry: ModelEntry, root: Path = ROOT, recipe_of=None) -> HowMade:
    """``HowMade`` from ``entry``'s card; paths are checked against ``root`` (the repository).  ``recipe_of``: name ->
    the checkout's recipe of that name as the Models page shows it, or None (``digitlab.training.rebuild.in_checkout``;
    passed in, as reports sit below training): a card written before recipes were files is shown its recipe."""
    card = entry.card or {}
    recipe = card.get("recipe") if isinstance(card.get("recipe"), dict) else {}
    rebuild = card.get("rebuild") if isinstance(card.get("rebuild"), dict) else {}
    description = recipe.get("description") if isinstance(recipe.get("description"), str) else None
    recipe_file = recipe.get("file") if isinstance(recipe.get("file"), str) else None
    if isinstance(rebuild.get("command"), str):
        command, again = rebuild["command"], True
    else:
        command, again = str(card.get("command") or MISSING), False
    steps = [str(s) for s in rebuild.get("steps", []) if isinstance(s, str)] if isinstance(rebuild.get("steps"), list) else []
    if recipe_of is not None and not (again and recipe_file) and (recipe_now := recipe_of(entry.name)) is not None:
        # a card written before recipes were files: its command names the training run's folders, which a clone never
        # has; the recipe of that name in training/configs/ and its rebuild command are what a clone can run
        if not again:
            command, again, steps = f"python training/rebuild.py {entry.name}", True, recipe_now["steps"]
        recipe_file, description = recipe_file or recipe_now["file"], description or recipe_now["description"]
    named = ([recipe_file] if recipe_file else []) + (named_paths(command) if command != MISSING else [])
    missing = list(dict.fromkeys(p for p in named if not _in_checkout(p, root)))
    return HowMade(command, again, description, recipe_file, steps, missing)


def named_paths(command: str) -> list[str]:
    """The words of a shell command that name files or folders (a slash in them, or a file's suffix), in order;
    never an option's name, a placeholder ({run}) or an address."""
    try:
        words = shlex.split(command)
    except ValueError:  # an unclosed quote
        words = command.split()
    found = []
    for word in words[1:] if words and Path(words[0]).name.startswith("python") else words:
        value = word.split("=", 1)[1] if word.startswith("-") and "=" in word else word
        if value.startswith("-") or "{" in value or "://" in value:
            continue
        if "/" in value or value.endswith(PATH_SUFFIXES):
            found.append(value)
    return found


def _in_checkout(path: str, root: Path) -> bool:
    p = Path(path).expanduser()
    return (p if p.is_absolute() else root / p).exists()
