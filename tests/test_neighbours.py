"""digitlab.evaluation.neighbours on the committed models and real MNIST digits: the penultimate layer found
in any Keras classifier (and refused with the reason), a real digit's nearest training digits, the disk
cache keyed by the model file's hash, the PCA map and where an input falls on it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitlab import data, files
from digitlab.evaluation import neighbours as nb

BANK = 2000  # training digits in the tests' banks (the app's has 20,000): the same code, ten times faster


@pytest.fixture(scope="module")
def models(committed_models):
    return {e.name: e for e in committed_models}


def _model_and_key(entry) -> tuple:
    """A committed model and the key its features are cached under (its file's hash)."""
    return entry.model, files.sha256(entry.path, 32).removeprefix("sha256:")


@pytest.fixture(scope="module")
def cnn(models):
    return _model_and_key(models["mnist_cnn"])


@pytest.fixture(scope="module")
def robust(models):
    """A single network, mnist_cnn's read in a third of the time: for what is measured on all 10,000 test digits."""
    return _model_and_key(models["mnist_robust"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("features")


@pytest.fixture(scope="module")
def cnn_bank(cnn, folder):
    return nb.training_bank(*cnn, size=BANK, folder=folder)


@pytest.fixture(scope="module")
def first_of_each(mnist_test):
    """The first MNIST test digit of each class, prepared: (10, 28, 28) float32, labels 0..9."""
    _, y = mnist_test
    idx = [int(np.flatnonzero(y == d)[0]) for d in range(10)]
    x, labels = data.load().inputs("test", indices=idx)
    assert labels.tolist() == list(range(10))
    return x


# ----------------------------------------------------------------------------- the penultimate layer


def test_the_penultimate_layer_of_every_committed_model(models, first_of_each):
    from digitlab.serving import classifiers

    expected = {"mnist_cnn": (("m0_logits", "m1_logits", "m2_logits"), 3 * 7 * 7 * 128), "mnist_robust": (("logits",), 1024),
                "mnist_advanced": (("m0_logits", "m1_logits", "m2_logits"), 192 + 2 * 7 * 7 * 128), "mnist_baseline": (("logits",), 784)}
    for name, (heads, dim) in expected.items():
        ex = nb.feature_extractor(models[name].model)
        assert (ex.heads, ex.dim) == (heads, dim), name
        f, predicted = ex(first_of_each)
        assert f.shape == (10, dim) and np.allclose(np.linalg.norm(f, axis=1), 1, atol=1e-5), name
        probs = classifiers.Classifier(models[name]).predict_proba(first_of_each)
        assert predicted.tolist() == probs.argmax(axis=1).tolist(), name
    # softmax regression: its "features" are the pixels themselves
    f, _ = nb.feature_extractor(models["mnist_baseline"].model)(first_of_each)
    pixels = first_of_each.reshape(10, -1)
    assert np.allclose(f, pixels / np.linalg.norm(pixels, axis=1, keepdims=True), atol=1e-6)


def test_a_sequential_model_loaded_from_a_file(tmp_path, first_of_each):
    import keras

    model = keras.Sequential([
        keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(16, activation="relu", name="hidden"),
        keras.layers.Dense(10, activation="softmax", name="scores"),
    ])
    model.save(tmp_path / "seq.keras")
    loaded = keras.saving.load_model(tmp_path / "seq.keras")
    ex = nb.feature_extractor(loaded)
    assert (ex.heads, ex.dim) == (("scores",), 16)
    hidden = np.maximum(first_of_each.reshape(10, -1) @ loaded.get_layer("hidden").kernel.numpy() + loaded.get_layer("hidden").bias.numpy(), 0)
    f, _ = ex(first_of_each)
    assert np.allclose(f, hidden / np.linalg.norm(hidden, axis=1, keepdims=True), atol=1e-5)


def test_models_without_a_dense_head_are_refused_with_the_reason():
    import keras

    inp = keras.Input((28, 28, 1))
    conv_only = keras.Model(inp, keras.layers.Softmax()(keras.layers.Flatten()(keras.layers.Conv2D(10, 28)(inp))))
    with pytest.raises(nb.NeighbourError, match="Conv2D layer .* sits between the last Dense layer and the output"):
        nb.feature_extractor(conv_only)
    x = keras.layers.Dense(10)(keras.layers.Flatten()(inp))
    normed = keras.Model(inp, keras.layers.Softmax()(keras.layers.BatchNormalization(name="after_logits")(x)))
    with pytest.raises(nb.NeighbourError, match="BatchNormalization layer 'after_logits'"):
        nb.feature_extractor(normed)
    pixels = keras.Model(inp, keras.layers.Softmax()(keras.layers.Reshape((10,))(keras.layers.MaxPooling2D((28, 28))(
        keras.layers.Concatenate()([inp] * 10)))))
    with pytest.raises(nb.NeighbourError, match="no Dense layer makes its class scores"):
        nb.feature_extractor(pixels)


# ----------------------------------------------------------------------------- neighbours


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_real_test_digits_sit_among_training_digits_of_their_class(cnn, cnn_bank, mnist_test):
    """The first three MNIST test digits of each class: every one's neighbours' majority is its label, and
    nine in ten of all their neighbours share it (a few real digits are odd ones: test digit 8, a 5, has a
    third of its neighbours of other classes)."""
    _, y = mnist_test
    idx = [int(i) for d in range(10) for i in np.flatnonzero(y == d)[:3]]
    x, labels = data.load().inputs("test", indices=idx)
    feats, _ = nb.feature_extractor(cnn[0])(x)
    same = 0
    for label, f in zip(labels.tolist(), feats):
        near = nb.nearest(cnn_bank, f)
        assert len(near) == nb.NEIGHBOURS
        assert nb.majority(near)[0] == label, (label, [n.label for n in near])
        same += sum(n.label == label for n in near)
        d = [n.distance for n in near]
        assert d == sorted(d) and 0 <= d[0] <= d[-1] <= 2, d  # cosine distances, closest first
        # the scale of the distances is the model's own: the closest digit is measured against the typical
        # distance from this digit to the bank's digits of the other classes, not against a fixed number
        others = 1.0 - nb.similarities(cnn_bank, f)[cnn_bank.labels != label]
        assert d[0] < np.median(others), (label, d[0], float(np.median(others)))
    assert same >= 0.9 * nb.NEIGHBOURS * len(idx), same
    # a neighbour's picture is the training digit at its index, as prepared for training
    n = nb.nearest(cnn_bank, feats[7])[0]
    x, y = data.load().inputs("train", indices=[n.index])
    assert int(y[0]) == n.label and np.abs(x[0] * 255 - n.picture).max() <= 0.5 + 1e-3
    # the search agrees with a brute-force cosine over the bank
    full = np.asarray(cnn_bank.features, np.float32)
    brute = np.argsort(-(full @ feats[3]))[: nb.NEIGHBOURS]
    assert [int(cnn_bank.indices[i]) for i in brute] == [m.index for m in nb.nearest(cnn_bank, feats[3])]


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_the_sketch_hands_the_exact_search_its_neighbours(cnn, cnn_bank, folder):
    """The bank's sketch ranks its rows, the full features rank its best CANDIDATES: for real test digits the search
    returns the exhaustive search's neighbours with their exact distances, reading a quarter of the bank's rows."""
    assert cnn_bank.sketch is not None and cnn_bank.meta["sketch"]["dim"] == nb.SKETCH_DIM
    assert cnn_bank.sketch.axes.shape == (3 * 7 * 7 * 128, nb.SKETCH_DIM) and cnn_bank.sketch.rows.shape == (BANK, nb.SKETCH_DIM)
    assert np.allclose(cnn_bank.sketch.axes.T @ cnn_bank.sketch.axes, np.eye(nb.SKETCH_DIM), atol=1e-4), "orthonormal axes"
    x, _ = data.load().inputs("test", n=40, seed=5)
    feats, _ = nb.feature_extractor(cnn[0])(x)
    for f in feats:
        assert len(cnn_bank.sketch.candidates(f, nb.CANDIDATES)) == nb.CANDIDATES < BANK
        fast, exact = nb.nearest(cnn_bank, f), nb.nearest(cnn_bank, f, exhaustive=True)
        assert [n.index for n in fast] == [n.index for n in exact]
        assert np.allclose([n.distance for n in fast], [n.distance for n in exact], atol=1e-6)
    # a damaged sketch is not trusted: the bank is built again
    key = cnn[1]
    sketch = folder / f"{key}-train-n{BANK}-s0-p{cnn_bank.meta['preprocess']}-v{nb.VERSION}.sketch.npz"
    good = sketch.read_bytes()
    sketch.write_bytes(good[:1000])
    assert nb.training_bank(cnn[0], key, size=BANK, folder=folder, build=False) is None
    sketch.write_bytes(good)
    assert nb.training_bank(cnn[0], key, size=BANK, folder=folder, build=False) is not None


def test_the_agreement_sentence_says_when_the_neighbours_disagree():
    pic = np.zeros((28, 28), np.uint8)
    near = [nb.Neighbour(7, 0.1 + i / 100, pic, i) for i in range(9)] + [nb.Neighbour(2, 0.3, pic, 9 + i) for i in range(3)]
    assert nb.majority(near) == (7, 9)
    said = nb.agreement_sentence(near, 2)
    assert said.startswith("9 of the 12 closest training digits are 7s (the rest: 3× 2), 3 are 2") and "sits among 7s" in said
    assert "agree with the model's answer, 7" in nb.agreement_sentence(near, 7)


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_the_bank_is_cached_by_the_model_files_hash(cnn, cnn_bank, folder, models, monkeypatch):
    model, key = cnn
    pictures = folder / f"train-n{BANK}-s0-p{cnn_bank.meta['preprocess']}.pictures.npy"
    stamp = pictures.stat().st_mtime_ns
    assert cnn_bank.meta["model_sha256"] == key and cnn_bank.features.dtype == np.float16

    def no_work(_):
        raise AssertionError("the cached bank was computed again")

    with monkeypatch.context() as m:
        m.setattr(nb, "feature_extractor", no_work)
        again = nb.training_bank(model, key, size=BANK, folder=folder)
    assert np.array_equal(again.features, cnn_bank.features) and np.array_equal(again.labels, cnn_bank.labels)
    assert nb.training_bank(model, "0" * 32, size=BANK, folder=folder, build=False) is None, "another file, another bank"
    # a second model shares the digits' pictures and labels: they are not written again; its bank cached by an older
    # version of this code (never read again) is deleted
    base = models["mnist_baseline"]
    base_key = files.sha256(base.path, 32).removeprefix("sha256:")
    older = [folder / f"{base_key}-train-n{BANK}-s0-p{cnn_bank.meta['preprocess']}-v{nb.VERSION - 1}{end}" for end in (".features.npy", ".json")]
    for f in older:
        f.write_bytes(b"from an older version")
    other = nb.training_bank(base.model, base_key, size=BANK, folder=folder)
    assert other.features.shape == (BANK, 784) and pictures.stat().st_mtime_ns == stamp
    assert not any(f.exists() for f in older) and nb.training_bank(model, key, size=BANK, folder=folder, build=False) is not None
    assert np.array_equal(other.labels, cnn_bank.labels)
    # a damaged cache is not trusted, and is built again (replaced, not truncated in place: the cache is only ever
    # replaced, and a bank already open keeps reading its own file)
    feats = folder / f"{key}-train-n{BANK}-s0-p{cnn_bank.meta['preprocess']}-v{nb.VERSION}.features.npy"
    (folder / "damaged").write_bytes(feats.read_bytes()[:4096])
    (folder / "damaged").replace(feats)
    assert nb.training_bank(model, key, size=BANK, folder=folder, build=False) is None
    rebuilt = nb.training_bank(model, key, size=BANK, folder=folder)
    assert np.array_equal(rebuilt.features, cnn_bank.features)
    assert not [p for p in folder.iterdir() if ".tmp" in p.name], "no temp file left behind"


# ----------------------------------------------------------------------------- the map


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_pca2_finds_scikit_learns_axes(cnn):
    from sklearn.decomposition import PCA

    x, _ = data.load().inputs("test", n=2000, seed=1)
    f, _ = nb.feature_extractor(cnn[0])(x)
    f16 = f.astype(np.float16)
    mean, components, explained = nb.pca2(f16)
    ref = PCA(2, svd_solver="arpack").fit(f16.astype(np.float32))  # Lanczos: another algorithm, converged (~4 s; "full": ~40 s)
    assert np.abs((components * ref.components_).sum(axis=1)).min() > 0.9999
    assert np.allclose(explained, ref.explained_variance_ratio_, atol=1e-4)
    assert np.allclose(mean, ref.mean_, atol=1e-6)


@pytest.mark.slow
def test_the_map_of_the_test_set(robust, folder, mnist_test, monkeypatch):
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    model, key = robust
    m = nb.digit_map(model, key, folder=folder)
    _, y = mnist_test
    assert m.xy.shape == (10000, 2) and m.labels.tolist() == y.tolist()
    assert (m.predicted == m.labels).mean() > 0.98, "mnist_robust reads 99.1% of the test digits"
    assert m.components.shape == (2, 1024) and 0 < m.explained.sum() < 1  # its 1,024 features before the logits
    # the map keeps the classes apart: a digit's 10 nearest points on it mostly share its label
    assert cross_val_score(KNeighborsClassifier(10), m.xy, m.labels, cv=3).mean() > 0.6
    # an input lands where its own test digit is
    x, _ = data.load().inputs("test", indices=[0, 1, 2])
    f, _ = nb.feature_extractor(model)(x)
    for i in range(3):
        assert np.allclose(nb.place(m, f[i]), m.xy[i], atol=2e-3)
    with pytest.raises(nb.NeighbourError, match="does not match"):
        nb.place(m, f[0][:100])

    def no_work(_):
        raise AssertionError("the cached map was computed again")

    monkeypatch.setattr(nb, "feature_extractor", no_work)
    again = nb.digit_map(model, key, folder=folder)
    assert np.array_equal(again.xy, m.xy) and again.meta["model_sha256"] == key
    assert nb.digit_map(model, "f" * 32, folder=folder, build=False) is None
    # a damaged map file is not trusted (not a crash): it is built again
    path = next(folder.glob(f"{key}-map-*.npz"))
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    assert nb.digit_map(model, key, folder=folder, build=False) is None
    path.write_bytes(good)


@pytest.mark.slow
def test_the_script_builds_measures_and_reuses(tmp_path, scratch_models, capsys):
    from support import load_script

    script = load_script("evaluation/neighbours.py")
    args = ["--models-dir", str(scratch_models), "--model", "mnist_baseline", "--size", "300", "--folder", str(tmp_path), "--agreement", "50"]
    assert script.main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["model"] == "mnist_baseline" and first["dim"] == 784 and not first["bank_cached"] and not first["map_cached"]
    assert first["agreement_digits"] == 50 and 0.6 < first["majority_is_label"] <= 1, "pixel-space neighbours still mostly agree"
    assert script.main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["bank_cached"] and again["map_cached"]
    assert script.main(["--models-dir", str(scratch_models), "--model", "no_such_model"]) == 1
    assert "no_such_model: no such model" in capsys.readouterr().err


# ----------------------------------------------------------------------------- without TensorFlow: the served ONNX file


def test_onnx_features_are_the_keras_features(models, first_of_each):
    """The app's extractor (ONNX Runtime on the served file) gives every committed model's Keras features and answers."""
    from digitlab.serving import runtime

    for name, entry in models.items():
        keras_ex = nb.feature_extractor(entry.model)
        onnx_ex = nb.onnx_feature_extractor(runtime.served_file(entry.path, "classifier", entry.path.parent))
        assert (len(onnx_ex.heads), onnx_ex.dim) == (len(keras_ex.heads), keras_ex.dim), name
        (fk, pk), (fo, po) = keras_ex(first_of_each), onnx_ex(first_of_each)
        assert np.abs(fk - fo).max() < 1e-5 and pk.tolist() == po.tolist(), name


def _onnx_file(path, *middle: str) -> object:
    """image (N, 28, 28) -> Flatten -> [MatMul with a weight] -> each op of ``middle`` -> output, as an ONNX file."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Flatten", ["image"], ["flat"])]
    inits, last = [], "flat"
    for i, op in enumerate(middle):
        out = f"t{i}"
        if op == "MatMul":
            inits.append(numpy_helper.from_array(np.ones((784, 10), np.float32) / 784, f"w{i}"))
            nodes.append(helper.make_node("MatMul", [last, f"w{i}"], [out]))
        elif op == "Conv":  # a 28x28 convolution with 10 filters over the picture, flattened: scores made by a Conv
            inits += [numpy_helper.from_array(np.array([-1, 1, 28, 28], np.int64), f"s{i}"),
                      numpy_helper.from_array(np.ones((10, 1, 28, 28), np.float32) / 784, f"w{i}")]
            nodes += [helper.make_node("Reshape", ["image", f"s{i}"], [f"r{i}"]), helper.make_node("Conv", [f"r{i}", f"w{i}"], [f"c{i}"]),
                      helper.make_node("Flatten", [f"c{i}"], [out])]
        else:
            nodes.append(helper.make_node(op, [last], [out]))
        last = out
    nodes.append(helper.make_node("Softmax", [last], ["probabilities"]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 28, 28])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)  # what onnxruntime 1.31 reads
    return path


def test_onnx_graphs_without_a_dense_head_are_refused_with_the_reason(tmp_path, first_of_each):
    ok = nb.onnx_feature_extractor(_onnx_file(tmp_path / "ok.onnx", "MatMul"))
    f, _ = ok(first_of_each)
    pixels = first_of_each.reshape(10, -1)
    assert ok.dim == 784 and np.allclose(f, pixels / np.linalg.norm(pixels, axis=1, keepdims=True), atol=1e-6)
    relu = nb.onnx_feature_extractor(_onnx_file(tmp_path / "relu.onnx", "MatMul", "Relu"))  # an activation has no weights
    assert relu.dim == 784 and np.allclose(relu(first_of_each)[0], f, atol=1e-6)
    with pytest.raises(nb.NeighbourError, match="ONNX Conv node .* sits between the last Dense layer and the output"):
        nb.onnx_feature_extractor(_onnx_file(tmp_path / "conv.onnx", "Conv"))
    with pytest.raises(nb.NeighbourError, match="no Dense layer makes its class scores"):
        nb.onnx_feature_extractor(_onnx_file(tmp_path / "none.onnx"))
    (tmp_path / "garbage.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(nb.NeighbourError, match="cannot read garbage.onnx"):
        nb.onnx_feature_extractor(tmp_path / "garbage.onnx")


@pytest.mark.slow
def test_a_second_model_reuses_the_prepared_digits_and_the_estimate_knows(models, folder, monkeypatch):
    """The 30,000 digits are prepared once for every model: the second model's bank and map run its features on
    the stored pictures without preparing a digit, and build_estimate says 0 once both are cached.  The module's
    cache folder: mnist_robust's map may be there already (the map test), as the app finds it after a first model."""
    from digitlab.serving import runtime

    size = 300
    keys = {n: files.sha256(models[n].path, 32).removeprefix("sha256:") for n in ("mnist_robust", "mnist_baseline")}
    extractors = {n: nb.onnx_feature_extractor(runtime.served_file(models[n].path, "classifier", models[n].path.parent)) for n in keys}
    assert nb.build_estimate(extractors["mnist_robust"], keys["mnist_robust"], folder) > 0
    nb.training_bank(extractors["mnist_robust"], keys["mnist_robust"], size=size, folder=folder)
    first_map = nb.digit_map(extractors["mnist_robust"], keys["mnist_robust"], folder=folder)

    def no_preparing(*_, **__):
        raise AssertionError("a digit was prepared again")

    assert nb.training_bank(extractors["mnist_baseline"], keys["mnist_baseline"], size=size, folder=folder, build=False) is None
    assert nb.digit_map(extractors["mnist_baseline"], keys["mnist_baseline"], folder=folder, build=False) is None
    with monkeypatch.context() as m:
        m.setattr(data.Mnist, "inputs", no_preparing)
        bank = nb.training_bank(extractors["mnist_baseline"], keys["mnist_baseline"], size=size, folder=folder)
        dmap = nb.digit_map(extractors["mnist_baseline"], keys["mnist_baseline"], folder=folder)
    assert bank.features.shape == (size, 784) and dmap.labels.tolist() == first_map.labels.tolist()
    # the pictures the features came from are the digits as training prepares them (to a grey level)
    x, _ = data.load().inputs("train", indices=bank.indices[:20])
    assert np.abs(x * 255 - bank.pictures[:20]).max() <= 0.5 + 1e-3
    # build_estimate counts the app's bank size: a bank of another size does not make it 0, a bank of that size does
    # (the app's size set to the test's: building 20,000 digits' features here would only take longer)
    assert nb.build_estimate(extractors["mnist_robust"], keys["mnist_robust"], folder) > 0
    monkeypatch.setattr(nb, "BANK_SIZE", size)
    assert nb.build_estimate(extractors["mnist_robust"], keys["mnist_robust"], folder) == 0
