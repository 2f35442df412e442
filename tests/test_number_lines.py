"""Training lines for the number reader (digitlab.data.number_lines), drawn from real MNIST train digits and the
real-strokes file's training writers; skipped with a message without that file."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.data import number_lines, unipen
from tests.test_unipen import _real_file


@pytest.fixture(scope="module")
def training_writers():
    path = _real_file()
    if path is None:
        pytest.skip(f"no real-strokes file: set ${unipen.ENV_VAR} to unipen_dev.json.gz")
    split = unipen.split(unipen.load(path))
    return split.train, unipen.runs_on_a_line(split.train)


def test_lines_hold_their_digits_and_repeat_with_the_seed(mnist_train, training_writers):
    items, runs = training_writers
    x, labels, source = number_lines.lines(90, 3, mnist_train, items, runs)
    assert x.shape == (90, number_lines.LINE_H, number_lines.LINE_W) and labels.shape == (90, number_lines.MAX_DIGITS)
    assert set(source.tolist()) == {0, 1, 2}
    lengths = (labels > 0).sum(axis=1)
    assert lengths.min() >= 1 and lengths.max() <= number_lines.MAX_DIGITS
    for row, k in zip(labels, lengths):  # digits + 1 first, then only CTC's blank
        assert (row[:k] >= 1).all() and (row[:k] <= 10).all() and (row[k:] == 0).all()
    assert (x.reshape(90, -1).max(axis=1) > 200).all()  # every line has ink
    again = number_lines.lines(90, 3, mnist_train, items, runs)
    assert np.array_equal(again[0], x) and np.array_equal(again[1], labels)
    assert not np.array_equal(number_lines.lines(90, 4, mnist_train, items, runs)[0], x)
    assert set(number_lines.lines(30, 3, mnist_train, items, [])[2].tolist()) == {0, 1}  # no runs: the other two sources
    with pytest.raises(ValueError, match="no real-strokes digits"):
        number_lines.lines(30, 3, mnist_train, [], runs)


def test_to_line_keeps_the_aspect_and_fills_the_height_or_width(mnist_train):
    x, _ = mnist_train
    digit = np.kron(x[0].astype(np.float32) / 255, np.ones((5, 5), np.float32))  # one real digit, 140 px
    line = number_lines.to_line(np.pad(digit, 30))
    rows = np.flatnonzero(line.max(axis=1) > number_lines.INK)
    assert rows[-1] - rows[0] + 1 >= number_lines.LINE_H - 6  # a lone digit is height-bound
    wide = np.hstack([digit] * 12)  # twelve digits side by side: width-bound, left-aligned
    cols = np.flatnonzero(number_lines.to_line(wide).max(axis=0) > number_lines.INK)
    assert cols[0] <= 4 and cols[-1] >= number_lines.LINE_W - 8
    assert not number_lines.to_line(np.zeros((50, 80), np.float32)).any()


def test_lines_refuse_without_real_digits(mnist_train):
    with pytest.raises(ValueError, match="no real-strokes"):
        number_lines.lines(4, 0, mnist_train, [], [])
