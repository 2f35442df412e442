"""digitlab.data: lookup order, validation of what was loaded, the validation split."""

from pathlib import Path

import numpy as np
import pytest

from digitlab import data
from digitlab.data import mnist as mnist_module


def test_loads_real_mnist_and_carves_validation_from_train(mnist_path):
    m = data.load_mnist(mnist_path)
    assert m.x_train.shape == (55000, 28, 28) and m.x_val.shape == (5000, 28, 28)
    assert m.x_test.shape == (10000, 28, 28) and m.x_train.dtype == np.uint8
    # stratified: every digit is in the validation split in about its usual share
    counts = np.bincount(m.y_val, minlength=10)
    assert counts.min() > 400 and counts.max() < 600
    # the split is fixed (independent of any training seed) and disjoint
    again = data.load_mnist(mnist_path)
    assert np.array_equal(m.y_val, again.y_val)
    assert m.fingerprint == again.fingerprint and m.fingerprint.startswith("sha256:")
    train_rows = {r.tobytes() for r in m.x_train[:5000]}
    assert not any(r.tobytes() in train_rows for r in m.x_val[:500])


def test_env_var_is_used(monkeypatch, mnist_path):
    monkeypatch.setenv(data.ENV_VAR, str(mnist_path))
    assert data.load_mnist().source == str(mnist_path)


def test_keras_layout_matches_file(mnist_path):
    (x_train, y_train), (x_test, y_test) = data.load_keras_layout(mnist_path)
    with np.load(mnist_path) as f:
        assert np.array_equal(x_test, f["x_test"]) and np.array_equal(y_train, f["y_train"])


def _write(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.fixture
def small_arrays(mnist_path):
    with np.load(mnist_path) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda a: a.pop("y_test"), "missing keys"),
        (lambda a: a.__setitem__("x_train", a["x_train"].astype(np.float32)), "dtype"),
        (lambda a: a.__setitem__("x_test", a["x_test"][:, :20, :20]), "shape"),
        (lambda a: a.__setitem__("y_train", np.where(a["y_train"] == 9, 12, a["y_train"]).astype(np.uint8)), "outside 0-9"),
    ],
)
def test_wrong_files_are_refused_loudly(tmp_path, small_arrays, mutate, message):
    mutate(small_arrays)
    bad = _write(tmp_path / "bad.npz", **small_arrays)
    with pytest.raises(data.DataError, match=message):
        data.load_mnist(bad)


def test_not_an_npz_is_refused(tmp_path):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"this is not a zip archive")
    with pytest.raises(data.DataError, match="cannot be read"):
        data.load_mnist(bad)


def test_nothing_found_names_the_env_var(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(mnist_module, "KERAS_CACHE", tmp_path / "none.npz")
    import keras

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(data.DataError, match=data.ENV_VAR):
        data.load_mnist()


def test_missing_explicit_path(tmp_path):
    with pytest.raises(data.DataError, match="does not exist"):
        data.load_mnist(tmp_path / "nope.npz")


def test_memory_mapped_mnist_is_the_same_data_written_once(mnist_path, tmp_path, monkeypatch):
    """load_mnist_mapped: the same splits, source and fingerprint as load_mnist, as read-only memory maps of a
    cached copy written once per file; a damaged copy is written again, never read."""
    import shutil

    from digitlab import paths

    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    mine = tmp_path / "mnist.npz"
    shutil.copyfile(mnist_path, mine)
    full = data.load_mnist(mine)
    mapped = data.load_mnist_mapped(mine)
    for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        a = getattr(mapped, k)
        assert isinstance(a, np.memmap) and not a.flags.writeable, k
        assert np.array_equal(a, getattr(full, k)), k
    assert (mapped.source, mapped.fingerprint) == (full.source, full.fingerprint)
    [folder] = (tmp_path / "runs" / "cache").iterdir()
    written = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert set(written) == {"meta.json", *(f"{k}.npy" for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"))}
    data.load_mnist_mapped(mine)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == written, "read again, not written again"
    (folder / "x_test.npy").write_bytes(b"not an npy file")
    again = data.load_mnist_mapped(mine)
    assert np.array_equal(again.x_test, full.x_test), "the damaged copy is written again"
