"""digitlab.data.load: lookup order, validation of what was loaded, the validation split, the one cache."""

import numpy as np
import pytest

from digitlab import data, preprocess
from digitlab.data import mnist as mnist_module

SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


@pytest.fixture
def scratch_cache(tmp_path, monkeypatch):
    """The cache under a scratch runs/ folder: what a test writes there is its own."""
    from digitlab import paths

    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    return tmp_path / "runs" / "cache"


def test_loads_real_mnist_and_carves_validation_from_train(mnist_path):
    m = data.load(mnist_path)
    assert m.x_train.shape == (55000, 28, 28) and m.x_val.shape == (5000, 28, 28)
    assert m.x_test.shape == (10000, 28, 28) and m.x_train.dtype == np.uint8 and not m.prepared
    # stratified: every digit is in the validation split in about its usual share
    counts = np.bincount(m.y_val, minlength=10)
    assert counts.min() > 400 and counts.max() < 600
    # the split is fixed (independent of any training seed) and disjoint
    again = data.load(mnist_path)
    assert np.array_equal(m.y_val, again.y_val)
    assert m.fingerprint == again.fingerprint and m.fingerprint.startswith("sha256:")
    train_rows = {r.tobytes() for r in m.x_train[:5000]}
    assert not any(r.tobytes() in train_rows for r in m.x_val[:500])


def test_env_var_is_used(monkeypatch, mnist_path):
    monkeypatch.setenv(data.ENV_VAR, str(mnist_path))
    assert data.load().source == str(mnist_path)


def test_no_validation_split_is_the_file_as_it_is(mnist_path, mnist_arrays):
    """val_size=0: train is the file's 60,000 digits in its order (what the keras-io reference trains on)."""
    m = data.load(mnist_path, val_size=0)
    (x_train, y_train), (x_test, y_test) = mnist_arrays
    assert len(m.x_val) == 0 and np.array_equal(m.x_train, x_train) and np.array_equal(m.y_train, y_train)
    assert np.array_equal(m.x_test, x_test) and m.fingerprint == data.load(mnist_path).fingerprint
    split = data.load(mnist_path)  # the same digits, train and validation together
    assert sorted(np.concatenate([split.y_train, split.y_val]).tolist()) == sorted(y_train.tolist())


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: {"y_test": None}, "missing keys"),
        (lambda a: {"x_train": a[0][0].astype(np.float32)}, "dtype"),
        (lambda a: {"x_test": a[1][0][:, :20, :20]}, "shape"),
        (lambda a: {"y_train": np.where(a[0][1] == 9, 12, a[0][1]).astype(np.uint8)}, "outside 0-9"),
        (lambda a: {"y_test": np.where(a[1][1] == 3, 2, a[1][1]).astype(np.uint8)}, "all ten digits"),
    ],
)
def test_wrong_files_are_refused_loudly(tmp_path, scratch_cache, mnist_arrays, mnist_file_with, change, message):
    bad = mnist_file_with(tmp_path / "bad.npz", **change(mnist_arrays))
    with pytest.raises(data.DataError, match=message):
        data.load(bad)
    assert not scratch_cache.exists() or not list(scratch_cache.iterdir()), "a refused file is never cached"


def test_not_an_npz_is_refused(tmp_path, scratch_cache):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"this is not a zip archive")
    with pytest.raises(data.DataError, match="cannot be read"):
        data.load(bad)


def test_nothing_found_names_the_env_var(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(mnist_module, "KERAS_CACHE", tmp_path / "none.npz")
    import keras

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(data.DataError, match=data.ENV_VAR):
        data.load()


def test_missing_explicit_path(tmp_path):
    with pytest.raises(data.DataError, match="does not exist"):
        data.load(tmp_path / "nope.npz")


def test_missing_env_path_names_the_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "nope.npz"))
    with pytest.raises(data.DataError, match=f"\\${data.ENV_VAR} points at"):
        data.load()


def test_the_cache_is_memory_maps_written_once(mnist_path, mnist_arrays, tmp_path, scratch_cache, mnist_file_with):
    """The splits are read-only memory maps of a copy written once per file; a damaged copy is written
    again, never read; another file (a pixel changed) is another copy with another fingerprint."""
    reference = data.load(mnist_path)
    mine = mnist_file_with(tmp_path / "mnist.npz")
    mapped = data.load(mine)
    for k in SPLITS:
        a = getattr(mapped, k)
        assert isinstance(a, np.memmap) and not a.flags.writeable, k
        assert np.array_equal(a, getattr(reference, k)), k
    assert (mapped.source, mapped.fingerprint) == (str(mine), reference.fingerprint)
    folder = mapped.folder
    assert folder.parent == scratch_cache and folder != reference.folder
    written = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert set(written) == {"meta.json", *(f"{k}.npy" for k in SPLITS)}
    data.load(mine)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == written, "read again, not written again"
    (folder / "x_test.npy").write_bytes(b"not an npy file")
    again = data.load(mine)
    assert np.array_equal(again.x_test, reference.x_test), "the damaged copy is written again"
    x_train = mnist_arrays[0][0].copy()
    x_train[0, 14, 14] ^= 0xFF
    other = data.load(mnist_file_with(tmp_path / "other.npz", x_train=x_train))
    assert other.fingerprint != reference.fingerprint and len(list(scratch_cache.iterdir())) == 3


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_inputs_are_the_one_preprocessing_path_however_they_are_made(mnist_path, tmp_path, scratch_cache, mnist_file_with):
    """A few digits of a split not prepared yet are prepared on their own; the whole split is prepared into
    the cache once and read from it after: the same values either way, and as prepare_batch makes them."""
    m = data.load(mnist_file_with(tmp_path / "mnist.npz"))
    idx = m.indices("test", 50, seed=3)
    assert len(idx) == 50 and np.all(np.diff(idx) > 0) and np.array_equal(idx, m.indices("test", 50, seed=3))
    alone, y_alone = m.inputs("test", 50, seed=3)
    assert np.array_equal(alone, preprocess.prepare_batch(m.x_test[idx])) and y_alone.dtype == np.int64
    assert np.array_equal(y_alone, m.y_test[idx])
    assert not list(m.folder.glob("inputs-v*/*")), "a few digits are not kept"
    whole, y = m.inputs("test")
    assert isinstance(whole, np.memmap) and whole.shape == (10000, 28, 28) and whole.dtype == np.float32
    assert [p.name for p in m.folder.glob("inputs-v*/*")] == ["x_test.npy"]
    assert np.array_equal(m.inputs("test", 50, seed=3)[0], alone), "read from the cache: the same values"
    assert np.array_equal(m.inputs("test", indices=idx[::-1])[0], alone[::-1]), "in the order asked"
    with pytest.raises(ValueError, match="unknown split"):
        m.inputs("dev")


def test_prepared_and_dry_run(mnist_path):
    d = data.load(mnist_path, prepared=True, dry_run=True)
    assert d.prepared and [len(getattr(d, f"x_{s}")) for s in ("train", "val", "test")] == list(data.DRY_RUN_SIZES.values())
    raw = data.load(mnist_path)
    assert np.array_equal(d.x_val, preprocess.prepare_batch(raw.x_val[: data.DRY_RUN_SIZES["val"]]))
    assert d.y_test.dtype == np.int64 and np.array_equal(d.y_test, raw.y_test[: len(d.y_test)])
    assert np.array_equal(d.inputs("val", indices=[3, 1])[0], d.x_val[[3, 1]]), "a prepared Mnist's inputs are its own"
    assert d.fingerprint == raw.fingerprint
