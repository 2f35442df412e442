"""Corruptions on real MNIST digits: shape, range, change, determinism, geometry; sweeps against a
committed model; evaluation/evaluate_robustness.py in --dry-run."""

import json

import numpy as np
import pytest

from digitlab import preprocess
from digitlab.evaluation import robustness
from digitlab.models import artifacts
from digitlab.serving.classifiers import Classifier

ALL = [(c, lv) for c in robustness.SUITE.values() for lv in c.levels] + [(c, c.levels[0]) for c in robustness.MNIST_C.values()]


@pytest.fixture(scope="module")
def digits(mnist_test):
    x, y = mnist_test
    return preprocess.prepare_batch(x[:300]), y[:300].astype(np.int64)


@pytest.mark.parametrize("corruption, level", ALL, ids=[f"{c.family}-{c.name}-{lv:g}" for c, lv in ALL])
def test_corruption_keeps_shape_and_range_and_changes_every_digit(digits, corruption, level):
    x = digits[0][:64]
    out = robustness.corrupt(x, corruption, level, seed=0)
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    changed = np.abs(out - x).max(axis=(1, 2)) > 0.05
    assert changed.mean() >= 0.95, f"{corruption.name}@{level}: only {changed.mean():.0%} of the digits changed"
    # deterministic for a seed; a single image gives the same as its row in a batch of one
    assert np.array_equal(out, robustness.corrupt(x, corruption, level, seed=0))
    assert robustness.corrupt(x[0], corruption, level, seed=0).shape == (28, 28)


def test_severity_grows_with_level(digits):
    x = digits[0][:64]
    for c in robustness.SUITE.values():
        change = [np.abs(robustness.corrupt(x, c, lv) - x).mean() for lv in c.levels]
        assert all(b > a for a, b in zip(change, change[1:])), (c.name, change)


def test_random_corruptions_depend_on_the_seed(digits):
    x = digits[0][:16]
    for name in ("gaussian_noise", "rotation", "translation"):
        lv = robustness.SUITE[name].levels[-1]
        assert not np.array_equal(robustness.corrupt(x, name, lv, seed=0), robustness.corrupt(x, name, lv, seed=1))


def test_geometry_conventions(digits):
    x = digits[0][:32]
    # whole-pixel MNIST-C translation is an exact shift by 3 px along both axes, zero filled
    out = robustness.corrupt(x, "translate", 3, family="mnist_c")
    for img, o in zip(x, out):
        shifts = []
        for dy in (-3, 3):
            for dx in (-3, 3):
                s = np.zeros_like(img)
                s[max(dy, 0) : 28 + min(dy, 0), max(dx, 0) : 28 + min(dx, 0)] = img[max(-dy, 0) : 28 + min(-dy, 0), max(-dx, 0) : 28 + min(-dx, 0)]
                shifts.append(np.abs(s - o).max())
        assert min(shifts) < 1e-5
    # rotating a digit keeps its centre of mass near the centre and its ink amount (nothing leaves the frame at 20 deg)
    rot = robustness.corrupt(x, "rotation", 20)
    assert np.allclose(rot.sum(axis=(1, 2)), x.sum(axis=(1, 2)), rtol=0.03)
    # MNIST-C scale 0.7 shrinks the ink's bounding box
    small = robustness.corrupt(x, "scale", 0.7, family="mnist_c")
    assert np.mean([preprocess.shape_stats(s)["box_height"] < preprocess.shape_stats(i)["box_height"] for s, i in zip(small, x)]) > 0.95
    # thicker / thinner strokes move the measured stroke width the right way
    w = np.mean([preprocess.stroke_width(i) for i in x])
    assert np.mean([preprocess.stroke_width(i) for i in robustness.corrupt(x, "thicken", 1.0)]) > w + 0.8
    assert np.mean([preprocess.stroke_width(i) for i in robustness.corrupt(x, "thin", 0.5)]) < w - 0.3


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_sweep_on_a_committed_model(digits):
    try:
        entry = artifacts.resolve("mnist_cnn")
    except artifacts.ModelError as e:
        pytest.fail(f"committed model missing: {e}")
    x, y = digits
    suite = {k: robustness.SUITE[k] for k in ("gaussian_noise", "thicken", "inversion")}
    mc = {k: robustness.MNIST_C[k] for k in ("canny_edges", "shot_noise", "stripe")}
    r = robustness.sweep({"cnn": Classifier(entry).predict_proba}, x, y, suite=suite, mnist_c=mc)["cnn"]
    assert r["clean"] > 0.97 and r["n"] == len(x)
    noise = r["suite"]["gaussian_noise"]
    assert noise["levels"] == list(robustness.SUITE["gaussian_noise"].levels) and len(noise["accuracy"]) == 5
    assert noise["accuracy"][-1] < noise["accuracy"][0] <= r["clean"] + 0.01
    assert r["suite"]["inversion"]["accuracy"][-1] < 0.5  # a light-ink model cannot read dark ink
    assert set(r["mnist_c"]) == set(mc) and r["mnist_c_mean"] < r["clean"]
    assert r["mnist_c_mean"] == pytest.approx(np.mean(list(r["mnist_c"].values())))
    one = robustness.sweep_one(x[0], Classifier(entry).predict_proba, "rotation")
    assert [s["level"] for s in one] == [0.0, *robustness.SUITE["rotation"].levels] and one[0]["label"] == y[0]


@pytest.mark.slow
def test_evaluate_robustness_quick(run_main, tmp_path):
    try:
        model = artifacts.resolve("mnist_baseline")
    except artifacts.ModelError as e:
        pytest.fail(f"committed model missing: {e}")
    proc = run_main("evaluation/evaluate_robustness.py", "--dry-run", "--model", model.name, "--out", tmp_path)
    line = json.loads(proc.stdout.splitlines()[-1])
    r = json.loads((tmp_path / model.name / "robustness.json").read_text())
    assert line["model"] == model.name and r["n"] == 200
    assert set(r["suite"]) == set(robustness.SUITE) and set(r["mnist_c"]) == set(robustness.MNIST_C)
    assert 0.8 < r["clean"] <= 1 and r["mnist_c_mean"] < r["clean"]
    assert line["mean_corruption_accuracy"] == round(r["mnist_c_mean"], 4)
    for f in ("robustness.md", "robustness.png"):
        assert (tmp_path / model.name / f).stat().st_size > 500
    assert (tmp_path / "robustness_examples.png").stat().st_size > 1000
    assert "mean corruption accuracy" in (tmp_path / "robustness.md").read_text()
