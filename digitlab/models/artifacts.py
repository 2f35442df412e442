"""Save, load and list models: the only module that touches ``models/``.

A model is ``<dir>/<name>.keras`` plus its card ``<dir>/<name>.json`` (and, for
models trained here, ``<name>.history.json``, ``<name>.curves.png`` and
``<name>.metrics.json``).  Writes are atomic (temp file in the same folder, then
``os.replace``), so an interrupted run never leaves a broken file behind.
Loading always keeps Keras safe mode on.  Listing never raises: a file that is
corrupt, refused by safe mode, or not a 28x28 -> 10 classifier is reported as
unusable with its reason, and the other models keep working.

Before Keras sees a file, ``digitlab.models.archive`` vets it (its size, the zip, the config, the cost
of one digit, safe mode, a forward pass on real digits) and keeps a validation record per sha256.
``inspect`` and ``list_models`` make entries from the cards and those records: an unchanged file is
validated once, and a model is loaded only when something uses ``ModelEntry.model``.

Getting a model (the README's "Getting a model"): ``resolve`` for one model's entry (by name, by path, or the
best one), ``select`` for the models a command line names, ``list_models`` for a listing, ``load_model`` for a
bare Keras model from a file path, every check included.
"""

from __future__ import annotations

import json
import os
import re
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

from digitlab.cli import NAME_RE
from digitlab.files import atomic_write_bytes, atomic_write_json, pause_point, remove_stale_temps, replace_durably, temp_file
from digitlab.models import archive, cards
from digitlab.models.adapter import ModelError  # noqa: F401  (ModelError: artifacts' errors)
from digitlab.models.archive import MAX_MODEL_BYTES, MODEL_SUFFIX, MiB, size_text
from digitlab.paths import MODELS_DIR, RESULTS_FILE, shown

MAX_CARD_BYTES = 4 * MiB
_SIDE_FILES = (".json", ".history.json", ".metrics.json", ".curves.png")


@dataclass
class ModelEntry:
    """One ``.keras`` file in a models folder, usable or not.

    ``model`` of an entry from ``inspect`` or ``list_models`` is loaded on first use (a listing loads
    nothing): safe mode, the same checks, and the file's sha256 compared with the one validated, so a
    file replaced meanwhile is validated again.  An entry made by hand holds what it was given."""

    name: str
    path: Path
    card: dict | None
    usable: bool
    reason: str | None = None  # why it is unusable
    layout: str | None = None  # "28x28x1", "28x28" or "784": how the model wants its pixels
    outputs: str | None = None  # "probabilities" or "logits"
    model: object = field(default=None, repr=False, compare=False)  # the keras.Model when usable, loaded on first use
    sha256: str | None = field(default=None, repr=False, compare=False)  # of the bytes validated
    params: int | None = field(default=None, repr=False, compare=False)  # from the validation's dry build
    pending: bool = False  # listed from its card and a quick look at the archive; fully checked on first use

    def headline(self) -> str:
        """One line for pickers: test accuracy, parameters and size from the card."""
        if not self.usable:
            return f"{self.name} (unusable: {self.reason})"
        if not self.card:
            return f"{self.name} (no model card{', checked when first used' if self.pending else ''})"
        m = self.card.get("metrics", {})
        acc = m.get("test_accuracy")
        parts = [self.name]
        if acc is not None:
            parts.append(f"test {acc:.2%}")
        if self.card.get("params") is not None:
            parts.append(f"{self.card['params']:,} params")
        if self.pending:
            parts.append("checked when first used")
        return " · ".join(parts)


_LOAD_LOCK = threading.Lock()


def _entry_model(entry: ModelEntry):
    if entry._model is None and entry.usable and entry.sha256 is not None:  # validated here: loadable on demand
        with _LOAD_LOCK:
            if entry._model is None:
                entry._model = _load_entry(entry)
    return entry._model


def _set_entry_model(entry: ModelEntry, model) -> None:
    entry._model = model


# The dataclass's __init__ (model=...) and every caller's ``entry.model`` go through this property.
ModelEntry.model = property(_entry_model, _set_entry_model)


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


def free_name(models_dir: Path, name: str, overwrite: bool = False) -> str:
    """``name`` when ``models_dir`` has no model of that name (or ``overwrite``), else the first free ``name_2``,
    ``name_3``...: a run that was not asked to replace a model never does."""
    if overwrite or not (Path(models_dir) / f"{name}{MODEL_SUFFIX}").exists():
        return name
    stem = name[:60]
    return next(f"{stem}_{k}" for k in range(2, 10_000) if not (Path(models_dir) / f"{stem}_{k}{MODEL_SUFFIX}").exists())


SIDE_STEMS = tuple(suffix[: -len(Path(suffix).suffix)] for suffix in _SIDE_FILES[1:])  # ".history", ".metrics", ".curves"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a model in a folder of others, or None: a name ending in a side file's stem
    (``x.metrics``) would take another model's side file (``x.metrics.json``, x's metrics) for its card."""
    for stem in SIDE_STEMS:
        if name.lower().endswith(stem) and len(name) > len(stem):
            base = name[: -len(stem)]
            return (f"a model named {name!r} would read {name}.json, model {base}'s {stem[1:]} file, as its card "
                    f"(names may not end in {', '.join(SIDE_STEMS)})")
    return None


def save_model(model, card: dict | None, name: str, models_dir: Path = MODELS_DIR, extras: dict[str, bytes] | None = None,
               overwrite: bool = False) -> Path:
    """Write ``<models_dir>/<name>.keras`` (+ card and side files) atomically; returns the model path.

    extras maps a suffix from ``_SIDE_FILES`` (e.g. ".curves.png") to its bytes.
    The model is written first and the card last, so a listed card always has its model.  A model of that
    name is replaced only when ``overwrite``: writers pick their name with ``free_name`` before they start.
    """
    if not NAME_RE.match(name):
        raise ModelError(f"invalid model name {name!r}: use letters, digits, '_', '.', '-'")
    if problem := name_problem(name):
        raise ModelError(problem)
    if card is not None:
        cards.check(card)  # before anything is written
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / f"{name}{MODEL_SUFFIX}"
    if target.exists() and not overwrite:
        raise ModelError(f"{target} exists: not replaced (overwrite=True replaces it)")
    remove_stale_temps(models_dir, target.name)  # what a save killed before its rename left behind
    tmp = temp_file(target, suffix=f".tmp{MODEL_SUFFIX}")  # Keras insists on the .keras suffix
    try:
        model.save(tmp)
        pause_point("final_save")
        replace_durably(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
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

    Refusals raise ModelError and write nothing.  The bytes validated are the bytes written, and
    their record is cached, so listing the new model does not validate it again.
    """
    name = sanitise_name(filename)
    if not filename.lower().endswith(MODEL_SUFFIX):
        raise ModelError(f"{filename}: only Keras 3 '.keras' files are accepted")
    if (clash := name_problem(name)) is not None:
        raise ModelError(f"{filename}: {clash}; rename the file")
    if len(data) > MAX_MODEL_BYTES:
        raise ModelError(f"{filename}: {len(data) / 1e6:.1f} MB is over the {MAX_MODEL_BYTES / 1e6:.0f} MB limit")
    models_dir = Path(models_dir)
    target = models_dir / f"{name}{MODEL_SUFFIX}"
    taken = f"a model named {name!r} already exists; rename the file or delete the old one"
    if os.path.lexists(target) and not overwrite:
        raise ModelError(taken)  # early, before the validation: the write below checks again, in the same step
    record, _ = archive.validation_record(bytes(data))
    if not record["usable"]:
        raise ModelError(f"{filename}: {record['reason']}")
    _install(bytes(data), target, overwrite, taken)
    return inspect(target)


def _install(data: bytes, target: Path, overwrite: bool, taken: str) -> None:
    """``data`` at ``target`` in one step: written to a temp file beside it, flushed, then renamed over it
    (``overwrite``) or hard-linked to it, which fails when the name is taken meanwhile: of two uploads of one
    name, one is installed and the other refused, never both "installed" with the last one kept."""
    from digitlab.files import fsync_path, umask_mode

    tmp = temp_file(target, suffix=f".tmp{MODEL_SUFFIX}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        fsync_path(tmp)
        os.chmod(tmp, umask_mode())
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise ModelError(taken) from None
            except OSError:  # a file system without hard links: create the name exclusively, then write it
                try:
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, umask_mode())
                except FileExistsError:
                    raise ModelError(taken) from None
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                fsync_path(target)
        fsync_path(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def update_card(model_path: Path, updates: dict, remove: tuple[str, ...] = ()) -> dict:
    """Merge ``updates`` into the card beside ``model_path`` (top-level keys replaced, the keys in ``remove``
    dropped) and write it atomically; returns the new card.  For figures measured after training (attacks,
    calibration, a reader's refit)."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelError(f"{model_path}: no such model file")
    old = {k: v for k, v in (read_card(model_path) or {"name": model_path.name[: -len(MODEL_SUFFIX)]}).items() if k not in remove}
    card = cards.check(dict(old, **updates))
    atomic_write_json(model_path.with_suffix(".json"), card)
    return card


def promote(source: Path, models_dir: Path = MODELS_DIR, name: str | None = None, overwrite: bool = False,
            command: str | None = None, check=None, extra: dict | None = None) -> Path:
    """Copy a model trained elsewhere (``--out runs/...``) into ``models_dir``, byte for byte, with its card
    and side files, and record on the card where it came from (``"promoted"``: from, command, date), so a
    card never claims it was written where it now lies.  Refuses an unusable model, a model without
    a card, and (unless ``overwrite``) a name already taken; nothing is written then.
    ``extra``: card keys the promotion adds (``rebuild``: the chain that made it).
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
        raise ModelError(f"a model named {name!r} already exists in {models_dir}; pass overwrite=True to replace it")
    card = cards.check(dict(card, **(extra or {}), name=name, promoted={"from": shown(source), "command": command,
                                                                                  "date": datetime.now(UTC).isoformat(timespec="seconds")}))
    stem = source.name[: -len(MODEL_SUFFIX)]
    extras = {suffix: (source.parent / f"{stem}{suffix}").read_bytes() for suffix in _SIDE_FILES[1:] if (source.parent / f"{stem}{suffix}").is_file()}
    atomic_write_bytes(target, source.read_bytes())  # the very file that was trained and checked, byte for byte
    _finish(target, card, extras)
    return target


# ----------------------------------------------------------------------------- reading


def read_json(path: Path, limit: int = MAX_CARD_BYTES) -> tuple[object, str | None]:
    """How a card or a side file is read, never raising: (its JSON value, None); (None, None) only when there is no
    such file; (None, why) when one is there and cannot be read: not a regular file (a folder, a FIFO: never opened),
    over ``limit`` bytes (a card is a few kB of JSON written by this code), not UTF-8 JSON, or JSON null."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, None  # no file, or a link to none
    except OSError as e:
        return None, f"cannot be read ({e.strerror})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, "is not a regular file (a folder, a FIFO or a device)"
        if st.st_size > limit:
            return None, f"is {size_text(st.st_size)}, over the {size_text(limit)} limit"
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        return None, f"cannot be read ({e.strerror})"
    finally:
        os.close(fd)
    if len(data) > limit:
        return None, f"grew over the {size_text(limit)} limit while read"
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None, f"is not JSON ({str(e)[:100]})"
    return (value, None) if value is not None else (None, "is JSON null, not an object")


def read_card(model_path: Path) -> dict | None:
    """The card beside ``model_path``, or None when there is none or it cannot be read (``card_problem`` says why)."""
    card, _ = read_json(Path(model_path).with_suffix(".json"))
    return card if isinstance(card, dict) else None


def card_problem(model_path: Path) -> str | None:
    """Why the card beside ``model_path`` is there and cannot be read (a folder, over MAX_CARD_BYTES, not JSON, a JSON
    list), or None: no card, or a readable one.  Such a card is not "no card": the model would lose its calibration and
    abstain rule without a word."""
    card, why = read_json(Path(model_path).with_suffix(".json"))
    if why is None and card is not None and not isinstance(card, dict):
        why = f"is a JSON {type(card).__name__}, not an object"
    return why


def load_model(path: Path):
    """Use for a bare ``keras.Model`` from a file path: ``keras.saving.load_model`` with safe mode on, after every
    check of ``archive``; every failure becomes
    ModelError with a reason that starts with the file's name."""
    path = Path(path)
    return archive.load_checked(archive.read_model_file(path), MODEL_SUFFIX if path.suffix != ".h5" else ".h5", path.name)


_SHAS: dict[tuple, str] = {}  # (path, device, inode, mtime, size) -> sha256, so an unchanged file is not hashed again


def card_refusal(path: Path, card: dict | None) -> str | None:
    """Why the model at ``path`` is refused for its card (``cards.validate``: a value some code reads has
    the wrong type or range; or a card that is there and cannot be read, ``card_problem``), or None.  A
    model is never used with a card the code cannot trust: a temperature of "abc" would break every
    prediction, and a card over 4 MiB is not "no card" (its calibration and abstain rule would be lost)."""
    card_name = Path(path).with_suffix(".json").name
    if card is None:
        why = card_problem(path)
        return None if why is None else f"{Path(path).name}: its card {card_name} {why}"
    try:
        cards.validate(card)
    except cards.CardError as e:
        return f"{Path(path).name}: its card {card_name} is refused: {e}"
    return None


def make_entry(path: Path, card: dict | None, usable: bool, reason: str | None = None, layout: str | None = None,
          outputs: str | None = None, **loaded) -> ModelEntry:
    """The one way an entry is made from a file, its card and a record on the file: a card that
    ``card_refusal`` refuses makes the model unusable (the card is dropped, the reason says why), so
    no listing, page or prediction reads its values."""
    path = Path(path)
    name = path.name[: -len(MODEL_SUFFIX)] if path.name.endswith(MODEL_SUFFIX) else path.stem
    if (clash := name_problem(name)) is not None:
        return ModelEntry(name, path, None, False, f"{path.name}: {clash}", layout, outputs)
    refused = card_refusal(path, card)
    if refused is not None:
        return ModelEntry(name, path, None, False, refused, layout, outputs)
    return ModelEntry(name, path, card, usable, reason, layout, outputs, **loaded)


def _entry(path: Path, card: dict | None, record: dict, model=None) -> ModelEntry:
    reason = None if record["usable"] else f"{path.name}: {record['reason']}"
    return make_entry(path, card, record["usable"], reason, record["layout"], record["outputs"], model=model,
                 sha256=record["sha256"], params=record["params"])


def inspect(path: Path) -> ModelEntry:
    """Check one model file (or take its cached record); never raises.  The model is attached when
    this call loaded it, else loaded on first use of ``entry.model``."""
    path = Path(path)
    card = read_card(path)
    try:
        data = archive.read_model_file(path)  # not cached: a missing or unreadable file may be back next time
    except ModelError as e:
        return make_entry(path, card, False, str(e))
    record, model = archive.validation_record(data, ".h5" if path.suffix == ".h5" else MODEL_SUFFIX)
    return _entry(path, card, record, model)


def _load_entry(entry: ModelEntry):
    """``entry.model``: load the validated file; validate again if it changed since (raises ModelError)."""
    path = Path(entry.path)
    data = archive.read_model_file(path)
    suffix = ".h5" if path.suffix == ".h5" else MODEL_SUFFIX
    sha = archive.bytes_sha256(data)
    if entry.sha256 is not None and sha != entry.sha256:
        record, model = archive.validation_record(data, suffix)
        if not record["usable"]:
            raise ModelError(f"{path.name} changed on disk since it was checked and is now unusable: {record['reason']}")
        entry.layout, entry.outputs, entry.sha256, entry.params = record["layout"], record["outputs"], sha, record["params"]
        if model is not None:
            return model
    return archive.load_checked(data, suffix, path.name)


def _listed_entry(path: Path) -> ModelEntry:
    """A listed file judged by this module's validation: read and hashed only when its (device, inode,
    mtime, size) changed, validated only when its sha256 has no record yet (archive.INSPECTION_CACHE); no
    model is loaded.  Never raises."""
    try:
        st = path.stat()
    except OSError as e:  # a dangling symlink, a loop, or a file deleted while listing: say so, list the others
        return make_entry(path, None, False, f"{path.name}: cannot be read ({e.strerror})")
    card = read_card(path) if stat.S_ISREG(st.st_mode) else None  # cards are cheap and may change on their own
    key = (str(path), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    sha = _SHAS.get(key)
    record = archive.RECORDS.get(sha) if sha else None
    if record is None:
        try:
            data = archive.read_model_file(path)
        except ModelError as e:
            return make_entry(path, card, False, str(e))
        record, _ = archive.validation_record(data)  # the model loaded by a fresh validation is dropped: listing keeps none
        _SHAS[key] = record["sha256"]
    return _entry(path, card, record)


def list_models(models_dir: Path = MODELS_DIR, entry_for=None) -> list[ModelEntry]:
    """Use for a listing with Keras's own checks (serving's picker is ``runtime.list_models``): every ``*.keras`` in
    ``models_dir``, usable first (best test accuracy on the card first), then
    unusable, each with its reason; never raises for one bad entry (a dangling link, a FIFO, a folder
    named x.keras, a bad card are listed as unusable with the reason).

    entry_for: how one file becomes an entry (path -> ModelEntry, never raising; ``entry_for(path, now=True)``
    must check it fully, for ``resolve``); default this module's validation, from the
    cards and the cached records (``_listed_entry``).  Serving passes its own (``serving.classifiers.entry_for``:
    the ONNX conversion records, and a ``pending`` entry for a file not converted yet), so one lister
    orders every listing."""
    entry_for = entry_for or _listed_entry
    entries = [entry_for(path) for path in sorted(Path(models_dir).glob(f"*{MODEL_SUFFIX}"))
               if not path.name.startswith(".")]  # hidden: temp files of an in-progress atomic save
    measured = {id(e): measured_accuracy(e.path) if e.usable else None for e in entries}

    def rank(e: ModelEntry):
        # a model only listed from its card (``pending``) comes after every checked one, and one the project never
        # measured after every measured one: neither is the default while the other kind exists
        m = measured[id(e)]
        return not e.usable, e.pending, m is None, -(m if m is not None else card_accuracy(e)), e.name

    return sorted(entries, key=rank)


def card_accuracy(e: ModelEntry) -> float:
    """The test accuracy on an entry's card (-1 without one): how listings rank the models the project has not
    measured (``measured_accuracy``), among themselves."""
    metrics = (e.card or {}).get("metrics")
    acc = metrics.get("test_accuracy") if isinstance(metrics, dict) else None
    return float(acc) if isinstance(acc, (int, float)) and not isinstance(acc, bool) else -1.0


MEASURED = ("models", "MNIST test acc.")  # the figure of docs/results.json that ranks models: section, key
MAX_RESULTS_BYTES = 16 * MiB  # the results file is ~0.5 MB
_MEASURED: dict[tuple, dict[str, float]] = {}


def measured_accuracy(path: Path) -> float | None:
    """The MNIST test accuracy the project measured on this very file: docs/results.json's "MNIST test acc." whose
    model_sha is the file's sha256 (``digitlab.report.results`` writes that file; it is only read here, so the models
    layer never imports the report layer), or None.  What a card claims never makes a model the default: a
    hand-written test_accuracy of 1.0 would make any dropped file the best."""
    try:
        st = RESULTS_FILE.stat()
        key = (st.st_mtime_ns, st.st_size)
        if key not in _MEASURED:
            _MEASURED.clear()
            data = json.loads(RESULTS_FILE.read_bytes()) if st.st_size <= MAX_RESULTS_BYTES else {}
            _MEASURED[key] = _measured_figures(data if isinstance(data, dict) else {})
        table = _MEASURED[key]
        return table.get(file_sha256(Path(path))[: len("sha256:") + 16]) if table else None
    except (OSError, ValueError, ModelError):
        return None


def _measured_figures(data: dict) -> dict[str, float]:
    """{"sha256:<16 hex>": the figure} of every model row holding the ranking figure (``MEASURED``) with a file sha256."""
    section, key = MEASURED
    out = {}
    figures = data.get("figures")
    rows = figures.get(section) if isinstance(figures, dict) else None
    for row in (rows.values() if isinstance(rows, dict) else ()):
        entry = row.get(key) if isinstance(row, dict) else None
        if isinstance(entry, dict) and isinstance(entry.get("model_sha"), str) and cards._fraction(entry.get("value")) is None:
            out[entry["model_sha"]] = float(entry["value"])
    return out


def file_sha256(path: Path) -> str:
    """"sha256:<hex>" of a model file (``model_file_sha256``: type and size checked first), hashed once per file
    version per process (``_SHAS``, shared with the listing and with serving's keys)."""
    st = path.stat()
    key = (str(path), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    if key not in _SHAS:
        _SHAS[key] = archive.model_file_sha256(path)
    return _SHAS[key]


def _best_model(models_dir: Path, entry_for) -> ModelEntry:
    """``resolve(None)``: the usable model the project measured best (``list_models``' first), fully checked now
    (``entry_for(path, now=True)``: a listing judges a file from its record, a use from the file itself) and
    skipped when that refuses it."""
    for e in (e for e in list_models(models_dir, entry_for) if e.usable):
        if entry_for is not None:
            e = entry_for(e.path, now=True)
        if e.usable:
            return e
    raise ModelError(f"no usable model in {models_dir}; train one with training/train_cnn.py")


def resolve(name_or_path: str | None, models_dir: Path = MODELS_DIR, entry_for=None) -> ModelEntry:
    """Use to get one model's entry: by name in ``models_dir``, by file path, or (None) the best one; raises ModelError.
    A path that names something other than a folder is judged whatever it is (a FIFO or a link to a
    device is refused by its type, unread); ``entry_for`` as in ``list_models``."""
    if name_or_path is None:
        return _best_model(models_dir, entry_for)
    p = Path(name_or_path)
    if p.is_dir() or not os.path.lexists(p):
        p = Path(models_dir) / f"{name_or_path}{MODEL_SUFFIX}"
    if not os.path.lexists(p):
        known = [e.name for e in list_models(models_dir, entry_for)]
        raise ModelError(f"no model {name_or_path!r}: not a file, and not one of {known}")
    entry = entry_for(p, now=True) if entry_for else inspect(p)
    if not entry.usable:
        raise ModelError(f"model {entry.name} is unusable: {entry.reason}")
    return entry


def select(names: list[str] | None, models_dir: Path = MODELS_DIR, entry_for=None) -> list[ModelEntry]:
    """Use for the models a command line names (names or files), or every usable one; raises ModelError
    when a name is unknown or unusable, when two named share a name (``check_distinct``), or when there is nothing to use."""
    entries = [resolve(n, models_dir, entry_for) for n in names] if names else [e for e in list_models(models_dir, entry_for) if e.usable]
    if not entries:
        raise ModelError(f"no usable model in {models_dir}; train one with training/train_cnn.py")
    if names:
        check_distinct(names, [e.name for e in entries])
    return entries


def check_distinct(given: list[str], names: list[str]) -> None:
    """Raise ModelError when two of the models ``given`` on a command line load under one name (``names``, in the same
    order): every report keys a model's figures by its name, so two files both called mnist_advanced.keras would be
    counted as one."""
    seen: dict[str, str] = {}
    for arg, name in zip(given, names):
        if name in seen:
            raise ModelError(f"two models are named {name} ({seen[name]} and {arg}): a report keys each model's figures by "
                             "its name, so copy one file (and its card) under another name")
        seen[name] = arg
