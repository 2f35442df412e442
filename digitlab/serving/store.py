"""Serving files: every ``.keras`` model (and the digit gate) converted once to ONNX, kept under its hash.

    models/serving/<key>.onnx + <key>.json    for the committed models and gate (python evaluation/serving.py)
    runs/cache/serving/<key>.onnx + .json     for anything else (a model dropped into models/, an upload)
    runs/cache/serving/<key>.refused.json     a file the converter refused, with the reason (not retried)

``served_file`` finds a file's ONNX by the first 32 hex digits of its SHA-256 (``file_key``: type and size
are checked before a byte is hashed), or converts it in a subprocess (``digitlab.serving.convert``, the one
step of serving that needs TensorFlow, so the server that asks never imports it); ``served_entry`` judges
a model file for a listing from its card and that record alone (no model is loaded);
``convert_in_background`` converts new files in a server's spare time.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from digitlab import files, memory, paths
from digitlab.models import artifacts
from digitlab.models.artifacts import ModelEntry, ModelError

REFUSED = 3  # the converter's exit code for a file that is not a usable model: cache the reason, do not retry it
SERVING_SUBDIR = "serving"
CONVERT_TIMEOUT_S = 900  # a TensorFlow start, a safe-mode load, tf2onnx and the probe; ~10-20 s here
RECORD_KEYS = {"kind", "layout", "outputs", "probe_max_abs_dp", "probe_n", "seconds", "source", "sha256"}  # convert.convert's + source, sha256
_LOCK = threading.Lock()  # one conversion at a time per process: each one starts TensorFlow
_KEYS: dict[tuple[str, int, int], str] = {}


def cache_dir() -> Path:
    """Where conversions of files that are not committed go ($DIGITLAB_SERVING_CACHE: tests point it at a scratch folder)."""
    env = os.environ.get("DIGITLAB_SERVING_CACHE")
    return Path(env) if env else paths.RUNS_DIR / "cache" / SERVING_SUBDIR


def folders(models_dir: Path = paths.MODELS_DIR) -> list[Path]:
    """Where a converted file may be: beside the given models, beside the repository's, the cache."""
    out: list[Path] = []
    for d in (Path(models_dir) / SERVING_SUBDIR, paths.MODELS_DIR / SERVING_SUBDIR, paths.ROOT / "models" / SERVING_SUBDIR, cache_dir()):
        if d not in out:
            out.append(d)
    return out


def file_key(path: Path) -> str:
    """The first 32 hex digits of the file's SHA-256 (hashed once per file version: path, mtime, size).
    Raises ModelError for what is not a model file by its type or size (a FIFO, a link to /dev/zero,
    a sparse 8 GB file): ``artifacts.model_file_sha256`` checks both before it reads a byte."""
    st = Path(path).stat()
    k = (str(path), st.st_mtime_ns, st.st_size)
    if k not in _KEYS:
        _KEYS[k] = artifacts.model_file_sha256(path)[len("sha256:"):][:32]
    return _KEYS[k]


def _found(key: str, models_dir: Path) -> Path | None:
    for d in folders(models_dir):
        onnx = d / f"{key}.onnx"
        if onnx.is_file() and onnx.with_suffix(".json").is_file():
            return onnx
    return None


def record(onnx: Path) -> dict:
    """What the converter recorded beside an ONNX file (kind, layout, outputs, probe parity, source)."""
    return json.loads(Path(onnx).with_suffix(".json").read_text())


class NotConverted(ModelError):
    """A file with no serving file yet, asked for with ``convert`` off."""


def served_file(path: Path, kind: str = "classifier", models_dir: Path = paths.MODELS_DIR, out_dir: Path | None = None,
                convert: bool = True) -> Path:
    """The ONNX file serving ``path`` (a .keras model, or the digit gate with ``kind="gate"``): found by the
    file's hash, or converted now into ``out_dir`` (default: the cache).  Raises ModelError with the
    reason when the file is refused (remembered by hash), NotConverted when ``convert`` is off and there
    is none yet."""
    path = Path(path)
    key = file_key(path)
    onnx = _found(key, models_dir) if out_dir is None else (out_dir / f"{key}.onnx" if (out_dir / f"{key}.json").is_file() else None)
    if onnx is not None and onnx.is_file():
        return onnx
    refused = _refused_file(key)
    if refused.is_file():
        raise ModelError(json.loads(refused.read_text())["reason"])
    if not convert:
        raise NotConverted(f"{path.name} is not converted for serving yet")
    return _convert(path, kind, key, out_dir or cache_dir())


def _refused_file(key: str) -> Path:
    return cache_dir() / f"{key}.refused.json"


def _refuse(path: Path, key: str, reason: str) -> None:
    """Remember that the file with this hash is refused, and why: it is never tried again."""
    files.atomic_write_json(_refused_file(key), {"source": Path(path).name, "reason": reason})


def _convert(path: Path, kind: str, key: str, out_dir: Path) -> Path:
    with _LOCK:
        out = out_dir / f"{key}.onnx"
        if out.is_file() and out.with_suffix(".json").is_file():
            return out  # converted by another session while this one waited
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / f".{key}.{os.getpid()}.{threading.get_ident()}.onnx"  # hidden: never taken for a result
        command = [sys.executable, "-m", "digitlab.serving.convert", kind, str(path), str(tmp)]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S, stdin=subprocess.DEVNULL,
                                  env=memory.environment())
        except subprocess.TimeoutExpired as e:
            tmp.unlink(missing_ok=True)
            raise ModelError(f"{path.name}: converting it for serving took longer than {CONVERT_TIMEOUT_S} s") from e
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        if proc.returncode == REFUSED:
            reason = lines[-1] if lines else f"{path.name}: refused"
            _refuse(path, key, reason)
            raise ModelError(reason)
        if proc.returncode != 0 or not tmp.is_file():
            tmp.unlink(missing_ok=True)
            raise ModelError(f"{path.name}: converting it for serving failed (exit {proc.returncode}): {' | '.join(lines[-3:])[:500]}")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        info.update(source=path.name, sha256=key)
        files.atomic_write_json(out.with_suffix(".json"), info)  # the record first: a file without one is not taken
        os.replace(tmp, out)
        return out


def served_entry(path: Path, models_dir: Path = paths.MODELS_DIR, now: bool = False) -> ModelEntry:
    """A model file judged for serving, for ``artifacts.list_models`` and ``artifacts.resolve``; never
    raises, never loads a model.  Its card first (``artifacts.card_refusal``, before the file is read),
    then its conversion record: usable as recorded, or refused as remembered.  A file never converted is
    converted ``now`` (resolving a model to use it), else given the checks that need no TensorFlow
    (``artifacts.quick_check``, milliseconds) and listed ``pending``: a listing of 44 new files is
    immediate instead of 44 TensorFlow starts; the conversion runs on first use (``served_file``) or in
    the background (``convert_in_background``)."""
    path = Path(path)
    card = artifacts.read_card(path)
    if (refused := artifacts.card_refusal(path, card)) is not None:
        return artifacts.make_entry(path, card, False, refused)
    try:
        info = record(served_file(path, "classifier", models_dir, convert=now))
    except NotConverted:
        try:
            artifacts.quick_check(artifacts.read_model_file(path))
        except ModelError as e:
            reason = f"{path.name}: {e}"
            _refuse(path, file_key(path), reason)
            return artifacts.make_entry(path, card, False, reason)
        return artifacts.make_entry(path, card, True, pending=True)
    except OSError as e:  # a dangling symlink, a file deleted meanwhile, no permission
        return artifacts.make_entry(path, card, False, f"{path.name}: cannot be read ({e.strerror or e})")
    except (ModelError, ValueError, KeyError) as e:
        return artifacts.make_entry(path, card, False, str(e))
    return artifacts.make_entry(path, card, True, None, info.get("layout"), info.get("outputs"))


BACKGROUND_MAX_BYTES = 20 * artifacts.MiB  # larger files wait for their first use (mnist_robust, the largest committed: 13 MB)
BACKGROUND_BUDGET_S = 600  # conversion time the background may spend per process (~10-20 s a model; one took 252 s)
_background: dict = {"thread": None, "spent": 0.0}


def convert_in_background(entries: list[ModelEntry], models_dir: Path = paths.MODELS_DIR) -> threading.Thread | None:
    """Convert the ``pending`` entries one after another in a daemon thread (smallest file first), within
    BACKGROUND_MAX_BYTES a file and BACKGROUND_BUDGET_S in all: a server lists new models at once and
    has most of them ready before anyone picks one.  One such thread per process; returns it (None when
    there is nothing to do, one is running or the budget is spent).  Not for a short-lived CLI, whose
    exit would abandon a conversion half done: there the first use converts."""
    todo = []
    for e in entries:
        if e.pending:
            with contextlib.suppress(OSError):
                if e.path.stat().st_size <= BACKGROUND_MAX_BYTES:
                    todo.append((e.path.stat().st_size, e.path))
    running = _background["thread"]
    if not todo or (running is not None and running.is_alive()) or _background["spent"] >= BACKGROUND_BUDGET_S:
        return None

    def work() -> None:
        for _, path in sorted(todo):
            if _background["spent"] >= BACKGROUND_BUDGET_S:
                return
            t0 = time.perf_counter()
            with contextlib.suppress(ModelError, OSError):  # a refusal is remembered by hash; listing shows it
                served_file(path, "classifier", models_dir)
            _background["spent"] += time.perf_counter() - t0

    thread = threading.Thread(target=work, name="digitlab-convert", daemon=True)
    _background["thread"] = thread
    thread.start()
    return thread
