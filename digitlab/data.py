"""MNIST loading (offline first), validation, train/validation split, fingerprint.

Lookup order for ``load_mnist``: an explicit path -> ``$DIGITLAB_MNIST`` ->
``~/.keras/datasets/mnist.npz`` -> ``keras.datasets.mnist.load_data()`` (download).
Whatever is found is checked before use: a wrong file is refused loudly.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_VAR = "DIGITLAB_MNIST"
KERAS_CACHE = Path.home() / ".keras" / "datasets" / "mnist.npz"
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
    """MNIST as uint8 images (N, 28, 28), 0 = background, 255 = ink, and uint8 labels (N,)."""

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


def find_mnist(path: str | os.PathLike | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Return (arrays, source description) following the documented lookup order."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise DataError(f"MNIST file {p} does not exist")
        return _read_npz(p), str(p)
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise DataError(f"${ENV_VAR} points at {p}, which does not exist")
        return _read_npz(p), str(p)
    if KERAS_CACHE.is_file():
        return _read_npz(KERAS_CACHE), str(KERAS_CACHE)
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
