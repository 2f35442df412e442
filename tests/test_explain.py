"""digitlab.explain on the real models in models/ and real MNIST test digits."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from digitlab import preprocess
from digitlab.evaluation import explain
from digitlab.models import artifacts

MODELS = Path(__file__).resolve().parents[1] / "models"  # the real, committed models


@pytest.fixture(scope="module")
def entries(committed_models):
    return committed_models


@pytest.fixture(scope="module")
def conv_entries(entries):
    convs = [e for e in entries if explain.conv_layers(e.model)]
    if not convs:
        pytest.fail(f"models in {MODELS} ({[e.name for e in entries]}) but none with a convolution: mnist_cnn is expected")
    return convs


@pytest.fixture(scope="module")
def digits(mnist_test):
    """40 real test digits through the one preprocessing path: (40, 28, 28) float32, labels (40,)."""
    x, y = mnist_test
    return preprocess.prepare_batch(x[:40]), y[:40].astype(int)


def _ink_ratio(heat: np.ndarray, image: np.ndarray, margin: int = 4) -> float:
    """Mean heat on the strokes over mean heat on the empty frame (pixels more than ``margin`` px
    from any stroke).  Grad-CAM's 7x7 map has 4 px cells, so the pixels right next to a stroke,
    and the holes of 0, 6, 8 and 9, share cells with the ink and count as neither."""
    import cv2

    ink = image > 0.3
    near = cv2.dilate(ink.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)).astype(bool)
    return float(heat[ink].mean() / max(heat[~near].mean(), 1e-6))


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
@pytest.mark.parametrize("method", [explain.grad_cam, explain.grad_cam_plus_plus])
@pytest.mark.parametrize("choice", ["the app's default", "the last convolution"])
def test_cam_is_a_unit_map_that_concentrates_on_the_ink(conv_entries, digits, method, choice):
    """On real test digits, with the layer the Explain page opens on (every network of an ensemble) and with the last
    convolution (an ensemble's last network alone)."""
    images, labels = digits
    for entry in conv_entries:
        ratios, empty = [], 0
        layer = explain.default_cam_choice(entry.model) if choice == "the app's default" else None
        for img, label in zip(images, labels):
            heat = method(entry.model, img, int(label), layer)
            assert heat.shape == (28, 28) and heat.dtype == np.float32
            assert heat.min() >= 0 and heat.max() <= 1
            if heat.max() == 0:  # Grad-CAM's ReLU leaves nothing when all evidence is negative
                empty += 1  # (seen on the adversarially trained model): an honest blank, not NaN
                continue
            assert heat.max() == pytest.approx(1.0), f"{entry.name}: a non-empty map is scaled to max 1"
            assert heat.std() > 0.05, f"{entry.name}: {method.__name__} is (nearly) constant"
            ratios.append(_ink_ratio(heat, img))
        # An adversarially trained model's last convolution often holds only negative evidence for the class, or
        # evidence where ink is missing (digitlab/evaluation/explain.py): its Grad-CAM is blank or off the strokes
        # for more digits, so it gets looser bounds (Madry-style mnist_robust: 9 of 40 blank, 77% on the ink).
        adversarial = bool(((entry.card or {}).get("config") or {}).get("adversarial"))
        blank_share, on_ink_share = (0.5, 0.6) if adversarial else (0.1, 0.85)
        assert empty <= blank_share * len(images), f"{entry.name} {method.__name__}: {empty} blank maps"
        ratios = np.array(ratios)
        # The evidence for the true digit sits on its strokes, not on the empty frame around it.
        assert (ratios > 1).mean() >= on_ink_share, f"{entry.name} {method.__name__}: ink/frame ratios {np.round(ratios, 2)}"
        assert np.median(ratios) > 1.3, f"{entry.name} {method.__name__}: median ink/frame ratio {np.median(ratios):.2f}"


def test_cam_depends_on_the_class(conv_entries, digits):
    images, labels = digits
    model = conv_entries[0].model
    img, label = images[0], int(labels[0])
    own = explain.grad_cam(model, img, label)
    other = explain.grad_cam(model, img, (label + 1) % 10)
    assert np.abs(own - other).mean() > 0.02


def test_saliency_for_every_model(entries, digits):
    images, labels = digits
    for entry in entries:  # includes the dense-only baseline
        for smooth in (0, 8):
            sal = explain.saliency(entry.model, images[1], int(labels[1]), samples=smooth)
            assert sal.shape == (28, 28) and sal.dtype == np.float32
            assert sal.min() >= 0 and sal.max() == pytest.approx(1.0)
            assert sal.std() > 0.02, f"{entry.name}: saliency is constant"


def test_layers_of_the_models_built_here(conv_entries, digits):
    images, _ = digits
    for entry in conv_entries:
        convs = explain.conv_layers(entry.model)
        member = lambda name: re.sub(r"^m\d+_", "", name)  # noqa: E731  (an ensemble prefixes each member's layers: m0_, m1_, ...)
        assert "last_conv" in [member(c.name) for c in convs], f"{entry.name}: the builders name the last convolution last_conv"
        default = explain.default_cam_layer(entry.model)
        assert member(default) in {"last_conv_relu", "s2_out", "last_conv"}
        maps = explain.activation_maps(entry.model, images[0])
        assert [m.name for m in maps] == [c.name for c in convs]
        for m in maps:
            assert m.maps.shape == m.shape and m.shape[:2] in {(28, 28), (14, 14), (7, 7)}
            assert m.maps.min() >= 0 and m.maps.max() <= 1 and m.maps.max() == pytest.approx(1.0)
        grid = explain.tile(maps[0].maps, limit=16)
        h, w, _ = maps[0].shape
        assert grid.shape == (4 * h + 3, 4 * w + 3)


def test_no_conv_model_gets_a_clear_error(entries, digits):
    images, labels = digits
    dense = [e for e in entries if not explain.conv_layers(e.model)]
    if not dense:
        pytest.fail("no dense-only model (mnist_baseline) in models/: it is a committed model")
    model = dense[0].model
    for fn in (explain.grad_cam, explain.grad_cam_plus_plus):
        with pytest.raises(explain.ExplainError, match="no convolutional layer"):
            fn(model, images[0], int(labels[0]))
    with pytest.raises(explain.ExplainError, match="no convolutional layer"):
        explain.activation_maps(model, images[0])
    with pytest.raises(explain.ExplainError, match="no convolutional layer"):
        explain.default_cam_layer(model)


def test_sequential_model_saved_and_reloaded(tmp_path, entries, digits):
    """A reloaded Sequential's layer.output points at a stale node in Keras 3 (its gradient comes back None); explain rebuilds the graph.

    mnist_robust is a plain chain of layers with convolutions, so the same layers with the same weights make a
    Sequential model computing the same function: its explanations must match exactly.
    """
    import keras

    cnn = next((e.model for e in entries if e.name == "mnist_robust"), None)
    if cnn is None:
        pytest.fail(f"mnist_robust.keras is missing from {MODELS}")
    images, labels = digits
    seq = keras.Sequential([keras.Input((28, 28, 1))] + [type(layer).from_config(layer.get_config()) for layer in cnn.layers[1:]])
    for src, dst in zip(cnn.layers[1:], seq.layers):
        dst.set_weights(src.get_weights())
    seq.save(tmp_path / "seq_cnn.keras")
    model = artifacts.load_model(tmp_path / "seq_cnn.keras")
    assert isinstance(model, keras.Sequential)
    before = np.asarray(model(images[..., None], training=False))
    np.testing.assert_allclose(before, np.asarray(cnn(images[..., None], training=False)), atol=1e-5)

    assert [c.name for c in explain.conv_layers(model)] == [c.name for c in explain.conv_layers(cnn)]
    assert explain.default_cam_layer(model) == explain.default_cam_layer(cnn) == explain.conv_layers(cnn)[-1].name
    for img, label in zip(images[:10], labels[:10]):
        for fn in (explain.grad_cam, explain.grad_cam_plus_plus, explain.saliency):
            np.testing.assert_allclose(fn(model, img, int(label)), fn(cnn, img, int(label)), atol=1e-4, err_msg=fn.__name__)
    for a, b in zip(explain.activation_maps(model, images[0]), explain.activation_maps(cnn, images[0])):
        assert a.name == b.name and a.shape == b.shape
        np.testing.assert_allclose(a.maps, b.maps, atol=1e-4)
    # The probe shares the weights and leaves the model's own forward pass alone.
    np.testing.assert_allclose(np.asarray(model(images[..., None], training=False)), before, atol=1e-6)


def test_dense_only_sequential_784(tmp_path, digits):
    import keras

    images, labels = digits
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10), keras.layers.Softmax()])
    model.save(tmp_path / "flat.keras")
    model = artifacts.load_model(tmp_path / "flat.keras")
    assert explain.feature_layers(model) == []
    with pytest.raises(explain.ExplainError, match="gradient saliency works for any model"):
        explain.grad_cam(model, images[0], 3)
    sal = explain.saliency(model, images[0], 3)
    # Softmax regression, z = x W + b: the margin z_3 - logsumexp_{j!=3} z_j has the input
    # gradient W_3 - sum_{j!=3} q_j W_j, q the softmax of the other logits.
    w = np.asarray(model.layers[0].kernel, np.float64)
    z = images[0].reshape(1, 784).astype(np.float64) @ w + np.asarray(model.layers[0].bias)
    others = [j for j in range(10) if j != 3]
    q = np.exp(z[0, others] - z[0, others].max())
    q /= q.sum()
    grad = np.abs(w[:, 3] - w[:, others] @ q).reshape(28, 28)
    np.testing.assert_allclose(sal, grad / grad.max(), atol=1e-4)


def test_class_score_is_a_shift_invariant_margin():
    import tensorflow as tf

    z = tf.constant([[2.0, -1.0, 0.5, 3.0, -4.0, 0.0, 1.0, -2.0, 0.25, -0.5]])
    m = explain.class_score(z, 3).numpy()[0]
    others = np.delete(z.numpy()[0], 3)
    assert m == pytest.approx(3.0 - np.log(np.exp(others).sum()), rel=1e-6)
    assert explain.class_score(z - 100.0, 3).numpy()[0] == pytest.approx(m, rel=1e-5)
    assert explain.class_score(z, 0).numpy()[0] < m, "3 is the top logit, so it has the largest margin"


def test_bad_arguments(conv_entries, digits):
    images, _ = digits
    model = conv_entries[0].model
    with pytest.raises(explain.ExplainError, match="digit 0-9"):
        explain.grad_cam(model, images[0], 10)
    with pytest.raises(explain.ExplainError, match="no spatial output"):
        explain.grad_cam(model, images[0], 1, layer="logits")
    with pytest.raises(explain.ExplainError, match="one 28x28 image"):
        explain.saliency(model, np.zeros((14, 14), np.float32), 1)


def test_overlay_and_colorize(digits):
    images, _ = digits
    heat = np.zeros((28, 28), np.float32)
    heat[10:18, 10:18] = 1.0
    out = explain.overlay(images[0], heat, size=112, alpha=0.5)
    assert out.shape == (112, 112, 3) and out.dtype == np.uint8
    hot, cold = out[14 * 4, 14 * 4], out[2, 2]
    assert hot[0] > hot[2], "hot areas are red in the jet colour map"
    assert cold[2] > cold[0], "cold areas are blue"
    assert explain.colorize(np.linspace(0, 1, 28 * 28).reshape(28, 28)).shape == (28, 28, 3)


def test_every_network_of_an_ensemble(entries, digits):
    """An ensemble's Grad-CAM reads each network's last feature map from one gradient of its whole score."""
    from digitlab.models import ensemble

    models = {e.name: e.model for e in entries}
    assert explain.network_cam_layers(models["mnist_cnn"]) == ["m0_last_conv_relu", "m1_last_conv_relu", "m2_last_conv_relu"]
    assert explain.network_cam_layers(models["mnist_advanced"]) == ["m0_s2_out", "m1_last_conv_relu", "m2_last_conv_relu"]
    assert explain.default_cam_choice(models["mnist_cnn"]) == explain.EVERY_NETWORK
    robust = models["mnist_robust"]
    assert explain.network_cam_layers(robust) == [] and explain.default_cam_choice(robust) == explain.default_cam_layer(robust)
    images, labels = digits
    with pytest.raises(explain.ExplainError, match="one network"):
        explain.grad_cam(robust, images[0], int(labels[0]), explain.EVERY_NETWORK)
    # One network twice: each copy carries half the score, and their maps stacked are the network's own map.
    twice = ensemble.combine([robust, robust], name="twice")
    assert explain.network_cam_layers(twice) == ["m0_last_conv", "m1_last_conv"]
    for img, label in zip(images[:10], labels[:10]):
        np.testing.assert_allclose(explain.grad_cam(twice, img, int(label), explain.EVERY_NETWORK), explain.grad_cam(robust, img, int(label)), atol=1e-5)
    # mnist_cnn's networks are different networks: the whole model's map is not its last network's alone.
    cnn = models["mnist_cnn"]
    differ = [np.abs(explain.grad_cam(cnn, img, int(label), explain.EVERY_NETWORK) - explain.grad_cam(cnn, img, int(label))).max()
              for img, label in zip(images[:10], labels[:10])]
    assert max(differ) > 0.1, differ


def _generated_digit(style: str, seed: int) -> np.ndarray:
    """A drawing of ``style`` (digitlab.data.handwriting_test), prepared as Home prepares a canvas: (28, 28) float32."""
    from digitlab.data import handwriting_test as hw

    ink = (hw.draw_style(style, np.random.default_rng(seed), "mouse") * 255).round().astype(np.uint8)
    return preprocess.prepare(ink, invert="no", drawn_on=0.0).image


@pytest.mark.slow
def test_the_maps_from_the_child_process_are_those_computed_here(entries):
    """The app's Explain page asks ``gradients.explain_digit``, which computes in a child process that exits: what comes
    back is what the explain functions give here, for every digit, and the activation maps of every convolution."""
    from digitlab.evaluation import gradients

    entry = next(e for e in entries if e.name == "mnist_cnn")
    model = artifacts.load_model(entry.path)
    image = _generated_digit("4 closed", 3)
    got = gradients.explain_digit(entry.path, image)
    layer = explain.default_cam_choice(model)
    assert got.default == got.layer == layer and got.has_conv
    assert [f.name for f in got.layers] == [f.name for f in explain.feature_layers(model)]
    for d in (0, 4, 9):
        np.testing.assert_allclose(got.grad_cam[d], explain.grad_cam(model, image, d, layer), atol=1e-4)
        np.testing.assert_allclose(got.grad_cam_plus_plus[d], explain.grad_cam_plus_plus(model, image, d, layer), atol=1e-4)
        np.testing.assert_allclose(got.saliency[d], explain.saliency(model, image, d, samples=gradients.SMOOTHGRAD_SAMPLES), atol=1e-4)
    assert [a.name for a in got.activations] == [a.name for a in explain.activation_maps(model, image)]
    other = next(f.name for f in got.layers if f.is_conv)
    np.testing.assert_allclose(gradients.explain_digit(entry.path, image, other).grad_cam[4], explain.grad_cam(model, image, 4, other), atol=1e-4)


@pytest.mark.slow
def test_a_dense_model_gets_saliency_and_no_feature_map_from_the_child(entries):
    from digitlab.evaluation import gradients

    entry = next(e for e in entries if e.name == "mnist_baseline")
    got = gradients.explain_digit(entry.path, _generated_digit("7 plain", 1))
    assert not got.has_conv and got.grad_cam is None and got.activations == ()
    assert got.saliency.shape == (10, 28, 28) and got.saliency.min() >= 0 and got.saliency.max() <= 1


@pytest.mark.slow
def test_an_unreadable_model_file_is_a_model_error_from_the_child(tmp_path):
    from digitlab.evaluation import gradients

    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(artifacts.ModelError):
        gradients.explain_digit(bad, np.zeros((28, 28), np.float32))
