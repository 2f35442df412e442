"""Serving without TensorFlow (digitlab.serving.runtime): the committed models answer through ONNX Runtime
with the Keras model's labels, probabilities (within 1e-5) and abstain decisions; the serving path never
imports TensorFlow; a model dropped into models/ is converted once, a refused one is remembered."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from support import MODELS, link_models

from digitlab import files, preprocess
from digitlab.models import artifacts
from digitlab.serving import classifiers, gate, runtime, store

N_PARITY = 300  # MNIST test digits per model (evaluation/serving.py --parity 10000 runs the whole split)


def test_every_committed_model_and_the_gate_have_their_serving_file(committed_models):
    """A clone serves without converting anything: models/serving/ holds the ONNX file of every committed
    model and of the gate, under the hash of the file as committed (python evaluation/serving.py)."""
    for path in [e.path for e in committed_models] + [gate.GATE_PATH]:
        onnx = MODELS / runtime.SERVING_SUBDIR / f"{runtime.file_key(path)}.onnx"
        assert onnx.is_file(), f"{path.name} changed without its serving file: run python evaluation/serving.py"
        record = runtime.record(onnx)
        assert record["source"] == path.name and record["probe_max_abs_dp"] <= 1e-5
        assert set(record) <= runtime.RECORD_KEYS, "a record holds what the converter and runtime write, nothing typed in"
        assert set(record) >= runtime.RECORD_KEYS - {"onnx_sha256"}  # the file's own sha256: records written before it lack it
        assert record["sha256"] == onnx.stem
        assert record.get("onnx_sha256", files.sha256(onnx)[len("sha256:"):]) == files.sha256(onnx)[len("sha256:"):]


def test_served_predictions_are_the_keras_models_on_real_mnist_pngs(committed_models, mnist_test):
    x, y = mnist_test
    prepared = [preprocess.prepare(files.png_bytes(x[i])) for i in range(N_PARITY)]
    keras_gate = gate.default()
    for entry in committed_models:
        served = runtime.load(entry.name, MODELS)
        assert served.backend == "onnx" and served.model is None and served.gate.backend == "onnx"
        got = served.predict_prepared(prepared)
        want = classifiers.Classifier(entry, "keras", keras_gate).predict_prepared(prepared)
        dp = np.abs(np.stack([p.probabilities for p in got]) - np.stack([p.probabilities for p in want])).max()
        assert dp <= 1e-5, f"{entry.name}: max |dp| {dp:.2g}"
        assert [p.label for p in got] == [p.label for p in want], entry.name
        assert [p.abstain for p in got] == [p.abstain for p in want], entry.name
        # the same reasons with the same figures; a figure printed to 0.1% may round the other way when the two
        # runtimes differ by 1e-7 right at a rounding boundary (a gate at 99.95%), so figures match within 0.1
        number = re.compile(r"\d+(?:\.\d+)?")
        assert [number.sub("#", p.reason) for p in got] == [number.sub("#", p.reason) for p in want], entry.name
        for g, w in zip(got, want):
            assert np.allclose([float(v) for v in number.findall(g.reason)], [float(v) for v in number.findall(w.reason)], atol=0.11), entry.name
        assert np.mean([p.label == t for p, t in zip(got, y[:N_PARITY])]) > 0.9


def test_the_serving_path_never_imports_tensorflow(tmp_path, mnist_test):
    models = link_models(tmp_path / "models", ["mnist_cnn", "mnist_baseline"])
    x, y = mnist_test
    picture = tmp_path / "digit.png"
    picture.write_bytes(files.png_bytes(x[1]))
    code = f"""
import json, sys
from digitlab.serving import runtime
listed = [(e.name, e.usable) for e in runtime.list_models({str(models)!r})]
p = runtime.load(None, {str(models)!r}).predict_picture({str(picture)!r})
print(json.dumps({{"listed": listed, "label": p.label, "abstain": p.abstain, "reason": p.reason,
                   "tf": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))}}))
"""
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout)
    assert out["tf"] == [], out["tf"]
    assert out["listed"] == [["mnist_cnn", True], ["mnist_baseline", True]]
    assert out["label"] == int(y[1]) and not out["abstain"] and "digit gate" in out["reason"]  # the gate ran, through ONNX


def _tiny_model(path):
    import keras

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10)(x)  # logits: served as probabilities
    model = keras.Model(inputs, outputs)
    model.save(path)
    return model


@pytest.mark.slow
def test_a_dropped_in_model_is_listed_at_once_converted_on_first_use_and_a_refused_file_is_remembered(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    model = _tiny_model(models / "mine.keras")
    (models / "broken.keras").write_bytes(b"PK\x03\x04 not really a zip")
    calls = []
    real_run = subprocess.run

    def counting_run(command, *args, **kwargs):
        calls.append(command)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(store.subprocess, "run", counting_run)
    first = {e.name: e for e in runtime.list_models(models)}
    assert first["mine"].usable and first["mine"].pending and first["mine"].outputs is None
    assert "checked when first used" in first["mine"].headline()
    assert not first["broken"].usable and first["broken"].reason.startswith("broken.keras: not a Keras 3 .keras archive")
    assert calls == [], "listing converts nothing: the broken file is refused by the checks that need no TensorFlow"
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    want = keras_softmax(model(x[..., None]).numpy())
    served = runtime.load("mine", models)  # first use: converted now
    assert len(calls) == 1 and served.entry.outputs == "logits" and not served.entry.pending
    assert np.abs(served.predict_proba(x) - want).max() <= 1e-5
    again = {e.name: e for e in runtime.list_models(models)}  # from the records: nothing converted again
    assert len(calls) == 1 and again["broken"].reason == first["broken"].reason
    assert again["mine"].usable and not again["mine"].pending and again["mine"].outputs == "logits"
    _tiny_model(models / "mine.keras")  # a new file version (new weights): pending again, converted on first use
    assert runtime.list_models(models)[0].pending and len(calls) == 1
    assert runtime.load(None, models).name == "mine" and len(calls) == 2


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_new_files_are_converted_in_the_background_within_the_size_budget(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    _tiny_model(models / "small.keras")
    big = _tiny_model(models / "big.keras")
    big.add_weight(shape=(40_000,), name="padding")  # the same network with a larger file: over the budget below
    big.save(models / "big.keras")
    assert (models / "big.keras").stat().st_size > (models / "small.keras").stat().st_size + 100_000
    monkeypatch.setattr(store, "BACKGROUND_MAX_BYTES", (models / "small.keras").stat().st_size + 50_000)
    monkeypatch.setattr(store, "_background", {"thread": None, "spent": 0.0})
    listed = runtime.list_models(models, background=True)
    assert all(e.pending for e in listed)
    store._background["thread"].join(timeout=600)  # a guard, not a timing claim: the thread converts one file
    after = {e.name: e for e in runtime.list_models(models)}
    assert not after["small"].pending and after["small"].outputs == "logits"
    assert after["big"].pending, "a file over the background's size budget waits for its first use"


def keras_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.slow
def test_serving_script_writes_the_files_and_drops_stale_ones(run_main, tmp_path):
    models = link_models(tmp_path / "models", ["mnist_baseline"], gate=False)
    stale = models / "serving" / "0123456789abcdef0123456789abcdef.onnx"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    stale.with_suffix(".json").write_text("{}")
    run_main("evaluation/serving.py", "--models-dir", models)
    key = runtime.file_key(models / "mnist_baseline.keras")
    assert sorted(f.name for f in (models / "serving").iterdir()) == [f"{key}.json", f"{key}.onnx"]
    assert runtime.record(models / "serving" / f"{key}.onnx")["source"] == "mnist_baseline.keras"


@pytest.mark.slow
def test_serving_script_says_when_the_readers_margin_was_fitted_against_another_classifier(run_main, tmp_path):
    """A promotion ends with this script: when the classifier the number reader's margin was fitted against is
    another file now, it converts everything as usual and says so, with the command that fits the margin again."""
    from digitlab.serving import reader

    models = link_models(tmp_path / "models", ["mnist_baseline"], gate=False)
    (models / "reader").mkdir()
    keras_file = models / "reader" / f"{reader.READER_NAME}.keras"
    keras_file.symlink_to(MODELS / "reader" / keras_file.name)
    card = json.loads((MODELS / "reader" / f"{reader.READER_NAME}.json").read_text())
    fitted = dict(card, config=dict(card["config"], classifier="mnist_baseline"),
                  measured=dict(card["measured"], classifier_sha256=files.sha256(models / "mnist_baseline.keras", 16)))
    keras_file.with_suffix(".json").write_text(json.dumps(fitted))
    assert "margin" not in run_main("evaluation/serving.py", "--models-dir", models).stderr
    keras_file.with_suffix(".json").write_text(json.dumps(dict(fitted, measured=dict(fitted["measured"], classifier_sha256="sha256:0123456789abcdef"))))
    proc = run_main("evaluation/serving.py", "--models-dir", models)
    assert "the number reader's margin may not fit mnist_baseline's cuts" in proc.stderr
    assert f"python training/train_reader.py --refit {keras_file} --classifier mnist_baseline" in proc.stderr
    assert len(list((models / "serving").glob("*.onnx"))) == 2  # the classifier's and the reader's, as always


def test_an_unusable_model_name_is_refused_with_its_reason(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "empty.keras").write_bytes(b"")
    with pytest.raises(artifacts.ModelError, match="empty"):
        runtime.load("empty", models)
    with pytest.raises(artifacts.ModelError, match="no model 'nope'"):
        runtime.load("nope", models)
