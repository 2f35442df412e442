"""Reading a number (digitlab.serving.numbers) on numbers composed from real MNIST test digits:
visible gaps, touching digits, a detached piece, noise, a tilted baseline, a single digit, boxes in the
picture's own pixels; the predict CLI's --number contract; the Numbers page in AppTest.  The benchmark's
figures on thousands of numbers are `python evaluation/numbers.py`; here generous bounds on a few."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image
from support import form_box_page, link_models, number_on_a_line_page

from digitlab import files, preprocess
from digitlab.data import number_cases, photo_cases, synthetic
from digitlab.evaluation import inspect_input
from digitlab.evaluation import numbers as bench
from digitlab.paths import ROOT
from digitlab.serving import numbers, runtime

MODEL = "mnist_advanced"  # the CLI's default: the best model by its card


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    return runtime.load(MODEL, link_models(tmp_path_factory.mktemp("models"), [MODEL]))


@pytest.fixture(scope="module")
def test_digits(mnist_test):
    return mnist_test


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def read(served, case):
    return numbers.read_number(bench.as_file(case), served)


@pytest.mark.parametrize("gap", number_cases.VISIBLE)
def test_numbers_with_visible_gaps_are_found_and_read(served, test_digits, gap):
    """Every digit is found where it was written (its box overlaps the true one), in order, and read."""
    x, y = test_digits
    cases = list(number_cases.cases(x, y, [4], gaps=(gap,), per_cell=5, seed=11))
    right = 0
    for _, case in cases:
        r = read(served, case)
        assert len(r.digits) == 4, (case.number, r.number, case.render)
        for found, true in zip(r.digits, case.boxes):
            assert iou(found.box, true) > 0.6, (case.number, case.render, found.box, true)
        right += r.number == case.number
    assert right >= len(cases) - 1, f"{right} of {len(cases)} numbers read right"


def test_a_number_written_in_a_forms_comb_field_is_read(served, test_digits):
    """One digit per cell of a printed comb field (a form's postal code, an exam's answer boxes): the frame and its
    separators are not ink (preprocessing 1.8), so the digits are read, not the separators as 1s."""
    x, y = test_digits
    rng = np.random.default_rng(5)
    right = 0
    for _ in range(6):
        idx = rng.choice(len(x), 4, replace=False)
        page = form_box_page(None, 4, cell=90)
        for k, i in enumerate(idx):
            page = np.minimum(page, form_box_page(x[i], 4, k, cell=90))
        right += numbers.read_number(page, served).number == "".join(str(int(y[i])) for i in idx)
    assert right >= 5, f"{right} of 6 numbers read whole"


@pytest.mark.slow  # over 5 s on 2 cores: the full suite's, not the fast tier's
def test_a_number_written_on_a_forms_line_it_touches_is_read(served, test_digits, monkeypatch):
    """Four digits on a form's printed line, most touching or crossing it: the line is one blob with them, and
    ``drop_number_line`` takes its band away (with a note), so the cuts read the digits, not the line."""
    x, y = test_digits
    rng = np.random.default_rng(5)
    pages = []
    for _ in range(8):
        idx = rng.choice(len(x), 4, replace=False)
        pages.append((number_on_a_line_page([x[i] for i in idx], [3, -2, 4, 0]), "".join(str(int(y[i])) for i in idx)))
    readings = [numbers.read_number(page, served) for page, _ in pages]
    assert all(preprocess.RULE_LINE_NOTE in r.notes for r in readings)
    right = sum(r.number == truth for r, (_, truth) in zip(readings, pages))
    monkeypatch.setattr(numbers, "drop_number_line", lambda ink: ink)
    without = sum(numbers.read_number(page, served).number == truth for page, truth in pages)
    assert right >= 7 and right >= without + 2, (right, without)


def test_numbers_without_a_line_keep_their_ink(test_digits):
    """The benchmark's numbers, every gap class, drawn and photographed: no line, so the step leaves their ink as it is."""
    x, y = test_digits
    for _, case in number_cases.cases(x, y, lengths=(2, 4, 6), per_cell=2, seed=3):
        clean = numbers.ink_picture(case.picture)[0]
        assert numbers.drop_number_line(clean) is clean, (case.number, case.gap, case.render)


def test_the_benchmark_draws_its_four_digit_numbers_apart(test_digits):
    """The benchmark's cases: every (length, gap, render) but 4 digits from the seed, then the 4-digit cells from
    seed + 1 with their own count; the same call draws the same numbers, another seed others."""
    x, y = test_digits
    got = number_cases.benchmark(x, y, [2, 4], per_cell=1, four=2, seed=3)
    n_cells = len(number_cases.GAPS) * len(number_cases.RENDERS)
    assert [len(c.number) for _, c in got] == [2] * n_cells + [4] * 2 * n_cells
    fours = list(number_cases.cases(x, y, [4], per_cell=2, seed=4))
    assert [i for i, _ in got[n_cells:]] == [i for i, _ in fours]
    assert [i for i, _ in number_cases.benchmark(x, y, [2, 4], per_cell=1, four=2, seed=3)] == [i for i, _ in got]
    assert [i for i, _ in number_cases.benchmark(x, y, [2, 4], per_cell=1, four=2, seed=5)] != [i for i, _ in got]
    no_four = number_cases.benchmark(x, y, [2, 4], per_cell=1, four=0, seed=3)
    assert [len(c.number) for _, c in no_four] == [2] * n_cells + [4] * n_cells


def test_touching_digits_are_split(served, test_digits):
    """Touching digits are one blob of ink; most pairs are still cut into two digits and read right."""
    x, y = test_digits
    cases = [c for _, c in number_cases.cases(x, y, [2], gaps=("touching",), renders=("canvas",), per_cell=12, seed=5)]
    blobs = [cv2.connectedComponents((c.picture[..., 0] > 64).astype(np.uint8))[0] - 1 for c in cases]
    assert sum(b == 1 for b in blobs) >= 10, f"the generator's touching digits should touch: blobs {blobs}"
    reads = [read(served, c).number for c in cases]
    assert sum(len(r) == 2 for r in reads) >= 9, list(zip([c.number for c in cases], reads))
    assert sum(r == c.number for r, c in zip(reads, cases)) >= 8, list(zip([c.number for c in cases], reads))


def _paste(canvas: np.ndarray, digit: np.ndarray, x: int, bottom: int, height: int) -> tuple[int, int, int, int]:
    crop = number_cases._ink_crop(digit)
    glyph = number_cases._shaped(crop, height, 0.0)
    h, w = glyph.shape
    canvas[bottom - h : bottom, x : x + w] = np.maximum(canvas[bottom - h : bottom, x : x + w], glyph)
    return x, bottom - h, x + w, bottom


def test_a_detached_piece_joins_its_digit(served, test_digits):
    """A 5 whose flag is cut off by a gap (and a 7 whose top bar is) is still one digit, between two others."""
    x, y = test_digits
    fives, sevens, ones = (np.flatnonzero(y == d) for d in (5, 7, 1))
    for index, label in [(fives[0], 5), (fives[3], 5), (sevens[0], 7), (sevens[2], 7)]:
        canvas = np.zeros((140, 330), np.float32)
        _paste(canvas, x[ones[0]], 30, 110, 70)
        x0, y0, x1, y1 = _paste(canvas, x[index], 120, 110, 70)
        cut = y0 + 14  # a 4 px gap across the digit's top: the flag (bar) is its own blob now
        canvas[cut : cut + 4, x0:x1] = 0
        _paste(canvas, x[ones[1]], 250, 110, 70)
        n_blobs = cv2.connectedComponents((canvas > 0.25).astype(np.uint8))[0] - 1
        assert n_blobs >= 4, "the cut should detach a piece"
        r = numbers.read_number((canvas * 255).astype(np.uint8), served)
        assert r.number == f"1{label}1", (index, r.number)


@pytest.mark.parametrize(("indices", "gap", "render", "seed"), [([7451, 3610, 9047, 8456], "wide", "canvas", 8 * 1_000_003 + 110),
                                                                ([5768, 8444, 7403, 152], "narrow", "canvas", 14 * 1_000_003 + 682),
                                                                ([2468, 7451, 9100, 768], "narrow", "photo", 14 * 1_000_003 + 999)])
def test_a_long_flat_flag_stays_with_its_five(served, test_digits, indices, gap, render, seed):
    """MNIST test digits 7451 and 7403 are 5s whose flag runs far to the right: the box of the whole 5 is wider than
    any digit may be, yet its extra width is one flat stroke, not a second digit.  Its flag read as a digit of its
    own before (52448, 65555, 65231); the digit's width now leaves such a flat tail out."""
    x, y = test_digits
    case = number_cases.make([x[i] for i in indices], y[indices], gap, render, seed=seed)
    assert read(served, case).number == case.number


def test_body_width_leaves_out_flat_tails_only():
    """A flat bar off a digit's side is left out of its width; a slanted stroke of the same length is not."""
    ring = np.zeros((60, 160), np.uint8)
    cv2.circle(ring, (30, 30), 22, 1, 6)
    flag = ring.copy()
    cv2.line(flag, (50, 12), (150, 14), 1, 6)  # a 5's long flag: flat
    slant = ring.copy()
    cv2.line(slant, (50, 12), (100, 58), 1, 6)  # a stroke going down: no tail
    stroke = preprocess.stroke_width(ring.astype(np.float32))
    widths = {name: numbers.body_width(*np.nonzero(m), stroke) for name, m in [("ring", ring), ("flag", flag), ("slant", slant)]}
    assert widths["ring"] == np.ptp(np.nonzero(ring)[1]) + 1, "a ring has no tail"
    assert widths["flag"] < 60, widths
    assert widths["slant"] > 90, widths


def test_a_stray_speck_is_left_out(served, test_digits):
    """MNIST test digit 5642 is a 1 with a detached dot too big for noise; the dot lies alone in a wide gap, joins
    no digit and is no digit: it is left out, with a note, and the number is read right."""
    x, y = test_digits
    for indices, seed in [([5642, 8930, 7635, 4663], 13000073), ([8508, 5642, 6923, 38], 13000085)]:
        case = number_cases.make([x[i] for i in indices], y[indices], "wide", "canvas", seed=seed)
        r = read(served, case)
        assert r.number == case.number, (case.number, r.number)
        assert any("speck" in note for note in r.notes), r.notes


@pytest.mark.parametrize(("indices", "render", "seed"), [([5866, 5135, 1555, 8890], "photo", 13000869),
                                                         ([3985, 921, 9336, 969], "canvas", 13000656)])
def test_a_part_cut_off_a_tall_blob_does_not_join_across_a_gap(served, test_digits, indices, render, seed):
    """A 1 a narrow gap away from a wide digit that gets cut: the cut-off edge of that digit is short, but it is no
    detached flag, so it does not join the 1 across the gap (these read 796 and 924 before)."""
    x, y = test_digits
    case = number_cases.make([x[i] for i in indices], y[indices], "narrow", render, seed=seed)
    assert read(served, case).number == case.number


def test_noise_dots_are_ignored(served, test_digits):
    x, y = test_digits
    case = number_cases.make([x[0], x[1], x[2]], y[:3], "wide", "canvas", seed=3)
    clean = read(served, case).number
    assert clean == case.number
    noisy = case.picture.copy()
    rng = np.random.default_rng(0)
    for _ in range(12):
        cy, cx = rng.integers(5, noisy.shape[0] - 5), rng.integers(5, noisy.shape[1] - 5)
        cv2.circle(noisy, (int(cx), int(cy)), 1, (255, 255, 255), -1)
    assert numbers.read_number(noisy, served).number == case.number


@pytest.mark.parametrize("slope", [-0.35, 0.35])
def test_order_on_a_tilted_baseline(served, test_digits, slope):
    """Digits climbing (or falling) 19 degrees, each lower (higher) than the one before: read left to right."""
    x, y = test_digits
    idx = [int(np.flatnonzero(y == d)[1]) for d in (3, 8, 0, 6, 2)]
    canvas = np.zeros((330, 520), np.float32)
    boxes = []
    for k, i in enumerate(idx):
        left = 30 + 95 * k
        bottom = int(round(170 - slope * (left - 30))) + (120 if slope > 0 else 0)
        boxes.append(_paste(canvas, x[i], left, bottom, 70))
    r = numbers.read_number((canvas * 255).astype(np.uint8), served)
    assert r.number == "38062"
    assert r.read_by == "cuts" and any("digit heights tall" in n for n in r.notes)  # too steep a line for the number reader
    assert [d.box[0] for d in r.digits] == sorted(d.box[0] for d in r.digits)


def test_a_single_digit_reads_as_one_digit_like_the_single_digit_path(served, test_digits):
    """A picture of one digit, drawn or photographed, is one digit with the single-digit path's label."""
    x, y = test_digits
    same = 0
    for i in range(20):
        picture = synthetic.canvas_picture(x[i], 280) if i % 2 else photo_cases.plain(x[i], i)
        r = numbers.read_number(picture, served)
        one = served.predict_picture(picture)
        assert len(r.digits) == 1, (i, r.number)
        same += r.digits[0].label == one.label == int(y[i])
    assert same >= 19


def test_boxes_are_in_the_pictures_own_pixels(served, test_digits):
    """A 2400 px wide photo is decoded at a fraction of its size; its boxes are still in its own pixels."""
    x, y = test_digits
    case = number_cases.make([x[3], x[4], x[5]], y[3:6], "wide", "canvas", seed=8)
    small = read(served, case)
    big_picture = cv2.resize(case.picture, None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)
    big = numbers.read_number(files.png_bytes(big_picture), served)
    assert big.size == (big_picture.shape[1], big_picture.shape[0])
    assert big.number == small.number == case.number
    for a, b in zip(big.digits, small.digits):
        assert iou(a.box, tuple(6 * v for v in b.box)) > 0.8, (a.box, b.box)


def test_no_ink_is_an_empty_number(served):
    r = numbers.read_number(np.zeros((120, 400), np.uint8), served)
    assert r.no_ink and r.number == "" and r.digits == []


def test_the_ink_length_table_is_what_mnist_training_digits_measure(mnist_train):
    """INK_LENGTH (the ink-length prior) was measured by ink_length_table on MNIST's first 20,000 training digits."""
    x, y = mnist_train[0][:3000], mnist_train[1][:3000]
    table = numbers.ink_length_table(x, y)
    for d, (median, sigma) in numbers.INK_LENGTH.items():
        assert abs(table[d][0] - median) < 0.05 and abs(table[d][1] - sigma) < 0.05, (d, table[d], (median, sigma))


def test_cases_are_reproducible_and_refuse_unknown_names(test_digits):
    x, y = test_digits
    a = number_cases.make([x[0], x[1]], y[:2], "overlap", "photo", seed=2)
    b = number_cases.make([x[0], x[1]], y[:2], "overlap", "photo", seed=2)
    assert a.picture == b.picture and a.boxes == b.boxes
    with pytest.raises(ValueError, match="gap class"):
        number_cases.make([x[0]], y[:1], "far", "canvas", seed=0)
    with pytest.raises(ValueError, match="render"):
        number_cases.make([x[0]], y[:1], "wide", "oil", seed=0)
    assert bench.edit_distance("4071", "471") == 1 and bench.edit_distance("12", "21") == 2


# ----------------------------------------------------------------------------- the CLI contract


@pytest.fixture(scope="module")
def number_folder(tmp_path_factory, test_digits):
    """Two numbers (a canvas PNG and a photo JPEG), a blank picture and a broken file."""
    x, y = test_digits
    folder = tmp_path_factory.mktemp("numbers")
    drawn = number_cases.make([x[10], x[11], x[12], x[13]], y[10:14], "wide", "canvas", seed=1)
    photo = number_cases.make([x[20], x[21], x[22]], y[20:23], "narrow", "photo", seed=1)
    (folder / "a_drawn.png").write_bytes(files.png_bytes(drawn.picture))
    (folder / "b_photo.jpg").write_bytes(photo.picture)
    (folder / "c_blank.png").write_bytes(files.png_bytes(np.full((80, 300), 255, np.uint8)))
    (folder / "d_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder, {"a_drawn.png": drawn, "b_photo.jpg": photo}


def _ruled_page(rng) -> np.ndarray:
    page = np.full((600, 1800), 245, np.uint8)
    for y in range(int(rng.integers(10, 30)), 600, int(rng.integers(24, 40))):
        cv2.line(page, (0, y), (1800, y), int(rng.integers(20, 80)), int(rng.integers(1, 3)))
    return page


def _lines_every(rng) -> np.ndarray:
    page = np.full((600, 1800), 240, np.uint8)
    page[:, :: int(rng.integers(5, 9))] = 30
    return page


def _salt_and_pepper(rng) -> np.ndarray:
    page = np.full((600, 1800), 235, np.uint8)
    dots = rng.random(page.shape) < rng.uniform(0.02, 0.05)
    page[dots] = rng.choice([10, 250], int(dots.sum()))
    return page


@pytest.mark.parametrize("make", [_ruled_page, _lines_every, _salt_and_pepper])
@pytest.mark.parametrize("seed", [0, 1])
def test_pictures_that_hold_no_number_are_refused_quickly(served, make, seed):
    """A ruled page, a texture of lines, heavy noise: refused with the reason before any candidate is read (they cost
    36-80 s and up to 1 GB each when every mark became candidates), while a real number of eight digits still reads."""
    import time

    picture = make(np.random.default_rng(seed))
    t0 = time.perf_counter()
    with pytest.raises(preprocess.ImageError, match="not a number"):
        numbers.read_number(files.png_bytes(picture), served, reader=None)
    assert time.perf_counter() - t0 < 10  # generous: about 0.1-0.6 s here


def test_the_bounds_leave_a_long_number_alone(served, test_digits):
    """Sixteen digits with gaps, on the canvas and as a photo: well inside the bounds, every digit found."""
    x, y = test_digits
    for _, case in number_cases.cases(x, y, [16], gaps=("wide",), per_cell=1, seed=5):
        r = read(served, case)
        assert len(r.digits) == 16 and sum(a == b for a, b in zip(r.number, case.number)) >= 15, (case.render, r.number, case.number)


def test_cli_number_json_on_a_folder(run_script, number_folder):
    folder, truth = number_folder
    proc = run_script("evaluation/predict.py", folder, "--number", "--format", "json", check=False)
    assert proc.returncode == 1, proc.stderr  # the broken file
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["path"].rsplit("/", 1)[-1] for line in lines] == ["a_drawn.png", "b_photo.jpg", "c_blank.png", "d_broken.png"]
    for line in lines[:2]:
        case = truth[line["path"].rsplit("/", 1)[-1]]
        assert set(line) == {"path", "number", "read_by", "digits"}
        assert line["number"] == case.number == "".join(str(d["label"]) for d in line["digits"])
        for d, box in zip(line["digits"], case.boxes):
            assert set(d) == {"label", "confidence", "box", "abstain"}
            assert isinstance(d["abstain"], bool) and 0 <= d["confidence"] <= 1
            assert iou(d["box"], box) > 0.6, (d["box"], box)
    assert lines[2] == {"path": str(folder / "c_blank.png"), "number": "", "read_by": "cuts", "digits": []}
    assert set(lines[3]) == {"path", "error"} and lines[3]["error"]


def test_cli_number_text_and_a_single_good_file(run_script, number_folder):
    folder, truth = number_folder
    proc = run_script("evaluation/predict.py", folder / "a_drawn.png", folder / "c_blank.png", "--number")
    drawn, blank = proc.stdout.splitlines()
    path, number, confidences = drawn.split("\t")
    assert number == truth["a_drawn.png"].number and len(confidences.split()) == len(number)
    assert blank.endswith("\tno ink")


# ----------------------------------------------------------------------------- the Numbers page (AppTest)


def test_numbers_page_reads_a_drawn_number(scratch_models, test_digits):
    """The wide canvas's drawing (injected as the canvas component keeps it) is read, boxed and tabled."""
    from streamlit.testing.v1 import AppTest

    x, y = test_digits
    case = number_cases.make([x[30], x[31], x[32]], y[30:33], "wide", "canvas", seed=4)
    light = 255 - case.picture  # the page's canvas is light: dark ink on white
    s = min(1.0, 230 / light.shape[0], 830 / light.shape[1])
    light = cv2.resize(light, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else light
    picture = np.full((240, 840, 3), 255, np.uint8)
    h, w = light.shape[:2]
    picture[:h, :w] = light
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/7_Numbers.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Write a number" in str(i.value) for i in at.info)
    rgba = np.dstack([picture, np.full((240, 840), 255, np.uint8)])
    at.session_state["numbers-canvas-0"] = inspect_input.canvas_state(rgba)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.metric[0].label == "Number read" and at.metric[0].value == case.number
    assert len(at.expander) == len(case.number)
    assert len(at.dataframe) == 1


@pytest.mark.parametrize("width", [300, 1000])
def test_draw_boxes_marks_every_digit(served, test_digits, width):
    """Boxes drawn on a small picture (enlarged for legibility) and on a large one (whose decoded pixels are read-only)."""
    x, y = test_digits
    case = number_cases.make([x[40], x[41]], y[40:42], "wide", "photo", seed=6)
    picture = np.asarray(Image.open(io.BytesIO(case.picture)).convert("RGB"))
    picture = cv2.resize(picture, (width, round(picture.shape[0] * width / picture.shape[1])))
    case = number_cases.NumberCase(case.number, case.gap, case.render, _jpeg(picture), case.boxes)
    r = read(served, case)
    shown = numbers.draw_boxes(r)
    preview = np.asarray(Image.open(io.BytesIO(case.picture)).convert("RGB"))  # the resized picture, as decoded
    assert shown.ndim == 3 and shown.shape[2] == 3
    changed = np.abs(cv2.resize(shown, (preview.shape[1], preview.shape[0])).astype(int) - preview).sum(axis=2) > 60
    for x0, y0, x1, y1 in (d.box for d in r.digits):
        assert changed[y0:y1, x0:x1].any(), "each digit's box is drawn over it"


@pytest.mark.slow
def test_benchmark_dry_run_writes_its_report(run_main, tmp_path):
    """The dev benchmark end to end in --dry-run (its own folder given: written there, nowhere else)."""
    run_main("evaluation/numbers.py", "--dry-run", "--out", tmp_path)
    report = json.loads((tmp_path / "numbers.json").read_text())
    s = report["summary"]
    assert s["all"]["n"] == 2 * 2 * len(number_cases.GAPS) * len(number_cases.RENDERS)
    assert set(s["gap"]) == set(number_cases.GAPS) and 0 <= s["all"]["whole_number"] <= s["all"]["digits"] <= 1
    assert all(not r["right"] for r in report["rows"]) and len(report["rows"]) == round(s["all"]["n"] * (1 - s["all"]["whole_number"]))
    causes = s["causes"]
    assert sum(causes[c] for c in bench.CAUSES) == len(report["rows"])  # every misread number has one cause
    assert sum(sum(g.values()) for g in causes["by_gap"].values()) == len(report["rows"])
    assert "whole number" in (tmp_path / "numbers.md").read_text()


def test_two_marker_digits_cropped_tight_are_read_with_the_other_polarity(served, mnist_test):
    """Two photos of a fat marker digit filling a tight crop (photo_cases "marker", ones the polarity rule reads as
    light ink), side by side: the number's reader tries the other polarity as the single-digit path does."""
    x, y = mnist_test
    for pair in ((1, 12), (18, 22)):
        greys = [cv2.imdecode(np.frombuffer(photo_cases.make("marker", x[i], i), np.uint8), cv2.IMREAD_GRAYSCALE) for i in pair]
        side = min(g.shape[0] for g in greys)
        reading = numbers.read_number(np.hstack([cv2.resize(g, (side, side)) for g in greys]), served)
        assert reading.number == "".join(str(int(y[i])) for i in pair), (reading.number, reading.notes)
        assert any(n.startswith("no ink found as light ink") for n in reading.notes), reading.notes


def _cut_tight(x: np.ndarray, indices, height: int = 32) -> np.ndarray:
    """MNIST test digits in a row, bold (ink dilated), 2 px apart, the line cut tight to its ink and scaled to ``height``
    px: light ink on black, as a form's field or a number cropped by hand to its ink can come."""
    parts = []
    for i in indices:
        d = cv2.dilate(x[i], np.ones((3, 3), np.uint8))
        cols = np.flatnonzero(d.max(0) > 30)
        parts += [d[:, cols[0]: cols[-1] + 1], np.zeros((28, 2), np.uint8)]
    row = np.hstack(parts[:-1])
    rows, cols = np.flatnonzero(row.max(1) > 30), np.flatnonzero(row.max(0) > 30)
    row = row[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    return cv2.resize(row, (round(row.shape[1] * height / row.shape[0]), height), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("indices", [(9, 10), (2, 3, 4), (11, 12, 13)])
def test_a_number_cut_tight_to_its_ink_is_read(served, mnist_test, indices, monkeypatch):
    """A bold number cut tight to its ink covers most of the picture, so its median is ink and nothing stands above the
    noise floor: the Numbers path takes the background from the edge as the single-digit path does
    (``preprocess.cut_tight``), in either polarity.  Without that fallback the same pictures have no ink."""
    x, y = mnist_test
    line = _cut_tight(x, indices)
    assert np.median(line) > 64, "the picture's median is ink"
    for picture in (line, 255 - line):
        reading = numbers.read_number(picture, served)
        assert reading.number == "".join(str(int(y[i])) for i in indices), (reading.number, reading.notes)
        assert "its ink covers most of the picture (cut tight to the digit): the background taken from its edge" in reading.notes
    monkeypatch.setattr(preprocess, "cut_tight", lambda *args, **kwargs: None)
    assert numbers.read_number(line, served).number == ""


def _scanned(x: np.ndarray, indices, margin: tuple[int, int], desk: bool = False) -> bytes:
    """MNIST test digits in a row written dark on paper as a scan gives them (the paper's grain, JPEG), 84 px tall,
    ``margin`` (top and bottom, left and right) px of paper around the number's ink; ``desk``: a dark desk in the
    bottom-left corner, larger than a digit."""
    parts = []
    for i in indices:
        d = x[i]
        cols = np.flatnonzero(d.max(0) > 30)
        parts += [d[:, cols[0]: cols[-1] + 1], np.zeros((28, 4), np.uint8)]
    row = np.hstack(parts[:-1])
    rows = np.flatnonzero(row.max(1) > 30)
    row = cv2.resize(row[rows[0]: rows[-1] + 1], None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    (mt, ml) = margin
    page = np.zeros((row.shape[0] + 2 * mt, row.shape[1] + 2 * ml), np.float32)
    page[mt: mt + row.shape[0], ml: ml + row.shape[1]] = np.clip(row, 0, 255) / 255
    grey = 235 - 190 * page + np.random.default_rng(0).normal(0, 4, page.shape)
    if desk:
        h, w = page.shape
        grey[h - int(0.9 * h):, : int(0.35 * w)] = 60 + np.random.default_rng(1).normal(0, 4, (int(0.9 * h), int(0.35 * w)))
    return _jpeg(np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, 2))


@pytest.mark.parametrize("indices", [(0, 1, 2), (3, 4, 12), (5, 6, 7, 8)])
def test_a_scanned_number_cut_close_keeps_its_first_and_last_digits(served, mnist_test, indices, monkeypatch):
    """A number cut out of a scan close to its ink: a scan's paper is not one tone, so it is read as a photo, whose ink
    touching the edge is a desk or a shadow's rim for one digit.  In a number, the first and last digits touch the
    edge and are digit-sized next to the others: they are kept (``preprocess.LINE_EDGE_HEIGHT``, ``LINE_EDGE_WIDTH``);
    with every blob at the edge dropped they are lost."""
    x, y = mnist_test
    truth = "".join(str(int(y[i])) for i in indices)
    scan = _scanned(x, indices, (12, 0))
    assert numbers.read_number(scan, served).number == truth
    monkeypatch.setattr(preprocess, "LINE_EDGE_HEIGHT", 0.0)  # as the single-digit path: every blob at the edge dropped
    assert len(numbers.read_number(scan, served).number) < len(truth)


def test_a_desk_in_a_number_photo_is_still_dropped(served, mnist_test):
    """A dark desk in a corner of a number's photo: dividing by the light leaves its rim, which touches the edge and is
    taller than 1.5 digits, so it is dropped (kept, it is a blob of some 250 ink pixels), and the number is read."""
    x, y = mnist_test
    indices = (9, 10, 11)
    photo = _scanned(x, indices, (40, 260), desk=True)
    clean = numbers.ink_picture(photo)[0]
    h, w = clean.shape
    assert (clean[h - int(0.9 * h):, : int(0.35 * w)] > preprocess.INK_LEVEL).sum() < 20
    reading = numbers.read_number(photo, served)
    assert reading.number == "".join(str(int(y[i])) for i in indices), (reading.number, reading.notes)
