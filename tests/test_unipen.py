"""Real pen strokes (digitlab.data.unipen): the file is checked item by item, splits never share a writer,
strokes are drawn like the canvas draws them, and training mixes them in and says so on the card.

Most tests read the real file that ships with the project (``data/unipen/``, or ``$DIGITLAB_UNIPEN``) and fail
without it; the format checks and the training smoke run use small files written here."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from digitlab import preprocess
from digitlab.data import unipen


def _real_file() -> Path | None:
    p = unipen.default_path()
    return p if p is not None and p.is_file() else None


@pytest.fixture(scope="module")
def real_items():
    path = _real_file()
    if path is None:
        pytest.fail(f"no real-strokes file: {unipen.SHIPPED} ships with the project (or set ${unipen.ENV_VAR})")
    return unipen.load(path)


def _write(path: Path, items, gz: bool = True) -> Path:
    raw = json.dumps(items).encode()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def _seven(x0: float, y0: float = 0.0, h: float = 60.0) -> list:
    """A 7 as a tablet records it: one pen-down, top bar then the stem (tablet units, y down)."""
    return [[[x0, y0], [x0 + 0.6 * h, y0], [x0 + 0.2 * h, y0 + h]]]


def _small_file(tmp_path: Path) -> Path:
    """Two sites, three writers each, every digit: the real format with made-up strokes."""
    items = []
    for site in ("syn", "app"):
        for w in range(3):
            for label in range(10):
                ring = [[30 * np.cos(t), 45 * np.sin(t)] for t in np.linspace(0, 6.3, 24)]
                strokes = _seven(0) if label == 7 else [[[float(a) + 50, float(b) + 50] for a, b in ring]]
                if label == 4:
                    strokes = [[[0, 0], [0, 40], [40, 40]], [[30, 10], [30, 80]]]  # two pen-downs
                items.append({"source": site, "file": f"{site}{w}", "label": label, "strokes": strokes})
    return _write(tmp_path / "strokes.json.gz", items)


# ----------------------------------------------------------------------------- the file


def test_a_well_formed_file_loads_in_order(tmp_path):
    items = unipen.load(_small_file(tmp_path))
    assert len(items) == 60
    assert [i.index for i in items] == list(range(60))
    four = next(i for i in items if i.label == 4)
    assert len(four.strokes) == 2 and four.strokes[1].shape == (2, 2)
    plain = _write(tmp_path / "plain.json", [{"source": "s", "file": "f", "label": 3, "strokes": [[[0, 0], [1, 2]]]}], gz=False)
    assert unipen.load(plain)[0].label == 3  # plain JSON is read too


@pytest.mark.parametrize("item, says", [
    ({"source": "s", "file": "f", "label": 10, "strokes": [[[0, 0]]]}, "label must be a digit"),
    ({"source": "s", "file": "f", "label": True, "strokes": [[[0, 0]]]}, "label must be a digit"),
    ({"source": "s", "file": "f", "label": 1}, "missing strokes"),
    ({"source": "", "file": "f", "label": 1, "strokes": [[[0, 0]]]}, "non-empty strings"),
    ({"source": "s", "file": "f", "label": 1, "strokes": []}, "non-empty list of strokes"),
    ({"source": "s", "file": "f", "label": 1, "strokes": [[[0, "a"]]]}, "stroke 0"),
    ({"source": "s", "file": "f", "label": 1, "strokes": [[[0, 0, 0]]]}, "stroke 0"),
    ({"source": "s", "file": "f", "label": 1, "strokes": [[[0, float("nan")]]]}, "finite"),
    ({"source": "s", "file": "f", "label": 1, "strokes": [[[0, 0]] * (unipen.MAX_POINTS + 1)]}, "not one handwritten digit"),
    ("a string", "expected an object"),
])
def test_every_bad_item_is_named_with_its_reason(tmp_path, item, says):
    good = {"source": "s", "file": "f", "label": 2, "strokes": [[[0, 0], [3, 4]]]}
    path = _write(tmp_path / "bad.json.gz", [good, item])
    with pytest.raises(unipen.UnipenError, match=says) as e:
        unipen.load(path)
    assert "item 1" in str(e.value)


# mtime=0: a gzip header carries the time it was written, and pytest-xdist refuses to run when its workers
# collect differently named parameters (two workers collecting either side of a second did so in CI).
@pytest.mark.parametrize("content, says", [
    (b"", "not readable"), (b"\x1f\x8b\x08garbage", "not readable"),
    (gzip.compress(b"{}", mtime=0), "non-empty JSON list"), (gzip.compress(b"[]", mtime=0), "non-empty JSON list"),
    (gzip.compress(b"\xff\xfe[1", mtime=0), "not readable"),
], ids=["empty", "gzip magic then garbage", "gzip of an object", "gzip of an empty list", "gzip of bad UTF-8"])
def test_a_file_that_is_not_the_format_is_refused(tmp_path, content, says):
    path = tmp_path / "x.json.gz"
    path.write_bytes(content)
    with pytest.raises(unipen.UnipenError, match=says):
        unipen.load(path)
    with pytest.raises(unipen.UnipenError, match="no such file"):
        unipen.load(tmp_path / "missing.json.gz")


# ----------------------------------------------------------------------------- splits


def test_the_real_split_never_shares_a_writer_and_holds_one_site_out(real_items):
    s = unipen.split(real_items)
    writers = {name: {(i.source, i.writer) for i in part} for name, part in (("train", s.train), ("val", s.val), ("held", s.held_out))}
    assert not writers["train"] & writers["val"] and not writers["train"] & writers["held"] and not writers["val"] & writers["held"]
    assert {i.source for i in s.held_out} == {unipen.HELD_OUT_SITE}
    assert unipen.HELD_OUT_SITE not in {i.source for i in s.train + s.val}
    assert len(s.train) + len(s.val) + len(s.held_out) == len(real_items)
    assert {i.source for i in s.val} == {i.source for i in s.train}  # every training site has validation writers
    assert s.describe() == unipen.split(real_items).describe()  # fixed seed: the same split every time
    with pytest.raises(unipen.UnipenError, match="no items"):
        unipen.split(real_items, held_out_site="nowhere")


# ----------------------------------------------------------------------------- rendering, conventions, numbers


def test_pen_ups_are_kept_unless_asked_otherwise(tmp_path):
    four = next(i for i in unipen.load(_small_file(tmp_path)) if i.label == 4)
    kept = unipen.render(four.strokes, np.random.default_rng(0), brush=10, height=0.6)
    lost = unipen.render(four.strokes, np.random.default_rng(0), brush=10, height=0.6, joined=True)
    assert kept.shape == (unipen.CANVAS, unipen.CANVAS) and kept.dtype == np.uint8
    assert (lost > 127).sum() > (kept > 127).sum() * 1.1  # the pen's move from the 4's bar to its stem is drawn
    rows = np.flatnonzero((kept > 127).any(axis=1))
    assert rows.max() - rows.min() == pytest.approx(0.6 * unipen.CANVAS + 10, abs=4)  # the height asked, plus the brush


@pytest.mark.slow
def test_real_digits_drawn_on_the_canvas_read_like_digits(real_items, committed_models):
    """The held-out site's digits, rendered at random sizes and brushes and prepared like the app's canvas,
    are read by the committed CNN far above chance: the rendering is a digit, not noise."""
    from digitlab.serving.classifiers import Classifier

    held = [i for i in real_items if i.source == unipen.HELD_OUT_SITE]
    pick = [held[k] for k in np.random.default_rng(3).choice(len(held), 150, replace=False)]
    x, y = unipen.prepare_items(pick, renders=1, seed=5)
    assert len(x) == len(pick)
    cnn = Classifier(next(e for e in committed_models if e.name == "mnist_cnn"))
    accuracy = float((cnn.predict_proba(x.astype(np.float32) / 255).argmax(1) == y).mean())
    assert accuracy > 0.85, accuracy


def test_convention_edits_add_the_stroke_they_name():
    rng = np.random.default_rng(0)
    ring = (np.stack([30 * np.cos(np.linspace(0, 6.3, 30)), 45 * np.sin(np.linspace(0, 6.3, 30))], -1),)
    slashed = unipen._slash_0(list(ring), rng)
    assert len(slashed) == 2 and np.ptp(slashed[1][:, 0]) >= 60 and np.ptp(slashed[1][:, 1]) >= 90  # corner to corner
    dotted = unipen._dot_0(list(ring), rng)
    assert len(dotted) == 2 and np.abs(dotted[1].mean(0)).max() < 10  # near the middle
    stem = (np.array([[0.0, 0.0], [0.0, 100.0]]),)
    flagged = [unipen._flag_foot_1(list(stem), np.random.default_rng(s)) for s in range(20)]
    assert all(2 <= len(f) <= 3 for f in flagged)
    seven = (np.asarray(_seven(0)[0], float),)
    crossed = unipen._cross_7(list(seven), rng)
    bar = crossed[1]
    assert 0.4 * 60 <= bar[:, 1].mean() <= 0.7 * 60 and np.ptp(bar[:, 0]) > 15
    assert unipen.edit(seven, 3, rng) is seven  # no convention for a 3: unchanged


def test_an_8_becomes_two_circles_one_over_the_other(real_items):
    """A writer's 8 cut at its waist: two closed pen-downs, the top one drawn first, over the other (apart or just
    touching), together as wide and tall as the 8 was; an "8" whose halves have no width is left as it was."""
    t = np.linspace(0, 2 * np.pi, 120)
    eight = (np.stack([30 * np.sin(2 * t), 50 * np.cos(t)], -1),)  # one stroke, crossing itself at the waist
    for seed in range(10):
        top, bottom = unipen._two_circles_8(list(eight), np.random.default_rng(seed))
        for loop in (top, bottom):
            assert np.allclose(loop[0], loop[-1]) and np.ptp(loop[:, 0]) > 40  # closed, round
        assert top[:, 1].max() <= bottom[:, 1].min() + 1e-9 and bottom[:, 1].min() - top[:, 1].max() <= 0.15 * 100  # a narrow waist: ~0.05
        assert 95 <= np.ptp(np.concatenate([top, bottom])[:, 1]) <= 109
    few = (np.array([[0.0, 0.0], [10.0, 50.0], [0.0, 100.0]]),)
    assert unipen._two_circles_8(few, np.random.default_rng(0)) is few
    real = [i for i in real_items if i.label == 8][:40]
    assert sum(len(unipen.edit(i.strokes, 8, np.random.default_rng(k))) == 2 for k, i in enumerate(real)) >= 36


def test_a_coarse_device_keeps_the_ends_and_few_points(real_items):
    """Real pen-downs drawn from few points: each keeps its two ends and its points lie on the writer's path. About
    half the digits are the tablet's own samples, every k-th (a slower tablet); the others have a point every 0.1-0.45
    of the digit's height along the path.  Together far fewer points than the tablet gave."""
    rng = np.random.default_rng(0)
    items = [i for i in real_items if i.source != unipen.HELD_OUT_SITE][:300]
    in_time, raw_count, kept_count = 0, 0, 0
    for it in items:
        lo, hi = unipen._box(it.strokes)
        h = max(hi[1] - lo[1], 0.35 * (hi[0] - lo[0]))
        out = unipen.coarsen(it.strokes, rng)
        assert len(out) == len(it.strokes)
        samples = all(np.equal(c[:, None], np.asarray(s)[None]).all(2).any(1).all() for s, c in zip(it.strokes, out))
        in_time += samples
        for s, c in zip(it.strokes, out):
            s = np.asarray(s)
            assert np.allclose(c[0], s[0]) and np.allclose(c[-1], s[-1])
            seg = np.linalg.norm(np.diff(s, axis=0), axis=1)
            gap = np.min(np.linalg.norm(c[:, None] - s[None], axis=2), axis=1)  # each point on the pen's path
            assert gap.max() <= (seg.max() if len(seg) else 0) + 1e-9
            if not samples:
                assert len(c) <= max(2, seg.sum() / (0.1 * h) + 3)
            raw_count, kept_count = raw_count + len(s), kept_count + len(c)
    assert 0.3 < in_time / len(items) < 0.8
    assert kept_count < 0.5 * raw_count


def test_a_pen_path_through_k_points_follows_the_writers_whole_path(real_items):
    """``resample_path`` keeps a digit as the UCI pendigits set does: one line through exactly k points at equal
    distances along the pen's whole path (the moves between pen-downs included), from the first point written to the
    last, every point on that path."""
    items = [i for i in real_items if i.source != unipen.HELD_OUT_SITE and len(i.strokes) > 1][:200]
    assert len(items) == 200
    for it in items:
        path = np.concatenate([np.asarray(s, np.float64) for s in it.strokes])
        arc = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
        for k in (8, 16):
            (out,) = unipen.resample_path(it.strokes, k)
            assert out.shape == (k, 2)
            assert np.allclose(out[0], path[0]) and np.allclose(out[-1], path[-1])
            steps = np.linalg.norm(np.diff(out, axis=0), axis=1)
            assert steps.max() <= arc / (k - 1) + 1e-6  # a chord is never longer than the arc it cuts
            # every point on the path: within a hair of one of its segments
            a, b = path[:-1], path[1:]
            t = np.clip(((out[:, None] - a) * (b - a)).sum(2) / np.maximum(((b - a) ** 2).sum(1), 1e-12), 0, 1)
            assert np.linalg.norm(a + t[..., None] * (b - a) - out[:, None], axis=2).min(1).max() < 1e-6
    assert unipen.resample_path([[[3.0, 4.0]], [[3.0, 4.0]]], 8)[0].shape == (1, 2)  # no length: one point, a dot
    with pytest.raises(ValueError, match="at least 2"):
        unipen.resample_path(items[0].strokes, 1)


def test_a_warped_digit_is_the_writers_path_slanted_narrowed_turned_and_bent_within_bounds(real_items):
    """``warp`` keeps every pen-down and its points, in order, and moves them by at most what its bounds allow: the
    digit's middle stays within a fifth of its height, its height within a third; a vertical stroke comes out leaning
    by up to the slant and turn together (about 27 degrees), and over many draws both ways."""
    rng = np.random.default_rng(0)
    items = [i for i in real_items if i.source != unipen.HELD_OUT_SITE][:300]
    for it in items:
        out = unipen.warp(it.strokes, rng)
        assert [len(s) for s in out] == [len(s) for s in it.strokes]
        lo, hi = unipen._box(it.strokes)
        lo2, hi2 = unipen._box(out)
        h = max(hi[1] - lo[1], 0.35 * (hi[0] - lo[0]))
        assert np.abs((lo2 + hi2) / 2 - (lo + hi) / 2).max() <= 0.2 * h
        assert 0.66 * (hi[1] - lo[1]) <= hi2[1] - lo2[1] <= 1.5 * max(hi[1] - lo[1], 0.35 * (hi[0] - lo[0]))
    bar = (np.stack([np.zeros(50), np.linspace(0, 100, 50)], 1),)
    leans = []
    for _ in range(200):
        (s,) = unipen.warp(bar, rng)
        dx, dy = s[-1] - s[0]
        leans.append(np.degrees(np.arctan2(dx, dy)))
    assert max(np.abs(leans)) <= 30 and min(leans) < -10 and max(leans) > 10
    assert not all(np.allclose(a, b) for a, b in zip(unipen.warp(items[0].strokes, rng), items[0].strokes))


@pytest.mark.parametrize("share", ["coarse", "warped", "path"])
def test_a_share_of_zero_leaves_the_pool_as_it_was(tmp_path, share):
    """``coarse``, ``warped`` and ``path`` are drawn only when they are set: a pool without them holds the pictures it held before
    they existed (and keeps its cache key); with them, others."""
    from digitlab.files import cache_params

    items = unipen.load(_small_file(tmp_path))
    before = unipen.prepare_items(items, renders=2, seed=3, conventions=0.5, joined=0.5)
    assert all(np.array_equal(a, b) for a, b in zip(before, unipen.prepare_items(items, renders=2, seed=3, conventions=0.5,
                                                                                  joined=0.5, **{share: 0.0})))
    changed = unipen.prepare_items(items, renders=2, seed=3, conventions=0.5, joined=0.5, **{share: 1.0})
    assert not np.array_equal(changed[0], before[0])
    assert "warp" not in cache_params(unipen.Pool()) and cache_params(unipen.Pool(warp=0.5))["warp"] == 0.5
    assert "path" not in cache_params(unipen.Pool()) and cache_params(unipen.Pool(path=0.5))["path"] == 0.5


def test_digits_written_in_a_row_become_a_number(real_items):
    runs = unipen.runs_on_a_line(real_items)
    assert runs and all(2 <= len(r) <= 6 for r in runs)
    for r in runs[:200]:
        assert len({(i.source, i.writer) for i in r}) == 1
        assert [i.index for i in r] == list(range(r[0].index, r[0].index + len(r)))
    picture = unipen.render_number(runs[0], np.random.default_rng(0))
    cols = np.flatnonzero((picture > 127).any(axis=0))
    assert cols.max() - cols.min() > 0.5 * picture.shape[1]  # spread along the line, not one blob
    # each digit alone, where and as it is drawn in the number: its ink is the number's, and together they are all of it
    alone = [unipen.render_number(runs[0], np.random.default_rng(0), only=k) for k in range(len(runs[0]))]
    ink = picture > 127
    assert all((a > 127).any() and not ((a > 127) & ~(picture > 0)).any() for a in alone)
    assert np.array_equal(np.maximum.reduce(alone) > 127, ink)
    lefts = [np.flatnonzero((a > 127).any(axis=0)).min() for a in alone]
    assert lefts == sorted(lefts) and lefts[0] == cols.min()  # written left to right


def test_a_number_scanned_from_a_form_is_dark_ink_on_paper_read_as_a_photo(real_items):
    """``scan_number``: a JPEG of dark ink on light paper that is no exact tone (so the preprocessing takes it for a photo),
    its ink close to the edge, the same for the same seed; each digit alone is drawn where it is in the number."""
    import io

    from PIL import Image

    run = next(r for r in unipen.runs_on_a_line(real_items) if len(r) >= 3)
    data = unipen.scan_number(run, (0, 1))
    assert data == unipen.scan_number(run, (0, 1)) and data != unipen.scan_number(run, (0, 2))
    grey = np.asarray(Image.open(io.BytesIO(data)).convert("L")).astype(np.float32)
    assert Image.open(io.BytesIO(data)).format == "JPEG" and 32 <= grey.shape[0] <= 160
    ink = grey < 160
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    margin = min(rows[0], cols[0], grey.shape[0] - 1 - rows[-1], grey.shape[1] - 1 - cols[-1])
    assert ink.mean() < 0.3 and np.median(grey) > 200 and margin < 0.3 * grey.shape[0]
    assert preprocess.is_photo(1 - grey / 255)  # the paper's noise: no exact tone
    alone = [np.asarray(Image.open(io.BytesIO(unipen.scan_number(run, (0, 1), only=k))).convert("L")) < 160 for k in range(len(run))]
    assert all(a.shape == ink.shape and a.any() for a in alone)
    assert (np.logical_or.reduce(alone) == ink).mean() > 0.99  # together they are the number (up to the JPEG's noise)
    lefts = [np.flatnonzero(a.any(0)).min() for a in alone]
    assert lefts == sorted(lefts)


def test_sideways_overlap_measures_digits_written_over_one_another(real_items):
    def item(x0, x1, index):
        return unipen.Item("syn", "w", 1, (np.array([[x0, 0.0], [x1, 100.0]]),), index)

    assert unipen.sideways_overlap([item(0, 50, 0), item(80, 120, 1)]) < 0  # a gap: apart
    assert unipen.sideways_overlap([item(0, 50, 0), item(40, 90, 1)]) == pytest.approx(0.2)  # kerned: 10 of 50
    assert unipen.sideways_overlap([item(0, 50, 0), item(60, 100, 1), item(70, 110, 2)]) == pytest.approx(0.75)  # the worst pair
    assert unipen.overlap_group([item(0, 50, 0), item(40, 90, 1)]) == "digits overlapping sideways up to 1/4"
    runs = unipen.runs_on_a_line(real_items)
    groups = {unipen.overlap_group(r) for r in runs}
    assert "digits apart" in groups and groups <= {name for _, name in unipen.OVERLAP_GROUPS}


# ----------------------------------------------------------------------------- training


@pytest.mark.slow
def test_training_mixes_real_strokes_in_and_the_card_says_which(run_main, tmp_path):
    strokes = _small_file(tmp_path)
    out = tmp_path / "out"
    run_main("training/train_cnn.py", "--dry-run", "--out", out, "--real-strokes", strokes, "--real-share", "0.3", "--real-warp", "0.5",
               "--real-path", "0.25")
    card = json.loads((out / "mnist_cnn.json").read_text())
    assert card["config"]["real_share"] == 0.3 and card["config"]["real_strokes"] == str(strokes)
    assert card["config"]["real_warp"] == 0.5 and "--real-warp 0.5" in card["command"]
    assert card["config"]["real_path"] == 0.25 and "--real-path 0.25" in card["command"]
    assert card["real_strokes"]["sha256"] == unipen.fingerprint(strokes)
    assert card["real_strokes"]["split"]["held_out"]["sites"] == [unipen.HELD_OUT_SITE]
    assert card["real_strokes"]["split"]["train"]["sites"] == ["syn"]


@pytest.mark.parametrize("args, says", [
    (["--real-share", "0.2"], "--real-share needs --real-strokes"),
    (["--real-coarse", "0.2"], "--real-coarse needs --real-strokes"),
    (["--real-strokes", "STROKES", "--real-coarse", "-0.1"], "--real-coarse must be in"),
    (["--real-warp", "0.5"], "--real-warp needs --real-strokes"),
    (["--real-strokes", "STROKES", "--real-warp", "1.5"], "--real-warp must be in"),
    (["--real-path", "0.5"], "--real-path needs --real-strokes"),
    (["--real-strokes", "STROKES", "--real-path", "1.5"], "--real-path must be in"),
    (["--real-strokes", "missing.json.gz"], "no such file"),
    (["--real-strokes", "STROKES", "--real-share", "1.5"], "must be in"),
    (["--real-strokes", "STROKES", "--real-share", "0.6", "--redraw", "0.5"], "add up to more than 1"),
])
def test_real_strokes_flags_are_checked_before_anything_runs(tmp_path, run_main, args, says):
    strokes = _small_file(tmp_path)
    args = [str(strokes) if a == "STROKES" else a for a in args]
    proc = run_main("training/train_cnn.py", "--dry-run", "--out", tmp_path / "o", *args, check=False)
    assert proc.returncode == 2 and says in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_damaged_real_strokes_file_stops_training_with_the_reason(tmp_path, run_main):
    bad = _write(tmp_path / "bad.json.gz", [{"source": "syn", "file": "w", "label": 12, "strokes": [[[0, 0]]]}])
    proc = run_main("training/train_cnn.py", "--dry-run", "--out", tmp_path / "o", "--real-strokes", bad, check=False)
    assert proc.returncode == 2 and "label must be a digit" in proc.stderr
    assert not (tmp_path / "o" / "mnist_cnn.keras").exists()


def test_convention_edits_of_real_strokes_are_kept_off_the_classes_left_out(tmp_path):
    items = unipen.load(_small_file(tmp_path))
    ones = [i for i in items if i.label == 1]
    plain = unipen.prepare_items(ones, renders=2, seed=0)
    kept_off = unipen.prepare_items(ones, renders=2, seed=0, conventions=1.0, classes="07")
    flagged = unipen.prepare_items(ones, renders=2, seed=0, conventions=1.0)
    assert np.array_equal(kept_off[0], plain[0])  # no 1 got a flag or a foot
    assert not np.array_equal(flagged[0], plain[0])


def test_the_prepared_pool_is_what_the_app_would_see(tmp_path):
    x, y = unipen.prepare_items(unipen.load(_small_file(tmp_path))[:10], renders=2, seed=0)
    assert x.shape == (20, 28, 28) and x.dtype == np.uint8 and list(y[:4]) == [0, 0, 1, 1]
    com = np.array([preprocess.centre_of_mass(im.astype(np.float32) / 255) for im in x])
    assert np.abs(com - preprocess.CENTRE).max() < 1.5  # centred by mass, as every prepared digit
