"""Export to every format, parity checks, and predict.py on every exported format.

A tiny CNN (BatchNorm included, which the converters fold) is built and trained for a few
batches on real MNIST here; the committed models are exported by evaluation/export.py itself
(see README "Export").  evaluation/export.py runs once as a user would (a subprocess); predict.py
and the --check-only mode run in-process (the same main()), which saves a TensorFlow start-up each.

TF.js: the converter lives in its own virtual environment (`python evaluation/export.py --setup-tfjs`),
which CI does not build (a second TensorFlow).  Where it exists, the export above converts for real and
the TF.js row is checked like the others; everywhere, the export script's TF.js plumbing is exercised
without it: --check-only runs the page's committed TF.js model (web/model/) in Node against Keras, a
tampered copy fails loudly, broken folders and a missing converter give clear errors.
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
from digitlab.serving import classifiers, export, parity, tfjs_env

pytestmark = pytest.mark.slow  # a model trained, then exported to every format and checked

ROOT = Path(__file__).resolve().parents[1]
FLOAT_FORMATS = ("h5", "savedmodel", "tflite", "onnx", "tfjs")
QUANTISED = ("tflite-dynamic", "tflite-int8")
PYTHON_FORMATS = tuple(f for f in export.FORMATS if f != "tfjs")  # what predict.py loads (TF.js is for browsers and Node)
PAGE_MODEL = ROOT / "web" / "model"  # the page's committed files, made by web/build.py



@pytest.fixture(scope="module")
def tiny(tmp_path_factory, mnist_train) -> artifacts.ModelEntry:
    """A small CNN trained for 240 batches on 3,072 real training digits (~98% on MNIST), saved with a card: a
    classifier confident enough that quantisation changes few answers (a 93% one lost digits to int8)."""
    import keras

    keras.utils.set_random_seed(0)
    x, y = preprocess.prepare_batch(mnist_train[0][:3072]), mnist_train[1][:3072].astype(np.int64)
    model = builders.build_cnn(width=8, dropout=0.0, name="tiny")
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x[..., None], y, batch_size=64, epochs=5, verbose=0)
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
def pngs(tmp_path_factory, mnist_test) -> Path:
    """60 real MNIST test digits as PNG files, every other one dark ink on white like a scan."""
    folder = tmp_path_factory.mktemp("pngs")
    x, y = mnist_test[0][:60], mnist_test[1][:60]
    for i, (img, label) in enumerate(zip(x, y)):
        Image.fromarray(255 - img if i % 2 else img).save(folder / f"{i:04d}_{label}.png")
    return folder


def test_export_script_writes_every_format_and_parity_passes(exported):
    out, proc = exported
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "parity.json").read_text())
    rows = {r["format"]: r for r in report["rows"]}
    written = export.default_formats()  # tfjs only where its converter's environment exists
    assert set(rows) == {"keras", *written} and report["ok"]
    assert ("tfjs" in written) == (tfjs_env.tfjs_converter() is not None)
    if "tfjs" not in written:
        assert "tfjs left out" in proc.stderr and "--setup-tfjs" in proc.stderr
    for fmt in written:
        assert (out / export.file_name("tiny", fmt)).exists() and rows[fmt]["ok"], rows[fmt]
        assert rows[fmt]["bytes"] > 1000 and rows[fmt]["latency_ms"] > 0
    for fmt in set(FLOAT_FORMATS) & set(written):
        assert rows[fmt]["agreement"] == 1.0 and rows[fmt]["max_abs_dp"] < 1e-4
    # int8 really is quantised: its probabilities differ from Keras's, its answers agree within tolerance
    assert rows["tflite-int8"]["max_abs_dp"] > 1e-3 and rows["tflite-int8"]["agreement"] >= parity.TOLERANCES["tflite-int8"].min_agreement
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
    formats = {fmt: classifiers.load_classifier(str(out / export.file_name("tiny", fmt))) for fmt in PYTHON_FORMATS}
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
    for fmt in PYTHON_FORMATS:
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
    cases["garbage onnx"] = (d / "garbage.onnx", "not an ONNX model")  # refused before any session is made
    (d / "model.tflite").write_bytes((ROOT / "README.md").read_bytes()[:5000])
    cases["text as tflite"] = (d / "model.tflite", "not a usable TFLite model")
    (d / "model.h5").write_bytes(b"this is not HDF5")
    cases["text as h5"] = (d / "model.h5", "not a readable HDF5 model file")  # artifacts.load_model (613f564)
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


# ----------------------------------------------------------------------------- TF.js


def _need_node() -> None:
    from browser._support import require  # the browser tests' skip-or-fail rule

    require(tfjs_env.tfjs_missing(), "TF.js parity in Node")


def test_tfjs_export_runs_the_official_converter(exported):
    """Where the converter's environment exists (`python evaluation/export.py --setup-tfjs`), the export
    above converted the tiny model for real: a graph model with the one interface and digitlab's metadata,
    checked in Node.  CI has no such environment (a second TensorFlow): skipped there."""
    if tfjs_env.tfjs_converter() is None:
        pytest.skip(f"the TF.js converter is not set up ({tfjs_env.tfjs_venv()}): `{tfjs_env.SETUP_TFJS}` makes it")
    out, _ = exported
    model = export.check_tfjs_folder(out / "tiny_tfjs")
    assert model["format"] == "graph-model" and model["convertedBy"] == "TensorFlow.js Converter v4.22.0"
    assert model["userDefinedMetadata"]["digitlab"] == export._metadata("tiny")
    assert list(model["signature"]["inputs"]) == ["image"] and list(model["signature"]["outputs"]) == ["probabilities"]
    row = {r["format"]: r for r in json.loads((out / "parity.json").read_text())["rows"]}["tfjs"]
    assert row["ok"] and row["runtime"].startswith("@tensorflow/tfjs 4.22.0, wasm backend"), row


@pytest.fixture(scope="module")
def page_tfjs(tmp_path_factory) -> Path:
    """The page's committed TF.js model (web/model/, made by the converter) laid out as an export of the
    model it came from: <out>/<name>/<name>_tfjs, so --check-only can be run on it without the converter."""
    _need_node()
    index = json.loads((PAGE_MODEL / "index.json").read_text())
    info = json.loads((PAGE_MODEL / f"{index['default']}.json").read_text())
    out = tmp_path_factory.mktemp("page_exports")
    shutil.copytree(PAGE_MODEL / Path(info["tfjs"]["model"]).parent, out / info["name"] / export.file_name(info["name"], "tfjs"))
    return out / info["name"]


def _check_tfjs(folder: Path, capsys) -> tuple[int, dict, str]:
    code = load_script("evaluation/export.py").main(["--model", str(ROOT / "models" / f"{folder.name}.keras"), "--out", str(folder.parent),
                                                     "--check-only", "--dry-run", "--formats", "tfjs"])
    captured = capsys.readouterr()
    rows = {r["format"]: r for r in json.loads((folder / "parity.json").read_text())["rows"]}
    return code, rows["tfjs"], captured.out + captured.err


def test_check_only_runs_the_tfjs_model_in_node_against_keras(page_tfjs, capsys):
    """The export script's TF.js row without the converter: the committed page model in Node vs Keras."""
    code, row, output = _check_tfjs(page_tfjs, capsys)
    assert code == 0 and row["ok"], output
    assert row["agreement"] == 1.0 and row["max_abs_dp"] <= parity.TOLERANCES["tfjs"].max_abs_dp
    assert row["accuracy_mnist"] >= 0.97 and row["latency_ms"] > 0 and row["bytes"] > 100_000
    assert "wasm backend" in row["runtime"] and "| tfjs |" in output


def _swap_digits(folder: Path, a: int, b: int) -> None:
    """Swap digits ``a`` and ``b`` in every weight of a TF.js model whose last axis is the 10 classes (each network's
    logits kernel and bias): what a model whose classes were mixed up would look like."""
    model = json.loads((folder / "model.json").read_text())
    [group] = model["weightsManifest"]
    [shard] = group["paths"]
    weights = np.fromfile(folder / shard, np.uint8)
    offset, spans = 0, []
    for w in group["weights"]:
        n = int(np.prod(w["shape"], dtype=np.int64)) * 4
        spans.append((offset, w["shape"]))
        offset += n
    logits = [(start, shape) for start, shape in spans if shape and shape[-1] == 10]
    assert len(logits) >= 2, [shape for _, shape in spans]
    for start, shape in logits:
        values = weights[start : start + int(np.prod(shape)) * 4].view("<f4").reshape(shape)
        values[..., [a, b]] = values[..., [b, a]]
    weights.tofile(folder / shard)


def test_a_wrong_tfjs_model_fails_its_parity_check_loudly(page_tfjs, tmp_path, capsys):
    folder = tmp_path / page_tfjs.name
    shutil.copytree(page_tfjs / export.file_name(page_tfjs.name, "tfjs"), folder / export.file_name(page_tfjs.name, "tfjs"))
    _swap_digits(folder / export.file_name(page_tfjs.name, "tfjs"), 3, 8)
    code, row, output = _check_tfjs(folder, capsys)
    assert code == 1 and not row["ok"] and row["agreement"] < 0.95
    assert f"PARITY FAILED: {page_tfjs.name} tfjs: argmax agreement" in output


def test_broken_tfjs_folders_give_clear_errors(page_tfjs, tmp_path):
    good = page_tfjs / export.file_name(page_tfjs.name, "tfjs")
    cases = {}
    (tmp_path / "empty").mkdir()
    cases["empty"] = (tmp_path / "empty", "no model.json")
    for name in ("truncated", "no shard", "not json", "layers"):
        shutil.copytree(good, tmp_path / name)
    shard = tmp_path / "truncated" / "group1-shard1of1.bin"
    shard.write_bytes(shard.read_bytes()[:-40])
    cases["truncated"] = (tmp_path / "truncated", "the weight shards hold")
    (tmp_path / "no shard" / "group1-shard1of1.bin").unlink()
    cases["no shard"] = (tmp_path / "no shard", "weight shard 'group1-shard1of1.bin' is missing")
    (tmp_path / "not json" / "model.json").write_text("{not json")
    cases["not json"] = (tmp_path / "not json", "not a digitlab TF.js graph model")
    layers = json.loads((good / "model.json").read_text()) | {"format": "layers-model"}
    (tmp_path / "layers" / "model.json").write_text(json.dumps(layers))
    cases["layers"] = (tmp_path / "layers", "not 'graph-model'")
    for what, (folder, words) in cases.items():
        with pytest.raises(export.ExportError) as e:
            export.check_tfjs_folder(folder)
        assert words in str(e.value), (what, str(e.value))
    with pytest.raises(export.ExportError, match="not image"):
        export.check_tfjs_folder(good, output=export.GATE_OUTPUT)  # a classifier where the gate was expected


def test_tfjs_without_its_converter_is_a_clear_error(tiny, tmp_path, monkeypatch, capsys):
    """No converter environment: tfjs leaves the default formats, and naming it says how to set it up."""
    monkeypatch.setenv(tfjs_env.TFJS_VENV_VARIABLE, str(tmp_path / "no-venv"))
    assert tfjs_env.tfjs_converter() is None and "tfjs" not in export.default_formats()
    code = load_script("evaluation/export.py").main(["--model", str(tiny.path), "--formats", "tfjs", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and tfjs_env.SETUP_TFJS in err and str(tmp_path / "no-venv") in err, err
    with pytest.raises(export.ExportError, match="--setup-tfjs"):
        export.to_tfjs(tiny, tmp_path / "tiny_tfjs")
    assert not (tmp_path / "out").exists() and not (tmp_path / "tiny_tfjs").exists()
