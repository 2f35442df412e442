"""Calibration metrics on constructed examples with known answers, temperature recovery, the abstain
rule on generated non-digits, and evaluation/calibrate.py in --quick."""

import json
import shutil

import numpy as np
import pytest

from digitlab import artifacts, calibration, data, preprocess
from digitlab.inference import Classifier


def _probs_with_confidence(conf: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(N, 10) probabilities whose max is ``conf`` on class ``pred``, the rest spread evenly."""
    p = np.repeat(((1 - conf) / 9)[:, None], 10, 1)
    p[np.arange(len(conf)), pred] = conf
    return p


def test_ece_is_zero_for_perfectly_calibrated_data():
    rng = np.random.default_rng(0)
    n = 200_000
    conf = rng.uniform(0.15, 1.0, n)
    correct = rng.random(n) < conf  # right exactly as often as it claims
    y = rng.integers(0, 10, n)
    pred = np.where(correct, y, (y + 1 + rng.integers(0, 9, n)) % 10)
    r = calibration.reliability(_probs_with_confidence(conf, pred), y)
    assert r["ece"] < 0.005
    filled = np.array(r["count"]) > 1000
    assert np.allclose(np.array(r["accuracy"])[filled], np.array(r["confidence"])[filled], atol=0.02)


def test_ece_known_values():
    # every prediction 90 % confident, 60 % right: ECE = |0.6 - 0.9| = 0.3
    y = np.zeros(1000, int)
    pred = np.where(np.arange(1000) < 600, 0, 1)
    assert calibration.ece(_probs_with_confidence(np.full(1000, 0.9), pred), y) == pytest.approx(0.3)
    # two bins by hand: 100 at 0.95 all right (gap 0.05), 300 at 0.5 with 90 right (gap 0.2)
    conf = np.r_[np.full(100, 0.95), np.full(300, 0.5)]
    pred = np.r_[np.zeros(100, int), np.where(np.arange(300) < 90, 0, 1)]
    y = np.zeros(400, int)
    r = calibration.reliability(_probs_with_confidence(conf, pred), y, n_bins=15)
    assert r["ece"] == pytest.approx((100 * 0.05 + 300 * 0.2) / 400)
    assert r["mce"] == pytest.approx(0.2) and sum(r["count"]) == 400


def test_temperature_is_recovered_and_keeps_the_argmax():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 3, (20_000, 10))
    true_t = 2.0
    truth = np.exp(z / true_t) / np.exp(z / true_t).sum(1, keepdims=True)
    y = np.array([rng.choice(10, p=p) for p in truth])
    over = np.exp(z) / np.exp(z).sum(1, keepdims=True)  # the model: logits not divided, overconfident
    t = calibration.fit_temperature(over, y)
    assert t == pytest.approx(true_t, rel=0.05)
    scaled = calibration.apply_temperature(over, t)
    assert np.array_equal(scaled.argmax(1), over.argmax(1))
    assert np.allclose(scaled, truth, atol=0.02)
    assert calibration.ece(scaled, y) < calibration.ece(over, y) / 3
    assert np.allclose(calibration.apply_temperature(over, 1.0), over, atol=1e-6)


def test_decide_reads_the_card():
    card = {"calibration": {"temperature": 0.5, "abstain": {"threshold": 0.9}}}
    sure = np.r_[0.8, np.full(9, 0.2 / 9)]  # T 0.5 sharpens 0.8 to ~0.99
    assert calibration.decide(sure, card)[0] == 0
    unsure = np.r_[0.35, 0.3, np.full(8, 0.35 / 8)]
    label, reason = calibration.decide(unsure, card)
    assert label is None and "not sure this is a digit" in reason
    assert calibration.decide(np.zeros(10), card) == (None, "no ink")
    assert calibration.decide(unsure, {"name": "x"})[0] == 0  # no calibration in the card: never abstains


def test_non_digit_pictures_are_varied_and_deterministic():
    pics = calibration.non_digit_pictures(40, seed=5)
    assert [k for k, _, _ in pics[:4]] == list(calibration.KINDS) and len(pics) == 40
    letters = [d for k, d, _ in pics if k == "letter"]
    assert letters and not set(letters) & calibration.DIGIT_LIKE_LETTERS
    again = calibration.non_digit_pictures(40, seed=5)
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(pics, again))
    images, no_ink, kinds, _ = calibration.prepare_pictures(pics)
    assert images.shape == (40, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert not no_ink[[i for i, k in enumerate(kinds) if k in ("letter", "shape", "scribble")]].any()


@pytest.fixture(scope="module")
def cnn_entry():
    try:
        return artifacts.resolve("mnist_cnn")
    except artifacts.ModelError as e:
        pytest.skip(f"committed model missing: {e}")


def test_abstain_rule_rejects_non_digits_far_more_than_digits(cnn_entry, mnist_path):
    mnist = data.load_mnist(mnist_path)
    x_val, y_val = preprocess.prepare_batch(mnist.x_val[:1000]), mnist.y_val[:1000]
    x_test, y_test = preprocess.prepare_batch(mnist.x_test[:1000]), mnist.y_test[:1000]
    non_digits = calibration.prepare_pictures(calibration.non_digit_pictures(80, seed=2))
    r = calibration.calibrate(Classifier(cnn_entry).predict_proba, x_val, y_val, x_test, y_test, non_digits, reject_rate=0.01)
    ab = r["abstain"]
    assert r["ece_after"] < r["ece_before"] or r["ece_before"] < 0.005
    assert ab["mnist_test_rejected"] <= 0.03
    # honest bar, measured: ~34 % of non-digits rejected (noise most, letters and shapes least) vs ~1 % of digits
    assert ab["non_digits_rejected"] >= 0.2 and ab["non_digits_rejected"] > 8 * ab["mnist_test_rejected"]
    assert ab["non_digits_rejected_by_kind"]["noise"] > 0.5
    assert ab["mnist_test_errors_rejected"] is None or ab["mnist_test_errors_rejected"] > ab["mnist_test_rejected"]


def test_calibrate_script_quick_writes_the_card(run_script, tmp_path, cnn_entry, mnist_test):
    shutil.copy(cnn_entry.path, tmp_path / "probe.keras")
    shutil.copy(cnn_entry.path.with_suffix(".json"), tmp_path / "probe.json")
    proc = run_script("evaluation/calibrate.py", "--quick", "--write-card", "--model", tmp_path / "probe.keras", "--out", tmp_path / "reports")
    line = json.loads(proc.stdout.splitlines()[-1])
    card = json.loads((tmp_path / "probe.json").read_text())
    cal = card["calibration"]
    assert line["card_written"] and cal["temperature"] == pytest.approx(line["temperature"], abs=1e-4)
    assert 0 < cal["abstain"]["threshold"] < 1 and cal["abstain"]["non_digits"] == 40
    assert card["metrics"] == json.loads(cnn_entry.path.with_suffix(".json").read_text())["metrics"]  # the rest is kept
    for f in ("calibration.json", "reliability.png", "non_digits.png"):
        assert (tmp_path / "reports" / "probe" / f).stat().st_size > 500
    # with the written card, clear MNIST test digits are still read, with their calibrated confidence
    x, y = mnist_test
    probs = Classifier(artifacts.inspect(tmp_path / "probe.keras")).predict_proba(preprocess.prepare_batch(x[:50]))
    decisions = [calibration.decide(p, card) for p in probs]
    assert np.mean([label == t for (label, _), t in zip(decisions, y[:50])]) >= 0.94
