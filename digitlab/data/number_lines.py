"""Lines of handwritten digits for training a number reader that reads a whole line at once (CTC), with no cuts
between digits: the segmenter of ``serving.numbers`` cannot take apart digits that touch or overlap, a reader of
the whole line can.

    line input      the ink's box scaled (aspect kept) to fit LINE_H - 4 high and LINE_W - 4 wide, left-aligned
                    on black: (LINE_H, LINE_W) float32 in [0, 1], light ink (``to_line``)
    labels          (MAX_DIGITS,) int32, each digit + 1 and 0 after the last (0 is CTC's blank)
    where lines come from (training sources only: MNIST *train* digits and the real-strokes *training* writers)
      composed      MNIST digits laid out by ``number_cases.compose`` with every gap class (wide to overlapping)
      one writer    one training writer's own digits laid out by ``writer_line``, from apart to overlapping
      real runs     digits a training writer wrote in a row on one line, where they wrote them
                    (``unipen.runs_on_a_line``, drawn by ``unipen.render_number``)

Every line is a function of the seed: ``lines(n, seed, ...)`` gives the same arrays each time.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlab.data import number_cases, unipen

LINE_H, LINE_W = 28, 224  # a digit ~14-24 px wide at this height: eight digits and their gaps fit
MAX_DIGITS = 8
SOURCES = ("composed", "one writer", "real runs")
SHARES = (0.4, 0.35, 0.25)  # of the lines, per source
WRITER_GAPS = {"apart": (0.4, (0.12, 0.6)), "close": (0.2, (0.03, 0.12)),  # share of lines, gap range in digit heights
               "touching": (0.2, (-0.06, 0.03)), "overlapping": (0.2, (-0.2, -0.06))}
INK = 0.1  # a pixel above this is ink when the line's box is found


def to_line(ink: np.ndarray) -> np.ndarray:
    """(h, w) float ink in [0, 1], light on black (``serving.numbers.ink_picture``'s clean ink) -> the reader's
    (LINE_H, LINE_W) float32 input: the ink's box scaled to fit, aspect kept, left-aligned and centred up and down.
    No ink: all zeros."""
    return fit_line(ink)[0]


def fit_line(ink: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``to_line``'s line, and where it came from: column ``c`` of the line is column ``x0 + (c - 2) / scale`` of
    ``ink`` -> (line, x0, scale).  No ink: zeros, 0, 1."""
    mask = ink > INK
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    out = np.zeros((LINE_H, LINE_W), np.float32)
    if rows.size == 0:
        return out, 0.0, 1.0
    crop = np.asarray(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], np.float32)
    h, w = crop.shape
    s = min((LINE_H - 4) / h, (LINE_W - 4) / w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    top = (LINE_H - nh) // 2
    out[top : top + nh, 2 : 2 + nw] = np.clip(cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA), 0, 1)
    return out, float(cols[0]), float(s)


def writer_line(items: list, rng: np.random.Generator, digit_height: float = 100.0) -> np.ndarray:
    """Some of one writer's digits (``unipen.Item``) laid out left to right -> (h, w) uint8 canvas, white on black:
    each digit 0.85-1.15 x ``digit_height`` tall, its top jittered, one gap class for the line (``WRITER_GAPS``,
    negative gaps overlap), one brush from the canvas slider's range (``unipen.BRUSH``) scaled to the height."""
    names = list(WRITER_GAPS)
    kind = names[int(rng.choice(len(names), p=[share for share, _ in WRITER_GAPS.values()]))]
    placed, x = [], 20.0
    for k, item in enumerate(items):
        strokes = [np.asarray(s, np.float64) for s in item.strokes]
        lo, hi = unipen._box(strokes)
        size = np.maximum(hi - lo, 1e-6)
        scale = digit_height * rng.uniform(0.85, 1.15) / max(size[1], 0.35 * size[0])
        if k:
            x += rng.uniform(*WRITER_GAPS[kind][1]) * digit_height
        y = 30 + rng.normal(0, 0.05 * digit_height) + (digit_height - size[1] * scale) * rng.uniform(0.3, 1.0)
        placed += [(s - lo) * scale + (x, y) for s in strokes]
        x += size[0] * scale
    brush = max(2.0, min(rng.uniform(*unipen.BRUSH) * digit_height / 190, 0.2 * digit_height))
    return unipen.draw(np.zeros((int(90 + 1.4 * digit_height), int(x + 40)), np.uint8), placed, brush)


def lines(n: int, seed: int, mnist: tuple[np.ndarray, np.ndarray], items: list, runs: list,
          shares: tuple[float, float, float] = SHARES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` training lines: (n, LINE_H, LINE_W) uint8 inputs, (n, MAX_DIGITS) int32 labels, (n,) source index
    (``SOURCES``).  ``mnist``: MNIST train digits and labels; ``items``: the training writers' digits; ``runs``:
    their runs on a line (none: that source's share goes to the others).  A line holds 1 to MAX_DIGITS digits
    (real runs: as written)."""
    if not items:
        raise ValueError("no real-strokes digits to draw lines from")
    if not runs:
        shares = (*shares[:2], 0.0)
    shares = np.asarray(shares, np.float64) / np.sum(shares)
    rng = np.random.default_rng(seed)
    x, y = mnist
    by_writer: dict[tuple[str, str], list] = {}
    for item in items:
        by_writer.setdefault((item.source, item.writer), []).append(item)
    writers = list(by_writer.values())
    inputs = np.zeros((n, LINE_H, LINE_W), np.uint8)
    labels = np.zeros((n, MAX_DIGITS), np.int32)
    source = rng.choice(len(SOURCES), size=n, p=shares)
    for i in range(n):
        length = int(rng.integers(1, MAX_DIGITS + 1))
        if source[i] == 0:
            pick = rng.choice(len(x), length, replace=False)
            ink, _ = number_cases.compose([x[j] for j in pick], str(rng.choice(number_cases.GAPS)), rng, int(rng.integers(30, 80)))
            digits = [int(v) for v in y[pick]]
        elif source[i] == 1:
            own = writers[int(rng.integers(len(writers)))]
            chosen = [own[j] for j in rng.choice(len(own), length, replace=len(own) < length)]
            ink = writer_line(chosen, rng).astype(np.float32) / 255
            digits = [item.label for item in chosen]
        else:
            run = runs[int(rng.integers(len(runs)))][:MAX_DIGITS]
            ink = unipen.render_number(run, rng).astype(np.float32) / 255
            digits = [item.label for item in run]
        inputs[i] = np.round(to_line(ink) * 255)
        labels[i, : len(digits)] = np.asarray(digits) + 1
    return inputs, labels, source
