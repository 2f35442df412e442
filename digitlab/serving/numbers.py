"""Reading a number: the digits in a picture of a handwritten number, in order, each read like one digit.

    load_picture, polarity, background removal        the single-digit path's own functions (digitlab.preprocess)
    drop a form's line the digits touch                a thin flat line showing alone between and beyond them
                                                       (``drop_number_line``), said in a note
    ink mask -> connected components                   one piece per blob of ink
    drop noise (dots, ruled lines)                     by size against the line's height H
    cut wide pieces                                    candidate cuts where the outline dips deep from the top
                                                       or bottom (a notch: two digits meet below or above it,
                                                       often where their strokes cross) and at minima of the
                                                       column profile, each followed down the ink as a least-ink
                                                       path (a drop-fall that can bend around a stroke), when a
                                                       piece is wider than SPLIT_WIDTH x H
    candidate digits                                   runs of up to MAX_RUN neighbouring pieces that may be one
                                                       digit (a 5's flag, a 7's bar, a broken stroke: pieces
                                                       that overlap across, or a small one near a big one)
    read every candidate at once                       each crop through ``preprocess.prepare`` and one
                                                       ``predict_prepared`` call: one model pass, one gate pass
    choose                                             the split of the pieces into digits whose digits the
                                                       model is most sure of (sum of log calibrated confidence,
                                                       less a penalty for "not a digit" and implausible shapes,
                                                       and for joining two tall blobs that barely overlap), by
                                                       dynamic programming over the pieces, left to right; a
                                                       speck that is no digit and joins none is left out

Left to right means by the pieces' centres, which holds on a tilted or wavy baseline.  Every digit
keeps the ``Prediction`` the single-digit path gives (label, calibrated confidence and probabilities,
the abstain rule's verdict and reason, its 28x28 input) and its box in the original picture's pixels.

    read the whole line                                the number reader (``serving.reader``) reads the ink's
                                                       line at once, with no cuts; where its number differs
                                                       from the cuts' and its confidence reaches its card's
                                                       threshold, its number is taken: touching and overlapping
                                                       digits that no cut takes apart.  Its digits carry the
                                                       reader's own probabilities and a box around the ink
                                                       between the midpoints of their neighbours' centres
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from digitlab import preprocess
from digitlab.data import number_lines
from digitlab.pictures import ImageError
from digitlab.serving.classifiers import Prediction
from digitlab.serving.writing import DEFAULT as DEFAULT_WRITING

WORK_SIDE = 1200  # a larger picture is shrunk to this longer side: eight digits keep ~100 px each
NOISE_AREA = 0.02  # a blob with less ink than this x H^2 and smaller than NOISE_SIDE x H both ways is a dot of noise
NOISE_SIDE = 0.3
NOISE_JOIN = 0.05  # ...unless its centre is within this x H of a digit's blob box: then it is a fragment of that digit's
# stroke (a thin, faint stroke in a photo breaks into dots) and joins that blob
LINE_LENGTH, LINE_THICKNESS = 3.0, 0.2  # a blob longer than 3 H and thinner than 0.2 H is a ruled line, not a digit
LINE_SHOWS = 0.25  # drop_number_line: a form's line the digits touch shows alone in at least this share of its blob's width
LINE_UNDER_LENGTH = 2.0  # drop_number_line: ...and its blob is at least this x H wide
SPLIT_WIDTH = 0.6  # a piece wider than this x H, and than SPLIT_ASPECT x its own height, may hold touching
SPLIT_ASPECT = 0.85  # digits: it gets candidate cuts (most single digits are narrower; a short piece is never cut)
MIN_PART = 0.12  # a cut leaves at least this x H of the piece on either side (a "1" is ~0.1-0.2 H wide)
CUT_SPACING = 0.25  # candidate cuts at least this x H apart
NOTCH_DEPTH = 0.3  # an outline dipping this x H from the top or bottom of a piece marks a candidate cut too
CUT_BEND = 0.12  # a cut path wanders at most this x H either side of its column
CUT_COST = 0.3  # score lost by each cut the chosen split uses...
CROSS_COST = 0.4  # ...and per stroke width of ink the cut runs through (touching digits meet in a stroke or less)
CUT_NARROW = 1.5  # ...and more when the blob is no wider than one digit can be (3.0 before: touching pairs stayed joined)
SINGLE_WIDTH = 1.05  # (the blob's aspect below this: one digit's width)
OVERLAP_COST = 3.0  # score lost by splitting two blobs that overlap across, per fraction of the narrower one covered
SIDE_COST = 2.0  # score lost by joining two tall blobs into one digit, per fraction of the narrower one NOT covered across:
# one digit in two strokes overlaps itself; two digits side by side (an 8 and a 7 whose strokes just miss) barely do
MAX_RUN = 6  # pieces one digit may be made of
# What a handwritten number can hold.  A picture past these is noise, a texture or a page (vertical lines every 6 px
# made 150 pieces, 885 candidates, 67 s and 1 GB): it is refused with the reason, before any candidate is read.
MAX_PIECES = 60  # pieces after cutting: twenty digits of three pieces each
MAX_DIGITS = 20  # digits read in a row
SMALL = 0.55  # a piece shorter than this x H is a part of a digit (a flag, a bar), not a digit on its own...
JOIN_GAP = 0.2  # ...and joins a neighbour at most this x H away; full-height pieces only when they overlap across
TOUCH_GAP = 0.04  # or are at most this x H apart (a stroke broken where it turns down)
MAX_ASPECT = 2.0  # no digit is wider than this x its height (at least TALL x H); WIDE_PENALTY weighs the rest
WIDE_PENALTY = 3.0  # score lost per unit of aspect (width / height, the height at least TALL x H) above WIDE_FREE:
WIDE_FREE = 1.25  # two digits read as one are wide (MNIST's own digits: median 0.8, 95% below 1.1, 99% below 1.45)
TALL = 0.75
ONE_STROKE = 1.5  # a column holding at most this x the stroke width of ink holds one stroke...
FLAT_TAIL = 0.5  # ...and a run of such columns at a digit's end whose ink spans less than this x the run's length up
#                  and down is a flat tail (a 5's long flag, an 8's trailing stroke): not part of the digit's width
SHORT_PENALTY = 3.0  # score lost by a digit shorter than SMALL x H standing alone (a stray flag read as a "1")
ABSTAIN_PENALTY = 3.0  # score lost by a candidate the abstain rule refuses (the gate says it is not a digit)
SPECK_SIDE = 0.3  # a piece smaller than this x H both ways (a stray dot bigger than NOISE_AREA) may be left out...
SKIP_COST = 10.0  # ...for this much: only when it cannot be read as a digit nor join one (a last resort)
LENGTH_SIGMA = 0.15  # the ink's length: log(length / height) within LENGTH_FREE robust sigmas (at least LENGTH_SIGMA)
LENGTH_FREE = 2.5  # of the median for its label costs nothing; beyond, LENGTH_PENALTY x the excess squared: two
LENGTH_PENALTY = 2.0  # touching digits read as one hold twice a digit's ink, a fragment read as a digit far less
# median and robust sigma of log(ink length / height) of MNIST training digits per label, measured by
# ``ink_length_table`` on the first 20,000 (3x upscaled); tests/test_numbers.py measures it again
INK_LENGTH = {0: (0.970, 0.115), 1: (0.183, 0.087), 2: (0.889, 0.152), 3: (0.869, 0.158), 4: (0.729, 0.114),
              5: (0.898, 0.161), 6: (0.784, 0.167), 7: (0.632, 0.127), 8: (0.918, 0.137), 9: (0.752, 0.124)}
FLOOR = 1e-6  # confidences are floored here before the log
NO_INK_SCORE = -50.0  # a candidate whose crop holds too little ink to read (a sliver): never chosen while another way exists


Box = tuple[int, int, int, int]  # (x0, y0, x1, y1): x1 and y1 exclusive, the box is picture[y0:y1, x0:x1]


@dataclass
class Piece:
    """Ink pixels that stay together: a connected blob, or the part of one between two cuts."""

    ys: np.ndarray  # (n,) row of each ink pixel in the work picture
    xs: np.ndarray  # (n,) column of each
    blob: int  # the connected blob it came from
    cut_cost: float = 0.0  # the price of the cut on its left (0: it starts its blob): paid when a digit starts here
    blob_height: int = 0  # the height of that whole blob (a cut part of a tall blob is no detached flag)

    @property
    def box(self) -> Box:
        return int(self.xs.min()), int(self.ys.min()), int(self.xs.max()) + 1, int(self.ys.max()) + 1

    @property
    def centre(self) -> float:
        x0, _, x1, _ = self.box
        return (x0 + x1) / 2


@dataclass
class Digit:
    """One digit of the number: the single-digit path's answer and where it is."""

    prediction: Prediction  # label, calibrated confidence and probabilities, abstain and reason, its Prepared input
    box: Box  # in the original picture's pixels

    @property
    def label(self) -> int:
        return int(self.prediction.label)


@dataclass
class NumberReading:
    """What ``read_number`` found.  ``number`` is every digit's best label in reading order, the ones the
    model abstains on included ("" when the picture has no ink)."""

    digits: list[Digit]
    size: tuple[int, int]  # (width, height) of the original picture (after EXIF orientation)
    preview: np.ndarray  # (h, w, 3) uint8 RGB picture as decoded (possibly smaller than ``size``: see pictures.py)
    inverted: bool
    notes: list[str] = field(default_factory=list)
    line_height: float = 0.0  # H, in the original picture's pixels
    candidates: int = 0  # how many candidate digits the model read
    read_by: str = "cuts"  # "cuts": the segmenter's digits; "reader": the number reader's (``read_number``)

    @property
    def number(self) -> str:
        return "".join(str(d.label) for d in self.digits)

    @property
    def no_ink(self) -> bool:
        return not self.digits

    @property
    def unsure(self) -> list[int]:
        """Positions (0-based) of the digits the abstain rule refuses."""
        return [i for i, d in enumerate(self.digits) if d.prediction.abstain]


# ----------------------------------------------------------------------------- the ink


def ink_picture(source, invert: preprocess.Invert = "auto", drawn_on: float | None = None) -> tuple[np.ndarray, np.ndarray, bool, list[str], tuple[int, int], float]:
    """A picture -> (clean ink (h, w) float32 in [0, 1] at work size, RGB preview, inverted, notes, original
    (width, height), work pixels per original pixel), through the single-digit path's own steps
    (``preprocess.load``, ``work_size``, ``ink_polarity``, ``clean_ink``, and when it finds no ink ``find_ink``),
    specks kept: a dot can be part of a digit.  ``drawn_on`` as ``preprocess.prepare``'s (a drawing on a canvas of that
    tone).  Raises ImageError for what is not a readable picture."""
    if invert not in ("auto", "yes", "no"):
        raise ValueError(f"invert must be 'auto', 'yes' or 'no', not {invert!r}")
    picture = preprocess.load(source, drawn_on)
    invert = preprocess.file_ink(picture, invert)
    notes, preview, size = picture.notes, picture.preview, picture.size  # boxes are given in the picture's own pixels
    grey, _ = preprocess.work_size(picture.grey, None, notes, WORK_SIDE)
    inverted = preprocess.ink_polarity(grey, invert, picture.drawn_on)
    _, clean, contrast, dropped = preprocess.clean_ink(grey, inverted, [], specks=False, drawn_on=picture.drawn_on, line=True)
    if preprocess.has_ink(clean, contrast):
        notes += dropped
    else:
        found = preprocess.find_ink(grey, inverted, invert, [], notes, specks=False, drawn_on=picture.drawn_on, line=True)
        if found is not None:
            inverted, _, clean, contrast = found
        else:
            notes += dropped
    if not preprocess.has_ink(clean, contrast):
        notes.append(f"no ink found (contrast {contrast:.2f}, {preprocess.ink_pixels(clean)} ink pixels)")
        clean = np.zeros_like(clean)
    elif picture.drawn_on is None:  # a drawing on a canvas has no printed line
        kept = drop_number_line(clean)
        if kept is not clean and preprocess.RULE_LINE_NOTE not in notes:
            notes.append(preprocess.RULE_LINE_NOTE)
        clean = kept
    return clean, preview, inverted, notes, size, clean.shape[1] / size[0]


def drop_number_line(clean: np.ndarray) -> np.ndarray:
    """Zero a form's printed line that a number's digits touch, under them.  In each blob the columns holding one thin
    run of ink (``preprocess.thin_columns``) are the line's candidates; the one straying most from the line fitted
    through them is dropped, fitting again each time, until none strays more than RULE_STRAIGHT px.  The writing is all
    the ink farther from that line than half its median thickness plus 1 px; H is its height.  The line's band across
    the blob, and every other blob lying wholly within it (pieces of the same line), are not ink when the line is flat
    (RULE_TILT) and thinner than LINE_THICKNESS x H, shows alone in at least LINE_SHOWS of the blob's width, the blob is
    at least LINE_UNDER_LENGTH x H wide, and the writing lies above the line, reaching below it by at most RULE_SLIVER
    x H.  (The single-digit path's ``drop_line_under`` asks for a line twice as wide as all the writing, which a
    number's line is not.)"""
    mask = clean > preprocess.INK_LEVEL
    labels, blobs = preprocess.ink_blobs(mask, min_width=8)
    out = clean
    for c, left, top, w, _, blob in blobs:
        thin, length, centre = preprocess.thin_columns(blob)
        cols = np.flatnonzero(thin)
        centres = centre[cols]
        while cols.size >= 2:
            slope, mc, mx = preprocess.line_fit(cols.astype(np.float64), centres)
            stray = np.abs(centres - mc - slope * (cols - mx))
            if stray.max() <= preprocess.RULE_STRAIGHT:
                break
            worst = int(stray.argmax())
            cols, centres = np.delete(cols, worst), np.delete(centres, worst)
        if cols.size < max(2, LINE_SHOWS * w):
            continue
        half = float(np.median(length[cols])) / 2 + 1
        ys, xs, side, writing = preprocess.off_line(mask, top, left, (slope, mc, mx), half)
        if not writing.any():
            continue  # a line alone: _blobs drops it
        height = int(np.ptp(ys[writing])) + 1
        if (abs(slope) > preprocess.RULE_TILT or 2 * (half - 1) > LINE_THICKNESS * height or w < LINE_UNDER_LENGTH * height
                or not preprocess.written_above(side[writing], height)):
            continue
        label = labels[ys, xs]
        band = ~writing & ((label == c) | ~np.isin(label, label[writing]))  # the blob's band, and blobs wholly in it
        if out is clean:
            out = clean.copy()
        out[ys[band], xs[band]] = 0
    return out


# ----------------------------------------------------------------------------- pieces


def line_height(heights: np.ndarray) -> float:
    """H: the median height of the tall blobs (at least half the tallest), robust to flags, bars and dots."""
    return float(np.median(heights[heights >= 0.5 * heights.max()]))


def _blobs(clean: np.ndarray, notes: list[str]) -> tuple[list[Piece], float]:
    """Connected blobs of ink (8-connected, at INK_LEVEL), noise and ruled lines dropped; and H."""
    mask = (clean > preprocess.INK_LEVEL).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return [], 0.0
    w, h, area = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    line = (w > LINE_LENGTH * np.maximum(h, 1)) & (h < LINE_THICKNESS * np.maximum(w, 1) / LINE_LENGTH)
    if line.all():
        raise ImageError(f"{int(line.sum())} ruled line(s) and no writing: a line is not a number")
    keep = ~line if (~line).any() else np.ones_like(line)
    big = line_height(h[keep])
    noise = (area < NOISE_AREA * big**2) & (w < NOISE_SIDE * big) & (h < NOISE_SIDE * big)
    keep &= ~noise
    if not keep.any():  # only specks: the biggest of them is all there is
        keep[np.argmax(area)] = True
    height = line_height(h[keep])
    x0, y0 = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP]
    kept, host = np.flatnonzero(keep), np.full(n - 1, -1)
    m = NOISE_JOIN * height
    for i in np.flatnonzero(noise & ~keep):  # a dot inside (or at the edge of) a digit's box belongs to that digit
        cx, cy = x0[i] + w[i] / 2, y0[i] + h[i] / 2
        inside = (cx >= x0[kept] - m) & (cx <= x0[kept] + w[kept] + m) & (cy >= y0[kept] - m) & (cy <= y0[kept] + h[kept] + m)
        if inside.any():
            host[i] = kept[inside][np.argmax(area[kept][inside])]
    dropped = int((noise & (host < 0) & ~keep).sum() + (line & ~noise).sum())
    if dropped:
        notes.append(f"{dropped} blob(s) of noise or ruled line ignored")
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs] - 1
    lab = np.where(host[lab] >= 0, host[lab], lab)  # fragments take their digit's blob number
    order = np.argsort(lab, kind="stable")
    ys, xs, lab = ys[order], xs[order], lab[order]
    starts = np.searchsorted(lab, np.arange(0, n))
    pieces = [Piece(ys[starts[i] : starts[i + 1]], xs[starts[i] : starts[i + 1]], i, 0.0, int(h[i])) for i in range(n - 1) if keep[i]]
    return pieces, height


def _cut_path(ink: np.ndarray, column: int, bend: int) -> np.ndarray:
    """The least-ink path from the top row to the bottom one of ``ink`` (h, w), starting anywhere within
    ``bend`` of ``column`` and moving at most one column per row: (h,) the cut's column per row."""
    h, w = ink.shape
    lo, hi = max(0, column - bend), min(w, column + bend + 1)
    cost = ink[:, lo:hi].astype(np.float64) + 0.002 * np.abs(np.arange(lo, hi) - column)  # ties: stay near the column
    total = cost.copy()
    step = np.zeros(cost.shape, np.int8)
    for r in range(1, h):
        prev = total[r - 1]
        options = np.stack([np.r_[np.inf, prev[:-1]], prev, np.r_[prev[1:], np.inf]])  # from the left, above, the right
        k = np.argmin(options, axis=0)
        total[r] += options[k, np.arange(options.shape[1])]
        step[r] = k - 1
    path = np.empty(h, np.int64)
    path[-1] = int(np.argmin(total[-1]))
    for r in range(h - 1, 0, -1):
        path[r - 1] = path[r] + step[r, path[r]]
    return path + lo


def _cut(piece: Piece, clean: np.ndarray, height: float) -> list[Piece]:
    """A wide piece -> the pieces between its candidate cuts (itself when it is narrow or has no good cut).

    Candidate columns are the minima of the piece's column profile (its ink summed down each column,
    smoothed) at least MIN_PART x H from either end and CUT_SPACING x H apart, at most about two per
    expected digit; each becomes a least-ink path down the piece.  Pixels on or right of a path go right."""
    x0, y0, x1, y1 = piece.box
    width = x1 - x0
    if width <= SPLIT_WIDTH * height or width <= SPLIT_ASPECT * (y1 - y0) or y1 - y0 < SMALL * height:
        return [piece]
    local = np.zeros((y1 - y0, width), np.float32)
    local[piece.ys - y0, piece.xs - x0] = clean[piece.ys, piece.xs]
    k = max(1, round(0.04 * height))
    profile = np.convolve(local.sum(axis=0), np.ones(2 * k + 1) / (2 * k + 1), mode="same")
    edge = max(1, round(MIN_PART * height))
    inner = np.arange(edge, width - edge)
    if inner.size == 0:
        return [piece]
    reach = max(1, round(0.05 * height))
    minima = [c for c in inner if profile[c] <= profile[max(0, c - reach) : c + reach + 1].min() + 1e-6]
    # notches: where the outline dips deep from the top or the bottom (two digits meet below or above such a dip,
    # often where their strokes cross and the column profile has no minimum); tried before the profile's minima
    inked = local > preprocess.INK_LEVEL
    has = inked.any(axis=0)
    rows = np.arange(inked.shape[0])[:, None]
    top = np.where(has, np.where(inked, rows, inked.shape[0]).min(axis=0), inked.shape[0])
    bottom = np.where(has, inked.shape[0] - 1 - np.where(inked, rows, -1).max(axis=0), inked.shape[0])
    dip = np.maximum(top, bottom).astype(np.float64)
    notches = [c for c in inner if dip[c] >= NOTCH_DEPTH * height and dip[c] >= dip[max(0, c - reach) : c + reach + 1].max()]
    budget = max(1, math.ceil(width / (0.4 * height)))
    columns: list[int] = []
    for c in sorted(notches, key=lambda c: -dip[c]) + sorted(minima, key=lambda c: profile[c]):
        if all(abs(c - o) >= CUT_SPACING * height for o in columns):
            columns.append(int(c))
        if len(columns) >= budget:
            break
    if not columns:
        return [piece]
    bend = max(1, round(CUT_BEND * height))
    paths = [_cut_path(local, c, bend) for c in sorted(columns)]
    for a, b in zip(paths, paths[1:]):  # paths never cross: each stays right of the one before
        np.maximum(b, a, out=b)
    rows, cols = piece.ys - y0, piece.xs - x0
    part = np.zeros(len(rows), np.int64)
    for p in paths:
        part += cols >= p[rows]
    stroke = max(1.0, preprocess.stroke_width(local > preprocess.INK_LEVEL))
    narrow = CUT_NARROW if width < SINGLE_WIDTH * max(y1 - y0, TALL * height) else 0.0
    costs = [0.0] + [CUT_COST + narrow + CROSS_COST * float((local[np.arange(len(p)), p] > preprocess.INK_LEVEL).sum()) / stroke
                     for p in paths]
    out = [Piece(piece.ys[part == i], piece.xs[part == i], piece.blob, costs[i], piece.blob_height) for i in range(len(paths) + 1)]
    return [p for p in out if len(p.ys)]


# ----------------------------------------------------------------------------- candidates and the choice


def body_width(ys: np.ndarray, xs: np.ndarray, stroke: float) -> int:
    """The width of some ink (pixel rows and columns) without a flat tail at either end: a long 5's flag or an
    8's trailing stroke makes a digit's box wide without making it two digits (two digits side by side hold
    more than one stroke in most columns).  A tail is a run of one-stroke columns (or empty ones) at an end
    whose ink spans less than FLAT_TAIL x the run's length up and down; a slanted stroke is no tail."""
    x0 = int(xs.min())
    single = np.bincount(xs - x0) <= ONE_STROKE * stroke
    width = kept = single.size
    if single.all():
        return width
    for from_left in (True, False):
        n = int(np.argmin(single if from_left else single[::-1]))  # one-stroke columns before the first fuller one
        lo, hi = (x0, x0 + n) if from_left else (x0 + width - n, x0 + width)
        tail = ys[(xs >= lo) & (xs < hi)]
        if tail.size and int(tail.max() - tail.min()) + 1 < FLAT_TAIL * n:
            kept -= n
    return kept


def _ink(pieces: list[Piece]) -> tuple[np.ndarray, np.ndarray]:
    """The rows and columns of every ink pixel of some pieces."""
    return np.concatenate([p.ys for p in pieces]), np.concatenate([p.xs for p in pieces])


def _joinable(run: list[Piece], nxt: Piece, height: float, stroke: float) -> bool:
    """May ``nxt`` be part of the same digit as ``run``?  Parts of one cut blob may always be joined back;
    a small piece (a flag, a bar, a broken stroke's end) joins within JOIN_GAP x H; two full-height pieces
    only when they overlap across or all but touch (one digit written in two strokes): a visible gap separates digits.
    Small means a small blob: a short part cut off a tall blob (the next digit's edge) does not join across a gap."""
    x0 = min(p.box[0] for p in run)
    x1 = max(p.box[2] for p in run)
    ys0, ys1 = min(p.box[1] for p in run), max(p.box[3] for p in run)
    nx0, ny0, nx1, ny1 = nxt.box
    tall = max(ys1, ny1) - min(ys0, ny0)
    widest = MAX_ASPECT * max(tall, TALL * height)  # the box first; the ink without its flat tails only when the box is wider
    if tall > 1.6 * height or (max(x1, nx1) - min(x0, nx0) > widest and body_width(*_ink([*run, nxt]), stroke) > widest):
        return False
    if run[-1].blob == nxt.blob:
        return True
    gap = max(nx0 - x1, x0 - nx1)  # negative: they overlap across
    small = min(nxt.blob_height, max(ys1 - ys0, max(p.blob_height for p in run))) < SMALL * height
    return gap <= (JOIN_GAP if small else TOUCH_GAP) * height


def _boundary_cost(left: Piece, right: Piece) -> float:
    """The price of starting a new digit between two neighbouring pieces: the cut's own price between two
    parts of one blob; between two blobs, OVERLAP_COST x how much of the narrower one the other covers across
    (one digit written in two strokes overlaps itself; two digits side by side barely do)."""
    if left.blob == right.blob:
        return right.cut_cost
    (a0, _, a1, _), (b0, _, b1, _) = left.box, right.box
    return OVERLAP_COST * max(0, min(a1, b1) - max(a0, b0)) / max(1, min(a1 - a0, b1 - b0))


def _join_cost(run: list[Piece], height: float) -> float:
    """The price of reading ``run`` as one digit where it joins separate tall blobs: SIDE_COST x the fraction of
    the narrower of two neighbours that the other does not cover across (0 within one blob or with a small piece)."""
    cost = 0.0
    for left, right in zip(run, run[1:]):
        if left.blob == right.blob or min(left.blob_height, right.blob_height) < SMALL * height:
            continue
        (a0, _, a1, _), (b0, _, b1, _) = left.box, right.box
        covered = max(0, min(a1, b1) - max(a0, b0)) / max(1, min(a1 - a0, b1 - b0))
        cost += SIDE_COST * (1.0 - min(1.0, covered))
    return cost


def _crop(pieces: list[Piece], members: list[int], clean: np.ndarray, core: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """The candidate's ink alone: its pieces' pixels with the faint edge around them, none of another piece's
    ink, on a black margin (so ``prepare`` sees a flat, one-tone border and skips the photo steps)."""
    ys = np.concatenate([pieces[m].ys for m in members])
    xs = np.concatenate([pieces[m].xs for m in members])
    pad = 3
    y0, y1 = max(0, ys.min() - pad), min(clean.shape[0], ys.max() + 1 + pad)
    x0, x1 = max(0, xs.min() - pad), min(clean.shape[1], xs.max() + 1 + pad)
    mine = np.zeros((y1 - y0, x1 - x0), np.uint8)
    mine[ys - y0, xs - x0] = 1
    near = cv2.dilate(mine, np.ones((2 * pad - 1, 2 * pad - 1), np.uint8)) > 0
    others = core[y0:y1, x0:x1] & ~np.isin(owner[y0:y1, x0:x1], members)
    crop = np.where(near & ~others, clean[y0:y1, x0:x1], 0).astype(np.float32)
    return np.pad(crop, max(crop.shape) // 2)  # mostly background: prepare's background level is the black, not the ink


def ink_length(mask: np.ndarray, height: float) -> float:
    """How long a digit's pen path is, in heights: ink area / stroke width / ``height`` ((h, w) bool mask)."""
    area = int(mask.sum())
    return area / max(1.0, preprocess.stroke_width(mask.astype(np.float32))) / max(1.0, height) if area else 0.0


def ink_length_table(x: np.ndarray, y: np.ndarray) -> dict[int, tuple[float, float]]:
    """Median and robust sigma (1.4826 MAD) of log ``ink_length`` per label, over MNIST digits x (N, 28, 28) uint8
    upscaled 3x (a digit's height as in a picture of a number): how INK_LENGTH was measured."""
    logs: dict[int, list[float]] = {d: [] for d in range(10)}
    for im, label in zip(x, y):
        mask = cv2.resize(im, (84, 84), interpolation=cv2.INTER_CUBIC) > 127
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size:
            logs[int(label)].append(math.log(max(ink_length(mask, rows[-1] - rows[0] + 1), FLOOR)))
    out = {}
    for d, v in logs.items():
        a = np.array(v)
        med = float(np.median(a)) if a.size else 0.0
        out[d] = (round(med, 3), round(float(1.4826 * np.median(np.abs(a - med))), 3) if a.size else 1.0)
    return out


def _score(pred: Prediction, box: Box, width: int, length: float, height: float) -> float:
    """How good a candidate is as one digit: log of its calibrated confidence, less what its shape makes unlikely
    (too wide, its flat tails left out, too short to stand alone, too much or too little ink for its label) and a
    refusal of the abstain rule."""
    _, y0, _, y1 = box
    s = math.log(max(pred.confidence, FLOOR))
    s -= WIDE_PENALTY * max(0.0, width / max(y1 - y0, TALL * height) - WIDE_FREE)
    if y1 - y0 < SMALL * height:
        s -= SHORT_PENALTY
    median, sigma = INK_LENGTH[pred.label]
    z = abs(math.log(max(length, FLOOR)) - median) / max(sigma, LENGTH_SIGMA)
    s -= LENGTH_PENALTY * max(0.0, z - LENGTH_FREE) ** 2
    if pred.abstain:
        s -= ABSTAIN_PENALTY
    return s


COMMITTED = "committed"  # read_number's default reader: serving.reader.default(), the committed one on ONNX Runtime
READER_TALL = 2.5  # the reader reads a line whose ink is at most this x H tall: its training lines' ink is at most 2.2 H
#                    (numbers composed on an 8-degree baseline; real writers' runs 1.9 H), a steeper line reaches it squashed


def read_number(source, classifier, invert: preprocess.Invert = "auto", reader=COMMITTED, drawn_on: float | None = None,
                writing: str = DEFAULT_WRITING) -> NumberReading:
    """Any picture of a handwritten number -> ``NumberReading`` (the digits in reading order).

    classifier: anything with ``predict_prepared`` (``serving.runtime.ServedModel`` as Home and the CLI use,
    ``classifiers.Classifier``, an exported model).  reader: a ``serving.reader.Reader``, ``COMMITTED`` (the
    committed one; the cuts alone, with a warning, when it is missing) or None (the cuts alone).  ``drawn_on``: a
    drawing on a canvas of that tone (``preprocess.prepare``'s).  ``writing``: how the writer writes 1 and 7
    (``serving.writing``), for the cuts' digits and the number reader's every frame.  Raises ImageError for what is
    not a readable picture."""
    clean, preview, inverted, notes, size, scale = ink_picture(source, invert, drawn_on)
    reading = _read_cuts(clean, preview, inverted, notes, size, scale, classifier, writing)
    if reader == COMMITTED:
        from digitlab.serving import reader as reader_module

        reader = reader_module.default()
    if reader is None or reading.no_ink:
        return reading
    inked = np.flatnonzero((clean > number_lines.INK).any(axis=1))
    if inked[-1] - inked[0] + 1 > READER_TALL * reading.line_height * scale:
        notes.append(f"the ink is more than {READER_TALL:g} digit heights tall (a steep or wavy line): read by the cuts alone")
        return reading
    line, x0, line_scale = number_lines.fit_line(clean)
    (whole,) = reader.read(line[None], writing)
    if not whole.text or whole.text == reading.number:
        return reading
    ratio = whole.log_likelihood(whole.text) - whole.log_likelihood(reading.number)
    said = (f"the number reader read {whole.text} where the cuts read {reading.number or 'nothing'} and finds its reading "
            f"{_times(ratio)} as likely as the cuts' (log ratio {ratio:.1f}, margin {reader.margin:g})")
    if ratio < reader.margin:
        notes.append(f"{said}: the cuts' reading stands")
        return reading
    notes.append(f"{said}: its reading is taken")
    xs = x0 + (whole.centres - 2) / line_scale  # each digit's centre in the work picture's columns
    edges = np.r_[0, np.ceil((xs[1:] + xs[:-1]) / 2), clean.shape[1]].astype(int)
    core = clean > preprocess.INK_LEVEL
    digits = []
    for k, (label, p) in enumerate(zip(whole.text, whole.probabilities)):
        a, b = edges[k], max(edges[k + 1], edges[k] + 1)
        crop = np.zeros_like(clean)
        crop[:, a:b] = clean[:, a:b]
        rows = np.flatnonzero(core[:, a:b].any(axis=1))
        cols = np.flatnonzero(core[:, a:b].any(axis=0))
        box = (a + int(cols[0]), int(rows[0]), a + int(cols[-1]) + 1, int(rows[-1]) + 1) if rows.size else (a, 0, b, clean.shape[0])
        prepared = preprocess.prepare(crop, invert="no")
        prediction = Prediction(int(label), float(p[int(label)]), p, False, f"read in the whole line by the number reader ({p[int(label)]:.0%})",
                                None if prepared.no_ink else prepared, p)
        digits.append(Digit(prediction, _to_original(box, scale, size)))
    return NumberReading(digits, size, preview, inverted, notes, reading.line_height, reading.candidates, "reader")


def _times(log_ratio: float) -> str:
    """e ** log_ratio as people read it: "12 times", "over a million times"."""
    if log_ratio > np.log(1e6):
        return "over a million times"
    return f"{np.exp(log_ratio):.2g} times" if log_ratio < np.log(100) else f"{np.exp(log_ratio):,.0f} times"


def _read_cuts(clean, preview, inverted, notes, size, scale, classifier, writing: str = DEFAULT_WRITING) -> NumberReading:
    """The segmenter: the ink cut into pieces, candidate digits read by ``classifier``, the best split chosen."""
    pieces, height = _blobs(clean, notes) if clean.any() else ([], 0.0)
    if not pieces:
        return NumberReading([], size, preview, inverted, notes)
    _check_count(len(pieces), "separate marks of ink")  # before cutting: cutting each costs time too
    pieces = [p for blob in pieces for p in _cut(blob, clean, height)]
    _check_count(len(pieces), "pieces of ink")
    pieces.sort(key=lambda p: p.centre)
    core = clean > preprocess.INK_LEVEL
    stroke = max(1.0, preprocess.stroke_width(core))
    owner = np.full(clean.shape, -1, np.int32)
    for i, p in enumerate(pieces):
        owner[p.ys, p.xs] = i
    spans: list[tuple[int, int]] = []  # candidate digits: pieces[i:j]
    for i in range(len(pieces)):
        j = i + 1
        spans.append((i, j))
        while j < len(pieces) and j - i < MAX_RUN and _joinable(pieces[i:j], pieces[j], height, stroke):
            j += 1
            spans.append((i, j))
    boxes = [_union(pieces[i:j]) for i, j in spans]
    prepared, lengths = [], []
    for (i, j), b in zip(spans, boxes):  # one crop at a time: only its 28x28 input and its ink length are kept
        crop = _crop(pieces, list(range(i, j)), clean, core, owner)
        prepared.append(preprocess.prepare(crop, invert="no"))
        lengths.append(ink_length(crop > preprocess.INK_LEVEL, max(b[3] - b[1], TALL * height)))
    predictions = classifier.predict_prepared(prepared, writing)  # one model pass and one gate pass for every candidate
    widths = [body_width(*_ink(pieces[i:j]), stroke) for i, j in spans]
    scores = [(_score(p, b, w, n, height) if not p.no_ink else NO_INK_SCORE) - _join_cost(pieces[i:j], height)
              for p, b, w, n, (i, j) in zip(predictions, boxes, widths, lengths, spans)]
    speck = [max(b[2] - b[0], b[3] - b[1]) < SPECK_SIDE * height for b in (p.box for p in pieces)]
    best = [0.0] + [-math.inf] * len(pieces)  # best[j]: the best split of pieces[:j] into digits (and specks left out)
    back = [-1] * (len(pieces) + 1)  # the candidate that ends at j, or -1: pieces[j - 1] is a speck left out
    by_end: dict[int, list[int]] = {}
    for k, (_, j) in enumerate(spans):
        by_end.setdefault(j, []).append(k)
    for j in range(1, len(pieces) + 1):
        for k in by_end.get(j, []):
            i = spans[k][0]
            total = best[i] + scores[k] - (_boundary_cost(pieces[i - 1], pieces[i]) if i else 0.0)
            if total > best[j]:
                best[j], back[j] = total, k
        if speck[j - 1] and best[j - 1] - SKIP_COST > best[j]:
            best[j], back[j] = best[j - 1] - SKIP_COST, -1
    chosen, j, left_out = [], len(pieces), 0
    while j > 0:
        if back[j] < 0:
            left_out, j = left_out + 1, j - 1
            continue
        chosen.append(back[j])
        j = spans[back[j]][0]
    if left_out:
        notes.append(f"{left_out} speck(s) of ink left out: no digit reads better with them")
    if faint := sum(predictions[k].no_ink for k in chosen):  # chosen only where no other split exists (NO_INK_SCORE)
        notes.append(f"{faint} piece(s) with too little ink to read left out")
    digits = [Digit(predictions[k], _to_original(boxes[k], scale, size)) for k in reversed(chosen) if not predictions[k].no_ink]
    if len(digits) > MAX_DIGITS:
        raise ImageError(f"read as {len(digits)} digits in a row: more than a handwritten number holds (at most {MAX_DIGITS}); "
                         "ruled lines, a texture or a page of writing is not a number")
    return NumberReading(digits, size, preview, inverted, notes, height / scale, len(spans))


def _check_count(n: int, what: str) -> None:
    if n > MAX_PIECES:
        raise ImageError(f"{n} {what}: more than a handwritten number holds (at most {MAX_PIECES}); noise, a texture, "
                         "ruled lines or a page of writing is not a number")


def _union(pieces: list[Piece]) -> Box:
    boxes = np.array([p.box for p in pieces])
    return int(boxes[:, 0].min()), int(boxes[:, 1].min()), int(boxes[:, 2].max()), int(boxes[:, 3].max())


def _to_original(box: Box, scale: float, size: tuple[int, int]) -> Box:
    x0, y0, x1, y1 = box
    w, h = size
    return (max(0, math.floor(x0 / scale)), max(0, math.floor(y0 / scale)), min(w, math.ceil(x1 / scale)), min(h, math.ceil(y1 / scale)))


# ----------------------------------------------------------------------------- showing it


def draw_boxes(reading: NumberReading, colour=(230, 60, 40), unsure=(240, 170, 0)) -> np.ndarray:
    """The picture (``reading.preview``) with a numbered box around each digit, unsure ones in ``unsure``:
    (h, w, 3) uint8 RGB, scaled up so a small drawing's labels stay legible."""
    picture = np.array(reading.preview, np.uint8)  # a copy: the decoded preview may be read-only (PIL's buffer)
    ph, pw = picture.shape[:2]
    up = max(1.0, 480 / max(pw, 1)) if pw < 480 else 1.0
    if up > 1:
        picture = cv2.resize(picture, (round(pw * up), round(ph * up)), interpolation=cv2.INTER_NEAREST)
    sx, sy = picture.shape[1] / reading.size[0], picture.shape[0] / reading.size[1]
    thick = max(1, round(max(picture.shape[:2]) / 400))
    for i, d in enumerate(reading.digits, 1):
        x0, y0, x1, y1 = d.box
        c = unsure if d.prediction.abstain else colour
        a, b = (round(x0 * sx), round(y0 * sy)), (round(x1 * sx) - 1, round(y1 * sy) - 1)
        cv2.rectangle(picture, a, b, c, thick)
        scale = max(0.4, thick * 0.45)
        (tw, th), _ = cv2.getTextSize(str(i), cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = a[1] - 3 if a[1] - th - 4 >= 0 else b[1] + th + 4
        cv2.rectangle(picture, (a[0], ty - th - 2), (a[0] + tw + 2, ty + 2), c, -1)
        cv2.putText(picture, str(i), (a[0] + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return picture


def digit_rows(reading: NumberReading) -> list[dict]:
    """One row per digit for a table: position, label, calibrated confidence, the abstain rule's verdict and
    the ten calibrated probabilities (what the Numbers page shows; the same fields as the CLI's JSON)."""
    rows = []
    for i, d in enumerate(reading.digits, 1):
        p = d.prediction
        row = {"#": i, "read": p.label, "confidence": round(p.confidence, 4), "not sure": p.abstain, "box": str(list(d.box))}
        row.update({str(k): round(float(v), 4) for k, v in enumerate(p.probabilities)})
        rows.append(row)
    return rows


def several_digits(source, classifier, invert: preprocess.Invert = "auto", drawn_on: float | None = None) -> NumberReading | None:
    """The reading of a picture that holds a number, not one digit: at least two digits side by side that
    the model is sure of; else None.  Home asks when its single-digit answer is refused, to point to the
    Numbers page instead of saying only "not sure this is a digit".  ``drawn_on`` as ``read_number``'s."""
    reading = read_number(source, classifier, invert, drawn_on=drawn_on)
    sure = len(reading.digits) - len(reading.unsure)
    return reading if len(reading.digits) >= 2 and sure >= 2 else None


def held_number(source, classifier, invert: preprocess.Invert = "auto", drawn_on: float | None = None) -> NumberReading | None:
    """The number a picture refused as one digit holds, for Home to point to the Numbers page: ``several_digits``'
    reading, and only when the ink is at least two separate marks and every one of its digits passes the
    single-digit abstain rule (the digit gate included) on its own 28x28 input as the digit the number says.  A picture
    that is no handwriting (a checkerboard, coloured blobs) gets no hint: some of its pieces are refused, or the reader
    reads a number whose pieces, judged alone, are other digits.  One mark of ink is no number: the
    cuts slice a thick stroke into pieces that each pass for a 1, and the number reader, which vouches for its own
    digits, reads a line as "00"; judged on their own inputs, the reader's pieces of a line are not digits either.
    (Digits written joined in one stroke get no hint; the Numbers page still reads them.)"""
    try:
        if len(_blobs(ink_picture(source, invert, drawn_on)[0], [])[0]) < 2:
            return None
        reading = several_digits(source, classifier, invert, drawn_on)
    except preprocess.ImageError:  # not readable as a number (too many marks, ruled lines): it holds none
        return None
    if reading is None:
        return None
    inputs = [d.prediction.prepared for d in reading.digits if d.prediction.prepared is not None]
    if len(inputs) != len(reading.digits):
        return None
    judged = classifier.predict_prepared(inputs)
    return reading if all(not p.abstain and p.label == d.label for p, d in zip(judged, reading.digits)) else None
