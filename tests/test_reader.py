"""The number reader (digitlab.serving.reader, trained by digitlab.training.reader) and how read_number combines it
with the cuts: greedy CTC decoding, the likelihood of any number (against every frame path counted out), the
margin fit, the tuning writers kept apart, the committed reader on
numbers of real MNIST test digits that touch and on real writers' numbers, its digits' boxes and probabilities,
ONNX against Keras, refusals, and training/train_reader.py's dry run.  The benchmark figures are
`python evaluation/numbers.py` and `python evaluation/handwriting.py`; here generous bounds on a few numbers."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest
from support import MODELS, link_models

from digitlab import files, preprocess
from digitlab.data import number_cases, number_lines, unipen
from digitlab.evaluation import numbers as bench
from digitlab.models import artifacts
from digitlab.serving import numbers, reader, runtime
from digitlab.training import reader as training
from tests.test_unipen import _real_file, _small_file


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return link_models(tmp_path_factory.mktemp("models"), ["mnist_advanced"])


@pytest.fixture(scope="module")
def committed(models):
    return reader.load(models / "reader" / f"{reader.READER_NAME}.keras", "onnx")


@pytest.fixture(scope="module")
def served(models):
    return runtime.load("mnist_advanced", models)


def _logits(path: list[int], frames: int = reader.FRAMES) -> np.ndarray:
    """Logits whose best class per frame is ``path`` (padded with blanks), that class at ~0.9."""
    out = np.zeros((frames, reader.CLASSES), np.float32)
    for t, c in enumerate(list(path) + [0] * (frames - len(path))):
        out[t, c] = 5.0
    return out


def test_decode_merges_repeats_drops_blanks_and_places_each_digit():
    # frames: blank, 3 3, blank, 3, 7 7 7 (a "3" repeated across a blank is two 3s; labels are digit + 1)
    (r,) = reader.decode(_logits([0, 4, 4, 0, 4, 8, 8, 8])[None])
    assert r.text == "337"
    p = np.exp(5.0) / (np.exp(5.0) + 10)
    assert r.confidence == pytest.approx(p**3, rel=1e-6)
    assert r.probabilities.shape == (3, 10) and np.allclose(r.probabilities.sum(axis=1), 1)
    assert [int(v) for v in r.probabilities.argmax(axis=1)] == [3, 3, 7]
    step = number_lines.LINE_W / reader.FRAMES
    assert np.allclose(r.centres, np.array([2.0, 4.5, 6.5]) * step)  # the middle of the columns of each digit's frames
    (blank,) = reader.decode(_logits([])[None])
    assert blank.text == "" and blank.confidence == 0.0 and blank.probabilities.shape == (0, 10)
    assert np.allclose(np.exp(r.log_probs).sum(axis=1), 1) and r.log_probs.shape == (reader.FRAMES, reader.CLASSES)


def test_a_numbers_likelihood_sums_every_frame_path_that_reads_it():
    """log P(text | line) against every one of the 11^T frame paths of a short line, counted out."""
    rng = np.random.default_rng(0)
    for frames in (1, 2, 3, 5):
        z = rng.normal(size=(frames, reader.CLASSES)) * 2
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        total: dict[str, float] = {}
        for path in itertools.product(range(reader.CLASSES), repeat=frames):
            text = "".join(str(c - 1) for k, c in enumerate(path) if c and (k == 0 or path[k - 1] != c))
            total[text] = total.get(text, 0.0) + float(np.exp(sum(log_p[t, c] for t, c in enumerate(path))))
        assert sum(total.values()) == pytest.approx(1.0)
        for text in ("", "7", "11", "12", "121", "3333", "90210"):
            expected = total.get(text, 0.0)
            got = np.exp(reader.log_likelihood(log_p, text))
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-300), (frames, text)
    # a line whose best path reads "337": "337" holds that path and more; one 3 fewer or more needs a frame's
    # blank (p ~0.94) swapped for a 3 (p ~0.006) or the like, each costing a factor ~150 (log ~5)
    (r,) = reader.decode(_logits([0, 4, 4, 0, 4, 8, 8, 8])[None])
    best = r.log_likelihood("337")
    assert best > r.log_probs.max(axis=1).sum()
    assert all(best - r.log_likelihood(other) > 3 for other in ("37", "3337", "33", "", "338"))


def test_the_margin_takes_the_reader_only_where_it_finds_the_cuts_far_less_likely():
    rows = [{"part": "a", "number": "12", "segmenter": "12", "reader": "12", "ratio": 0.0},  # agree
            {"part": "a", "number": "45", "segmenter": "495", "reader": "45", "ratio": 9.5},  # the cuts' reading unlikely to the reader
            {"part": "b", "number": "45", "segmenter": "4", "reader": "45", "ratio": 4.0},
            {"part": "b", "number": "78", "segmenter": "78", "reader": "738", "ratio": 1.2}]  # the reader wrong, the cuts nearly as likely
    margin, accuracy = training.fit_margin(rows)
    assert 1.2 < margin <= 4.0 and accuracy[margin] == 1.0
    assert accuracy[0.0] == 0.75 and accuracy[20.0] == 0.5  # always the reader / never the reader
    table = training.summary(rows, margin)
    assert table["all"] == {"n": 4, "segmenter": 0.5, "reader": 0.75, "combined": 1.0}
    assert table["b"] == {"n": 2, "segmenter": 0.5, "reader": 0.5, "combined": 1.0}


def test_the_tuning_writers_are_training_writers_the_reader_never_sees():
    path = _real_file()
    if path is None:
        pytest.fail(f"no real-strokes file: {unipen.SHIPPED} ships with the project (or set ${unipen.ENV_VAR})")
    split = unipen.split(unipen.load(path))
    train, tuning = training.tuning_split(split.train, 0.15)
    writers = lambda items: {(i.source, i.writer) for i in items}  # noqa: E731
    assert len(train) + len(tuning) == len(split.train) and not writers(train) & writers(tuning)
    assert not writers(tuning) & (writers(split.val) | writers(split.held_out))
    assert {i.source for i in tuning} == {i.source for i in split.train}  # some writers of every training site
    assert training.tuning_split(split.train, 0.15)[1] == tuning  # the same every time


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_touching_digits_the_cuts_misread_are_read_by_the_reader(committed, served, mnist_test):
    """Numbers of 3-5 real MNIST test digits whose strokes touch: the cuts alone misread many of them (about half in
    the benchmark); with the reader most are right."""
    x, y = mnist_test
    cases = [c for _, c in number_cases.cases(x, y, [3, 4, 5], gaps=("touching",), renders=("canvas",), per_cell=8, seed=5)]
    cuts = [numbers.read_number(bench.as_file(c), served, reader=None).number == c.number for c in cases]
    both = [numbers.read_number(bench.as_file(c), served, reader=committed) for c in cases]
    right = [r.number == c.number for r, c in zip(both, cases)]
    assert sum(right) >= 0.8 * len(cases) and sum(right) > sum(cuts), (sum(right), sum(cuts))
    assert any(r.read_by == "reader" for r in both)


@pytest.mark.slow  # over 10 s on 2 cores: the full suite's, not the fast tier's
def test_real_writers_numbers_are_read_at_least_as_well_with_the_reader(committed, served):
    """Numbers the real-strokes file's validation writers wrote in a row, drawn as the benchmark draws them."""
    from digitlab.data import handwriting_test as hw
    from digitlab.files import png_bytes

    path = _real_file()
    if path is None:
        pytest.fail(f"no real-strokes file: {unipen.SHIPPED} ships with the project (or set ${unipen.ENV_VAR})")
    runs = unipen.runs_on_a_line(unipen.split(unipen.load(path)).val)[::4][:60]
    rng = np.random.default_rng([hw.SEED_OFFSET, 61])
    cuts = both = 0
    for run in runs:
        picture = png_bytes(unipen.render_number(run, rng, brush=float(rng.choice(hw.BRUSHES))))
        truth = "".join(str(i.label) for i in run)
        cuts += numbers.read_number(picture, served, invert="no", reader=None).number == truth
        both += numbers.read_number(picture, served, invert="no", reader=committed).number == truth
    assert both >= 0.85 * len(runs) and both >= cuts - 1, (both, cuts, len(runs))


def test_the_readers_digits_have_boxes_left_to_right_and_probabilities(committed, served, mnist_test):
    x, y = mnist_test
    for _, case in number_cases.cases(x, y, [4, 5], gaps=("overlap", "touching"), renders=("canvas",), per_cell=10, seed=9):
        reading = numbers.read_number(bench.as_file(case), served, reader=committed)
        if reading.read_by == "reader":
            break
    else:
        pytest.fail("the reader's number was never taken on 40 overlapping and touching numbers")
    w, h = reading.size
    assert reading.number == "".join(str(d.label) for d in reading.digits)
    assert any("number reader" in n for n in reading.notes)
    starts = [d.box[0] for d in reading.digits]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for d in reading.digits:
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        p = d.prediction
        assert p.probabilities.shape == (10,) and p.probabilities.sum() == pytest.approx(1, abs=1e-5)
        assert p.label == int(p.probabilities.argmax()) and p.confidence == pytest.approx(float(p.probabilities.max()))
    assert numbers.draw_boxes(reading).ndim == 3 and len(numbers.digit_rows(reading)) == len(reading.digits)


def test_onnx_reads_as_keras_does(models, mnist_test):
    x, y = mnist_test
    lines = np.stack([number_lines.to_line(number_cases.compose([x[i] for i in range(k, k + 4)], "narrow", np.random.default_rng(k), 40)[0])
                      for k in range(0, 40, 4)])
    path = models / "reader" / f"{reader.READER_NAME}.keras"
    a, b = reader.Reader(path, "keras").logits(lines), reader.Reader(path, "onnx").logits(lines)
    assert a.shape == (10, reader.FRAMES, reader.CLASSES) and np.abs(a - b).max() < 1e-3
    assert [r.text for r in reader.decode(a)] == [r.text for r in reader.decode(b)]


def test_what_is_not_a_reader_is_refused(tmp_path, run_main):
    with pytest.raises(artifacts.ModelError, match="no number reader at"):
        reader.load(tmp_path / "missing.keras")
    for f in ("mnist_cnn.keras", "mnist_cnn.json"):  # a classifier with a margin on its card is still no reader
        shutil.copy(MODELS / f, tmp_path / f)
    card = json.loads((tmp_path / "mnist_cnn.json").read_text())
    with pytest.raises(artifacts.ModelError, match="no margin"):
        reader.Reader(tmp_path / "mnist_cnn.keras", "keras")
    (tmp_path / "mnist_cnn.json").write_text(json.dumps(dict(card, margin=-1.0)))
    with pytest.raises(artifacts.ModelError, match="margin: -1.0 is not a finite number >= 0"):
        reader.Reader(tmp_path / "mnist_cnn.keras", "keras")
    (tmp_path / "mnist_cnn.json").write_text(json.dumps(dict(card, margin=3.0)))
    with pytest.raises(artifacts.ModelError, match="not a number reader"):
        reader.Reader(tmp_path / "mnist_cnn.keras", "keras")
    proc = run_main("training/promote.py", tmp_path / "mnist_cnn.keras", "--reader", "--out", tmp_path / "out", check=False)
    assert proc.returncode != 0 and "not a number reader" in proc.stderr and not (tmp_path / "out").exists()


@pytest.mark.slow  # script runs, about two minutes on 2 cores
def test_train_reader_dry_run_writes_a_reader_with_its_margin(run_main, tmp_path, mnist_path):
    """A dry run, then the refits, the second reader, --combine and the refusals, all in this process (what they check
    is the cards and the messages, not a start of their own).  The cuts the margins are fitted against are the small
    committed classifiers' (the logistic baseline, then mnist_robust): the fitting is checked, not the margin."""
    strokes = _small_file(tmp_path)
    run_main("training/train_reader.py", "--dry-run", "--real-strokes", strokes, "--out", tmp_path / "out", "--name", "probe_reader",
             "--classifier", "mnist_baseline")
    path = tmp_path / "out" / "probe_reader.keras"
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["command"].startswith("python training/train_reader.py --dry-run") and card["dry_run"] is True
    assert 0 <= card["margin"] <= training.MARGINS[-1] and "threshold" not in card and sum(card["data"]["lines_by_source"].values()) == card["data"]["lines"] > 0
    assert card["measured"]["tuning"]["all"]["n"] > 0 and card["real_strokes"]["file"] == strokes.name
    assert card["measured"]["classifier_sha256"] == files.sha256(MODELS / "mnist_baseline.keras", 16)  # the cuts it was fitted against
    r = reader.Reader(path, "keras")
    assert r.margin == r.threshold == card["margin"] and r.logits(np.zeros((2, number_lines.LINE_H, number_lines.LINE_W))).shape == (2, reader.FRAMES, 11)
    # --refit: the margin fitted again against another classifier's cuts, the card saying so
    run_main("training/train_reader.py", "--refit", path, "--classifier", "mnist_robust", "--real-strokes", strokes)
    refitted = json.loads(path.with_suffix(".json").read_text())
    assert refitted["refit"]["classifier"] == refitted["config"]["classifier"] == refitted["measured"]["classifier"] == "mnist_robust"
    assert refitted["measured"]["classifier_sha256"] == files.sha256(MODELS / "mnist_robust.keras", 16)
    assert refitted["refit"]["before"] == {"margin": card["margin"], "classifier": "mnist_baseline"} and "earlier" not in refitted["refit"]
    assert refitted["refit"]["command"].startswith("python training/train_reader.py --refit")
    assert refitted["history"] == card["history"] and refitted["command"] == card["command"]  # the training's record kept
    # a reader whose card holds the confidence threshold the margin replaced: refused with the way out, which works
    old = {k: v for k, v in refitted.items() if k not in ("margin", "margin_fitted_on")}
    path.with_suffix(".json").write_text(json.dumps(dict(old, threshold=0.19, threshold_fitted_on="tuning numbers")))
    with pytest.raises(artifacts.ModelError, match="no margin .*--refit"):
        reader.Reader(path, "keras")
    run_main("training/train_reader.py", "--refit", path, "--real-strokes", strokes)
    again = json.loads(path.with_suffix(".json").read_text())
    assert "threshold" not in again and "threshold_fitted_on" not in again and again["margin"] >= 0
    assert again["refit"]["before"] == {"threshold": 0.19, "classifier": "mnist_robust"} and again["refit"]["earlier"] == refitted["refit"]
    assert reader.Reader(path, "keras").margin == again["margin"]
    not_reader = run_main("training/train_reader.py", "--refit", MODELS / "mnist_cnn.keras", check=False)
    assert not_reader.returncode != 0 and "not a number reader" in not_reader.stderr
    bad = run_main("training/train_reader.py", "--real-strokes", tmp_path / "missing.json.gz", check=False)
    assert bad.returncode == 2 and "no such file" in bad.stderr
    bad = run_main("training/train_reader.py", "--real-strokes", strokes, "--tuning-writers", "0.7", check=False)
    assert bad.returncode == 2 and "--tuning-writers" in bad.stderr
    # --combine: a second reader (another seed), and the two read as one: the mean of their logits, its own margin
    run_main("training/train_reader.py", "--dry-run", "--real-strokes", strokes, "--out", tmp_path / "out", "--name", "second", "--seed", "1",
             "--classifier", "mnist_baseline")
    second = tmp_path / "out" / "second.keras"
    run_main("training/train_reader.py", "--combine", path, second, "--dry-run", "--real-strokes", strokes, "--out", tmp_path / "out", "--name", "both",
             "--classifier", "mnist_baseline")
    both = tmp_path / "out" / "both.keras"
    lines = np.random.default_rng(0).random((3, number_lines.LINE_H, number_lines.LINE_W)).astype(np.float32)
    mean = (reader.Reader(path, "keras").logits(lines) + reader.Reader(second, "keras").logits(lines)) / 2
    assert np.abs(mean).max() > 0.1 and np.allclose(reader.Reader(both, "keras").logits(lines), mean, atol=1e-5)
    card = json.loads(both.with_suffix(".json").read_text())
    assert [m["file"] for m in card["members"]] == ["probe_reader.keras", "second.keras"] and card["members"][1]["config"]["seed"] == 1
    assert card["command"].startswith("python training/train_reader.py --combine") and 0 <= card["margin"] <= training.MARGINS[-1]
    assert card["measured"]["tuning"]["all"]["n"] > 0 and card["params"] == 2 * json.loads(second.with_suffix(".json").read_text())["params"]
    assert set(card["data"]) <= set(training.SHARED_DATA) and card["data"]["tuning_seed"] == training.TUNING_SEED  # each member's lines: its card
    # refused, nothing written: one reader; a reader that trained on other tuning writers (the margin's numbers)
    one = run_main("training/train_reader.py", "--combine", path, "--out", tmp_path / "none", check=False)
    assert one.returncode == 2 and "at least two" in one.stderr and not (tmp_path / "none").exists()
    other = json.loads(second.with_suffix(".json").read_text())
    second.with_suffix(".json").write_text(json.dumps(dict(other, config=dict(other["config"], tuning_writers=0.3))))
    mixed = run_main("training/train_reader.py", "--combine", path, second, "--real-strokes", strokes, "--out", tmp_path / "none", check=False)
    assert mixed.returncode != 0 and "tuning writers" in mixed.stderr and not (tmp_path / "none").exists()


def test_a_margin_fitted_against_another_classifier_is_said(tmp_path):
    """The margin is fitted against one classifier file's cuts: when models/ holds another file of that classifier
    (retrained, promoted), or the card does not say which, the staleness check says so with the refit command, as
    evaluation/serving.py prints it; a fitting card, no card or no such classifier say nothing."""
    models = tmp_path / "models"
    (models / "reader").mkdir(parents=True)
    path = models / "reader" / f"{reader.READER_NAME}.keras"
    shutil.copy(MODELS / "reader" / path.name, path)
    card = json.loads((MODELS / "reader" / f"{reader.READER_NAME}.json").read_text())
    classifier = models / "mnist_advanced.keras"
    assert reader.stale_margin(path, models) is None  # no such classifier: nothing to compare
    classifier.write_bytes(b"a classifier's file")
    fitted = files.sha256(classifier, 16)
    path.with_suffix(".json").write_text(json.dumps(dict(card, config=dict(card["config"], classifier="mnist_advanced"),
                                                         measured=dict(card["measured"], classifier_sha256=fitted))))
    assert reader.stale_margin(path, models) is None and reader.stale_margin(path) is None  # models/: the reader's own folder's parent
    classifier.write_bytes(b"the classifier retrained")
    why, command = reader.stale_margin(path, models)
    assert f"another mnist_advanced ({fitted}" in why and command.startswith("python training/train_reader.py --refit ")
    assert command.endswith(f"{path} --classifier mnist_advanced")
    path.with_suffix(".json").write_text(json.dumps(dict(card, measured={k: v for k, v in card["measured"].items() if k != "classifier_sha256"})))
    assert "does not say which mnist_advanced file" in reader.stale_margin(path, models)[0]
    path.with_suffix(".json").unlink()
    assert reader.stale_margin(path, models) is None


@pytest.mark.parametrize("shape", ["hairline", "dot", "all ink", "tall sliver", "noise"])
def test_odd_ink_never_breaks_the_combination(committed, served, shape):
    """Pictures no one writes a number in: read without an error, every box inside the picture, or refused with the
    reason (a line, a texture: not a number)."""
    rng = np.random.default_rng(3)
    picture = np.zeros((200, 3000), np.uint8)
    if shape == "hairline":
        picture[100, 5:2995] = 255
    elif shape == "dot":
        picture[100:103, 1500:1503] = 255
    elif shape == "all ink":
        picture[:] = 255
    elif shape == "tall sliver":
        picture = np.zeros((3000, 40), np.uint8)
        picture[10:2990, 18:22] = 255
    else:
        picture = (rng.random((300, 900)) > 0.5).astype(np.uint8) * 255
    try:
        reading = numbers.read_number(picture, served, invert="no", reader=committed)
    except preprocess.ImageError as e:
        assert "not a number" in str(e) and shape in ("hairline", "noise", "all ink")
        return
    assert reading.read_by in ("cuts", "reader") and reading.number == "".join(str(d.label) for d in reading.digits)
    h, w = picture.shape
    assert all(0 <= d.box[0] < d.box[2] <= w and 0 <= d.box[1] < d.box[3] <= h for d in reading.digits)
