"""The real-handwriting dev benchmark: its test-only pictures (digitlab.data.handwriting_test), its scoring
(digitlab.evaluation.handwriting) and its script (evaluation/handwriting.py --dry-run), on real scikit-learn
digits, real MNIST test digits and the committed models through a scratch folder of links."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import link_models, load_script

from digitlab import preprocess
from digitlab.data import handwriting_test as hw
from digitlab.data import unipen
from digitlab.evaluation import handwriting
from digitlab.paths import ROOT


@pytest.fixture(scope="module")
def models(tmp_path_factory, committed_models):
    """A scratch models folder of links to the committed mnist_cnn and mnist_baseline."""
    return link_models(tmp_path_factory.mktemp("models"), ["mnist_cnn", "mnist_baseline"], gate=False)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {f"{node.module}.{a.name}" for a in node.names} | {node.module or ""}
    return names


def test_test_generators_share_no_code_with_training():
    """The benchmark must not merely test the training generator: neither side imports the other."""
    test_side = [ROOT / "digitlab/data/handwriting_test.py", ROOT / "digitlab/evaluation/handwriting.py", ROOT / "evaluation/handwriting.py"]
    for path in test_side:
        assert not any("stroke_augment" in n or n.startswith("digitlab.training") for n in _imports(path)), path
    training_side = [ROOT / "digitlab/data/stroke_augment.py", *sorted((ROOT / "digitlab/training").glob("*.py"))]
    for path in training_side:
        assert not any("handwriting" in n for n in _imports(path)), path


def test_conventions_are_canvas_drawings_of_every_class_and_style():
    n = 2 * len(hw.STYLES)
    s = hw.conventions(n, seed=0)
    assert s.invert == "no" and len(s.pictures) == n and set(s.labels) == set(range(10)) and set(s.styles) == set(hw.STYLES)
    assert set(s.sampling) == set(hw.SAMPLING)
    for pic, label, style in zip(s.pictures, s.labels, s.styles):
        assert pic.dtype == np.uint8 and pic.shape in ((280, 280), (280, 280, 4)) and label == hw.STYLES[style][0]
        grey = pic if pic.ndim == 2 else pic[..., 0]
        assert (pic.ndim == 2 or (pic[..., 3] == 255).all()) and np.median(grey) == 0 and grey.max() == 255  # white ink on black
        assert not preprocess.prepare(pic, invert="no").no_ink
    again = hw.conventions(n, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(s.pictures, again.pictures))
    other = hw.conventions(n, seed=1)
    assert not any(np.array_equal(a, b) for a, b in zip(s.pictures, other.pictures))


def _on_home_canvas(white_on_black: np.ndarray, theme: str) -> tuple[np.ndarray, str, float]:
    """A canvas picture of the benchmark (white ink on black: grey or RGBA) -> the same strokes as Home's canvas hands
    them over in ``theme`` (``st_canvas(...).image_data``: opaque RGBA, the theme's ink on its plain background; checked
    in Chromium: every pixel of a Light canvas off the strokes is (255, 255, 255, 255)) and what Home tells ``prepare``
    of it (``app/Home.py: THEMES``: the ink setting and the background's tone)."""
    cover = white_on_black if white_on_black.ndim == 2 else white_on_black[..., 0]
    grey = 255 - cover if theme == "Light" else cover
    return np.dstack([grey] * 3 + [np.full_like(grey, 255)]), *{"Light": ("yes", 1.0), "Dark": ("no", 0.0)}[theme]


def test_the_canvas_sets_are_read_as_home_reads_its_canvas():
    """The benchmark's canvas sets, prepared as the benchmark prepares them (``prepare_set``), give exactly the 28x28
    Home gives the same strokes on its canvas, in either theme, so the benchmark's figures are the app's: conventions
    drawings and real pen strokes, and real strokes filling the canvas with the slider's widest brush (where a picture
    read without knowing it is a drawing goes wrong: a few of these do without ``drawn_on``)."""
    sets = [hw.conventions(74, seed=5)]
    path = unipen.default_path()
    if path is not None:  # $DIGITLAB_UNIPEN (CI sets it)
        items = unipen.split(unipen.load(path)).val
        rng = np.random.default_rng(7)
        sets.append(handwriting.real_set("real", [items[k] for k in rng.choice(len(items), 80, replace=False)], 7, 1, False, ""))
        fat = [unipen.render(items[k].strokes, rng, brush=40, height=0.95) for k in rng.choice(len(items), 40, replace=False)]
        sets.append(hw.PictureSet("fat", fat, np.zeros(len(fat), np.int64), "no", drawn_on=hw.DARK_CANVAS))
    for s in sets:
        benchmark = handwriting.prepare_set(s)
        assert s.drawn_on == hw.DARK_CANVAS and benchmark.inked.all()
        for theme in ("Light", "Dark"):
            for picture, image in zip(s.pictures, benchmark.images):
                canvas, invert, drawn_on = _on_home_canvas(picture, theme)
                assert np.abs(preprocess.prepare(canvas, invert=invert, drawn_on=drawn_on).image - image).max() < 1e-5, (s.name, theme)


def test_load_digits_sets_are_the_real_sklearn_digits_as_uploads_and_canvas_drawings():
    from sklearn.datasets import load_digits

    target = load_digits().target
    up = hw.load_digits_uploads(12, seed=0)
    assert up.invert == "auto" and np.array_equal(up.labels, target[:12])
    for pic, kind in zip(up.pictures, up.sampling):
        assert pic[:4] == b"\x89PNG" if kind == "PNG" else pic[:2] == b"\xff\xd8"
        p = preprocess.prepare(pic)  # the predict CLI's default, invert auto
        assert p.inverted and not p.no_ink  # dark ink on light paper, found
    sizes = {}
    for size in hw.CANVAS_SIZES:
        s = hw.load_digits_canvas(size, 12, seed=0)
        assert np.array_equal(s.labels, target[:12])
        heights = []
        for pic in s.pictures:
            grey = pic if pic.ndim == 2 else pic[..., 0]
            rows = np.flatnonzero(grey.max(axis=1) > 127)
            heights.append(rows[-1] - rows[0] + 1)
        sizes[size] = np.median(heights)
    assert sizes["small"] < 0.35 * 280 < sizes["medium"] < 0.65 * 280 < sizes["large"]


def test_mnist_strokes_redraw_real_digits_with_one_uniform_brush(mnist_test):
    x, y = mnist_test[0][:40], mnist_test[1][:40]
    sk = hw.zhang_suen(cv2.resize(x[0], (112, 112), interpolation=cv2.INTER_CUBIC) > 110)
    assert sk.any() and sk.sum() < 0.4 * (cv2.resize(x[0], (112, 112), interpolation=cv2.INTER_CUBIC) > 110).sum()
    s = hw.mnist_strokes(x, y, seed=0)
    assert np.array_equal(s.labels, y)

    def width_spread(grey):  # relative spread of the stroke's half-width along its centre line
        dt = cv2.distanceTransform((grey > 127).astype(np.uint8), cv2.DIST_L2, 5)
        ridge = (dt >= cv2.dilate(dt, np.ones((3, 3), np.uint8)) - 1e-3) & (dt > 1.5)
        return float(np.std(dt[ridge]) / np.mean(dt[ridge]))

    drawn = [width_spread(p if p.ndim == 2 else p[..., 0]) for p in s.pictures]
    scanned = [width_spread(cv2.resize(d, (280, 280), interpolation=cv2.INTER_CUBIC)) for d in x]
    assert np.median(drawn) < 0.7 * np.median(scanned)  # one brush, where MNIST's pen varies


def test_score_counts_pictures_without_ink_as_wrong():
    labels = np.array([0, 1, 1, 7, 7, 7])
    inputs = handwriting.Inputs("t", np.zeros((6, 28, 28), np.float32), np.array([1, 1, 1, 1, 1, 0], bool), labels,
                                ["a", "a", "b", "b", "b", "b"], [], "")
    probs = np.eye(10)[[0, 1, 7, 7, 2, 7]]
    r = handwriting.score(probs, inputs)
    assert r["accuracy"] == pytest.approx(3 / 6) and r["no_ink"] == 1
    assert r["per_class"] == {"0": 1.0, "1": 0.5, "7": pytest.approx(1 / 3)}
    assert np.asarray(r["confusion"]).sum() == 5 and r["confusion"][1][7] == 1 and r["confusion"][7][2] == 1
    assert r["most_confused"][:2] == [{"true": 7, "pred": 2, "count": 1}, {"true": 1, "pred": 7, "count": 1}]
    assert r["styles"] == {"a": {"n": 2, "accuracy": 1.0}, "b": {"n": 4, "accuracy": 0.25}} and "sampling" not in r


class _Reads:
    """A classifier that reads the pictures as the digits it is given, in order."""

    def __init__(self, name: str, digits: list[int]):
        self.name, self.digits = name, digits

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.eye(10)[self.digits[: len(x)]]


def test_later_models_are_compared_with_the_first_picture_by_picture():
    labels = np.array([0, 1, 2, 3, 4, 5])
    inputs = handwriting.Inputs("t", np.zeros((6, 28, 28), np.float32), np.array([1, 1, 1, 1, 1, 0], bool), labels, [], [], "")
    first = _Reads("first", [0, 1, 2, 9, 9, 5])  # right on 0-2; the last picture has no ink, so no one reads it right
    second = _Reads("second", [0, 9, 9, 3, 4, 5])  # loses 1 and 2, wins 3 and 4
    r = handwriting.run([first, second, _Reads("same", [0, 1, 2, 9, 9, 9])], [inputs])
    assert r["paired"]["against"] == "first" and list(r["paired"]["models"]) == ["second", "same"]
    assert r["paired"]["models"]["second"]["t"] == {"only_against": 2, "only_this": 2, "p": 1.0}
    assert r["paired"]["models"]["same"]["t"] == {"only_against": 0, "only_this": 0, "p": 1.0}
    assert "paired" not in handwriting.run([first], [inputs])
    report = {"command": "c", "date": "", **r}
    assert "| t | -2 / +2 (p 1) | -0 / +0 (p 1) |" in handwriting.markdown(report)


def test_each_writer_weighs_the_same_in_the_writers_mean():
    """A set where one writer wrote most digits: the plain accuracy is mostly his, the writers' mean gives each writer
    one say; the writers read worst come first, the most misreads first."""
    right = np.array([True] * 90 + [False] * 10 + [True] * 5 + [True] * 4 + [False])
    writers = ["syn/a"] * 100 + ["apa/b"] * 5 + ["gmd/c"] * 5
    w = handwriting.writer_figures(right, writers)
    assert right.mean() == pytest.approx(99 / 110)
    assert w["n"] == 3 and w["mean"] == pytest.approx((0.9 + 1.0 + 0.8) / 3) and w["largest_share"] == pytest.approx(100 / 110)
    assert [r["writer"] for r in w["worst"]] == ["syn/a", "gmd/c", "apa/b"] and [r["wrong"] for r in w["worst"]] == [10, 1, 0]


def test_the_real_sets_name_each_pictures_writer():
    """Every real-strokes picture carries its writer ("site/writer"), so the benchmark can weigh writers alike: the
    validation writers' set is mostly three prolific writers, the held-out site many writers of a few digits each."""
    path = unipen.default_path()
    if path is None:
        pytest.fail(f"no real-strokes file: {unipen.SHIPPED} ships with the project (or set ${unipen.ENV_VAR})")
    split = unipen.split(unipen.load(path))
    items = {handwriting.REAL_WRITERS: split.val, handwriting.REAL_HELD_OUT: split.held_out}
    drawn = {s.name: s for s in handwriting.real_sets(dataclasses.replace(split, val=split.val[::30], held_out=split.held_out[::30]), 100, 0)}
    for name, part in items.items():
        assert drawn[name].writers == [f"{i.source}/{i.writer}" for i in part[::30]]
    assert all(w.startswith(f"{unipen.HELD_OUT_SITE}/") for w in drawn[handwriting.REAL_HELD_OUT].writers)
    shares = {}
    for name, part in items.items():
        counts = np.unique([f"{i.source}/{i.writer}" for i in part], return_counts=True)[1]
        shares[name] = np.sort(counts)[-3:].sum() / len(part)
    assert shares[handwriting.REAL_WRITERS] > 0.5 > 0.2 > shares[handwriting.REAL_HELD_OUT]
    # the same digits as 8 points along the pen's whole path, pen-ups lost (the UCI pendigits protocol)
    for full, path in ((handwriting.REAL_WRITERS, handwriting.REAL_WRITERS_PATH), (handwriting.REAL_HELD_OUT, handwriting.REAL_HELD_OUT_PATH)):
        assert drawn[path].writers == drawn[full].writers and np.array_equal(drawn[path].labels, drawn[full].labels)
        assert set(drawn[path].sampling) == {"8 points, pen-ups lost"}


def test_tta_variants_keep_mnist_readable(models, mnist_test):
    from digitlab.serving.classifiers import load_classifier

    x = preprocess.prepare_batch(mnist_test[0][:100])
    y = mnist_test[1][:100]
    variants = handwriting._variants(x)
    assert len(variants) == len(handwriting.TTA_VARIANTS) and np.array_equal(variants[0], x)
    assert all(v.shape == x.shape and v.min() >= 0 and v.max() <= 1 and not np.array_equal(v, x) for v in variants[1:])
    clf = load_classifier(str(models / "mnist_cnn.keras"))
    assert (handwriting.tta_proba(clf, x).argmax(1) == y).mean() >= 0.97


@pytest.mark.slow
def test_quick_run_reports_every_set_for_every_model(models, tmp_path, capsys, mnist_path):
    script = load_script("evaluation/handwriting.py")
    cnn, base = str(models / "mnist_cnn.keras"), str(models / "mnist_baseline.keras")
    assert script.main(["--dry-run", "--model", cnn, "--model", base, "--out", str(tmp_path), "--mnist", str(mnist_path)]) == 0
    report = json.loads((tmp_path / "handwriting.json").read_text())
    sets = ["load_digits upload", "load_digits canvas small", "load_digits canvas medium", "load_digits canvas large", "conventions", "MNIST strokes"]
    if unipen.default_path() is not None:  # $DIGITLAB_UNIPEN (CI sets it): the real-strokes sets and numbers too
        sets += [handwriting.REAL_HELD_OUT, handwriting.REAL_HELD_OUT_JOINED, handwriting.REAL_WRITERS, handwriting.REAL_HELD_OUT_PATH,
                 handwriting.REAL_WRITERS_PATH]
        assert {m: r["n"] for m, r in report["real_numbers"].items()} == {"mnist_cnn": 30, "mnist_baseline": 30}
        assert {m: r["n"] for m, r in report["real_numbers_scanned"].items()} == {"mnist_cnn": 30, "mnist_baseline": 30}
        assert "## Real numbers as scans of a form" in (tmp_path / "handwriting.md").read_text()
        for r in report["real_numbers"].values():  # misreads with a wrong count are counted among the misreads
            wrong = [m for m in r["misread"] if len(m["read"]) != len(m["number"])]
            assert len(wrong) <= r["wrong_count"] <= round(30 * (1 - r["whole_number"]))
            if len(r["misread"]) < 20:  # every misread is listed: the count is exactly theirs
                assert len(wrong) == r["wrong_count"]
                assert {c: sum(m["cause"] == c for m in r["misread"]) for c in r["causes"]} == r["causes"]
            assert sum(r["causes"].values()) == round(30 * (1 - r["whole_number"])) and r["causes"]["digit count wrong"] == r["wrong_count"]
            assert all((m["cause"] == "digit count wrong") == (len(m["read"]) != len(m["number"])) for m in r["misread"])
            overlap = [r["groups"][name] for _, name in unipen.OVERLAP_GROUPS if name in r["groups"]]
            assert sum(g["n"] for g in overlap) == 30  # every number in exactly one overlap group
            assert sum(g["n"] * g["whole_number"] for g in overlap) == pytest.approx(30 * r["whole_number"])
            # as many digits read as written, per digit count: the numbers with a wrong count are the misreads of that cause
            lengths = [g for name, g in r["groups"].items() if name.endswith(" digits")]
            assert sum(g["n"] * (1 - g["count_right"]) for g in lengths) == pytest.approx(r["wrong_count"])
            assert r["count_right"] == pytest.approx(1 - r["wrong_count"] / 30) and r["count_right"] >= r["whole_number"]
        assert report["real_strokes"]["split"]["held_out_site"] == unipen.HELD_OUT_SITE
        for table in report["results"].values():  # the real sets know their writers; the others do not
            w = table[handwriting.REAL_WRITERS]["writers"]
            assert 1 <= w["n"] <= 30 and 0 < w["largest_share"] <= 1 and 0 <= w["mean"] <= 1
            assert sum(r["wrong"] for r in w["worst"]) <= 30 - round(30 * table[handwriting.REAL_WRITERS]["accuracy"])
            assert "writers" not in table["conventions"]
        assert "each writer weighing the same" in (tmp_path / "handwriting.md").read_text()
    assert report["quick"] and report["n"] == 30 and list(report["sets"]) == sets
    assert set(report["results"]) == {"mnist_cnn", "mnist_baseline"} and report["models"]["mnist_cnn"]["sha256"].startswith("sha256:")
    for table in report["results"].values():
        assert list(table) == sets
        for r in table.values():
            c = np.asarray(r["confusion"])
            assert r["n"] == 30 and c.sum() == 30 - r["no_ink"]
            assert r["accuracy"] == pytest.approx((np.trace(c)) / 30)
            assert all(c[p["true"], p["pred"]] == p["count"] for p in r["most_confused"])
            # every misread inked picture is listed (fewer than MISREAD_KEPT here), most confident first
            assert len(r["misread"]) == c.sum() - np.trace(c) and len({m["index"] for m in r["misread"]}) == len(r["misread"])
            assert [m["confidence"] for m in r["misread"]] == sorted((m["confidence"] for m in r["misread"]), reverse=True)
            assert sorted(m["pred"] for m in r["misread"]) == sorted(p for t in range(10) for p in range(10) if p != t for _ in range(c[t, p]))
    real_misread = [m for s in (handwriting.REAL_WRITERS, handwriting.REAL_HELD_OUT) for m in report["results"]["mnist_cnn"].get(s, {}).get("misread", [])]
    assert (tmp_path / "misreads.png").is_file() == bool(real_misread)  # the gallery of the first model given
    cnn_r, base_r = report["results"]["mnist_cnn"], report["results"]["mnist_baseline"]
    paired = report["paired"]  # the second model against the first, picture by picture, on every set
    assert paired["against"] == "mnist_cnn" and list(paired["models"]) == ["mnist_baseline"]
    for name, c in paired["models"]["mnist_baseline"].items():
        assert round(30 * base_r[name]["accuracy"]) - round(30 * cnn_r[name]["accuracy"]) == c["only_this"] - c["only_against"]
        assert 0 <= c["p"] <= 1 and c["only_against"] + c["only_this"] <= 30
    assert "## Against mnist_cnn, picture by picture" in (tmp_path / "handwriting.md").read_text()
    assert cnn_r["MNIST strokes"]["accuracy"] >= 0.8 and cnn_r["load_digits upload"]["accuracy"] >= 0.8
    assert handwriting.mean_accuracy(cnn_r) > handwriting.mean_accuracy(base_r)  # the CNN reads handwriting better than softmax regression
    text = (tmp_path / "handwriting.md").read_text()
    assert "| set (n) | mnist_cnn | mnist_baseline |" in text and "## Conventions set, per style" in text
    for png in ("confusion_mnist_cnn.png", "confusion_mnist_baseline.png", "samples.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
    assert f"written {tmp_path / 'handwriting.json'}" in capsys.readouterr().out
    # without --out a quick run writes into a new temporary folder, never over the committed report
    assert script.main(["--dry-run", "--n", "5", "--model", cnn, "--mnist", str(mnist_path)]) == 0
    out = Path(re.search(r"^written (.+)$", capsys.readouterr().out, re.MULTILINE).group(1))
    assert out.is_file() and not out.resolve().is_relative_to(ROOT)
    assert json.loads(out.read_text())["n"] == 5


def test_bad_flags_and_unknown_models_are_usage_errors(tmp_path, capsys):
    script = load_script("evaluation/handwriting.py")
    with pytest.raises(SystemExit) as e:
        script.main(["--n", "0", "--out", str(tmp_path)])
    assert e.value.code == 2 and "--n must be at least 1" in capsys.readouterr().err
    assert script.main(["--dry-run", "--model", "no_such_model", "--out", str(tmp_path)]) == 2
    assert "no_such_model" in capsys.readouterr().err and not list(tmp_path.iterdir())
