"""Paper hands for training (digitlab.data.paper_hands): real MNIST training digits given the styles of older hands and
other pens, and the ``--paper`` share that mixes them into batches."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from digitlab import data, preprocess
from digitlab.data import paper_hands as ph
from digitlab.data import stroke_augment as sa
from digitlab.training import cli, presets


@pytest.fixture(scope="module")
def train_digits(mnist_path):
    """600 real prepared MNIST training digits and their labels."""
    return data.load(mnist_path).inputs("train", indices=np.arange(600))


def _first(x, y, label, n=12):
    idx = np.flatnonzero(y == label)[:n]
    return x[idx], sa.skeletons(x[idx])


def test_a_looped_2_gains_a_closed_loop_at_its_foot(train_digits):
    x, y = train_digits
    digits, sks = _first(x, y, 2)
    looped = 0
    for sk in sks:
        edited = sk.copy()
        assert ph.EDITS["looped 2"](edited, np.random.default_rng(0)) == []
        added = (edited > 0) & (sk == 0)
        ys, _ = np.nonzero(sk)
        assert np.nonzero(added)[0].mean() > ys.min() + 0.5 * (ys.max() - ys.min())  # in the lower half: the foot
        # a loop is a hole: the edited skeleton holds more enclosed regions than the 2 did
        holes = [cv2.connectedComponents((s == 0).astype(np.uint8), connectivity=4)[0] for s in (sk, edited)]
        looped += holes[1] > holes[0]
    assert looped >= 10


def test_a_struck_0_is_crossed_past_its_oval(train_digits):
    x, y = train_digits
    _, sks = _first(x, y, 0)
    past = 0
    for i, sk in enumerate(sks):
        edited = sk.copy()
        if ph.EDITS["struck 0"](edited, np.random.default_rng(i)) is None:
            continue
        ys, xs = np.nonzero(sk)
        ey, ex = np.nonzero(edited)
        past += ey.min() < ys.min() or ey.max() > ys.max() or ex.min() < xs.min() or ex.max() > xs.max()
    assert past >= 10


def test_a_stretched_digit_fills_its_box_and_a_thick_pen_is_thick(train_digits):
    x, y = train_digits
    rng = np.random.default_rng(1)
    one = x[np.flatnonzero(y == 1)[0]]
    box = ph.stretched(one, rng)
    inner = box[1:-1, 1:-1]
    assert inner.shape[0] == inner.shape[1] in ph.BOX_SIDES
    ink = np.nonzero(inner > 0.2)
    assert ink[0].min() <= 1 and ink[1].min() <= 1 and ink[0].max() >= inner.shape[0] - 2 and ink[1].max() >= inner.shape[1] - 2
    thick = ph.thick_pen(x[np.flatnonzero(y == 3)[0]], rng)
    big = cv2.resize(x[np.flatnonzero(y == 3)[0]], (112, 112))
    assert (thick > 0.5).sum() > 1.8 * (big > 0.5).sum()
    assert ph.stretched(np.zeros((28, 28), np.float32), rng) is None


def test_the_pool_keeps_labels_and_is_made_the_same_from_the_same_seed(train_digits, tmp_path):
    x, y = train_digits
    px, py = ph.pool(x, y, 40, seed=3, cache_dir=tmp_path, log=None)
    assert px.shape == (40, 28, 28) and px.dtype == np.uint8 and len(set(np.unique(py))) >= 8
    again = ph.pool(x, y, 40, seed=3, cache_dir=None, log=None)
    assert np.array_equal(px, again[0]) and np.array_equal(py, again[1])
    assert len(list(tmp_path.glob("paper-*.npz"))) == 1
    # every picture is a prepared model input: centred by its centre of mass like MNIST
    for img in px[:20].astype(np.float32) / 255:
        cy, cx = np.argwhere(img > 0).mean(0)
        assert abs(cy - 13.5) < 3 and abs(cx - 13.5) < 3
    assert preprocess.PREPROCESS_VERSION  # the pool's key holds it (a new preprocessing makes a new pool)


def test_the_paper_share_is_a_checked_flag():
    config, _ = cli.parse_args(presets.CNN, None, ["--paper", "0.1", "--paper-size", "500"])
    assert (config.paper, config.paper_size) == (0.1, 500)
    config, _ = cli.parse_args(presets.CNN, None, ["--paper", "0.2", "--paper-narrow", "0.5"])
    assert config.paper_narrow == 0.5
    for bad in (["--paper", "1.5"], ["--paper", "-0.1"], ["--paper-size", "0"], ["--paper", "0.6", "--redraw", "0.6"],
                ["--paper", "0.2", "--paper-narrow", "1.5"], ["--paper-narrow", "0.5"]):
        with pytest.raises(SystemExit):
            cli.parse_args(presets.CNN, None, bad)


def _row_span(ys, xs):
    spans = [np.ptp(xs[ys == r]) for r in np.unique(ys)]
    return float(np.mean(spans)) / np.ptp(ys)


def _lean(ys, xs):
    """How far the top quarter of the ink lies right of the bottom quarter, for the ink's height."""
    top, bottom = ys < np.percentile(ys, 25), ys > np.percentile(ys, 75)
    return (xs[top].mean() - xs[bottom].mean()) / np.ptp(ys)


def test_a_narrow_fine_hand_is_narrower_leans_right_and_is_a_hairline(train_digits):
    x, y = train_digits
    digits, sks = _first(x, y, 0)  # 0s: wide enough that the squeeze shows
    narrower = leaning = 0
    for i, sk in enumerate(sks):
        picture = ph.narrow_fine(sk, np.random.default_rng(i))
        assert picture.shape == (56 * ph.FINE_SCALE,) * 2 and picture.dtype == np.float32
        ink = picture > 0.2
        ys, xs = np.nonzero(ink)
        sy, sx = np.nonzero(sk)
        # each row's span, for its height: a lean shifts rows, it does not widen them; the squeeze does narrow them
        narrower += _row_span(ys, xs) < 0.85 * _row_span(sy, sx)
        leaning += _lean(ys, xs) > _lean(sy, sx)
        # a fine pen: the ink covers a thin line, a few pixels across at 168 px
        assert preprocess.stroke_width(np.minimum(picture / picture.max(), 1)) <= 5
    assert narrower >= 11 and leaning >= 6
    assert ph.narrow_fine(np.zeros((56, 56), np.uint8), np.random.default_rng(0)) is None


def test_the_scan_path_thickens_a_narrow_fine_hand_to_an_mnist_stroke(train_digits):
    x, y = train_digits
    _, sks = _first(x, y, 8)
    widths = []
    for i, sk in enumerate(sks):
        p = preprocess.prepare(ph.narrow_fine(sk, np.random.default_rng(i)), invert="no")
        widths.append(preprocess.stroke_width(p.image) if not p.no_ink else 0)
    lo, hi = preprocess.STROKE_BAND
    assert np.median(widths) >= lo - 0.3 and np.median(widths) <= hi


def test_the_narrow_share_of_the_pool_is_what_was_asked_and_none_without_it(train_digits):
    x, y = train_digits
    said = {}
    for narrow in (0.0, 0.5):
        lines = []
        ph.pool(x, y, 120, seed=4, cache_dir=None, log=lines.append, narrow=narrow)
        said[narrow] = int(re.search(r"(\d+) narrow fine", lines[0]).group(1))
    assert said[0.0] == 0 and 40 <= said[0.5] <= 80
