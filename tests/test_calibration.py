"""Calibration metrics on constructed examples with known answers, temperature recovery, the joint
threshold, the generated pictures and their splits, the digit gate on held-out non-digits and real
MNIST test digits, the abstain rule, and evaluation/calibrate.py and training/train_gate.py run for real."""

import json
import shutil

import numpy as np
import pytest

from digitlab import data, preprocess
from digitlab.data import nondigits
from digitlab.evaluation import calibration, nondigit_sets
from digitlab.models import artifacts
from digitlab.serving import gate
from digitlab.serving.classifiers import Classifier, predictions


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


def test_the_temperature_searched_is_the_range_a_card_may_hold(monkeypatch):
    """fit_temperature searches the range the card check allows (cards.TEMPERATURE_RANGE), not a copy of it: a model that
    wants T = 4 gets the range's edge when the range ends below 4."""
    from digitlab.models import cards

    rng = np.random.default_rng(2)
    z = rng.normal(0, 3, (5_000, 10))
    truth = np.exp(z / 4) / np.exp(z / 4).sum(1, keepdims=True)
    y = np.array([rng.choice(10, p=p) for p in truth])
    over = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert calibration.fit_temperature(over, y) == pytest.approx(4.0, rel=0.1)
    monkeypatch.setattr(cards, "TEMPERATURE_RANGE", (0.5, 2.0))
    assert calibration.fit_temperature(over, y) == pytest.approx(2.0, rel=1e-3)


def test_joint_threshold_counts_what_the_gate_already_rejects():
    conf = np.arange(1, 101) / 100  # 0.01 ... 1.00, the k-th least confident is k/100
    # alone: 5 % of 100 digits may go -> the quantile, between the 5th and 6th
    assert calibration.fit_threshold(conf, 0.05) == pytest.approx(np.quantile(conf, 0.05))
    # the gate already rejects 3 digits, none of them unsure: 2 more may go, the 2 least confident
    gate_rej = np.zeros(100, bool)
    gate_rej[[50, 60, 70]] = True
    t = calibration.fit_threshold(conf, 0.05, gate_rej)
    assert t == pytest.approx(0.03) and ((conf < t) | gate_rej).sum() == 5
    # the gate rejects the two least confident: they cost nothing, so 3 more may go (the 3rd..5th)
    gate_rej = np.zeros(100, bool)
    gate_rej[[0, 1]] = True
    t = calibration.fit_threshold(conf, 0.05, gate_rej)
    assert t == pytest.approx(0.06) and ((conf < t) | gate_rej).sum() == 5
    # the gate alone is over budget: the threshold rejects nothing more
    gate_rej = np.zeros(100, bool)
    gate_rej[:10] = True
    assert not (conf[~gate_rej] < calibration.fit_threshold(conf, 0.05, gate_rej)).any()


def test_rejection_summary_known_values():
    kinds = ["letter", "letter", "letter", "shape", "noise", "noise"]
    details = ["E", "A", "K", "star", "paper", "paper"]  # E and K are letters no training picture shows
    rejected = np.array([True, False, False, True, True, True])
    no_ink = np.array([False, False, False, False, True, False])
    s = nondigit_sets.rejection_summary(rejected, no_ink, kinds, details)
    assert s["n"] == 6 and s["rejected"] == pytest.approx(4 / 6) and s["no_ink"] == pytest.approx(1 / 6)
    assert s["rejected_by_kind"] == {"letter": pytest.approx(1 / 3), "shape": 1.0, "noise": 1.0}
    assert s["unseen_letters_rejected"] == pytest.approx(0.5) and s["rejected_by_detail"]["A"] == 0.0


def test_predictions_read_the_card():
    card = {"calibration": {"temperature": 0.5, "abstain": {"threshold": 0.9}}}
    sure = np.r_[0.8, np.full(9, 0.2 / 9)]  # T 0.5 sharpens 0.8 to ~0.99
    unsure = np.r_[0.35, 0.3, np.full(8, 0.35 / 8)]
    a, b, blank = predictions(np.stack([sure, unsure, np.zeros(10)]), card)
    assert a.label == 0 and not a.abstain and a.confidence == pytest.approx(0.9928, abs=1e-3)
    assert b.refused and b.label == 0 and b.message.startswith("not sure this is a digit: calibrated confidence")
    assert blank.no_ink and blank.abstain and blank.reason == "no ink" and blank.confidence == 0
    assert not predictions(unsure, {"name": "x"})[0].abstain  # no calibration in the card: never abstains


# ----------------------------------------------------------------------------- generated pictures


def test_non_digit_pictures_are_varied_deterministic_and_split():
    pics = list(nondigits.non_digit_pictures(40, seed=5, split="heldout"))
    assert [k for k, _, _ in pics[:4]] == list(nondigits.KINDS) and len(pics) == 40
    letters = [d for k, d, _ in pics if k == "letter"]
    assert letters and not set(letters) & nondigits.DIGIT_LIKE_LETTERS
    again = list(nondigits.non_digit_pictures(40, seed=5, split="heldout"))
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(pics, again))
    images, no_ink, kinds, _ = nondigits.prepare_pictures(pics)
    assert images.shape == (40, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert not no_ink[[i for i, k in enumerate(kinds) if k in ("letter", "shape", "scribble")]].any()
    # the held-out generators share nothing with the training ones but letters in other fonts
    train, held = nondigits.SPLITS["train"], nondigits.SPLITS["heldout"]
    assert not set(train.shapes) & set(held.shapes) and not set(train.scribbles) & set(held.scribbles)
    assert not set(train.textures) & set(held.textures) and not set(train.letters) & set(nondigits.HELDOUT_LETTERS)
    train_fonts, held_fonts = set(nondigits.fonts("train")), set(nondigits.fonts("heldout"))
    assert not train_fonts & held_fonts
    train_pics = list(nondigits.non_digit_pictures(80, seed=5, split="train"))
    assert {d for k, d, _ in train_pics if k == "shape"} <= set(train.shapes) | {"doodle", "symbol"}
    assert not set(nondigits.FRESH_SHAPES) & (set(train.shapes) | set(held.shapes))
    with pytest.raises(ValueError, match="split must be one of"):
        next(nondigits.non_digit_pictures(4, split="test"))


def test_printed_and_drawn_digits_are_read_as_digits(mnist_test):
    """The positives the gate learns from are real digits: the committed CNN reads them."""
    x, y = mnist_test
    try:
        clf = Classifier(artifacts.resolve("mnist_cnn"))
    except artifacts.ModelError as e:
        pytest.fail(f"committed model missing: {e}")
    printed = nondigits.prepare_pictures(nondigits.printed_digit_pictures(40, seed=3, split="heldout"))
    drawn = nondigits.prepare_pictures(nondigits.drawn_digit_pictures(x[:40], y[:40], seed=3))
    for images, no_ink, _, details in (printed, drawn):
        assert not no_ink.any()
        assert np.mean(clf.predict_proba(images).argmax(1) == np.array(details, int)) >= 0.8


# ----------------------------------------------------------------------------- the digit gate


@pytest.fixture(scope="module")
def committed_gate():
    try:
        return gate.load()
    except artifacts.ModelError as e:
        pytest.fail(f"the committed digit gate is missing or broken: {e}")


def test_gate_is_not_listed_as_a_classifier(committed_gate):
    assert committed_gate.path.parent.name == "gate"
    assert all(e.path != committed_gate.path for e in artifacts.list_models())
    assert 0 < committed_gate.threshold < 1


@pytest.mark.slow
def test_gate_rejects_held_out_non_digits_and_accepts_mnist_test(committed_gate, mnist_test):
    """Fixed subsets; each bar sits below what the committed gate measured on that subset (in the
    comment), with a margin for a retrained gate.  The full figures are in models/gate/not_a_digit.json."""
    x, y = mnist_test
    digits = preprocess.prepare_batch(x[:1500])
    assert committed_gate.rejects(digits).mean() <= 0.012  # measured 0.73 % (0.43 % of all 10,000; 0.40 % of validation by construction)
    drawn = nondigits.prepare_pictures(nondigits.drawn_digit_pictures(x[2000:2200], y[2000:2200], seed=11))
    assert committed_gate.rejects(drawn[0]).mean() <= 0.05  # measured 1.0 % of these canvas-style digits
    images, no_ink, kinds, details = nondigits.prepare_pictures(nondigits.non_digit_pictures(160, seed=11, split="heldout"))
    s = nondigit_sets.rejection_summary(no_ink | committed_gate.rejects(images), no_ink, kinds, details)
    assert s["rejected"] >= 0.70, s  # measured 77 %: generators the gate never saw
    assert s["rejected_by_kind"]["shape"] >= 0.35, s  # measured 48 %: hearts, smileys and check marks mostly pass
    assert min(s["rejected_by_kind"][k] for k in ("scribble", "letter", "noise")) >= 0.65, s  # measured 72 %, 90 %, 98 %
    images, no_ink, kinds, details = nondigits.prepare_pictures(nondigits.non_digit_pictures(160, seed=12, split="train"))
    s = nondigit_sets.rejection_summary(no_ink | committed_gate.rejects(images), no_ink, kinds, details)
    assert s["rejected"] >= 0.85, s  # measured 95 %: the training generators, another seed


def test_decide_with_the_gate(committed_gate, mnist_test):
    x, y = mnist_test
    try:
        entry = artifacts.resolve("mnist_cnn")
    except artifacts.ModelError as e:
        pytest.fail(f"committed model missing: {e}")
    clf = Classifier(entry)
    star = nondigits.prepare_pictures([("shape", "star", nondigits.as_picture(nondigits.shape(np.random.default_rng(0), ("star",))[0],
                                                                             np.random.default_rng(1)))])[0]
    digits = preprocess.prepare_batch(x[:20])
    images = np.concatenate([star, digits])
    probs = clf.predict_proba(images)
    assert committed_gate.rejects(star)[0], "this star must be one the gate rejects"
    # the committed card with its confidence threshold at 0, so only the gate can refuse the star
    gate_only = {**entry.card, "calibration": {**entry.card["calibration"],
                                               "abstain": {**entry.card["calibration"]["abstain"], "threshold": 0.0}}}
    for card in (gate_only, {"name": "dropped-in, no calibration"}):
        [star_pred] = predictions(probs[:1], card, images[:1], committed_gate)
        assert star_pred.refused and star_pred.message.startswith("not sure this is a digit: it does not look like one (digit gate"), star_pred
        # without the picture only the confidence threshold can act, and here it lets the star through
        assert not predictions(probs[:1], card)[0].abstain
    batch = predictions(probs, entry.card, images, clf.gate)  # the classifier's gate: the committed one, on Keras
    assert clf.gate.path == committed_gate.path and clf.gate.backend == "keras"
    assert batch[0].refused and np.mean([p.label == t and not p.abstain for p, t in zip(batch[1:], y[:20])]) >= 0.95
    through_the_classifier = clf.predict_prepared([preprocess.Prepared(im, no_ink=False, inverted=False) for im in images])
    assert [(p.label, p.abstain, p.reason) for p in batch] == [(p.label, p.abstain, p.reason) for p in through_the_classifier]
    assert predictions(np.zeros((1, 10)), entry.card, np.zeros((1, 28, 28)), committed_gate)[0].reason == "no ink"
    with pytest.raises(ValueError, match="3 images for 2 predictions"):
        predictions(probs[:2], entry.card, images[:3], committed_gate)


def test_decide_without_a_gate_file_falls_back_to_the_confidence_threshold(monkeypatch, tmp_path):
    monkeypatch.setattr(gate, "GATE_PATH", tmp_path / "missing.keras")
    card = {"calibration": {"temperature": 1.0, "abstain": {"threshold": 0.9}}}
    sure, unsure = np.r_[0.99, np.full(9, 0.01 / 9)], np.r_[0.5, 0.4, np.full(8, 0.1 / 8)]
    with pytest.warns(UserWarning, match="digit gate unavailable.*train one with python training/train_gate.py"):
        missing = gate.default()
    assert missing is None
    decided = predictions(np.stack([sure, unsure]), card, np.zeros((2, 28, 28)), missing)
    assert decided[0].label == 0 and not decided[0].abstain and "digit gate unavailable" in decided[0].reason
    assert decided[1].refused and "not sure this is a digit" in decided[1].message
    (tmp_path / "broken.keras").write_bytes(b"not a model")
    (tmp_path / "broken.json").write_text('{"threshold": 0.1}')
    with pytest.raises(artifacts.ModelError, match="not a Keras 3 .keras archive"):
        gate.load(tmp_path / "broken.keras")
    (tmp_path / "broken.json").write_text("{}")
    with pytest.raises(artifacts.ModelError, match="has no threshold"):
        gate.load(tmp_path / "broken.keras")


# ----------------------------------------------------------------------------- the scripts


@pytest.fixture(scope="module")
def cnn_entry():
    try:
        return artifacts.resolve("mnist_cnn")
    except artifacts.ModelError as e:
        pytest.fail(f"committed model missing: {e}")


@pytest.mark.slow
def test_calibrate_script_quick_writes_the_card(run_main, tmp_path, cnn_entry, mnist_test, committed_gate):
    shutil.copy(cnn_entry.path, tmp_path / "probe.keras")
    shutil.copy(cnn_entry.path.with_suffix(".json"), tmp_path / "probe.json")
    proc = run_main("evaluation/calibrate.py", "--dry-run", "--write-card", "--model", tmp_path / "probe.keras", "--out", tmp_path / "reports")
    line = json.loads(proc.stdout.splitlines()[-1])
    card = json.loads((tmp_path / "probe.json").read_text())
    cal = card["calibration"]
    assert line["card_written"] and cal["temperature"] == pytest.approx(line["temperature"], abs=1e-4)
    ab = cal["abstain"]
    assert 0 < ab["threshold"] < 1 and ab["gate"]["threshold"] == pytest.approx(committed_gate.threshold)
    assert ab["non_digits"]["held_out"]["n"] == 20 and set(ab["non_digits"]) == {"in_distribution", "held_out", "fresh"}
    assert set(ab["digits_rejected"]) == {"drawn", "printed"} and "confidence_only" in ab
    assert card["metrics"] == json.loads(cnn_entry.path.with_suffix(".json").read_text())["metrics"]  # the rest is kept
    for f in ("probe/calibration.json", "probe/reliability.png", "probe/non_digits.png", "gate.json", "calibration.md"):
        assert (tmp_path / "reports" / f).stat().st_size > 300
    # with the written card, clear MNIST test digits are still read, with their calibrated confidence
    x, y = mnist_test
    images = preprocess.prepare_batch(x[:50])
    probs = Classifier(artifacts.inspect(tmp_path / "probe.keras")).predict_proba(images)
    decided = predictions(probs, card, images, committed_gate)
    assert np.mean([p.label == t and not p.abstain for p, t in zip(decided, y[:50])]) >= 0.94


@pytest.mark.slow
def test_train_gate_dry_run(run_main, tmp_path, mnist_path):
    """A dry run given real strokes: they join the digits the gate accepts, and its card names the file; then the
    flags it refuses."""
    from test_unipen import _small_file

    strokes = _small_file(tmp_path)
    proc = run_main("training/train_gate.py", "--dry-run", "--out", tmp_path, "--name", "probe_gate", "--real-strokes", strokes,
                    "--n-real", "30", "--real-path", "0.5")
    assert "saved" in proc.stdout
    card = json.loads((tmp_path / "probe_gate.json").read_text())
    assert card["dry_run"] and 0 <= card["threshold"] <= 1 and card["data"]["non_digits"] > 50
    assert set(card["measured"]["non_digits"]) == {"in_distribution", "held_out", "fresh"}
    assert card["data"]["uploads"] > 30 and card["data"]["digit_uploads"] > 15  # faces, emoji, ... and their digit counterparts
    assert card["data"]["touching"] > 20  # digits written in a row: a number is not one digit
    assert set(card["measured"]["benchmark"]["gate alone"]["non_digits"]) == {*nondigits.UPLOAD_CATEGORIES, "touching digits"}
    # the small file's training writers (never its held-out site app or its validation writers), drawn like the canvas
    assert 0 < card["data"]["real_strokes"] <= 30 and card["config"]["n_real"] == 30 and card["config"]["real_path"] == 0.5
    assert card["real_strokes"]["file"] == strokes.name and card["real_strokes"]["split"]["held_out_site"] == "app"
    g = gate.load(tmp_path / "probe_gate.keras")
    mnist = data.load(mnist_path)
    p = g.score(preprocess.prepare_batch(mnist.x_test[:8]))
    assert p.shape == (8,) and ((p >= 0) & (p <= 1)).all()
    assert not artifacts.list_models(tmp_path)[0].usable  # a gate is never mistaken for a classifier
    bad = run_main("training/train_gate.py", "--reject-rate", "2", check=False)
    assert bad.returncode == 2 and "--reject-rate" in bad.stderr
    missing = run_main("training/train_gate.py", "--real-strokes", tmp_path / "missing.json.gz", check=False)
    assert missing.returncode == 2 and "missing.json.gz" in missing.stderr
    alone = run_main("training/train_gate.py", "--real-path", "0.5", check=False)
    assert alone.returncode == 2 and "--real-path needs --real-strokes" in alone.stderr


@pytest.mark.slow
def test_the_gate_s_real_positives_drawn_as_pen_paths_are_other_pictures(tmp_path):
    """``--real-path``: the share of the gate's real positives drawn as the pen's whole path through 8-16 points; at 0
    the pictures are the committed recipe's (the pool's own test holds that), at 1 every one is redrawn."""
    import dataclasses

    from test_unipen import _small_file

    from digitlab.training import gate as gate_training

    config = gate_training.GateConfig(real_strokes=str(_small_file(tmp_path)), n_real=30, dry_run=True)
    kept = gate_training.real_positives(config, None)
    paths = gate_training.real_positives(dataclasses.replace(config, real_path=1.0), None)
    assert kept.shape == paths.shape and len(kept) > 0
    assert all(not np.array_equal(a, b) for a, b in zip(kept, paths, strict=True))
