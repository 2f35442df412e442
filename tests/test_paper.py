"""Real scanned paper: the dev benchmark on the parish registers' crops, and the marks a clerk leaves around a digit.

    python -m pytest -q tests/test_paper.py      (the scans from $DIGITLAB_PARISH or ../shared/data/parish_dev)

The benchmark runs for real on the real folder (skipped, with the reason, only where the folder is absent); the marks
are drawn beside real MNIST test digits as a scanned crop shows them (``support.clerk_page``), and each must be left out
and named while the digit is read as without it; a digit's own strokes drawn apart (a 7's bar, a 5's hat, a 4's open
stroke) or meeting (a 1's foot, a 2's base) must keep every pixel.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import (
    CLERK_MARKS,
    FAINT_ZEROS,
    FAR_FAINT_ZEROS,
    FAR_UNDERLINES,
    SLANTED_1,
    SLANTED_1_STOP,
    clerk_page,
    clerk_strokes,
)

from digitlab import preprocess as P
from digitlab.data import parish

SCANS = parish.default_path()
needs_scans = pytest.mark.skipif(SCANS is None or not SCANS.is_dir(),
                                 reason=f"the real scans are not here: set ${parish.ENV_VAR} to the parish_dev folder")
REPORT_KEYS = {"n", "accuracy", "no_ink", "abstained", "per_register", "per_class", "confusion", "most_confused", "misread",
               "misread_judged_mislabelled"}


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def reader():
    """The predict command's own classifier (ONNX Runtime): marks must not change what it reads."""
    from digitlab.serving import runtime

    return runtime.load("mnist_cnn")


def reads(classifier, *prepared: P.Prepared) -> list[int]:
    return [int(k) for k in classifier.predict_proba(np.stack([p.image for p in prepared])).argmax(1)]


# ----------------------------------------------------------------------------- the benchmark


@needs_scans
def test_the_benchmark_dry_run_reads_every_register_and_records_nothing(run_main, tmp_path):
    results = tmp_path / "results.json"
    proc = run_main("evaluation/paper.py", "--dry-run", "--model", "mnist_cnn", "--out", tmp_path / "out", "--tta",
                      env={"DIGITLAB_RESULTS": str(results)})
    report = json.loads((tmp_path / "out" / "paper.json").read_text())
    scans = parish.load(SCANS)
    registers = set(scans.registers)
    assert report["quick"] and report["preprocess_version"] == P.PREPROCESS_VERSION
    assert report["scans"]["registers"] == len(registers) and report["scans"]["pictures"] <= 4 * len(registers)
    r = report["results"]["mnist_cnn"]
    assert set(r) >= REPORT_KEYS and set(r["per_register"]) == registers and set(r["per_class"]) == {str(d) for d in range(10)}
    assert r["n"] == report["scans"]["pictures"] == sum(s["n"] for s in r["per_register"].values())
    assert 0.5 < r["accuracy"] <= 1 and len(r["misread"]) + len(r["misread_judged_mislabelled"]) == round(r["n"] * (1 - r["accuracy"]))
    assert all({"file", "label", "read", "notes"} <= set(m) for m in r["misread"])
    assert "## Per register" in proc.stdout and "## Per class" in proc.stdout
    # test-time augmentation reads the same pictures: what it changes is the pictures only one reading gets right
    t = report["tta"]["mnist_cnn"]
    assert round((t["accuracy"] - r["accuracy"]) * r["n"]) == t["only_with"] - t["only_without"] and 0 < t["p"] <= 1
    assert "## With test-time augmentation" in proc.stdout and "paired" not in report  # one model: nothing to pair
    assert not results.exists(), "a dry run recorded figures"


@needs_scans
def test_two_models_are_compared_picture_by_picture(run_main, tmp_path):
    proc = run_main("evaluation/paper.py", "--dry-run", "--model", "mnist_cnn", "--model", "mnist_baseline", "--out", tmp_path)
    report = json.loads((tmp_path / "paper.json").read_text())
    cnn, baseline = (report["results"][m] for m in ("mnist_cnn", "mnist_baseline"))
    c = report["paired"]["models"]["mnist_baseline"]
    assert report["paired"]["against"] == "mnist_cnn" and list(report["paired"]["models"]) == ["mnist_baseline"]
    # what the two read differently is the difference of their accuracies, and the baseline reads less of paper
    assert c["only_this"] - c["only_against"] == round((baseline["accuracy"] - cnn["accuracy"]) * cnn["n"])
    assert c["only_against"] > c["only_this"] and 0 < c["p"] <= 1
    assert "## Against mnist_cnn, picture by picture" in proc.stdout


def test_missing_scans_are_a_configuration_error_naming_the_variable(run_main, tmp_path):
    proc = run_main("evaluation/paper.py", "--dry-run", "--scans", tmp_path / "nowhere", check=False)
    assert proc.returncode == 2 and parish.ENV_VAR in proc.stderr, proc.stderr
    proc = run_main("evaluation/paper.py", "--dry-run", check=False, env={parish.ENV_VAR: str(tmp_path / "nowhere")})
    assert proc.returncode == 2 and parish.ENV_VAR in proc.stderr and "nowhere" in proc.stderr, proc.stderr


def test_a_folder_with_a_bad_label_or_a_missing_picture_is_refused(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "registers.json").write_text(json.dumps({"a.png": "K1", "b.png": "K1"}))
    (tmp_path / "labels.json").write_text(json.dumps({"a.png": 10}))
    with pytest.raises(parish.ParishError, match="not a digit"):
        parish.load(tmp_path)
    (tmp_path / "labels.json").write_text(json.dumps({"a.png": 1, "b.png": 2}))
    with pytest.raises(parish.ParishError, match="b.png"):
        parish.load(tmp_path)
    (tmp_path / "b.png").write_bytes(b"")
    scans = parish.load(tmp_path)
    assert scans.files == ["a.png", "b.png"] and scans.subset(1).files == ["a.png"]


@needs_scans
def test_real_crops_lose_their_marks_and_say_so():
    """Crops of the registers with a mark a reader looks past: the note names it (checked by eye on these pictures)."""
    said = {"p00033.png": P.STOP_NOTE, "p00010.png": P.TICK_NOTE, "p02079.png": P.UNDERLINE_NOTE, "p01620.png": P.RULING_NOTE,
            "p01827.png": P.STOP_NOTE}  # a slanted 1 whose top reaches over the full stop beside its foot
    for name, note in said.items():
        assert note in P.prepare(SCANS / name).notes, name


# ----------------------------------------------------------------------------- a fine pen's faint strokes


@needs_scans
def test_a_fine_pens_faint_strokes_are_kept_where_they_run_on_from_ink(reader, monkeypatch):
    """Pixels between the lower and the usual noise floor are ink where they join ink (hysteresis): the 0s keep their faint
    side and read as 0.  With one floor (WEAK_SIGMAS at NOISE_SIGMAS) they break up and read as 6, 2, 1 or 3."""
    kept = [P.prepare(SCANS / name) for name in FAINT_ZEROS]
    assert reads(reader, *kept) == [0] * len(FAINT_ZEROS)
    monkeypatch.setattr(P, "WEAK_SIGMAS", P.NOISE_SIGMAS)
    assert reads(reader, *(P.prepare(SCANS / name) for name in FAINT_ZEROS)).count(0) <= 2


@needs_scans
def test_faint_ink_is_kept_however_far_it_runs_on_from_ink(reader, monkeypatch):
    """Faint ink (FAINT_RUN) joined to ink is kept however far it reaches: the 0s keep their faint side and read as 0.
    Kept only next to ink, most of them lose it and read as 6, 9, 4 or 1."""
    assert reads(reader, *(P.prepare(SCANS / name) for name in FAR_FAINT_ZEROS)) == [0] * len(FAR_FAINT_ZEROS)
    monkeypatch.setattr(P, "FAINT_RUN", 2.0)  # nothing is that bright: only the near-ink rule keeps faint pixels
    assert reads(reader, *(P.prepare(SCANS / name) for name in FAR_FAINT_ZEROS)).count(0) <= 4


@needs_scans
def test_an_underline_reaching_far_past_the_digit_is_left_out_though_thick_or_curling(reader, monkeypatch):
    """A touching line reaching UNDER_FAR past the writing on both sides may break one of the thinness and slope
    guards.  Without that allowance the lines stay, and most of the digits read as 2."""
    kept = [P.prepare(SCANS / name) for name in FAR_UNDERLINES]
    assert all(P.UNDERLINE_NOTE in p.notes for p in kept)
    assert reads(reader, *kept) == list(FAR_UNDERLINES.values())
    monkeypatch.setattr(P, "UNDER_FAR", 99.0)  # no line reaches that far
    plain = [P.prepare(SCANS / name) for name in FAR_UNDERLINES]
    assert not any(P.UNDERLINE_NOTE in p.notes for p in plain)
    assert sum(a == b for a, b in zip(reads(reader, *plain), FAR_UNDERLINES.values())) <= 3


def test_mnists_2s_with_a_long_base_keep_it(mnist_test, monkeypatch):
    """MNIST 2s whose base runs far past the rest of the digit: thick for an underline and steep at its end, so the
    allowance for a far-reaching line (one guard broken, not both) leaves the base alone.  Allowing both, one goes."""
    x, y = mnist_test
    long_bases = (43, 306, 326, 4367, 4387)
    assert all(y[i] == 2 for i in long_bases)
    assert not any(P.UNDERLINE_NOTE in P.prepare(x[i], invert="no").notes for i in long_bases)
    monkeypatch.setattr(P, "UNDER_SLOPE", P.UNDER_FAR_SLOPE)
    monkeypatch.setattr(P, "UNDER_THIN", P.UNDER_FAR_THIN)
    assert any(P.UNDERLINE_NOTE in P.prepare(x[i], invert="no").notes for i in long_bases)


def test_grainy_paper_alone_is_still_no_ink():
    """The lower floor only extends ink: paper grain, however coarse, joins no ink and stays the background."""
    for seed, grain in enumerate((3, 6, 10)):
        paper = np.clip(200 + np.random.default_rng(seed).normal(0, grain, (64, 80)), 0, 255).astype(np.uint8)
        assert P.prepare(paper).no_ink, grain


# ----------------------------------------------------------------------------- marks beside real digits


@pytest.mark.parametrize("mark", CLERK_MARKS)
def test_a_mark_beside_a_digit_is_left_out_and_named(mark, mnist_test, reader, monkeypatch):
    """20 MNIST test digits as a scanned crop with ``mark`` beside them: each note names what was left out, the model
    input is the plain digit's (correlation), and the model reads what it reads without the mark.  Without the step
    the mark stays in (the test can fail).  An underline the digit touches is drawn with a fine pen (1 px): the line
    must be at most UNDER_THIN of the digit's height thick (MNIST's 2s have their base thicker, and keep it)."""
    x, y = mnist_test
    picks = [i for i in range(200) if mark != "touching" or y[i] in (1, 4, 7, 9)][:20]  # a stem resting on the line
    pen = 1 if mark == "touching" else 2
    pictures = [(clerk_page(x[i], seed=i), clerk_page(x[i], (mark,), seed=i, pen=pen)) for i in picks]
    prepared = [(P.prepare(plain), P.prepare(marked)) for plain, marked in pictures]
    named = [any(n in P.MARK_NOTES for n in m.notes) for _, m in prepared]
    assert sum(named) >= 19, [m.notes for _, m in prepared]
    assert np.median([corr(p.image, m.image) for p, m in prepared]) > 0.9
    agree = sum(a == b for p, m in prepared for a, b in [reads(reader, p, m)])
    assert agree >= 19, agree
    monkeypatch.setattr(P, "isolate_digit", lambda clean: (clean, []))
    kept = [P.prepare(marked) for _, marked in pictures]
    assert np.median([corr(p.image, k.image) for (p, _), k in zip(prepared, kept)]) < 0.9 or mark in ("stop", "ruling", "neighbour")
    assert not any(n in P.MARK_NOTES for k in kept for n in k.notes)


def test_each_mark_has_its_own_note(mnist_test):
    x, _ = mnist_test
    notes = {mark: P.prepare(clerk_page(x[0], (mark,), pen=1 if mark == "touching" else 2)).notes for mark in CLERK_MARKS}
    assert P.UNDERLINE_NOTE in notes["underline"] and P.UNDERLINE_NOTE in notes["touching"]
    assert P.STOP_NOTE in notes["stop"] and P.TICK_NOTE in notes["cross"]
    assert P.RULING_NOTE in notes["ruling"] and P.NEIGHBOUR_NOTE in notes["neighbour"]
    together = P.prepare(clerk_page(x[0], ("ruling", "underline", "cross"))).notes  # said in MARK_NOTES' order
    assert [n for n in together if n in P.MARK_NOTES] == [P.RULING_NOTE, P.UNDERLINE_NOTE, P.TICK_NOTE]


def test_the_step_is_shown_and_a_canvas_drawing_keeps_what_was_drawn(mnist_test):
    x, _ = mnist_test
    page = clerk_page(x[0], ("underline", "stop"))
    steps = [t for t, _ in P.prepare(page).steps]
    assert "marks around the digit left out" in steps and steps.index("marks around the digit left out") < steps.index("cropped to ink")
    drawn = P.prepare(np.dstack([page] * 3 + [np.full(page.shape, 255, np.uint8)]), drawn_on=1.0)
    assert not any(n in P.MARK_NOTES for n in drawn.notes)


def test_a_full_stop_under_a_slanted_digits_top_is_left_out(reader):
    """A full stop beside a slanted 1's foot lies inside the digit's box (its top reaches over it): it is judged against
    the digit's ink at its own height, left out and named, and the 1 is read as it is without it."""
    plain, stopped = P.prepare(clerk_strokes(SLANTED_1)), P.prepare(clerk_strokes(SLANTED_1_STOP))
    assert P.STOP_NOTE in stopped.notes and not any(n in P.MARK_NOTES for n in plain.notes)
    assert corr(plain.image, stopped.image) > 0.98 and reads(reader, plain, stopped) == [1, 1]


# ----------------------------------------------------------------------------- a digit's own strokes

OWN_STROKES = {  # (x, y) polylines on a 64x80 page, a clerk's pen: parts a digit is written in, apart or meeting
    "a 7 whose bar is drawn apart": (7, [[(18, 10), (44, 10)], [(44, 15), (28, 54)]]),
    "a 7 crossed at its middle": (7, [[(18, 10), (44, 10), (28, 54)], [(26, 32), (44, 32)]]),
    "a 4 in two strokes, its stem apart": (4, [[(24, 8), (16, 36), (46, 36)], [(38, 14), (38, 56)]]),
    "a 4 open at the top": (4, [[(20, 8), (16, 36), (46, 36)], [(38, 22), (38, 56)]]),
    "a 5 whose hat is drawn apart": (5, [[(22, 12), (20, 30), (34, 28), (40, 40), (34, 52), (18, 50)], [(26, 9), (46, 6)]]),
    "a 1 with its flag and foot": (1, [[(22, 18), (32, 8), (32, 52)], [(24, 52), (40, 52)]]),
    "a 2 with its base": (2, [[(18, 18), (30, 8), (42, 18), (20, 50), (46, 50)]]),
}


@pytest.mark.parametrize("name", list(OWN_STROKES))
def test_a_digits_own_strokes_are_all_kept(name, reader, monkeypatch):
    """Pixel for pixel: the model input is the one the path gives without the step, no mark is named, and it reads."""
    digit, strokes = OWN_STROKES[name]
    page = clerk_strokes(strokes)
    kept = P.prepare(page)
    monkeypatch.setattr(P, "isolate_digit", lambda clean: (clean, []))
    assert np.array_equal(kept.image, P.prepare(page).image) and not any(n in P.MARK_NOTES for n in kept.notes)
    assert reads(reader, kept) == [digit]


def test_mnist_digits_carry_no_marks(mnist_test):
    """MNIST's digits have nothing beside them: the step leaves nearly all of 2,000 test digits as they are (the ones it
    touches hold a stray piece of a neighbouring digit, MNIST's own segmentation's), and no 2 loses its base."""
    x, y = mnist_test
    touched = [i for i in range(2000) if P.isolate_digit(x[i].astype(np.float32) / 255)[1]]
    assert len(touched) <= 10, touched
    twos = np.flatnonzero(y == 2)
    assert not [i for i in twos if P.UNDERLINE_NOTE in P.isolate_digit(x[i].astype(np.float32) / 255)[1]]


def test_the_predict_command_says_what_it_left_out(run_script, mnist_test, tmp_path):
    """The JSON line of `python evaluation/predict.py` carries the preprocessing's notes, every mark left out among them."""
    import cv2

    x, _ = mnist_test
    cv2.imwrite(str(tmp_path / "plain.png"), clerk_page(x[0]))
    cv2.imwrite(str(tmp_path / "marked.png"), clerk_page(x[0], ("underline", "stop")))
    proc = run_script("evaluation/predict.py", tmp_path, "--format", "json", "--model", "mnist_cnn")
    lines = {json.loads(s)["path"].rsplit("/", 1)[-1]: json.loads(s) for s in proc.stdout.splitlines()}
    marked, plain = lines["marked.png"], lines["plain.png"]
    assert P.UNDERLINE_NOTE in marked["notes"] and P.STOP_NOTE in marked["notes"]
    assert not any(n in P.MARK_NOTES for n in plain["notes"]) and marked["label"] == plain["label"]
