"""MNIST: the one owner of "MNIST as model inputs".

    load_mnist(path)            raw uint8 digits, validated, train split into train + validation
    load_mnist_mapped(path)     the same, as memory maps of a cached copy (a few digits read, a few pages held)
    prepared_mnist(path)        all three splits through ``digitlab.preprocess`` (disk-cached)
    prepared(split, n, seed)    some or all digits of one split as model inputs

Lookup order, for every script, page and test alike: an explicit path (``--mnist``) ->
``$DIGITLAB_MNIST`` -> ``~/.keras/datasets/mnist.npz`` -> ``keras.datasets.mnist.load_data()``
(download, which also fills the keras cache).  Whatever is found is checked before use: a wrong
file is refused loudly.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_VAR = "DIGITLAB_MNIST"
KERAS_CACHE = Path.home() / ".keras" / "datasets" / "mnist.npz"
DRY_RUN_SIZES = {"train": 1024, "val": 256, "test": 256}  # digits per split in --dry-run
VAL_SIZE = 5000  # carved from train; test is never used for tuning or checkpoint choice
SPLIT_SEED = 20240101  # fixed, independent of the training seed, so every model sees the same split

EXPECTED = {  # key: (shape, dtype)
    "x_train": ((60000, 28, 28), np.uint8),
    "y_train": ((60000,), np.uint8),
    "x_test": ((10000, 28, 28), np.uint8),
    "y_test": ((10000,), np.uint8),
}


class DataError(RuntimeError):
    """MNIST could not be found, or what was found is not MNIST in keras layout."""


@dataclass(frozen=True)
class Mnist:
    """The three splits of MNIST: raw (``load_mnist``: uint8 images (N, 28, 28), 0 = background,
    255 = ink, uint8 labels) or as model inputs (``prepared_mnist``: float32 in [0, 1], int64 labels)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    fingerprint: str


def validate_arrays(arrays: dict[str, np.ndarray], source: str, *, strict_sizes: bool = True) -> None:
    """Raise DataError unless ``arrays`` is MNIST in keras layout."""
    missing = sorted(set(EXPECTED) - set(arrays))
    if missing:
        raise DataError(f"{source}: not MNIST in keras layout, missing keys {missing} (has {sorted(arrays)})")
    for key, (shape, dtype) in EXPECTED.items():
        a = arrays[key]
        if a.dtype != dtype:
            raise DataError(f"{source}: {key} has dtype {a.dtype}, expected {np.dtype(dtype)}")
        want = shape if strict_sizes else (a.shape[0], *shape[1:])
        if a.shape != want:
            raise DataError(f"{source}: {key} has shape {a.shape}, expected {want}")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(x) != len(y):
            raise DataError(f"{source}: {len(x)} {split} images but {len(y)} labels")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DataError(f"{source}: y_{split} has labels outside 0-9 ({y.min()}..{y.max()})")
        if y.size and len(np.unique(y)) != 10:
            raise DataError(f"{source}: y_{split} does not contain all ten digits")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:  # not a zip / not an npz / truncated
        raise DataError(f"{path}: cannot be read as an .npz file ({e})") from e


def _located(path: str | os.PathLike | None = None) -> Path | None:
    """The file the lookup order names: ``path``, else ``$DIGITLAB_MNIST``, else the keras cache when it
    exists; None when only a download is left.  A path that is named but missing raises DataError."""
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
    return KERAS_CACHE if KERAS_CACHE.is_file() else None


def find_mnist(path: str | os.PathLike | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Return (arrays, source description) following the documented lookup order."""
    p = _located(path)
    if p is not None:
        return _read_npz(p), str(p)
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as e:  # no internet, proxy, ...: one clear message
        raise DataError(
            f"MNIST not found: pass a path, set ${ENV_VAR} to an .npz in keras layout "
            f"(x_train, y_train, x_test, y_test), or allow keras to download it ({e})"
        ) from e
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return arrays, "keras.datasets.mnist (download)"


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the four arrays, so a model card says exactly which data it saw."""
    h = hashlib.sha256()
    for key in sorted(EXPECTED):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return "sha256:" + h.hexdigest()[:16]


def split_validation(x: np.ndarray, y: np.ndarray, val_size: int = VAL_SIZE, seed: int = SPLIT_SEED):
    """Stratified split of train into (x_train, y_train, x_val, y_val)."""
    from sklearn.model_selection import train_test_split

    x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=val_size, random_state=seed, stratify=y)
    return x_tr, y_tr, x_val, y_val


def load_mnist(path: str | os.PathLike | None = None, *, val_size: int = VAL_SIZE) -> Mnist:
    """Load, validate and split MNIST. See the module docstring for the lookup order."""
    arrays, source = find_mnist(path)
    validate_arrays(arrays, source)
    x_tr, y_tr, x_val, y_val = split_validation(arrays["x_train"], arrays["y_train"], val_size)
    return Mnist(x_tr, y_tr, x_val, y_val, arrays["x_test"], arrays["y_test"], source, fingerprint(arrays))


def load_keras_layout(path: str | os.PathLike | None = None):
    """``((x_train, y_train), (x_test, y_test))`` exactly like ``keras.datasets.mnist.load_data()``."""
    arrays, source = find_mnist(path)
    validate_arrays(arrays, source)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def mnist_file(path: str | os.PathLike | None = None) -> Path:
    """The MNIST file the lookup order finds, downloading it into the keras cache when nothing is
    found (the tests' fixture: they read the file directly)."""
    p = _located(path)
    if p is None:
        find_mnist()  # downloads into the keras cache, or raises DataError saying what to do
    return p or KERAS_CACHE


# ----------------------------------------------------------------------------- MNIST as memory maps

_MAPPED = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def _mapped_folder(source: Path, val_size: int) -> Path:
    from digitlab.paths import RUNS_DIR

    st = source.stat()
    key = hashlib.sha256(f"{source.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0{val_size}\0{SPLIT_SEED}".encode()).hexdigest()[:16]
    return RUNS_DIR / "cache" / f"mnist-raw-{key}"


def _open_mapped(folder: Path) -> Mnist | None:
    import json

    try:
        info = json.loads((folder / "meta.json").read_text())
        arrays = {k: np.load(folder / f"{k}.npy", mmap_mode="r") for k in _MAPPED}
        if any(arrays[f"x_{s}"].shape[1:] != (28, 28) or len(arrays[f"x_{s}"]) != len(arrays[f"y_{s}"]) for s in ("train", "val", "test")):
            return None
        return Mnist(**arrays, source=info["source"], fingerprint=info["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError):  # not written yet, or damaged: written again
        return None


def load_mnist_mapped(path: str | os.PathLike | None = None, *, val_size: int = VAL_SIZE) -> Mnist:
    """``load_mnist``'s splits as read-only memory maps: .npy files in the cache folder, written once per
    MNIST file (its path, size and modification time) and split.  A reader that looks at a few digits at a
    time holds only their pages, not 55 MB (the app's Data page)."""
    import json
    import shutil

    source = mnist_file(path)
    folder = _mapped_folder(source, val_size)
    if (mapped := _open_mapped(folder)) is not None:
        return mapped
    m = load_mnist(source, val_size=val_size)
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for k in _MAPPED:
        np.save(tmp / f"{k}.npy", np.ascontiguousarray(getattr(m, k)))
    (tmp / "meta.json").write_text(json.dumps({"source": m.source, "fingerprint": m.fingerprint, "val_size": val_size}))
    shutil.rmtree(folder, ignore_errors=True)  # a damaged copy
    try:
        tmp.rename(folder)  # whole or not at all
    except OSError:  # another process got there first
        shutil.rmtree(tmp, ignore_errors=True)
    return _open_mapped(folder) or m


# ----------------------------------------------------------------------------- MNIST as model inputs


def _cache_file(fp: str, val_size: int) -> Path:
    from digitlab import preprocess
    from digitlab.paths import RUNS_DIR

    return RUNS_DIR / "cache" / f"mnist-{fp[7:]}-v{preprocess.PREPROCESS_VERSION}-val{val_size}.npz"


def prepared_mnist(path: str | os.PathLike | None = None, *, raw: Mnist | None = None, val_size: int = VAL_SIZE,
                   dry_run: bool = False) -> Mnist:
    """Every split sent through ``preprocess.prepare_batch``: x float32 (N, 28, 28) in [0, 1], y int64.

    Cached on disk per data fingerprint, preprocessing version and validation size (preparing all
    70,000 digits takes ~20 s); ``dry_run``: the first ``DRY_RUN_SIZES`` digits of each split, not cached.
    ``raw``: the already loaded ``load_mnist`` result (it is not read again).
    """
    from digitlab import preprocess
    from digitlab.files import atomic_write_bytes

    raw = raw if raw is not None else load_mnist(path, val_size=val_size)
    splits = {k: (getattr(raw, f"x_{k}"), getattr(raw, f"y_{k}")) for k in ("train", "val", "test")}
    if dry_run:
        splits = {k: (x[: DRY_RUN_SIZES[k]], y[: DRY_RUN_SIZES[k]]) for k, (x, y) in splits.items()}
    cache = _cache_file(raw.fingerprint, val_size)
    if not dry_run and cache.is_file():
        with np.load(cache) as f:
            arrays = {k: f[k] for k in f.files}
    else:
        arrays = {}
        for k, (x, y) in splits.items():
            arrays[f"x_{k}"] = preprocess.prepare_batch(x)
            arrays[f"y_{k}"] = y.astype(np.int64)
        if not dry_run:
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            atomic_write_bytes(cache, buf.getvalue())  # atomic: workers sharing a host may write it at once
    return Mnist(**arrays, source=raw.source, fingerprint=raw.fingerprint)


@functools.lru_cache(maxsize=2)
def _raw(path: str | None, test_only: bool = False) -> Mnist:
    """Loaded MNIST, kept once per process; ``test_only``: the test split alone (8 MB, not 55 MB: what
    the app and the measurements need), train and validation left empty."""
    if not test_only:
        return load_mnist(path)
    arrays, source = find_mnist(path)
    validate_arrays(arrays, source)
    empty_x, empty_y = arrays["x_train"][:0].copy(), arrays["y_train"][:0].copy()
    return Mnist(empty_x, empty_y, empty_x, empty_y, arrays["x_test"], arrays["y_test"], source, fingerprint(arrays))


_SPLITS: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}  # whole prepared splits of one MNIST file, once per process


def _prepared_split(raw: Mnist, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One whole split as model inputs: read alone from ``prepared_mnist``'s disk cache when it is
    there (the test split is 31 MB; all three are 220 MB), else prepared alone (not cached on disk)."""
    from digitlab import preprocess

    key = (raw.fingerprint, split)
    if key not in _SPLITS:
        if any(k[0] != raw.fingerprint for k in _SPLITS):
            _SPLITS.clear()
        cache = _cache_file(raw.fingerprint, VAL_SIZE)
        try:
            with np.load(cache) as f:
                x, y = f[f"x_{split}"], f[f"y_{split}"]
        except (OSError, KeyError, ValueError):  # no cache yet, or one being written
            x, y = preprocess.prepare_batch(getattr(raw, f"x_{split}")), getattr(raw, f"y_{split}").astype(np.int64)
        for a in (x, y):
            a.setflags(write=False)  # shared by every caller in this process
        _SPLITS[key] = (x, y)
    return _SPLITS[key]


def sample(total: int, n: int | None, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` of ``total`` digits drawn at random with ``seed``, in their original order (all when None)."""
    if n is None or n >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, n, replace=False))


def prepared(split: str = "test", n: int | None = None, seed: int = 0, *, indices=None,
             path: str | os.PathLike | None = None, raw: Mnist | None = None, dry_run: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Digits of one split ("train", "val" or "test") as model inputs: (x (n, 28, 28) float32, y (n,) int64).

    ``n`` digits drawn with ``seed`` by ``sample`` (all when None), or the given ``indices``.  The same
    values whichever way they are made: a whole split comes from ``prepared_mnist`` (and its disk
    cache); a subset is prepared on its own (~0.3 ms a digit), which keeps memory small.  Loaded MNIST stays in memory once per process;
    ``raw``: an already loaded ``load_mnist`` result to take the digits from.
    """
    if split not in DRY_RUN_SIZES:
        raise ValueError(f"unknown split {split!r}; one of {sorted(DRY_RUN_SIZES)}")
    if dry_run:
        d = prepared_mnist(path, raw=raw, dry_run=True)
        x, y = getattr(d, f"x_{split}"), getattr(d, f"y_{split}")
        idx = sample(len(x), n, seed) if indices is None else np.asarray(indices, np.int64).reshape(-1)
        return x[idx], y[idx]
    raw = raw if raw is not None else _raw(None if path is None else str(path), test_only=split == "test")
    x_raw, y_raw = getattr(raw, f"x_{split}"), getattr(raw, f"y_{split}")
    idx = sample(len(x_raw), n, seed) if indices is None else np.asarray(indices, np.int64).reshape(-1)
    if len(idx) == len(x_raw):
        return _prepared_split(raw, split)
    from digitlab import preprocess

    return preprocess.prepare_batch(x_raw[idx]), y_raw[idx].astype(np.int64)
