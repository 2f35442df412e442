"""Save, load and list models: the only module that touches ``models/``.

A model is ``<dir>/<name>.keras`` plus its card ``<dir>/<name>.json`` (and, for
models trained here, ``<name>.history.json``, ``<name>.curves.png`` and
``<name>.metrics.json``).  Writes are atomic (temp file in the same folder, then
``os.replace``), so an interrupted run never leaves a broken file behind.
Loading always keeps Keras safe mode on.  Listing never raises: a file that is
corrupt, refused by safe mode, or not a 28x28 -> 10 classifier is reported as
unusable with its reason, and the other models keep working.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from digitlab.cli import NAME_RE
from digitlab.files import atomic_write_bytes, atomic_write_json, umask_mode
from digitlab.models import cards
from digitlab.models.adapter import ModelError, check_classifier  # noqa: F401  (ModelError: artifacts' errors)
from digitlab.paths import MODELS_DIR, shown

MODEL_SUFFIX = ".keras"
MAX_MODEL_BYTES = 50 * 1024 * 1024  # larger uploads are refused before Keras sees them
_SIDE_FILES = (".json", ".history.json", ".metrics.json", ".curves.png")


@dataclass
class ModelEntry:
    """One ``.keras`` file in a models folder, usable or not."""

    name: str
    path: Path
    card: dict | None
    usable: bool
    reason: str | None = None  # why it is unusable
    layout: str | None = None  # "28x28x1", "28x28" or "784": how the model wants its pixels
    outputs: str | None = None  # "probabilities" or "logits"
    model: object = field(default=None, repr=False, compare=False)  # the loaded keras.Model when usable

    def headline(self) -> str:
        """One line for pickers: test accuracy, parameters and size from the card."""
        if not self.usable:
            return f"{self.name} (unusable: {self.reason})"
        if not self.card:
            return f"{self.name} (no model card)"
        m = self.card.get("metrics", {})
        acc = m.get("test_accuracy")
        parts = [self.name]
        if acc is not None:
            parts.append(f"test {acc:.2%}")
        if self.card.get("params") is not None:
            parts.append(f"{self.card['params']:,} params")
        return " · ".join(parts)


# ----------------------------------------------------------------------------- writing


def sanitise_name(name: str) -> str:
    """A safe file stem from a user-supplied name ("My model (v2).keras" -> "My_model_v2")."""
    stem = Path(name).name
    if stem.endswith(MODEL_SUFFIX):
        stem = stem[: -len(MODEL_SUFFIX)]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._-")[:64]
    if not stem or not NAME_RE.match(stem):
        raise ModelError(f"cannot make a file name from {name!r}")
    return stem


def save_model(model, card: dict | None, name: str, models_dir: Path = MODELS_DIR, extras: dict[str, bytes] | None = None) -> Path:
    """Write ``<models_dir>/<name>.keras`` (+ card and side files) atomically; returns the model path.

    extras maps a suffix from ``_SIDE_FILES`` (e.g. ".curves.png") to its bytes.
    The model is written first and the card last, so a listed card always has its model.
    """
    if not NAME_RE.match(name):
        raise ModelError(f"invalid model name {name!r}: use letters, digits, '_', '.', '-'")
    if card is not None:
        cards.check(card)  # before anything is written
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / f"{name}{MODEL_SUFFIX}"
    # Keras insists on the .keras suffix, so the temp file carries it too.
    fd, tmp = tempfile.mkstemp(dir=models_dir, prefix=f".{name}.", suffix=f".tmp{MODEL_SUFFIX}")
    os.close(fd)
    try:
        model.save(tmp)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _finish(target, card, extras or {})
    return target


def _finish(target: Path, card: dict | None, extras: dict[str, bytes]) -> None:
    """After the model file: its side files (``extras``: suffix -> bytes), then its card, last."""
    name = target.name[: -len(MODEL_SUFFIX)]
    for suffix, data in extras.items():
        if suffix not in _SIDE_FILES:
            raise ValueError(f"unknown side file {suffix!r}")
        atomic_write_bytes(target.parent / f"{name}{suffix}", data)
    for suffix in _SIDE_FILES[1:]:  # curves or metrics of an earlier model under this name describe that model, not this one
        if suffix not in extras:
            (target.parent / f"{name}{suffix}").unlink(missing_ok=True)
    if card is not None:
        atomic_write_json(target.parent / f"{name}.json", cards.check(dict(card, file_bytes=target.stat().st_size)))


def install_model_file(data: bytes, filename: str, models_dir: Path = MODELS_DIR, overwrite: bool = False) -> ModelEntry:
    """Validate an uploaded ``.keras`` file and, only if it is usable, save it atomically.

    Refusals raise ModelError and write nothing.
    """
    name = sanitise_name(filename)
    if not filename.lower().endswith(MODEL_SUFFIX):
        raise ModelError(f"{filename}: only Keras 3 '.keras' files are accepted")
    if len(data) > MAX_MODEL_BYTES:
        raise ModelError(f"{filename}: {len(data) / 1e6:.1f} MB is over the {MAX_MODEL_BYTES / 1e6:.0f} MB limit")
    models_dir = Path(models_dir)
    target = models_dir / f"{name}{MODEL_SUFFIX}"
    if target.exists() and not overwrite:
        raise ModelError(f"a model named {name!r} already exists; rename the file or delete the old one")
    with tempfile.TemporaryDirectory() as d:
        probe = Path(d) / f"{name}{MODEL_SUFFIX}"
        probe.write_bytes(data)
        model = load_model(probe)  # raises ModelError with the reason
        check_classifier(model)
    atomic_write_bytes(target, data)
    return inspect(target)


def update_card(model_path: Path, updates: dict) -> dict:
    """Merge ``updates`` into the card beside ``model_path`` (top-level keys replaced) and write it
    atomically; returns the new card.  For figures measured after training (attacks, calibration)."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelError(f"{model_path}: no such model file")
    card = cards.check(dict(read_card(model_path) or {"name": model_path.name[: -len(MODEL_SUFFIX)]}, **updates))
    atomic_write_json(model_path.with_suffix(".json"), card)
    return card


def promote(source: Path, models_dir: Path = MODELS_DIR, name: str | None = None, overwrite: bool = False,
            command: str | None = None, check=None) -> Path:
    """Copy a model trained elsewhere (``--out runs/...``) into ``models_dir``, byte for byte, with its card
    and side files, and record on the card where it came from (``"promoted"``: from, command, date), so a
    card never claims it was written where it now lies.  Refuses an unusable model, a model without
    a card, and (unless ``overwrite``) a name already taken; nothing is written then.
    ``check``: how to tell the file is usable (default: a 28x28 -> 10 classifier, ``inspect``; the digit
    gate passes ``serving.gate.Gate``), raising ModelError when it is not."""
    from datetime import UTC, datetime

    source = Path(source)
    if check is None:
        entry = inspect(source)
        if not entry.usable:
            raise ModelError(f"{source}: not promoted, the model is unusable: {entry.reason}")
    else:
        check(source)
    card = read_card(source)
    if card is None:
        raise ModelError(f"{source}: not promoted, it has no card {source.with_suffix('.json').name}")
    name = name or source.name[: -len(MODEL_SUFFIX)]
    target = Path(models_dir) / f"{name}{MODEL_SUFFIX}"
    if target.exists() and not overwrite:
        raise ModelError(f"a model named {name!r} already exists in {models_dir}; pass --overwrite to replace it")
    card = cards.check(dict(card, name=name, promoted={"from": shown(source), "command": command,
                                                                "date": datetime.now(UTC).isoformat(timespec="seconds")}))
    stem = source.name[: -len(MODEL_SUFFIX)]
    extras = {suffix: (source.parent / f"{stem}{suffix}").read_bytes() for suffix in _SIDE_FILES[1:] if (source.parent / f"{stem}{suffix}").is_file()}
    atomic_write_bytes(target, source.read_bytes())  # the very file that was trained and checked, byte for byte
    _finish(target, card, extras)
    return target


# ----------------------------------------------------------------------------- reading


def read_card(model_path: Path) -> dict | None:
    card_path = Path(model_path).with_suffix(".json")
    if not card_path.is_file():
        return None
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None


def load_model(path: Path):
    """``keras.saving.load_model`` with safe mode on; every failure becomes ModelError with a reason."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ModelError(f"{path.name}: empty file")
    if path.suffix == MODEL_SUFFIX and not zipfile.is_zipfile(path):
        raise ModelError(f"{path.name}: not a Keras 3 .keras archive (not a zip file; truncated or another format)")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # BadZipFile, KeyError, ValueError, OSError, TypeError... (see STACK.md)
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "safe_mode" in str(e) or "arbitrary code" in str(e):
            raise ModelError(f"{path.name}: refused by Keras safe mode (it contains a Lambda or custom code)") from e
        if isinstance(e, zipfile.BadZipFile):
            raise ModelError(f"{path.name}: corrupt archive ({msg})") from e
        raise ModelError(f"{path.name}: cannot be loaded ({type(e).__name__}: {msg[:200]})") from e


def inspect(path: Path) -> ModelEntry:
    """Load and check one model file; never raises."""
    path = Path(path)
    name = path.name[: -len(MODEL_SUFFIX)] if path.name.endswith(MODEL_SUFFIX) else path.stem
    card = read_card(path)
    try:
        model = load_model(path)
        layout, outputs = check_classifier(model)
    except ModelError as e:
        return ModelEntry(name, path, card, False, str(e))
    return ModelEntry(name, path, card, True, None, layout, outputs, model)


_INSPECT_CACHE: dict[tuple[str, int, int], ModelEntry] = {}


def list_models(models_dir: Path = MODELS_DIR) -> list[ModelEntry]:
    """Every ``*.keras`` in ``models_dir``, usable first (best test accuracy first), then unusable.

    Results are cached per (path, mtime, size), so repeated listing is cheap and a
    replaced file is re-checked.  Never raises for one bad entry (a dangling link is listed as unusable).
    """
    models_dir = Path(models_dir)
    entries = []
    for path in sorted(models_dir.glob(f"*{MODEL_SUFFIX}")):
        if path.name.startswith("."):
            continue  # temp files of an in-progress atomic save
        try:
            st = path.stat()
        except OSError as e:  # a dangling symlink, or a file deleted while listing: say so, list the others
            entries.append(ModelEntry(path.name[: -len(MODEL_SUFFIX)], path, None, False, f"{path.name}: cannot be read ({e.strerror})"))
            continue
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key not in _INSPECT_CACHE:
            _INSPECT_CACHE[key] = inspect(path)
        entry = _INSPECT_CACHE[key]
        entry.card = read_card(path)  # cards are cheap and may change on their own
        entries.append(entry)
    return sorted(entries, key=lambda e: (not e.usable, -_test_accuracy(e), e.name))


def _test_accuracy(e: ModelEntry) -> float:
    acc = ((e.card or {}).get("metrics") or {}).get("test_accuracy")
    return float(acc) if isinstance(acc, (int, float)) else -1.0


def best_model(models_dir: Path = MODELS_DIR) -> ModelEntry:
    """The usable model with the best test accuracy on its card."""
    usable = [e for e in list_models(models_dir) if e.usable]
    if not usable:
        raise ModelError(f"no usable model in {models_dir}; train one with training/train_cnn.py")
    return usable[0]


def resolve(name_or_path: str | None, models_dir: Path = MODELS_DIR) -> ModelEntry:
    """A model by name in ``models_dir``, by file path, or (None) the best one; raises ModelError."""
    if name_or_path is None:
        return best_model(models_dir)
    p = Path(name_or_path)
    if not p.is_file():
        p = Path(models_dir) / f"{name_or_path}{MODEL_SUFFIX}"
    if not p.is_file():
        known = [e.name for e in list_models(models_dir)]
        raise ModelError(f"no model {name_or_path!r}: not a file, and not one of {known}")
    entry = inspect(p)
    if not entry.usable:
        raise ModelError(f"model {entry.name} is unusable: {entry.reason}")
    return entry


def select(names: list[str] | None, models_dir: Path = MODELS_DIR) -> list[ModelEntry]:
    """Models named on a command line (names or files), or every usable model; raises ModelError
    when a name is unknown or unusable, or when there is nothing to use."""
    entries = [resolve(n, models_dir) for n in names] if names else [e for e in list_models(models_dir) if e.usable]
    if not entries:
        raise ModelError(f"no usable model in {models_dir}; train one with training/train_cnn.py")
    return entries
