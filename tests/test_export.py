"""Export to every format, parity checks, and predict.py on every exported format.

A tiny CNN (BatchNorm included, which the converters fold) is built and trained for a few
batches on real MNIST here; the committed models are exported by evaluation/export.py itself
(see README "Export").  evaluation/export.py runs once as a user would (a subprocess); predict.py
and the --check-only mode run in-process (the same main()), which saves a TensorFlow start-up each.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from support import load_script

from digitlab import preprocess
from digitlab.models import artifacts, builders
from digitlab.serving import classifiers, export

ROOT = Path(__file__).resolve().parents[1]
FLOAT_FORMATS = ("h5", "savedmodel", "tflite", "onnx")
QUANTISED = ("tflite-dynamic", "tflite-int8")



@pytest.fixture(scope="module")
def tiny(tmp_path_factory, mnist_path) -> artifacts.ModelEntry:
    """A 2.5k-parameter CNN trained for 72 batches on 1,536 real training digits, saved with a card."""
    import keras

    keras.utils.set_random_seed(0)
    with np.load(mnist_path) as f:
        x, y = preprocess.prepare_batch(f["x_train"][:1536]), f["y_train"][:1536].astype(np.int64)
    model = builders.build_cnn(width=4, dropout=0.0, name="tiny")
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x[..., None], y, batch_size=64, epochs=3, verbose=0)
    folder = tmp_path_factory.mktemp("models")
    path = artifacts.save_model(model, {"name": "tiny", "metrics": {}}, "tiny", folder)
    entry = artifacts.inspect(path)
    assert entry.usable, entry.reason
    return entry


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory, run_script_module):
    """evaluation/export.py run for real on the tiny model: every format, parity checked."""
    out = tmp_path_factory.mktemp("exports")
    proc = run_script_module("evaluation/export.py", "--model", tiny.path, "--out", out, "--dry-run")
    return out / "tiny", proc


@pytest.fixture(scope="module")
def run_script_module():
    import os
    import subprocess

    def run(script, *args):
        return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], capture_output=True, text=True,
                              timeout=300, cwd=ROOT, env=dict(os.environ))

    return run


@pytest.fixture(scope="module")
def pngs(tmp_path_factory, mnist_path) -> Path:
    """60 real MNIST test digits as PNG files, every other one dark ink on white like a scan."""
    folder = tmp_path_factory.mktemp("pngs")
    with np.load(mnist_path) as f:
        x, y = f["x_test"][:60], f["y_test"][:60]
    for i, (img, label) in enumerate(zip(x, y)):
        Image.fromarray(255 - img if i % 2 else img).save(folder / f"{i:04d}_{label}.png")
    return folder


def test_export_script_writes_every_format_and_parity_passes(exported):
    out, proc = exported
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "parity.json").read_text())
    rows = {r["format"]: r for r in report["rows"]}
    assert set(rows) == {"keras", *export.FORMATS} and report["ok"]
    for fmt in export.FORMATS:
        assert (out / export.file_name("tiny", fmt)).exists() and rows[fmt]["ok"], rows[fmt]
        assert rows[fmt]["bytes"] > 1000 and rows[fmt]["latency_ms"] > 0
    for fmt in FLOAT_FORMATS:
        assert rows[fmt]["agreement"] == 1.0 and rows[fmt]["max_abs_dp"] < 1e-4
    # int8 really is quantised: its probabilities differ from Keras's, its answers agree within tolerance
    assert rows["tflite-int8"]["max_abs_dp"] > 1e-3 and rows["tflite-int8"]["agreement"] >= export.TOLERANCES["tflite-int8"].min_agreement
    assert rows["keras"]["accuracy_mnist"] > 0.6  # a real (if small) classifier, so agreement means something
    assert "| tflite-int8 |" in proc.stdout and "| tflite-int8 |" in (out / "parity.md").read_text()
    card = json.loads((out / "tiny.json").read_text())
    assert card["export"]["files"]["onnx"] == "tiny.onnx" and all(card["export"]["parity_ok"].values())


def test_exports_share_one_interface(exported, tiny):
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    out, _ = exported
    session = ort.InferenceSession(str(out / "tiny.onnx"))
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("image", ["batch", 28, 28])]
    assert [(o.name, o.shape) for o in session.get_outputs()] == [("probabilities", ["batch", 10])]
    assert session.get_modelmeta().custom_metadata_map["digitlab.preprocess_version"] == preprocess.PREPROCESS_VERSION
    int8 = Interpreter(model_path=str(out / "tiny_int8.tflite"))
    assert int8.get_input_details()[0]["dtype"] == np.int8 and int8.get_output_details()[0]["dtype"] == np.int8
    # int8 weights: ~3.7x smaller on the committed models, ~2x on this tiny one (fixed overhead)
    assert (out / "tiny_dynamic.tflite").stat().st_size < 0.6 * (out / "tiny.tflite").stat().st_size
    signature = tf.saved_model.load(str(out / "tiny_savedmodel")).signatures["serving_default"]
    assert list(signature.structured_input_signature[1]) == ["image"] and list(signature.structured_outputs) == ["probabilities"]
    formats = {fmt: classifiers.load_classifier(str(out / export.file_name("tiny", fmt))) for fmt in export.FORMATS}
    assert isinstance(formats["h5"], classifiers.Classifier)  # .h5 is a Keras file: same safe loader as .keras
    assert {fmt: getattr(c, "format", "keras") for fmt, c in formats.items()} == {
        "h5": "keras", "savedmodel": "savedmodel", "tflite": "tflite", "tflite-dynamic": "tflite",
        "tflite-int8": "tflite-int8", "onnx": "onnx"}
    # each export finds the source model's card written beside it (the CLI's abstain rule lives there)
    assert all(c.entry.card and c.entry.card["name"] == "tiny" for c in formats.values())


def _predict_json(capsys, *args) -> tuple[int, list[dict], str]:
    code = load_script("evaluation/predict.py").main([*map(str, args), "--format", "json"])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_predict_cli_accepts_every_format(exported, tiny, pngs, capsys):
    out, _ = exported
    code, keras_lines, _ = _predict_json(capsys, pngs, "--model", tiny.path)
    assert code == 0 and len(keras_lines) == 60
    truth = np.array([int(Path(r["path"]).stem.split("_")[1]) for r in keras_lines])
    keras_labels = np.array([r["label"] for r in keras_lines])
    keras_probs = np.array([r["probabilities"] for r in keras_lines])
    assert (keras_labels == truth).mean() > 0.6
    for fmt in export.FORMATS:
        code, lines, err = _predict_json(capsys, pngs, "--model", out / export.file_name("tiny", fmt))
        assert code == 0 and f"model: {export.file_name('tiny', fmt).removesuffix('.h5')}\n" in err, err
        assert [r["path"] for r in lines] == [r["path"] for r in keras_lines]
        labels, probs = np.array([r["label"] for r in lines]), np.array([r["probabilities"] for r in lines])
        if fmt in FLOAT_FORMATS:
            assert (labels == keras_labels).all(), fmt
            assert np.abs(probs - keras_probs).max() < 1e-4, fmt  # the CLI rounds to 6 decimals
        else:
            assert (labels == keras_labels).mean() >= 0.95, fmt  # a near-tie of a weak model may flip
            assert (labels == truth).mean() >= (keras_labels == truth).mean() - 0.05, fmt


def _tampered(tiny, change) -> object:
    """A copy of the tiny model with ``change(weights) -> weights`` applied."""
    import keras

    model = keras.models.clone_model(tiny.model)
    model.set_weights(change([w.copy() for w in tiny.model.get_weights()]))
    return model


def test_a_wrong_export_fails_the_parity_check_loudly(exported, tiny, tmp_path, capsys):
    out, _ = exported
    folder = tmp_path / "tiny"
    shutil.copytree(out, folder)

    def swap_digits(ws):  # the logits layer's kernel and bias are the last two arrays: swap digits 3 and 8
        for w in ws[-2:]:
            w[..., [3, 8]] = w[..., [8, 3]]
        return ws

    def nudge(ws):  # 2% larger weights everywhere: the same answers, slightly different probabilities
        return [w * 1.02 if w.ndim > 1 else w for w in ws]

    export.to_onnx(_tampered(tiny, swap_digits), folder / "tiny.onnx")
    export.to_tflite(_tampered(tiny, nudge), folder / "tiny.tflite")
    shutil.rmtree(folder / "tiny_savedmodel")
    code = load_script("evaluation/export.py").main(["--model", str(tiny.path), "--out", str(tmp_path), "--check-only", "--dry-run",
                                   "--formats", "h5,savedmodel,tflite,onnx"])
    err = capsys.readouterr().err
    assert code == 1
    failed = {line.split()[3].rstrip(":"): line for line in err.splitlines() if line.startswith("PARITY FAILED")}
    assert set(failed) == {"savedmodel", "tflite", "onnx"}, err  # h5 was left alone and still passes
    assert "argmax agreement" in failed["onnx"] and "max |dp|" in failed["tflite"] and "missing" in failed["savedmodel"]
    rows = {r["format"]: r for r in json.loads((folder / "parity.json").read_text())["rows"]}
    assert rows["h5"]["ok"] and not rows["onnx"]["ok"] and rows["onnx"]["agreement"] < 0.9


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, tiny) -> dict[str, tuple[Path, str]]:
    """Files that must be refused, each with the words its error must contain."""
    import keras
    import tf2onnx

    d = tmp_path_factory.mktemp("bad")
    cases: dict[str, tuple[Path, str]] = {}
    (d / "empty.onnx").write_bytes(b"")
    cases["empty"] = (d / "empty.onnx", "empty file")
    (d / "garbage.onnx").write_bytes(np.random.default_rng(0).bytes(4000))
    cases["garbage onnx"] = (d / "garbage.onnx", "not a usable ONNX model")
    (d / "model.tflite").write_bytes((ROOT / "README.md").read_bytes()[:5000])
    cases["text as tflite"] = (d / "model.tflite", "not a usable TFLite model")
    (d / "model.h5").write_bytes(b"this is not HDF5")
    cases["text as h5"] = (d / "model.h5", "cannot be loaded")
    (d / "folder").mkdir()
    cases["folder"] = (d / "folder", "not a SavedModel (no saved_model.pb")
    cases["missing"] = (d / "missing.onnx", "no such file")
    for name, side, classes in (("wide", 32, 10), ("five", 28, 5)):
        fn = tf.function(lambda x, c=classes: tf.reshape(x, (-1, x.shape[1] * x.shape[2]))[:, :c],
                         input_signature=[tf.TensorSpec([None, side, side], tf.float32)])
        tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=export.ONNX_OPSET, output_path=str(d / f"{name}.onnx"))
    cases["32x32 input"] = (d / "wide.onnx", "input shape")
    cases["5 classes"] = (d / "five.onnx", "output shape")
    # .h5 keeps Keras safe mode: a Lambda layer (Python bytecode inside the file) is refused
    inputs = keras.Input((28, 28, 1))
    lam = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(keras.layers.Lambda(lambda t: t * 2)(inputs))))
    lam.save(d / "lambda.h5")
    cases["lambda h5"] = (d / "lambda.h5", "safe mode")
    # a SavedModel whose serving graph writes a file is refused before it ever runs
    module = tf.Module()
    module.model = tiny.model

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name="image")])
    def serve(image):
        tf.io.write_file(str(d / "written_by_model.txt"), "pwned")
        return {"probabilities": module.model(tf.reshape(image, (-1, 28, 28, 1)))}

    tf.saved_model.save(module, str(d / "writes_files"), signatures={"serving_default": serve})
    cases["savedmodel writing files"] = (d / "writes_files", "WriteFile")
    return cases


CASES = ["empty", "garbage onnx", "text as tflite", "text as h5", "folder", "missing", "32x32 input", "5 classes", "lambda h5",
         "savedmodel writing files"]


@pytest.mark.parametrize("case", CASES)
def test_bad_exported_files_give_clear_errors(bad_files, pngs, capsys, case):
    path, words = bad_files[case]
    with pytest.raises(artifacts.ModelError, match=None) as e:
        classifiers.load_classifier(str(path))
    assert words in str(e.value), str(e.value)
    code, lines, err = _predict_json(capsys, pngs / "0000_7.png", "--model", path)
    assert code == 2 and not lines and words in err and err.startswith("error:"), err
    assert not (path.parent / "written_by_model.txt").exists()


def test_a_foreign_onnx_with_another_layout_and_logits_is_read_right(tiny, tmp_path, mnist_test):
    """Not every ONNX file comes from digitlab.serving.export: a flat (N, 784) input and log-probabilities
    out (logits) give the same probabilities as the Keras model."""
    import tf2onnx

    model = tiny.model
    fn = tf.function(lambda x: tf.math.log(model(tf.reshape(x, (-1, 28, 28, 1)), training=False) + 1e-12),
                     input_signature=[tf.TensorSpec([None, 784], tf.float32)])
    tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=export.ONNX_OPSET, output_path=str(tmp_path / "flat.onnx"))
    clf = classifiers.load_classifier(str(tmp_path / "flat.onnx"))
    x = preprocess.prepare_batch(mnist_test[0][:50])
    assert clf.entry.outputs == "logits"
    np.testing.assert_allclose(clf.predict_proba(x), np.asarray(model(x[..., None])), atol=1e-5)
