"""Builders, and save / load / list of models, including refusal of bad model files."""

import json
import zipfile

import keras
import numpy as np
import pytest

from digitlab.models import archive, artifacts, builders
from digitlab.serving.classifiers import Classifier


@pytest.fixture(autouse=True)
def fresh_validation(tmp_path_factory, monkeypatch):
    """Every test validates for real: no verdict cached by an earlier test or run (archive.INSPECTION_CACHE)."""
    monkeypatch.setattr(archive, "INSPECTION_CACHE", tmp_path_factory.mktemp("verdicts"))
    monkeypatch.setattr(archive, "RECORDS", {})
    monkeypatch.setattr(artifacts, "_SHAS", {})


@pytest.mark.parametrize("builder", ["baseline", "cnn", "advanced"])
def test_builders_are_functional_28x28_to_10_with_named_layers(builder):
    m = builders.build(builder)
    assert isinstance(m, keras.Model) and not isinstance(m, keras.Sequential)
    assert tuple(m.inputs[0].shape[1:]) == (28, 28, 1) and tuple(m.outputs[0].shape[1:]) == (10,)
    assert m.get_layer("logits") is not None and m.layers[-1].name == "probs"
    if builder != "baseline":
        assert isinstance(m.get_layer(builders.LAST_CONV), (keras.layers.Conv2D, keras.layers.SeparableConv2D))
    y = np.asarray(m(np.zeros((2, 28, 28, 1), np.float32)))
    assert y.shape == (2, 10) and np.allclose(y.sum(1), 1, atol=1e-5)
    assert not m.compiled  # builders do not compile


def test_unknown_builder():
    with pytest.raises(KeyError, match="known"):
        builders.build("resnet152")


def _card(name):
    return {"name": name, "metrics": {"test_accuracy": 0.5}, "params": 7850}


def test_save_list_load_round_trip(tmp_path):
    m = builders.build_baseline()
    path = artifacts.save_model(m, _card("tiny"), "tiny", tmp_path, extras={".history.json": b"{}"})
    assert path == tmp_path / "tiny.keras"
    card = json.loads((tmp_path / "tiny.json").read_text())
    assert card["file_bytes"] == path.stat().st_size
    [entry] = artifacts.list_models(tmp_path)
    assert entry.usable and entry.layout == "28x28x1" and entry.outputs == "probabilities"
    assert "test 50.00%" in entry.headline()
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    assert np.allclose(Classifier(entry).predict_proba(x), np.asarray(m(x[..., None])), atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_interrupted_save_leaves_old_model_intact(tmp_path):
    artifacts.save_model(builders.build_baseline(), _card("m"), "m", tmp_path)
    before = (tmp_path / "m.keras").read_bytes()

    class Exploding:
        def save(self, path):
            with open(path, "wb") as f:
                f.write(b"half a model")
            raise KeyboardInterrupt  # the user pressed Ctrl-C mid-save

    with pytest.raises(KeyboardInterrupt):
        artifacts.save_model(Exploding(), _card("m"), "m", tmp_path, overwrite=True)
    assert (tmp_path / "m.keras").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.keras"]


def test_a_model_is_replaced_only_when_asked(tmp_path):
    artifacts.save_model(builders.build_baseline(), _card("m"), "m", tmp_path)
    before = (tmp_path / "m.keras").read_bytes()
    with pytest.raises(artifacts.ModelError, match="not replaced"):
        artifacts.save_model(builders.build_baseline(), _card("m"), "m", tmp_path)
    assert (tmp_path / "m.keras").read_bytes() == before
    assert artifacts.free_name(tmp_path, "m") == "m_2" and artifacts.free_name(tmp_path, "m", overwrite=True) == "m"
    assert artifacts.free_name(tmp_path, "other") == "other"


def _lambda_model():
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    x = keras.layers.Flatten()(x)
    return keras.Model(inp, keras.layers.Dense(10, activation="softmax")(x))


def _wrong_input_model():
    inp = keras.Input((32, 32, 3))
    return keras.Model(inp, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inp)))


def _wrong_output_model():
    inp = keras.Input((28, 28, 1))
    return keras.Model(inp, keras.layers.Dense(5, activation="softmax")(keras.layers.Flatten()(inp)))


def test_bad_files_are_listed_unusable_with_reasons_and_others_keep_working(tmp_path):
    artifacts.save_model(builders.build_baseline(), _card("good"), "good", tmp_path)
    (tmp_path / "garbage.keras").write_bytes(b"\x00not a zip at all")
    (tmp_path / "empty.keras").write_bytes(b"")
    good = (tmp_path / "good.keras").read_bytes()
    (tmp_path / "truncated.keras").write_bytes(good[: len(good) // 2])
    _lambda_model().save(tmp_path / "lambda.keras")
    _wrong_input_model().save(tmp_path / "rgb32.keras")
    _wrong_output_model().save(tmp_path / "five.keras")
    # a zip whose config is missing
    with zipfile.ZipFile(tmp_path / "noconfig.keras", "w") as z:
        z.writestr("metadata.json", "{}")
    entries = {e.name: e for e in artifacts.list_models(tmp_path)}
    assert entries["good"].usable and artifacts.resolve(None, tmp_path).name == "good"
    reasons = {n: e.reason for n, e in entries.items() if not e.usable}
    assert set(reasons) == {"garbage", "empty", "truncated", "lambda", "rgb32", "five", "noconfig"}
    assert "not a Keras 3 .keras archive" in reasons["garbage"]
    assert "empty" in reasons["empty"]
    assert "safe mode" in reasons["lambda"]
    assert "input shape" in reasons["rgb32"]
    assert "10 classes" in reasons["five"]
    assert "no config.json" in reasons["noconfig"]


def test_other_layouts_and_logit_outputs_are_adapted(tmp_path):
    inp = keras.Input((784,))
    keras.Model(inp, keras.layers.Dense(10)(inp)).save(tmp_path / "flat_logits.keras")  # no softmax
    seq = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    seq.save(tmp_path / "seq.keras")
    entries = {e.name: e for e in artifacts.list_models(tmp_path)}
    assert (entries["flat_logits"].layout, entries["flat_logits"].outputs) == ("784", "logits")
    assert (entries["seq"].layout, entries["seq"].outputs) == ("28x28", "probabilities")
    x = np.random.default_rng(1).random((3, 28, 28), dtype=np.float32)
    p = Classifier(entries["flat_logits"]).predict_proba(x)
    assert np.allclose(p.sum(1), 1, atol=1e-5)


def test_install_refuses_bad_uploads_and_writes_nothing(tmp_path):
    with pytest.raises(artifacts.ModelError, match="safe mode"):
        buf = tmp_path.parent / "upload_lambda.keras"
        _lambda_model().save(buf)
        artifacts.install_model_file(buf.read_bytes(), "evil.keras", tmp_path)
    with pytest.raises(artifacts.ModelError, match="only Keras 3"):
        artifacts.install_model_file(b"x", "model.h5", tmp_path)
    with pytest.raises(artifacts.ModelError, match="limit"):
        artifacts.install_model_file(b"x" * (artifacts.MAX_MODEL_BYTES + 1), "big.keras", tmp_path)
    assert list(tmp_path.iterdir()) == []
    good = tmp_path.parent / "upload_good.keras"
    builders.build_baseline().save(good)
    entry = artifacts.install_model_file(good.read_bytes(), "My model (v2).keras", tmp_path)
    assert entry.usable and entry.name == "My_model_v2" and (tmp_path / "My_model_v2.keras").is_file()
    with pytest.raises(artifacts.ModelError, match="already exists"):
        artifacts.install_model_file(good.read_bytes(), "My model (v2).keras", tmp_path)


def test_resolve_errors_are_clear(tmp_path):
    with pytest.raises(artifacts.ModelError, match="no usable model"):
        artifacts.resolve(None, tmp_path)
    with pytest.raises(artifacts.ModelError, match="no model 'nope'"):
        artifacts.resolve("nope", tmp_path)


def test_saved_files_are_readable_by_others(tmp_path):
    import os
    import stat

    artifacts.save_model(builders.build_baseline(), _card("perm"), "perm", tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    for p in tmp_path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p.name


def test_a_dangling_symlink_is_listed_as_unusable_and_the_others_still_work(tmp_path, committed_models):
    """One broken link in models/ used to end every listing (and the CLI, Home, Models) in a traceback."""
    cnn = next(e for e in committed_models if e.name == "mnist_cnn")
    (tmp_path / "mnist_cnn.keras").symlink_to(cnn.path)
    (tmp_path / "gone.keras").symlink_to(tmp_path / "nowhere.keras")
    entries = artifacts.list_models(tmp_path)
    assert [(e.name, e.usable) for e in entries] == [("mnist_cnn", True), ("gone", False)]
    assert "cannot be read" in entries[1].reason
    assert artifacts.resolve(None, tmp_path).name == "mnist_cnn"
