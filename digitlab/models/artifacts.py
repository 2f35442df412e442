"""Save, load and list models: the only module that touches ``models/``.

A model is ``<dir>/<name>.keras`` plus its card ``<dir>/<name>.json`` (and, for
models trained here, ``<name>.history.json``, ``<name>.curves.png`` and
``<name>.metrics.json``).  Writes are atomic (temp file in the same folder, then
``os.replace``), so an interrupted run never leaves a broken file behind.
Loading always keeps Keras safe mode on.  Listing never raises: a file that is
corrupt, refused by safe mode, or not a 28x28 -> 10 classifier is reported as
unusable with its reason, and the other models keep working.

Validation, before Keras sees a file (every step bounded, each refusal with its cause):

    read_model_file    a regular file (never a FIFO, a device or a folder) of at most MAX_MODEL_BYTES, read once
    check_archive      the zip's members and their uncompressed sizes (MEMBER_LIMITS) from its directory,
                       no duplicates, no stray names; config.json read (bounded) and parsed; the weights'
                       HDF5 datasets' declared sizes
    check_config       Lambda layers and serialised Python code, classes outside Keras, custom classes,
                       too many layers or too deep a config: refused with what and where
    estimate_cost      the model built from its config in a Keras StatelessScope (shapes only, no weight is
                       allocated): parameters, activation bytes and multiply-adds per digit, against MAX_*
    load_model         then Keras (safe mode) on the very bytes that were checked
    adapter.check_classifier   the signature and one forward pass on real digits (finite; probabilities
                       that sum to 1 when the head is a softmax)

``inspect`` and ``list_models`` keep each verdict in ``runs/cache/models/<sha256>.json`` (keyed by
the file's content, the rules' version and the Keras version) and in memory, and list models from
their cards and those verdicts: an unchanged file is validated once, and a model is loaded only
when something uses ``ModelEntry.model``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
import os
import re
import stat
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from digitlab.cli import NAME_RE
from digitlab.files import atomic_write_bytes, atomic_write_json, pause_point, remove_stale_temps, replace_durably, temp_file
from digitlab.models import cards
from digitlab.models.adapter import ModelError, check_classifier, check_signature  # noqa: F401  (ModelError: artifacts' errors)
from digitlab.paths import MODELS_DIR, RESULTS_FILE, RUNS_DIR, shown

MODEL_SUFFIX = ".keras"
MiB = 1 << 20
MAX_CARD_BYTES = 4 * MiB
# Larger files are refused by their size before a byte is read or hashed (uploads: before Keras sees them).  Generous on
# purpose: the largest committed model (mnist_robust, 3.3 M parameters) is 13 MB, and a model at MAX_PARAMS (10 M
# float32 weights, 40 MB) still fits; a sparse 8 GB file named x.keras must never be read (hashing it first cost
# 92 s and 709 MB).
MAX_MODEL_BYTES = 50 * MiB
# What a .keras archive may unpack to.  The committed models: config.json 2.6-107 kB, weights 47 kB-13 MB.
MEMBER_LIMITS = {"metadata.json": 64 * 1024, "config.json": 8 * MiB, "model.weights.h5": 160 * MiB, "model.weights.npz": 160 * MiB}
MAX_ASSET_BYTES = 16 * MiB  # assets/ (lookup vocabularies and the like), all together
MAX_MEMBERS = 64
MAX_DIRECTORY_BYTES = 256 * 1024  # the zip's central directory: 64 members with long names fit in a few kB
MAX_WEIGHT_BYTES = 160 * MiB  # the declared sizes of every weight array together (weights + optimizer slots)
MAX_LAYERS = 1_000  # mnist_advanced: 126
MAX_CONFIG_DEPTH = 100  # nesting of config.json; mnist_advanced: 12
MAX_PARAMS = 10_000_000  # mnist_advanced: 865,480
MAX_ACTIVATION_BYTES = 16 * MiB  # every layer's output for one digit, together; mnist_advanced: 5.0 MiB
MAX_MULTIPLY_ADDS = 500_000_000  # per digit; mnist_advanced: 57 million
VALIDATION_VERSION = 3  # bump when a rule changes: cached verdicts of older rules are not trusted
INSPECTION_CACHE = RUNS_DIR / "cache" / "models"  # <sha256>.json per validated file (git-ignored)
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
    their verdict is cached, so listing the new model does not validate it again.
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
    verdict, _ = _verdict(bytes(data))
    if not verdict["usable"]:
        raise ModelError(f"{filename}: {verdict['reason']}")
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
            return None, f"is {_size(st.st_size)}, over the {_size(limit)} limit"
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        return None, f"cannot be read ({e.strerror})"
    finally:
        os.close(fd)
    if len(data) > limit:
        return None, f"grew over the {_size(limit)} limit while read"
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


def _open_model_file(path: Path) -> tuple[int, os.stat_result]:
    """An open descriptor on a model file and its stat, after the checks that need no byte of it: a
    regular file (links followed) of 1 to MAX_MODEL_BYTES bytes.  Opened without blocking, so a FIFO
    named ``x.keras`` is refused instead of waiting for a writer; a folder, a device (a link to
    ``/dev/zero``) or a socket is refused by what it is, a larger (or sparse) file by its size."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise ModelError(f"{path.name}: cannot be read ({e.strerror})") from e
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ModelError(f"{path.name}: is a folder, not a model file")
        if not stat.S_ISREG(st.st_mode):
            raise ModelError(f"{path.name}: not a regular file (a FIFO, device or socket), not read")
        if st.st_size == 0:
            raise ModelError(f"{path.name}: empty file")
        if st.st_size > MAX_MODEL_BYTES:
            raise ModelError(f"{path.name}: {_size(st.st_size)} is over the {_size(MAX_MODEL_BYTES)} limit for a model file")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _read_bounded(fd: int, path: Path, chunk_size: int = MiB):
    """The bytes of an open model file in chunks, at most MAX_MODEL_BYTES of them (a file may grow while read)."""
    left = MAX_MODEL_BYTES + 1
    try:
        while left > 0:
            chunk = os.read(fd, min(left, chunk_size))
            if not chunk:
                return
            left -= len(chunk)
            if left <= 0:
                raise ModelError(f"{path.name}: over the {_size(MAX_MODEL_BYTES)} limit for a model file (it grew while read)")
            yield chunk
    except OSError as e:
        raise ModelError(f"{path.name}: cannot be read ({e.strerror})") from e


def read_model_file(path: Path) -> bytes:
    """A model file's bytes, read once: only a regular file (links followed) of at most MAX_MODEL_BYTES
    (``_open_model_file``: type and size are checked before any byte is read)."""
    path = Path(path)
    fd, _ = _open_model_file(path)
    try:
        data = b"".join(_read_bounded(fd, path))
    finally:
        os.close(fd)
    if not data:
        raise ModelError(f"{path.name}: empty file")
    return data


def model_file_sha256(path: Path) -> str:
    """"sha256:<hex>" of a model file, streamed, after the same type and size checks as ``read_model_file``:
    a FIFO, a link to a device or a sparse 8 GB file is refused (ModelError) before it is hashed."""
    path = Path(path)
    fd, _ = _open_model_file(path)
    h = hashlib.sha256()
    try:
        for chunk in _read_bounded(fd, path):
            h.update(chunk)
    finally:
        os.close(fd)
    return "sha256:" + h.hexdigest()


_ASSET_NAME = re.compile(r"^assets/(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]*$")


def check_archive(data: bytes) -> dict:
    """Check a ``.keras`` archive from its zip directory, before anything is unpacked; returns its
    parsed config.json.  Raises ModelError with the cause (no file name) for anything else.

    Members: config.json, metadata.json, model.weights.h5 (or .npz) and assets/, each once, each
    within MEMBER_LIMITS uncompressed (the sizes the directory declares; a member whose data does not
    match its declared size or CRC is refused when read).  The weights' arrays are checked from the
    HDF5 file's own directory: declared sizes (a chunked, compressed array of fill values stores
    nothing and unpacks to gigabytes), no external or virtual datasets."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelError("not a Keras 3 .keras archive (not a zip file; truncated or another format)")
    entries, directory = _directory_size(data)
    if entries > MAX_MEMBERS or directory > MAX_DIRECTORY_BYTES:
        # before zipfile parses it: 500,000 empty entries fit in 45 MB and cost ~10 s and ~200 MB to list
        raise ModelError(f"the archive declares {entries:,} members in a {_size(directory)} directory "
                         f"(a .keras file holds 3, plus assets; limit {MAX_MEMBERS})")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ModelError(f"the archive holds {len(infos)} members (a .keras file holds 3, plus assets; limit {MAX_MEMBERS})")
            seen: set[str] = set()
            assets = 0
            for info in infos:
                name = info.filename
                if name in seen:
                    raise ModelError(f"the archive holds {name!r} twice (which copy counts would depend on the reader)")
                seen.add(name)
                if info.flag_bits & 0x1:
                    raise ModelError(f"member {name!r} is encrypted")
                if name in MEMBER_LIMITS:
                    if info.file_size > MEMBER_LIMITS[name]:
                        raise ModelError(f"member {name} unpacks to {_size(info.file_size)} (stored in {_size(info.compress_size)}), "
                                         f"over the {_size(MEMBER_LIMITS[name])} limit for it")
                elif _ASSET_NAME.match(name) and ".." not in name.split("/"):
                    assets += info.file_size
                else:
                    raise ModelError(f"unexpected member {name!r}: a .keras file holds only config.json, metadata.json, "
                                     "model.weights.h5 and assets/")
            if assets > MAX_ASSET_BYTES:
                raise ModelError(f"its assets/ unpack to {_size(assets)} uncompressed, over the {_size(MAX_ASSET_BYTES)} limit")
            if "config.json" not in seen:
                raise ModelError("no config.json in the archive: not a Keras 3 model")
            weights = [n for n in ("model.weights.h5", "model.weights.npz") if n in seen]
            if len(weights) != 1:
                raise ModelError("no model.weights.h5 in the archive: it holds no weights" if not weights
                                 else "both model.weights.h5 and model.weights.npz: which weights count is unclear")
            read = {info.filename: _read_member(z, info) for info in infos}  # bounded reads that check every CRC
            config = _parse_config(read["config.json"])
            _check_weights(read[weights[0]], weights[0])
    except ModelError:
        raise
    except zipfile.BadZipFile as e:
        raise ModelError(f"corrupt archive ({e})") from e
    except Exception as e:  # EOFError, zlib.error, NotImplementedError (a compression method), OSError...: a damaged archive
        raise ModelError(f"corrupt archive ({type(e).__name__}: {str(e)[:200]})") from e
    return config


def _directory_size(data: bytes) -> tuple[int, int]:
    """(entries, bytes) of the zip's central directory, from its end records (zip64 included), without
    parsing the entries; (0, 0) when the records cannot be read (zipfile then says what is wrong)."""
    import struct

    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end < 0 or len(data) < end + 22:
        return 0, 0
    _, _, _, _, entries, size, _, _ = struct.unpack("<IHHHHIIH", data[end : end + 22])
    if entries == 0xFFFF or size == 0xFFFFFFFF:  # zip64: the real figures are in the zip64 end record
        locator = end - 20
        if locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
            (offset,) = struct.unpack("<Q", data[locator + 8 : locator + 16])
            if data[offset : offset + 4] == b"PK\x06\x06" and len(data) >= offset + 56:
                entries, size = struct.unpack("<QQ", data[offset + 32 : offset + 48])
    return entries, size


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes in 1 MiB reads: ``read()`` in one call would inflate everything the stream holds
    before cutting it to the declared size (a header that lies costs up to ~1000x the stored bytes);
    chunked, a lying member ends at its declared size and fails its CRC check."""
    out = bytearray()
    with z.open(info) as f:
        while chunk := f.read(MiB):
            out += chunk
            if len(out) > info.file_size:
                raise ModelError(f"member {info.filename} holds more than the {_size(info.file_size)} its header declares")
    return bytes(out)


def _size(n: int) -> str:
    return f"{n / MiB:,.1f} MiB" if n >= MiB else f"{n / 1024:,.1f} kiB"


def _parse_config(raw: bytes) -> dict:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelError(f"config.json is not UTF-8 text ({e.reason} at byte {e.start})") from e
    try:
        config = json.loads(text)
    except RecursionError as e:
        raise ModelError("config.json is nested too deeply to be a model description") from e
    except ValueError as e:
        raise ModelError(f"config.json is not JSON ({str(e)[:120]})") from e
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ModelError(f"config.json does not describe a Keras model (a JSON {type(config).__name__}, no class_name)")
    if not isinstance(config.get("config"), dict):
        raise ModelError(f"config.json does not describe a Keras model (its config is a JSON {type(config.get('config')).__name__})")
    return config


def _check_weights(raw: bytes, member: str) -> None:
    """Declared sizes of the weight arrays, read from the file's own directory (nothing is unpacked)."""
    total = 0
    if member.endswith(".npz"):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as inner:
                total = sum(i.file_size for i in inner.infolist())
        except zipfile.BadZipFile as e:
            raise ModelError(f"{member} is not an .npz archive ({e})") from e
    else:
        import h5py

        problems: list[str] = []
        sizes: list[int] = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                if obj.external or obj.is_virtual:
                    problems.append(f"dataset {name!r} points at other files (external or virtual)")
                sizes.append(math.prod(obj.shape or ()) * obj.dtype.itemsize)

        try:
            with h5py.File(io.BytesIO(raw), "r") as f:
                f.visititems(visit)
        except (OSError, ValueError, KeyError, RuntimeError, TypeError) as e:
            raise ModelError(f"{member} is not a readable HDF5 weights file ({type(e).__name__}: {str(e)[:160]})") from e
        if problems:
            raise ModelError(f"{member}: {problems[0]}")
        total = sum(sizes)
        if sizes and max(sizes) > MAX_WEIGHT_BYTES:
            raise ModelError(f"{member}: one weight array declares {_size(max(sizes))}, over the {_size(MAX_WEIGHT_BYTES)} "
                             "limit for all weights together")
    if total > MAX_WEIGHT_BYTES:
        raise ModelError(f"{member}: its weight arrays declare {_size(total)} together, over the {_size(MAX_WEIGHT_BYTES)} limit")


_KERAS_PACKAGE = "keras"
# Keras parts a model's config may name functions from (activations, losses...): anything else a
# Keras module exports (keras.utils.plot_model, keras.config.*, keras.models.load_model) is not modeling code.
_FUNCTION_PARTS = {"activations", "losses", "metrics", "initializers", "regularizers", "constraints", "ops", "random"}
# Keras parts whose classes do things a model file must not ask for (files, downloads, settings, training)
_FORBIDDEN_PARTS = {"utils", "config", "saving", "callbacks", "datasets", "applications", "backend", "export", "visualization",
                    "distribution", "trainers", "wrappers", "preprocessing", "legacy", "testing"}
# Layers that load code or graphs from elsewhere: a SavedModel from a path, a pickled torch module, a JAX function
_FORBIDDEN_LAYERS = {"TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"}
_PATH_KEYS = {"vocabulary", "filepath", "idf_weights", "path"}  # a string here is a file read at load time (/dev/zero: forever)


def _keras_part(module: str) -> str:
    """"keras.src.utils.file_utils" -> "utils", "keras.layers" -> "layers", "keras" -> ""."""
    parts = module.split(".")[1:]
    if parts[:1] == ["src"]:
        parts = parts[1:]
    return parts[0] if parts else ""


def check_config(config: dict) -> None:
    """Refuse, with what and where, what safe mode would refuse or cannot know: serialised Python code
    (``__lambda__``), Lambda layers, classes from modules outside Keras, custom registered classes,
    more than MAX_LAYERS layers, config nesting deeper than MAX_CONFIG_DEPTH.  Walks iteratively (a
    hostile config may be as deep as json.loads allows)."""
    layers = 0
    stack: list[tuple[object, int, str]] = [(config, 1, "the model")]
    while stack:
        obj, depth, where = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ModelError(f"config.json is nested {MAX_CONFIG_DEPTH}+ levels deep (a digit classifier needs ~12)")
        if isinstance(obj, list):
            stack.extend((v, depth + 1, where) for v in obj)
            continue
        if not isinstance(obj, dict):
            continue
        if isinstance(obj.get("layers"), list):
            layers += len(obj["layers"])
            if layers > MAX_LAYERS:
                raise ModelError(f"it has more than {MAX_LAYERS:,} layers (mnist_advanced has 126)")
        cls = obj.get("class_name")
        if isinstance(cls, str):
            name = (obj.get("config") or {}).get("name") if isinstance(obj.get("config"), dict) else None
            here = f"layer {name!r}" if isinstance(name, str) and obj.get("module") == "keras.layers" else where
            module, registered = obj.get("module"), obj.get("registered_name")
            if cls == "__lambda__":
                raise ModelError(f"{here} holds serialised Python code (a lambda function): a model file's code is never run "
                                 "(Keras safe mode: arbitrary code execution)")
            if cls == "Lambda" and isinstance(module, str) and module.startswith(_KERAS_PACKAGE):
                raise ModelError(f"{here} is a Lambda layer: Python code stored in the file, which is never run "
                                 "(refused by Keras safe mode: arbitrary code execution)")
            if isinstance(registered, str) and ">" in registered:
                raise ModelError(f"{here} uses the custom class {registered!r}: its code is not part of Keras and is never "
                                 "loaded from a model file (only Keras's own layers are)")
            what = f"function {obj.get('config')!r}" if cls == "function" else f"class {cls!r}"
            if isinstance(module, str) and module.split(".")[0] != _KERAS_PACKAGE and not (module == "builtins" and cls == "function"):
                raise ModelError(f"{here} uses {what} from module {module!r}, which is not part of Keras: only Keras's own "
                                 "layers and functions are loaded (a model file never imports other code)")
            if isinstance(module, str) and module != "builtins":
                part = _keras_part(module)
                if (cls == "function" and part not in _FUNCTION_PARTS) or part in _FORBIDDEN_PARTS:
                    raise ModelError(f"{here} uses {what} from {module}, which is not a modeling part of Keras "
                                     "(refused: loading a model must not run utilities, read files or change settings)")
            if cls in _FORBIDDEN_LAYERS:
                raise ModelError(f"{here} is a {cls}: it loads code or a graph from outside the model file, never done here")
            if isinstance(obj.get("config"), dict):
                for key in _PATH_KEYS & obj["config"].keys():
                    if isinstance(obj["config"][key], str):
                        raise ModelError(f"{here} reads its {key} from the file {obj['config'][key][:100]!r} outside the model "
                                         "file (a model is read from its own file only)")
            if isinstance(name, str) and obj.get("module") == "keras.layers":
                where = here
        stack.extend((v, depth + 1, where) for k, v in obj.items() if k not in ("module", "class_name", "registered_name"))


def explain_keras_error(e: BaseException, config: dict | None = None, doing: str = "cannot be loaded") -> str:
    """Keras's refusal, as its cause: which class or function it could not find, and why that is refused."""
    text = str(e)
    first = text.splitlines()[0] if text else type(e).__name__
    m = re.search(r"Could not locate (class|function) '([^']+)'", text)
    if m:
        kind, name = m.groups()
        module = _module_of(config, name) if config else None
        from_module = f" (module {module!r})" if module else ""
        import keras

        return (f"uses the {kind} {name!r}{from_module}, which Keras {keras.__version__} does not have: a custom {kind}, "
                f"or one from another Keras version (code is never loaded from a model file)")
    m = re.search(r"Cannot deserialize `([^`]+)` because it is not a modeling function", text)
    if m:
        return f"uses {m.group(1)}, a Keras utility, not a modeling function (refused: loading a model must not run utilities)"
    m = re.search(r"Could not deserialize '([^']+)' because it is not a KerasSaveable", text)
    if m:
        return f"uses {m.group(1)}, which is not a Keras layer or model part (unknown class)"
    m = re.search(r"Could not deserialize (class|function) '([^']+)' because its parent module (\S+) cannot be imported", text)
    if m:
        return f"uses the {m.group(1)} {m.group(2)!r} from module {m.group(3)!r}, which does not exist in Keras (unknown module)"
    if "safe_mode" in text or "arbitrary code" in text:
        return "refused by Keras safe mode (it contains a Lambda or custom code)"
    if isinstance(e, RecursionError):
        return "its config is nested too deeply to build"
    return f"{doing} ({type(e).__name__}: {first[:200]})"


def _module_of(config: dict, name: str) -> str | None:
    stack = [config]
    while stack:
        obj = stack.pop()
        if isinstance(obj, dict):
            if obj.get("class_name") == name and isinstance(obj.get("module"), str):
                return obj["module"]
            if obj.get("class_name") == "function" and obj.get("config") == name and isinstance(obj.get("module"), str):
                return obj["module"]
            stack.extend(obj.values())
        elif isinstance(obj, list):
            stack.extend(obj)
    return None


@dataclass(frozen=True)
class Cost:
    """What running one digit through a model costs, from its config alone."""

    params: int
    activation_bytes: int  # every layer's output for one digit, together
    multiply_adds: int  # per digit: each layer's weights times the positions it is applied at
    largest: str  # the layer with the largest output, and its size


def estimate_cost(config: dict) -> tuple[Cost, object]:
    """Build the model from ``config`` (safe mode) in a Keras StatelessScope, where variables keep their
    shape and never get a value, and measure it: (Cost, the weightless model, for ``check_signature``).

    Nothing runs and nothing the size of a weight is allocated, so a 19 kB file declaring 20 million
    units, or an UpSampling2D(1000), costs milliseconds here.  The deferred variables are dropped from
    Keras's to-initialise list afterwards (the next StatelessScope to close would allocate them)."""
    import keras
    import numpy as np
    from keras.src.backend.common import global_state

    config = dict(config, compile_config=None)  # load_model(compile=False) does the same
    pending = list(global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True))
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = keras.saving.deserialize_keras_object(copy.deepcopy(config), safe_mode=True)  # Keras pops keys
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(explain_keras_error(e, config, "config.json does not build a model")) from e
    finally:
        global_state.set_global_attribute("uninitialized_variables", pending)
    if not isinstance(model, keras.Model):
        raise ModelError(f"config.json describes a {type(model).__name__}, not a Keras model")

    def itemsize(dtype) -> int:
        try:
            return np.dtype(str(dtype)).itemsize
        except TypeError:
            return 2 if "16" in str(dtype) else 4

    seen_vars: set[int] = set()
    params = activation = adds = 0
    largest = (0, "")

    def walk(m) -> None:
        nonlocal params, activation, adds, largest
        for layer in m.layers:
            if isinstance(layer, keras.Model):
                walk(layer)
                continue
            own = 0
            for v in layer.weights:
                if id(v) not in seen_vars:
                    seen_vars.add(id(v))
                    n = math.prod(v.shape)
                    params += n
                    own += n
            for node in getattr(layer, "_inbound_nodes", []):
                for t in node.output_tensors:
                    shape = tuple(t.shape)
                    if any(d is None for d in shape[1:]):
                        raise ModelError(f"layer {layer.name!r} has an output of unknown size {shape}: its cost cannot be bounded")
                    n = math.prod(shape[1:])
                    b = n * itemsize(t.dtype)
                    activation += b
                    adds += own * math.prod(shape[1:-1])
                    largest = max(largest, (b, layer.name))

    walk(model)
    return Cost(params, activation, adds, f"{largest[1]!r}, {_size(largest[0])}"), model


def check_cost(cost: Cost) -> None:
    if cost.params > MAX_PARAMS:
        raise ModelError(f"{cost.params:,} parameters, over the limit of {MAX_PARAMS:,} (refused before any weight was allocated)")
    if cost.activation_bytes > MAX_ACTIVATION_BYTES:
        raise ModelError(f"one digit would need {_size(cost.activation_bytes)} of activations (largest: layer {cost.largest}), "
                         f"over the {_size(MAX_ACTIVATION_BYTES)} limit: too much memory, refused before running it")
    if cost.multiply_adds > MAX_MULTIPLY_ADDS:
        raise ModelError(f"{cost.multiply_adds / 1e9:.1f} billion multiply-add operations per digit, over the limit of "
                         f"{MAX_MULTIPLY_ADDS / 1e9:.1f} billion: refused before running it")


def _checked(data: bytes, suffix: str) -> tuple[Cost | None, object | None]:
    """Every check that runs before Keras loads ``data``; raises ModelError with the cause (no file name)."""
    if suffix != MODEL_SUFFIX:
        _check_h5_file(data)
        return None, None
    config = check_archive(data)
    check_config(config)
    cost, dry = estimate_cost(config)
    check_cost(cost)
    return cost, dry


def quick_check(data: bytes) -> None:
    """The checks of a ``.keras`` file's bytes that need no Keras and no TensorFlow (milliseconds): the
    archive (``check_archive``) and its config (``check_config``).  Raises ModelError with the cause."""
    check_config(check_archive(data))


def _check_h5_file(data: bytes) -> None:
    """A legacy ``.h5`` model (given by path to the CLI; never listed or uploaded): its config and arrays."""
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            raw = f.attrs.get("model_config")
    except (OSError, ValueError, RuntimeError) as e:
        raise ModelError(f"not a readable HDF5 model file ({type(e).__name__}: {str(e)[:160]})") from e
    if raw is None:
        raise ModelError("an HDF5 file without a model_config: weights only, not a model")
    check_config(_parse_config(raw.encode() if isinstance(raw, str) else bytes(raw)))
    _check_weights(data, "the HDF5 file")


def _keras_load(data: bytes, suffix: str):
    """Keras (safe mode, not compiled) on a private copy of the checked bytes."""
    import keras

    with tempfile.TemporaryDirectory(prefix="digitlab-load-") as d:
        copy = Path(d) / f"model{suffix}"
        copy.write_bytes(data)
        try:
            return keras.saving.load_model(copy, safe_mode=True, compile=False)
        except Exception as e:  # BadZipFile, KeyError, ValueError, OSError, TypeError...: Keras raises each for another kind of broken file
            if isinstance(e, zipfile.BadZipFile):
                raise ModelError(f"corrupt archive ({str(e)[:200]})") from e
            raise ModelError(explain_keras_error(e)) from e


def load_model(path: Path):
    """``keras.saving.load_model`` with safe mode on, after every check above; every failure becomes
    ModelError with a reason that starts with the file's name."""
    path = Path(path)
    return _load_checked(read_model_file(path), MODEL_SUFFIX if path.suffix != ".h5" else ".h5", path.name)


def _load_checked(data: bytes, suffix: str, name: str):
    """Every check, then Keras, on a file's bytes; a refusal's reason starts with the file's ``name``."""
    try:
        _checked(data, suffix)
        return _keras_load(data, suffix)
    except ModelError as e:
        raise ModelError(f"{name}: {e}") from e


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _cache_key(sha: str) -> dict:
    from importlib.metadata import version

    # the installed version, read without importing Keras: a listing from cached verdicts needs no TensorFlow
    return {"sha256": sha, "rules": VALIDATION_VERSION, "keras": version("keras")}


_VERDICTS: dict[str, dict] = {}  # sha256 -> verdict, this process
_SHAS: dict[tuple, str] = {}  # (path, device, inode, mtime, size) -> sha256, so an unchanged file is not hashed again


def _verdict(data: bytes, suffix: str = MODEL_SUFFIX) -> tuple[dict, object | None]:
    """(verdict, the loaded model when this call validated it) for a file's bytes.

    verdict: {"usable", "reason" (no file name), "layout", "outputs", "params", "probe", "sha256"}; from
    memory, else from INSPECTION_CACHE, else validated here and stored in both."""
    sha = _sha256(data)
    key = _cache_key(sha)
    if suffix == MODEL_SUFFIX:
        if sha in _VERDICTS:
            return _VERDICTS[sha], None
        cached = _read_cached(sha, key)
        if cached is not None:
            _VERDICTS[sha] = cached
            return cached, None
    model = None
    verdict = {"sha256": sha, "usable": False, "reason": None, "layout": None, "outputs": None, "params": None, "probe": None}
    try:
        cost, dry = _checked(data, suffix)
        if dry is not None:
            check_signature(dry)  # a non-classifier is refused before its weights are loaded
        model = _keras_load(data, suffix)
        layout, outputs = check_classifier(model)
        from digitlab.models.adapter import probe_digits

        verdict.update(usable=True, layout=layout, outputs=outputs, params=cost.params if cost else int(model.count_params()),
                       probe=probe_digits()[1])
    except ModelError as e:
        verdict["reason"] = str(e)
        model = None
    except Exception as e:  # a check that failed in a way no rule foresaw: unusable now, but not remembered
        verdict["reason"] = f"could not be validated ({type(e).__name__}: {str(e)[:200]})"
        return verdict, None
    if suffix == MODEL_SUFFIX:
        _VERDICTS[sha] = verdict
        _write_cached(sha, key, verdict)
    return verdict, model


def _cache_file(sha: str) -> Path:
    return Path(INSPECTION_CACHE) / f"{sha.split(':', 1)[1]}.json"


def _read_cached(sha: str, key: dict) -> dict | None:
    try:
        cached = json.loads(_cache_file(sha).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("key") != key or not isinstance(cached.get("verdict"), dict):
        return None
    return cached["verdict"]


def _write_cached(sha: str, key: dict, verdict: dict) -> None:
    with contextlib.suppress(OSError):  # a read-only checkout: the verdict stays in memory
        atomic_write_json(_cache_file(sha), {"key": key, "verdict": verdict})


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
    """The one way an entry is made from a file, its card and a verdict on the file: a card that
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


def _entry(path: Path, card: dict | None, verdict: dict, model=None) -> ModelEntry:
    reason = None if verdict["usable"] else f"{path.name}: {verdict['reason']}"
    return make_entry(path, card, verdict["usable"], reason, verdict["layout"], verdict["outputs"], model=model,
                 sha256=verdict["sha256"], params=verdict["params"])


def inspect(path: Path) -> ModelEntry:
    """Check one model file (or take its cached verdict); never raises.  The model is attached when
    this call loaded it, else loaded on first use of ``entry.model``."""
    path = Path(path)
    card = read_card(path)
    try:
        data = read_model_file(path)  # not cached: a missing or unreadable file may be back next time
    except ModelError as e:
        return make_entry(path, card, False, str(e))
    verdict, model = _verdict(data, ".h5" if path.suffix == ".h5" else MODEL_SUFFIX)
    return _entry(path, card, verdict, model)


def _load_entry(entry: ModelEntry):
    """``entry.model``: load the validated file; validate again if it changed since (raises ModelError)."""
    path = Path(entry.path)
    data = read_model_file(path)
    suffix = ".h5" if path.suffix == ".h5" else MODEL_SUFFIX
    sha = _sha256(data)
    if entry.sha256 is not None and sha != entry.sha256:
        verdict, model = _verdict(data, suffix)
        if not verdict["usable"]:
            raise ModelError(f"{path.name} changed on disk since it was checked and is now unusable: {verdict['reason']}")
        entry.layout, entry.outputs, entry.sha256, entry.params = verdict["layout"], verdict["outputs"], sha, verdict["params"]
        if model is not None:
            return model
    return _load_checked(data, suffix, path.name)


def _judged(path: Path) -> ModelEntry:
    """A listed file judged by this module's validation: read and hashed only when its (device, inode,
    mtime, size) changed, validated only when its sha256 has no verdict yet (INSPECTION_CACHE); no
    model is loaded.  Never raises."""
    try:
        st = path.stat()
    except OSError as e:  # a dangling symlink, a loop, or a file deleted while listing: say so, list the others
        return make_entry(path, None, False, f"{path.name}: cannot be read ({e.strerror})")
    card = read_card(path) if stat.S_ISREG(st.st_mode) else None  # cards are cheap and may change on their own
    key = (str(path), st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    sha = _SHAS.get(key)
    verdict = _VERDICTS.get(sha) if sha else None
    if verdict is None:
        try:
            data = read_model_file(path)
        except ModelError as e:
            return make_entry(path, card, False, str(e))
        verdict, _ = _verdict(data)  # the model loaded by a fresh validation is dropped: listing keeps none
        _SHAS[key] = verdict["sha256"]
    return _entry(path, card, verdict)


def list_models(models_dir: Path = MODELS_DIR, judge=None) -> list[ModelEntry]:
    """Every ``*.keras`` in ``models_dir``, usable first (best test accuracy on the card first), then
    unusable, each with its reason; never raises for one bad entry (a dangling link, a FIFO, a folder
    named x.keras, a bad card are listed as unusable with the reason).

    judge: how one file becomes an entry (path -> ModelEntry, never raising; ``judge(path, now=True)``
    must judge it fully, for ``resolve`` and ``best_model``); default this module's validation, from the
    cards and the cached verdicts (``_judged``).  Serving passes its own (``serving.classifiers.judge``:
    the ONNX conversion records, and a ``pending`` entry for a file not converted yet), so one lister
    orders every listing."""
    judge = judge or _judged
    entries = [judge(path) for path in sorted(Path(models_dir).glob(f"*{MODEL_SUFFIX}"))
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
        _SHAS[key] = model_file_sha256(path)
    return _SHAS[key]


def best_model(models_dir: Path = MODELS_DIR, judge=None) -> ModelEntry:
    """The usable model the project measured best (``list_models``' first), fully checked now
    (``judge(path, now=True)``: a listing judges a file from its record, a use from the file itself) and
    skipped when that refuses it."""
    for e in (e for e in list_models(models_dir, judge) if e.usable):
        if judge is not None:
            e = judge(e.path, now=True)
        if e.usable:
            return e
    raise ModelError(f"no usable model in {models_dir}; train one with training/train_cnn.py")


def resolve(name_or_path: str | None, models_dir: Path = MODELS_DIR, judge=None) -> ModelEntry:
    """A model by name in ``models_dir``, by file path, or (None) the best one; raises ModelError.
    A path that names something other than a folder is judged whatever it is (a FIFO or a link to a
    device is refused by its type, unread); ``judge`` as in ``list_models``."""
    if name_or_path is None:
        return best_model(models_dir, judge)
    p = Path(name_or_path)
    if p.is_dir() or not os.path.lexists(p):
        p = Path(models_dir) / f"{name_or_path}{MODEL_SUFFIX}"
    if not os.path.lexists(p):
        known = [e.name for e in list_models(models_dir, judge)]
        raise ModelError(f"no model {name_or_path!r}: not a file, and not one of {known}")
    entry = judge(p, now=True) if judge else inspect(p)
    if not entry.usable:
        raise ModelError(f"model {entry.name} is unusable: {entry.reason}")
    return entry


def select(names: list[str] | None, models_dir: Path = MODELS_DIR, judge=None) -> list[ModelEntry]:
    """Models named on a command line (names or files), or every usable model; raises ModelError
    when a name is unknown or unusable, when two named share a name (``check_distinct``), or when there is nothing to use."""
    entries = [resolve(n, models_dir, judge) for n in names] if names else [e for e in list_models(models_dir, judge) if e.usable]
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
