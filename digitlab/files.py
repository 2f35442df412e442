"""Files written so that a crash never leaves a torn one behind, and file fingerprints.

Atomic writes go to a temp file in the same folder, are flushed to disk, then ``os.replace``d
over the target: a reader sees the old file or the new one, never half of one.

A temp file is named ``.<target name>.<pid>-<random>.tmp…``: the writer's process id says
whether it can still be in progress, so the next writer of the same target removes the ones a
killed process left (``remove_stale_temps``) and never one that is being written.

``pause_point(phase)`` is a test hook and nothing else: with ``$DIGITLAB_PAUSE_AT`` unset it returns
at once (tests/test_kill_training.py sets it to stop a run at a phase and SIGKILL it there).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import struct
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

PAUSE_ENV = "DIGITLAB_PAUSE_AT"
STALE_UNTAGGED_SECONDS = 600  # a temp file without a process id (older code) is stale after this long


def umask_mode() -> int:
    """0o666 minus the process umask: what a plain open() would have created (mkstemp makes 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_file(target: Path, suffix: str = ".tmp") -> Path:
    """A new empty file beside ``target`` for writing it atomically: ``.<name>.<pid>-<random><suffix>``
    (Keras wants its own suffixes: pass e.g. ".tmp.keras"); the caller replaces ``target`` with it, or
    removes it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}-", suffix=suffix)
    os.close(fd)
    return Path(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_stale_temps(folder: Path, name: str | None = None) -> list[Path]:
    """Remove the temp files (``.<name>.<pid>-<random>.tmp…``) of writers that no longer run, for one
    target ``name`` or for every target in ``folder``; returns what was removed.  A temp file whose
    writer is alive is kept (it may be in the middle of a save); one without a process id (written
    before the ids were added, e.g. ``.saving.<random>.tmp``) is removed once it is 10 minutes old."""
    folder = Path(folder)
    pattern = re.compile(r"^\.(?P<name>.+?)\.(?:(?P<pid>\d+)-)?[A-Za-z0-9_]+\.tmp")
    removed = []
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name]
    except OSError:
        return removed
    for p in candidates:
        m = pattern.match(p.name)
        if m is None or (name is not None and m.group("name") != name):
            continue
        try:
            if m.group("pid") is not None:
                stale = not _alive(int(m.group("pid")))
            else:
                stale = time.time() - p.lstat().st_mtime > STALE_UNTAGGED_SECONDS
            if stale and not p.is_dir():
                p.unlink()
                removed.append(p)
        except (FileNotFoundError, ValueError):
            continue  # removed meanwhile by another writer's clean-up
    return removed


def fsync_path(path: Path) -> None:
    """Flush a file (or a folder's entries, after a rename) to disk: a rename is durable only then."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(tmp: Path, target: Path) -> None:
    """``tmp`` (fully written) over ``target``: flushed, readable by others (umask), renamed, folder flushed."""
    fsync_path(tmp)
    os.chmod(tmp, umask_mode())
    os.replace(tmp, target)
    fsync_path(Path(target).parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = temp_file(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        replace_durably(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=json_default) + "\n").encode())


def cache_params(settings) -> dict:
    """A pool's settings (a dataclass) as part of its cache key: ``classes``, ``warp`` and ``path`` are left out while
    they hold their defaults, so pools cached before the fields existed keep their key."""
    params = dataclasses.asdict(settings)
    for later in ("classes", "warp", "path"):
        if later in params and params[later] == getattr(type(settings), later):
            del params[later]
    return params


def cached_arrays(path: Path | None, build) -> tuple[np.ndarray, np.ndarray]:
    """``build()`` -> (x, y) arrays, kept in the .npz ``path`` and read back from it by the next call with the same
    path (None: nothing is kept).  Written beside under a temporary name, then renamed: two runs making the same
    pool at once never read half a file."""
    if path is not None and Path(path).is_file():
        with np.load(path) as f:
            return f["x"], f["y"]
    x, y = build()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, x=x, y=y)
        tmp.replace(path)
    return x, y


def json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def pause_point(phase: str) -> None:
    """Test hook: with ``$DIGITLAB_PAUSE_AT`` = "<phase>=<marker file>", the first time the process reaches
    ``phase`` it writes the marker and sleeps, so the test SIGKILLs it exactly there.  Unset (always,
    outside tests/test_kill_training.py): returns at once."""
    spec = os.environ.get(PAUSE_ENV)
    if not spec:
        return
    want, _, marker = spec.partition("=")
    if want != phase or not marker:
        return
    Path(marker).write_text(f"{phase} {os.getpid()}\n")
    time.sleep(600)


def sha256(path: Path, digits: int | None = None) -> str:
    """"sha256:<hex>" of a file's bytes (the first ``digits`` hex digits when given): cache keys,
    provenance of exports, the digit gate's fingerprint."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()[:digits]


def png_bytes(picture, text: dict[str, str] | None = None) -> bytes:
    """(H, W), (H, W, 3) or (H, W, 4) uint8 array, or a PIL image -> PNG bytes, with ``text`` as tEXt chunks."""
    import io

    from PIL import Image, PngImagePlugin

    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
    im = picture if isinstance(picture, Image.Image) else Image.fromarray(np.ascontiguousarray(picture))
    buf = io.BytesIO()
    im.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


# PNG chunks, for the files that say how their ink is (data.user_digits) and the fuzzer's odd PNGs (hardening.hostile_pictures)
def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: its length, type, data and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks as (type, data); stops at the first chunk that does not fit."""
    out, pos = [], 8
    while pos + 8 <= len(data):
        n = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        if pos + 12 + n > len(data):
            break
        out.append((kind, data[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    return out


def png_from_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG file of these (type, data) chunks."""
    return b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(k, d) for k, d in chunks)


def png_with_chunk(png: bytes, kind: bytes, data: bytes, before: bytes = b"IDAT") -> bytes:
    """``png`` with one more chunk inserted before the first ``before`` chunk."""
    chunks = png_chunks(png)
    at = next((i for i, (k, _) in enumerate(chunks) if k == before), len(chunks) - 1)
    return png_from_chunks(chunks[:at] + [(kind, data)] + chunks[at:])
