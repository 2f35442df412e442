"""MNIST: the one owner of "MNIST as model inputs".

    m = load(path)                       the three splits, uint8 digits as stored (train carved into train + val)
    m = load(path, prepared=True)        the three splits as model inputs (``digitlab.preprocess``)
    x, y = m.inputs("test", n, seed)     some or all digits of one split as model inputs

``load`` is the one way in, for every script, page and test.  Lookup order: an explicit ``path`` ->
``$DIGITLAB_MNIST`` -> ``~/.keras/datasets/mnist.npz`` -> ``keras.datasets.mnist.load_data()``
(download, which also fills the keras cache).  Whatever is found is checked before use: a wrong file
is refused loudly (``DataError``).

One cache: a folder per MNIST file (its path, size and modification time) and validation size under
``runs/cache/``, written once.  It holds each split as ``.npy`` files that every ``load`` memory-maps, so
a reader that looks at a few digits holds only their pages, not 55 MB (the app), and, once a whole split
has been asked for as model inputs, that split prepared (``inputs-v<preprocessing version>/``), which
takes ~0.3 ms a digit to make.  A few digits of a split not prepared yet are prepared on their own:
the same values, without preparing the other 55,000.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ENV_VAR = "DIGITLAB_MNIST"
KERAS_CACHE = Path.home() / ".keras" / "datasets" / "mnist.npz"
DRY_RUN_SIZES = {"train": 1024, "val": 256, "test": 256}  # digits per split in a dry run
VAL_SIZE = 5000  # carved from train; test is never used for tuning or checkpoint choice
SPLIT_SEED = 20240101  # fixed, independent of the training seed, so every model sees the same split
SPLITS = ("train", "val", "test")

EXPECTED = {  # the file's arrays, keras layout -> (shape, dtype)
    "x_train": ((60000, 28, 28), np.uint8),
    "y_train": ((60000,), np.uint8),
    "x_test": ((10000, 28, 28), np.uint8),
    "y_test": ((10000,), np.uint8),
}


class DataError(RuntimeError):
    """MNIST could not be found, or what was found is not MNIST in keras layout."""


@dataclass(frozen=True)
class Mnist:
    """The three splits of MNIST (``load``): as stored (uint8 images (N, 28, 28), 0 = background, 255 = ink,
    uint8 labels) or as model inputs (``prepared``: float32 in [0, 1], int64 labels).  ``source``: the file
    read; ``fingerprint``: sha256 over its four arrays, so a model card says exactly which data it saw.
    ``folder``: the cache folder the arrays map (None: arrays in memory, e.g. a dry run's few digits)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    fingerprint: str
    folder: Path | None = field(default=None, repr=False, compare=False)

    @property
    def prepared(self) -> bool:
        return self.x_test.dtype != np.uint8

    def indices(self, split: str, n: int | None = None, seed: int = 0) -> np.ndarray:
        """Positions of ``n`` digits of ``split`` drawn at random with ``seed``, in their original order (all
        when None): the digits ``inputs(split, n, seed)`` returns."""
        total = len(self._split(split)[0])
        if n is None or n >= total:
            return np.arange(total)
        return np.sort(np.random.default_rng(seed).choice(total, n, replace=False))

    def inputs(self, split: str = "test", n: int | None = None, seed: int = 0, *, indices=None) -> tuple[np.ndarray, np.ndarray]:
        """Digits of one split ("train", "val" or "test") as model inputs: x (k, 28, 28) float32 in [0, 1], y (k,) int64.

        ``n`` digits drawn with ``seed`` (all when None), or the given ``indices``.  The same values whichever
        way they are made: the whole split is prepared once into the cache and read from it from then on; a few
        digits of a split not prepared yet are prepared on their own (~0.3 ms a digit)."""
        x, y = self._split(split)
        idx = self.indices(split, n, seed) if indices is None else np.asarray(indices, np.int64).reshape(-1)
        whole = len(idx) == len(x) and np.array_equal(idx, np.arange(len(x)))
        if not self.prepared:
            cached = _prepared_split(self, split, write=whole)
            if cached is None:
                from digitlab import preprocess

                return preprocess.prepare_batch(x[idx]), y[idx].astype(np.int64)
            x, y = cached, y.astype(np.int64)
        return (x, y) if whole else (x[idx], y[idx])

    def _split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; one of {list(SPLITS)}")
        return getattr(self, f"x_{split}"), getattr(self, f"y_{split}")


def load(path: str | os.PathLike | None = None, *, prepared: bool = False, dry_run: bool = False,
         val_size: int = VAL_SIZE) -> Mnist:
    """MNIST found by the lookup order (module docstring), checked, with ``val_size`` training digits carved
    out as a stratified validation split (0: none, train as in the file, in its order).

    ``prepared``: every split as model inputs, each prepared once into the cache.  ``dry_run``: only the
    first ``DRY_RUN_SIZES`` digits of each split, in memory.  Raises DataError when MNIST is missing or wrong."""
    m = _cached(_find(path), val_size)
    if dry_run:
        m = Mnist(*(getattr(m, f"{a}_{s}")[: DRY_RUN_SIZES[s]] for s in SPLITS for a in "xy"), m.source, m.fingerprint)
    if not prepared:
        return m
    return Mnist(*(a for s in SPLITS for a in m.inputs(s)), m.source, m.fingerprint, m.folder)


# ----------------------------------------------------------------------------- the file


def _find(path: str | os.PathLike | None) -> Path:
    """The file the lookup order names: ``path``, else ``$DIGITLAB_MNIST``, else the keras cache, which a
    download fills when it does not exist.  A path that is named but missing raises DataError."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise DataError(f"MNIST file {p} does not exist")
        return p
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise DataError(f"${ENV_VAR} points at {p}, which does not exist")
        return p
    if not KERAS_CACHE.is_file():
        try:
            import keras

            keras.datasets.mnist.load_data()  # downloads into the keras cache
        except Exception as e:  # no internet, proxy, ...: one clear message
            raise DataError(
                f"MNIST not found: pass a path, set ${ENV_VAR} to an .npz in keras layout "
                f"(x_train, y_train, x_test, y_test), or allow keras to download it ({e})"
            ) from e
        if not KERAS_CACHE.is_file():
            raise DataError(f"keras downloaded MNIST, but not to {KERAS_CACHE}: set ${ENV_VAR} to the file")
    return KERAS_CACHE


def _read(path: Path) -> dict[str, np.ndarray]:
    """The file's four arrays, checked: DataError unless it is MNIST in keras layout."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:  # not a zip / not an npz / truncated
        raise DataError(f"{path}: cannot be read as an .npz file ({e})") from e
    missing = sorted(set(EXPECTED) - set(arrays))
    if missing:
        raise DataError(f"{path}: not MNIST in keras layout, missing keys {missing} (has {sorted(arrays)})")
    for key, (shape, dtype) in EXPECTED.items():
        a = arrays[key]
        if a.dtype != dtype:
            raise DataError(f"{path}: {key} has dtype {a.dtype}, expected {np.dtype(dtype)}")
        if a.shape != shape:
            raise DataError(f"{path}: {key} has shape {a.shape}, expected {shape}")
    for split in ("train", "test"):
        y = arrays[f"y_{split}"]
        if y.min() < 0 or y.max() > 9:
            raise DataError(f"{path}: y_{split} has labels outside 0-9 ({y.min()}..{y.max()})")
        if len(np.unique(y)) != 10:
            raise DataError(f"{path}: y_{split} does not contain all ten digits")
    return arrays


def _fingerprint(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(EXPECTED):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return "sha256:" + h.hexdigest()[:16]


def _splits(path: Path, val_size: int) -> Mnist:
    """The file read, checked and split, in memory."""
    from sklearn.model_selection import train_test_split

    a = _read(path)
    x, y = a["x_train"], a["y_train"]
    if val_size:
        x, x_val, y, y_val = train_test_split(x, y, test_size=val_size, random_state=SPLIT_SEED, stratify=y)
    else:
        x_val, y_val = x[:0], y[:0]
    return Mnist(x, y, x_val, y_val, a["x_test"], a["y_test"], str(path), _fingerprint(a))


# ----------------------------------------------------------------------------- the one cache

_ARRAYS = tuple(f"{a}_{s}" for s in SPLITS for a in "xy")


def _folder(path: Path, val_size: int) -> Path:
    from digitlab.paths import RUNS_DIR

    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0{val_size}\0{SPLIT_SEED}".encode()).hexdigest()[:16]
    return RUNS_DIR / "cache" / f"mnist-{key}"


def _open(folder: Path, source: str) -> Mnist | None:
    """The splits ``folder`` holds, memory-mapped read-only; None when it is not written yet or damaged."""
    try:
        info = json.loads((folder / "meta.json").read_text())
        a = {k: np.load(folder / f"{k}.npy", mmap_mode="r") for k in _ARRAYS}
        if any(a[f"x_{s}"].shape[1:] != (28, 28) or len(a[f"x_{s}"]) != len(a[f"y_{s}"]) for s in SPLITS):
            return None
        return Mnist(**a, source=source, fingerprint=info["fingerprint"], folder=folder)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _cached(path: Path, val_size: int) -> Mnist:
    """``_splits(path, val_size)`` from the cache, written there first when it is not."""
    folder = _folder(path, val_size)
    if (m := _open(folder, str(path))) is not None:
        return m
    m = _splits(path, val_size)
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for k in _ARRAYS:
            np.save(tmp / f"{k}.npy", np.ascontiguousarray(getattr(m, k)))
        (tmp / "meta.json").write_text(json.dumps({"source": m.source, "fingerprint": m.fingerprint, "val_size": val_size}))
        shutil.rmtree(folder, ignore_errors=True)  # a damaged copy
        tmp.rename(folder)  # whole or not at all; fails when another process got there first
    except OSError:  # a read-only checkout, a full disk, or a process that wrote it first
        shutil.rmtree(tmp, ignore_errors=True)
    return _open(folder, str(path)) or m


def _prepared_split(m: Mnist, split: str, write: bool) -> np.ndarray | None:
    """The whole ``split`` of ``m`` (as stored) as model inputs, memory-mapped from the cache; prepared and
    written there first when ``write``; None when it is not there (or ``m`` is not the cache's)."""
    from digitlab import preprocess

    if m.folder is None:
        return preprocess.prepare_batch(m._split(split)[0]) if write else None
    target = m.folder / f"inputs-v{preprocess.PREPROCESS_VERSION}" / f"x_{split}.npy"
    x = m._split(split)[0]
    try:
        cached = np.load(target, mmap_mode="r")
        if cached.shape == x.shape and cached.dtype == np.float32:
            return cached
    except (OSError, ValueError):  # not written yet, or damaged: written again
        pass
    if not write:
        return None
    made = preprocess.prepare_batch(x)
    try:
        from digitlab.files import replace_durably, temp_file

        tmp = temp_file(target, ".tmp.npy")
        try:
            np.save(tmp, made)
            replace_durably(tmp, target)  # atomic: processes sharing a host may write it at once
        finally:
            tmp.unlink(missing_ok=True)
        return np.load(target, mmap_mode="r")
    except OSError:  # a read-only checkout or a full disk: the prepared split, unkept
        return made
