"""The one preprocessing path: any picture of a digit -> a 28x28 MNIST-like model input.

Training, evaluation, the predict CLI and the app all call ``prepare`` (or
``prepare_batch`` for arrays that are already MNIST-sized).  The recipe is the
one MNIST itself was built with (LeCun et al.):

    load (digitlab.pictures: any mode,     -> grey float HxW in [0, 1]
          EXIF orientation, bounded memory)
    shrink to WORK_SIDE when larger
    polarity (auto / override)             -> light ink on dark (ink drawn on transparency: known, ``ink_polarity``)
    remove background level + noise floor  -> ink in [0, 1], background 0 (photos: their light divided out first;
                                              ink drawn on transparency: its background's tone, never a photo;
                                              read as light ink, the contrast before the headroom is stretched too)
    a form's printed box                   -> not ink (``drop_frame``; not on a canvas drawing), then dust dropped,
                                              then a form's printed line apart from the writing (``drop_rule_line``)
                                              or under it and touching it (``drop_line_under``); each said in a note
    a small digit in a shrunk picture:     -> the region around it read again at a higher resolution,
                                              and the two steps above redone on it
    no ink with that polarity (auto):      -> the other one tried (``other_polarity``: a marker filling a
                                              tight crop), then the background taken from the picture's edge
                                              (``cut_tight``: a digit cut tight to its ink), kept when it finds ink
    the marks around the digit             -> not ink: an underline (apart or touching), a full stop, a tick or cross beside
                                              it, a ruling line at the edge, a neighbouring cell's ink (``isolate_digit``;
                                              not on a canvas drawing), each said in a note
    the paper inside the strokes checked:  -> ``Prepared.refusal`` when it is not the paper around them (a face,
                                              an emoji: ``paper_shift``); every caller refuses such a picture
    crop to the ink's bounding box
    a hairline thickened                   -> strokes that would fade in the next step's shrink (``thicken_hairline``)
    stroke width into MNIST's 5-95 % band  -> grey-level erosion or dilation at 80 px (``normalise_stroke``)
    fit the longer side into 20 px, keeping the aspect ratio (area resampling)
    paste into 28x28 with the centre of mass at (14, 14)
    ink that fades once fitted             -> no ink: scattered specks, not strokes

Every step is recorded in ``Prepared.steps`` from this same code, so the app's
inspector shows exactly what the model saw.  docs/preprocessing.md is the long read:
each step's constants and why, and what each PREPROCESS_VERSION changed, measured.  A blank or near-blank picture
gives ``Prepared.no_ink = True`` and no image: never a made-up prediction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import cv2
import numpy as np

# Reading files and arrays lives in digitlab.pictures; these names are part of this module's interface.
from digitlab.pictures import (  # noqa: F401
    DRAWN_ON_TAG,
    DRAWN_ON_TONES,
    IMAGE_SUFFIXES,
    INK_SAID,
    INK_TAG,
    MAX_PIXELS,
    MIN_SIDE,
    NOTED_SHRINK,
    PAPER_COVER,
    PAPER_INK,
    TEXT_CHUNK_LIMIT,
    TEXT_MEMORY_LIMIT,
    ImageError,
    Picture,
    is_image_file,
    load,
    load_picture,
)

PREPROCESS_VERSION = "1.16"  # 1.1: stroke-width normalisation on by default; 1.2: photos divided by their light, edge
# blobs dropped; 1.3: a small digit in a shrunk picture read again around its ink at a higher resolution, and ink
# that fades below INK_LEVEL once fitted (scattered specks) is no ink; 1.4: a drawing reaching the edge is not a photo
# (is_photo: most of the border one exact tone is a drawn background; its strokes apart touching the edge are kept);
# 1.5: ink drawn on transparency (the canvas) is known to be the ink: its polarity, no photo, the background's tone
# (a fat brush whose strokes cover most of the picture or of its border was read inverted, as a photo, or as no ink);
# 1.6: a hairline (strokes thinner than a pixel once the crop is shrunk for stroke normalisation) is thickened first
# (thicken_hairline): a 1-px pen on a 500-px picture was read as scattered specks; 1.7: a photo read as light ink has
# ink only if it stands MIN_CONTRAST above its background before the headroom is stretched (remove_background's
# light_ink): blank paper as a low-quality JPEG was read as light ink, its block edges stretched into strokes; 1.8: a
# form's printed box around the writing (a rectangle outline with writing inside, a comb field's separators) is not
# ink (drop_frame), except on a canvas drawing; 1.9: nor is a form's printed line under or over the writing, apart
# from it (drop_rule_line); 1.10: a side's thickness is its line's run inward however tilted (_run_inward), so a fat
# pen's square 0 drawn askew is not a form's box; 1.11: nor is a form's line under the writing that the writing touches
# (drop_line_under); 1.12: nor are the marks a writer leaves around a digit on paper: an underline, a full stop, a tick or
# a small cross beside it, a ruling line at the picture's edge, a neighbouring cell's ink (isolate_digit); 1.13: a full
# stop is judged against the digit's ink at its own height, not its box (_right_from): a slanted 1's top reached over it;
# 1.14: in a scan, not a photo, a faint stroke that runs on from ink above the noise floor is kept down to a lower floor
# (remove_background's WEAK_SIGMAS): a fine pen's faint side of a 0, the light loops of an 8, broke up on grainy paper;
# 1.15: faint ink that runs on (8-connected) from ink is kept however far it reaches from it (clean_ink's FAINT_RUN),
# except on a canvas drawing: only ink within a pixel or two of full-strength ink was, and the faint side of a 0 went
# 1.16: an underline the digit touches that reaches far past it on both sides (UNDER_FAR) is an underline though it is
# a little thicker than UNDER_THIN or curls at an end, not both: a clerk's curling line under a 3 made it a 2
SIZE = 28  # model input side
BOX = 20  # the digit's longer side inside the 28x28 frame, as in MNIST
CENTRE = 14.0  # MNIST's mean centre of mass (row, col) in pixel-index coordinates, measured on x_test
WORK_SIDE = 400  # larger pictures (photos) are shrunk to this before the recipe, for speed: the digit
# ends up 20 px tall and stroke normalisation works at 80 px, so a digit >= 20 % of the picture loses nothing
MIN_CONTRAST = 0.12  # ink must differ from the background by this much (of full scale)
MIN_INK_FRACTION = 0.0002  # fewer ink pixels than this fraction of the picture is "no ink" (1.1: 0.0005, which took a small digit in a phone photo, ~40 ink pixels of 120,000, for none)
DRAWN_BORDER = 0.8  # is_photo: a border this share of which is one exact tone is a drawn background, not paper (a shadow, too, can make half of a generated picture's border one tone)
BORDER_SPREAD = 0.1  # the border's interquartile tone range above which it is not one tone (a shadow across it; ink or a desk corner on a little of it does not count)
POLARITY_STEP = 0.08  # a thin structure this much darker (lighter) than its surroundings counts as ink
LINE_EDGE_HEIGHT = 1.5  # a number's line in a photo (clean_ink's line): a blob touching the edge at most this many times as
LINE_EDGE_WIDTH = 3.0  # tall, and this many times as wide, as the tallest digit away from it is a digit cut close (kept)
LIGHT_FLOOR = 0.05  # darkest light level a photo is divided by (a black desk is not paper to rescue)
NOISE_SIGMAS = 5.0  # remove_background: ink stands this many robust sigmas of the paper's noise above its level...
WEAK_SIGMAS = 3.5  # ...or this many, where it runs on (8-connected) from such ink: a faint stroke of the same pen
FRAME_BAND = 0.08  # drop_frame: a frame's side is this share of its box's shorter side deep (a printed line, tilted a little)
FRAME_COVER = 0.95  # drop_frame: the share of each side's length (of a separator's) that holds ink
FRAME_INSIDE = 0.3  # drop_frame: ink inside reaching this share of the frame's inner height: something is written in it
RULE_TILT = 0.08  # drop_rule_line: a printed line's slope at most this (4.6 degrees: a photo taken a little askew)
RULE_THICK = 0.05  # drop_rule_line: its median thickness at most this share of its length
RULE_STRAIGHT = 1.5  # drop_rule_line: px its centre may stray from a straight line in any column
RULE_LONGER = 2.0  # drop_rule_line: at least this many times as wide as all the other ink together
RULE_SLIVER = 0.1  # drop_line_under: the writing touching its line may reach below it by this share of its height
FAINT_RUN = 0.1  # clean_ink: faint ink this bright is kept where it runs on (8-connected) from ink over INK_LEVEL
INK_LEVEL = 0.25  # a pixel this bright (after background removal) is ink for bounding box and specks;
# every MNIST digit's box at this level is still exactly 20 px (measured on x_test)
SMALL_INK = 0.1  # an ink box whose longer side is under this fraction of WORK_SIDE (and at least MIN_SIDE px)...
ZOOM_GAIN = 2  # ...in a picture shrunk at least this many times: the region around it is read again (1.2 read a digit
# 6 % of a 3000x4000 photo's width at ~18 px with ~1 px strokes, 40 of 200 of them as "no ink")
PAPER_SHIFT_LIMIT = 15.0  # CIELAB chroma distance between the paper inside the ink's hull and around it over which a picture
# is not a written digit: a face's outline encloses skin, an emoji's its yellow (written digits measured <= 3.3 under
# shadows and on coloured paper: python evaluation/gate.py, docs/evaluation.md)
NORMALISE_STROKE = True  # kept because it measurably helps drawn digits: evaluation/drawn_digits.py (docs/results.md)

Invert = Literal["auto", "yes", "no"]


@dataclass
class Prepared:
    """Result of ``prepare``.

    image: (28, 28) float32 in [0, 1], light ink on black, or None when ``no_ink``.
    steps: (title, array) pairs from the raw picture to the model input; arrays are
           uint8 RGB (H, W, 3) for the raw picture (and for a region read again), float32
           [0, 1] (H, W) after it.
    """

    image: np.ndarray | None
    no_ink: bool
    inverted: bool
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bbox: tuple[int, int, int, int] | None = None  # (top, left, height, width) of ink in the work image (the picture
    # shrunk to WORK_SIDE); when the region around a small digit was read again, the box that was found small
    paper_shift: float = 0.0  # ``paper_shift`` of the picture: how far the paper between the strokes is from the paper around
    refusal: str | None = None  # why the picture is not one written digit, found before any model runs (None: nothing found)


# ----------------------------------------------------------------------------- the recipe


def _border(a: np.ndarray) -> np.ndarray:
    k = max(1, round(0.03 * min(a.shape)))
    return np.concatenate([a[:k].ravel(), a[-k:].ravel(), a[:, :k].ravel(), a[:, -k:].ravel()])


def block_median(a: np.ndarray, b: int) -> np.ndarray:
    """Each pixel replaced by the median of its b x b block (blocks from the top-left corner; the last
    row and column of blocks padded by repeating the edge)."""
    h, w = a.shape
    nh, nw = -(-h // b), -(-w // b)
    padded = np.pad(a, ((0, nh * b - h), (0, nw * b - w)), mode="edge")
    medians = np.median(padded.reshape(nh, b, nw, b).transpose(0, 2, 1, 3).reshape(nh, nw, b * b), axis=2)
    return np.repeat(np.repeat(medians.astype(a.dtype), b, axis=0), b, axis=1)[:h, :w]


def ink_is_dark(grey: np.ndarray) -> bool:
    """True when the ink is darker than the background (pen on paper).

    A photo whose border is not one tone (``BORDER_SPREAD``: a shadow across it): ink is thin and
    departs from the paper around it, the paper being the majority of every small block.  A pixel counts as dark (light) ink by how much it is below (above)
    both its block's median and its closing (opening) over a window a few strokes wide; the larger
    total is the ink.  A shadow's or a desk's edge departs from some blocks but is not thin; the paper
    between a digit's strokes is thin but is the block's own tone (1.1 compared the border's median
    with the extremes, which a half-shadowed page fooled).  Otherwise the border's median tone is the
    background (a fat brush's strokes are not thin, and on one-tone paper the border rule is right)."""
    smooth = cv2.medianBlur((grey * 255).astype(np.uint8), 3).astype(np.float32) / 255
    edge = _border(smooth)
    if is_photo(grey) and float(np.percentile(edge, 75) - np.percentile(edge, 25)) > BORDER_SPREAD:
        k = max(4, min(grey.shape) // 12)
        residual = grey - block_median(grey, k)
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
        dark = np.minimum(-residual, cv2.morphologyEx(grey, cv2.MORPH_CLOSE, kernel) - grey)
        light = np.minimum(residual, grey - cv2.morphologyEx(grey, cv2.MORPH_OPEN, kernel))
        return float(dark[dark > POLARITY_STEP].sum()) > float(light[light > POLARITY_STEP].sum())
    bg = float(np.median(edge))
    return (bg - smooth.min()) > (smooth.max() - bg)


def ink_polarity(grey: np.ndarray, invert: Invert, drawn_on: float | None = None) -> bool:
    """Whether the ink is dark on light (the picture is read inverted): ``invert`` "yes"/"no" as the user says; "auto":
    for ink drawn on transparency (``Picture.drawn_on``) the tone it was composited onto says it (the opaque pixels
    are the ink, however much of the picture they cover), otherwise ``ink_is_dark``."""
    if invert != "auto":
        return invert == "yes"
    return drawn_on == 1.0 if drawn_on is not None else ink_is_dark(grey)


def file_ink(picture: Picture, invert: Invert) -> Invert:
    """``invert`` as the caller gave it, unless it is "auto" and the picture's file says how its ink is
    (``Picture.ink``: a picture kept on Home with its Ink set by hand), which a note then says."""
    if invert != "auto" or picture.ink is None:
        return invert
    picture.notes.append(f"the ink as its file says: {'dark ink on light paper' if picture.ink == 'yes' else 'light ink on dark'}")
    return picture.ink


def is_photo(ink: np.ndarray) -> bool:
    """A large picture whose border is not one flat tone: paper under uneven light (a canvas, a scan
    of a drawing and an MNIST digit are flat or small and skip the photo steps).  A border at least
    DRAWN_BORDER of which is one exact tone is a drawn or rendered background, whatever crosses the rest:
    a drawing that reaches the canvas's edge is still a drawing (1.3 read such a drawing as a photo and
    dropped every stroke apart that touched the edge: the top bar of a 5, one circle of an 8 drawn as two).
    A camera's or a scanner's paper is never one exact tone (noise)."""
    if min(ink.shape) <= 64:
        return False
    edge = _border(ink)
    if float(np.ptp(edge)) <= 0.02:
        return False
    # a tone more than half the border holds is its middle order statistic (np.median costs ten times more)
    middle = np.partition(edge, edge.size // 2)[edge.size // 2]
    return bool(np.count_nonzero(edge == middle) < DRAWN_BORDER * edge.size)


def _quarter(a: np.ndarray) -> np.ndarray:
    """The pixels a background's medians are taken of: every other row and column of a picture over 4096 pixels (the
    same medians, 4x faster), all of a smaller one."""
    return a[::2, ::2] if a.size > 4096 else a


def remove_background(ink: np.ndarray, photo: bool | None = None, level: float | None = None,
                      floor: float | None = None, light_ink: bool = False) -> tuple[np.ndarray, float]:
    """Light-ink image -> (ink in [0, 1] with background 0, contrast of the ink above background).

    Photos (``is_photo``) first lose the light falling on the page: its brightness is estimated by a
    morphological closing of the paper far wider than any pen stroke (which keeps hard edges: a
    shadow's, a desk's) and the paper is divided by it, so strokes in a shadow keep their contrast
    and the shadow itself is gone (1.1 subtracted it instead: a half-shadowed page kept the
    shadow's edge and faint strokes).  Then the background level (median) and a noise floor (NOISE_SIGMAS
    robust sigmas) are subtracted and the ink is stretched so its bright end is 1.  A scan that is not a photo (a
    digit cut from a scanned page) keeps, besides, the pixels above a lower floor (WEAK_SIGMAS) that run on from that
    ink, and is stretched from that floor (hysteresis, 1.14: a fine pen's faint strokes on grainy paper broke into
    pieces).  Not a photo's: the paper between a marker's fat strokes, read with the wrong polarity, would join up into
    "ink" instead of reading as none (``other_polarity``).  An MNIST digit passes unchanged.
    ``photo``: ``is_photo(ink)`` when the caller has it already.  ``level``: the background's tone when it is known (ink
    drawn on transparency, composited onto it): no photo, no level or noise estimated, so strokes covering most of the
    picture are still the ink (the median would be ink).  ``floor``: with ``level``, the noise floor above it (None: the
    level itself, a drawn background has no noise).  ``light_ink``: the picture is read as light ink (not inverted).
    Its division by 1 - the background's tone is no light divided out, only a stretch of the headroom above the
    background (a light page taken for light ink was stretched 5-14 times, and a low-quality JPEG's block edges came out
    as ink): the contrast returned is then the smaller of the stretched one and the same ink pixels' contrast before the
    stretch (1.7).  The picture returned is the same either way.
    """
    h, w = ink.shape
    if photo is None:
        photo = level is None and is_photo(ink)
    if photo:
        k = max(15, min(h, w) // 4)
        opened = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
        # paper / light, in ink terms: (ink - opened) / (1 - opened), opened = 1 - the closing of the paper
        unstretched = ink - opened if light_ink else None
        ink = (ink - opened) / np.maximum(1 - opened, LIGHT_FLOOR)
    else:
        unstretched = None
    weak = None
    if level is None:
        sample = _quarter(ink)
        level = float(np.median(sample))
        sigma = 1.4826 * float(np.median(np.abs(sample - level)))  # the paper's noise, robustly
        floor, weak = level + NOISE_SIGMAS * sigma, None if photo else level + WEAK_SIGMAS * sigma
    elif floor is None:
        floor = level  # a drawn background is one exact tone: no noise
    is_above = ink > floor
    above = ink[is_above]
    peak = float(np.percentile(above, 99.5)) if above.size else floor
    contrast = peak - level
    if unstretched is not None and above.size:
        contrast = min(contrast, float(np.percentile(unstretched[is_above], 99.5)) - float(np.median(_quarter(unstretched))))
    if peak - floor <= 1e-6:
        return np.zeros_like(ink), contrast
    if weak is None or weak >= floor:  # a known background, or paper without noise (an MNIST digit): one floor
        return np.clip((ink - floor) / (peak - floor), 0, 1).astype(np.float32), contrast
    # Hysteresis: pixels above the weak floor are ink where they join ink above the floor, stretched from the weak floor.
    # Alone, they are the paper's grain, and go.
    labels, reaches = blobs_reaching(ink > weak, is_above)
    return np.where(reaches[labels], np.clip((ink - weak) / (peak - weak), 0, 1), 0).astype(np.float32), contrast


def blobs_reaching(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8-connected blobs of the mask ``low`` and which of them hold a pixel of ``high`` (a mask within it):
    (labels, reaches), ``reaches[labels]`` the pixels of such blobs; label 0 (outside ``low``) never reaches.  The
    hysteresis of ``remove_background`` and ``clean_ink``'s faint ink running on from ink (web/preprocess.js: runsOn)."""
    n, labels = cv2.connectedComponents(low.astype(np.uint8), connectivity=8)
    reaches = np.zeros(n, bool)
    reaches[labels[high]] = True
    reaches[0] = False
    return labels, reaches


def _drop_border(ink: np.ndarray, line: bool = False) -> np.ndarray:
    """Zero ink blobs that touch the picture's edge (a desk or the page's edge in a corner, a shadow's
    rim) when blobs away from the edge hold the digit; a digit cut by the frame keeps its ink.  ``line``: the
    picture is a number's line, whose blobs away from the edge are other digits: a blob touching the edge is kept
    when it is digit-sized next to them (LINE_EDGE_HEIGHT, LINE_EDGE_WIDTH): a first or last digit cut close."""
    mask = (ink > INK_LEVEL).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 2:
        return ink
    x, y, bw, bh, area = (stats[1:, i] for i in range(5))
    h, w = ink.shape
    touching = (x == 0) | (y == 0) | (x + bw >= w) | (y + bh >= h)
    inner = area[~touching]
    if not touching.any() or inner.size == 0 or inner.max() < 0.02 * area.max():
        return ink
    if line:
        tallest = bh[~touching].max()
        touching &= (bh > LINE_EDGE_HEIGHT * tallest) | (bw > LINE_EDGE_WIDTH * tallest)
        if not touching.any():
            return ink
    drop = cv2.dilate(np.isin(labels, np.flatnonzero(touching) + 1).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return np.where(drop, 0, ink).astype(np.float32)


def ink_blobs(mask: np.ndarray, min_width: int = 1) -> tuple[np.ndarray, Iterator[tuple[int, int, int, int, int, np.ndarray]]]:
    """An ink mask -> (its blobs' labels (8-connected), and for each blob at least ``min_width`` px wide: its label,
    left, top, width, height and its pixels in its box (bool), one at a time)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)

    def each():
        for c in range(1, n):
            left, top, w, h = (int(v) for v in stats[c, :4])
            if w >= min_width:
                yield c, left, top, w, h, labels[top : top + h, left : left + w] == c

    return labels, each()


def drop_frame(ink: np.ndarray) -> np.ndarray:
    """Zero a form's printed box around the writing.  A frame is an ink blob whose bounding box is outlined on all four
    sides (the blob holds ink along at least FRAME_COVER of each side's band, FRAME_BAND of the box's shorter side
    deep, each side's line, measured inward from its first ink pixel however tilted (``_run_inward``), thinner than the
    band: a printed rectangle) and that has ink inside reaching FRAME_INSIDE of its
    inner height (something is written in it).  It loses its pixels in those bands and its straight lines from side to
    side inside them (a comb field's separators).  A square 0 or 8, with nothing tall inside or drawn with a fat pen,
    is kept; the writing's own pixels in the bands go with the frame (a digit that touches its box loses a sliver
    there).  Every blob is judged on the picture as it came, so the order is free."""
    mask = ink > INK_LEVEL
    _, blobs = ink_blobs(mask)
    out = ink
    for _, left, top, w, h, blob in blobs:
        t = max(2, round(FRAME_BAND * min(w, h)))
        if min(w, h) <= 4 * t:
            continue
        sides = (blob, blob[::-1], blob.T, blob[:, ::-1].T)  # each side's view inward, (depth, the side's length)
        inked = [side[:t].any(0) for side in sides]  # where its band holds ink
        if min(float(i.mean()) for i in inked) < FRAME_COVER:
            continue
        if max(float(np.median(_run_inward(side)[i])) for side, i in zip(sides, inked)) > t - 1:
            continue  # a side wider than its band: a fat pen's square (its inner edge would count as ink inside)
        rows = np.flatnonzero(mask[top + t : top + h - t, left + t : left + w - t].any(1))
        if rows.size == 0 or rows[-1] - rows[0] + 1 < FRAME_INSIDE * (h - 2 * t):
            continue
        frame = np.zeros_like(blob)
        frame[:t] = frame[-t:] = True
        frame[:, :t] = frame[:, -t:] = True
        frame[:, blob[t : h - t].mean(0) >= FRAME_COVER] = True  # lines from the top side to the bottom one
        frame[blob[:, t : w - t].mean(1) >= FRAME_COVER] = True  # and from the left side to the right one
        if out is ink:
            out = ink.copy()
        out[top : top + h, left : left + w][frame & blob] = 0
    return out


def _run_inward(side: np.ndarray) -> np.ndarray:
    """(depth, length) bool, row 0 at the outer edge -> per position along it, the length of the ink run from its
    first ink pixel inward (0 where it has none): how thick the line drawn along that side is there, however tilted."""
    first = side.argmax(0)
    gap = (np.arange(side.shape[0])[:, None] >= first) & ~side  # paper after the first ink pixel
    end = np.where(gap.any(0), gap.argmax(0), side.shape[0])
    return np.where(side.any(0), end - first, 0)


def line_fit(xs: np.ndarray, centres: np.ndarray) -> tuple[float, float, float]:
    """Least squares of centres on xs (float64) -> (slope, the line's value at xs' mean, xs' mean)."""
    mx, mc = float(xs.mean()), float(centres.mean())
    dx = xs - mx
    return float((dx * (centres - mc)).sum() / max(float((dx * dx).sum()), 1e-12)), mc, mx


def _line_stray(xs: np.ndarray, centres: np.ndarray, fit: tuple[float, float, float]) -> float:
    """The farthest any centre lies from the fitted line ``fit`` (``line_fit``'s), in px."""
    slope, mc, mx = fit
    return float(np.abs(centres - mc - slope * (xs - mx)).max())


def _line_pieces(labels: np.ndarray, stats: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """The blobs that are straight thin flat pieces of a printed line -> [(label, columns, centre rows)]: slope at most
    RULE_TILT, every column's centre within RULE_STRAIGHT px of their fitted line, median thickness at most RULE_THICK
    of the piece's width (a pen's stroke is a tenth of its digit's height or more), at least 8 px wide."""
    pieces = []
    for c in range(1, len(stats)):
        left, top, w, h = (int(v) for v in stats[c, :4])
        if w < 8 or h > (RULE_TILT + RULE_THICK) * w:
            continue
        blob = labels[top : top + h, left : left + w] == c
        counts = blob.sum(0)
        if float(np.median(counts)) > RULE_THICK * w:
            continue
        has = counts > 0
        xs = np.flatnonzero(has).astype(np.float64) + left
        centres = (blob * np.arange(h)[:, None]).sum(0)[has] / counts[has] + top
        fit = line_fit(xs, centres)
        if abs(fit[0]) <= RULE_TILT and _line_stray(xs, centres, fit) <= RULE_STRAIGHT:
            pieces.append((c, xs, centres))
    return pieces


def drop_rule_line(ink: np.ndarray) -> np.ndarray:
    """Zero a form's printed line under (or over) the writing.  A thin printed line comes out of a shrink or a JPEG in
    collinear pieces (``_line_pieces``); from the widest, the pieces whose every column centre lies within
    RULE_STRAIGHT px of the group's fitted line join it (fitted again each time).  A group whose span is at least
    RULE_LONGER times as wide as all the other ink together, that ink lying within its span and wholly above or below
    it where it runs, is not ink.  A line the writing touches is one blob with it and is kept; so is a line with
    nothing else written (a 1 lying down, a minus)."""
    mask = ink > INK_LEVEL
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return ink
    pieces = sorted(_line_pieces(labels, stats), key=lambda p: -(p[1][-1] - p[1][0]))
    out, used = ink, set()
    for first in pieces:
        if first[0] in used:
            continue
        group, xs, centres = [first[0]], first[1], first[2]
        fit = line_fit(xs, centres)
        for c, pxs, pcentres in pieces:
            if c in used or c in group:
                continue
            if _line_stray(pxs, pcentres, fit) <= RULE_STRAIGHT:
                group.append(c)
                xs, centres = np.concatenate([xs, pxs]), np.concatenate([centres, pcentres])
                fit = line_fit(xs, centres)
        used.update(group)
        slope, mc, mx = fit
        left, right = int(xs.min()), int(xs.max())
        in_group = np.isin(labels, group)
        ys, xo = np.nonzero(mask & ~in_group)
        if ys.size == 0 or right - left + 1 < RULE_LONGER * (int(xo.max()) - int(xo.min()) + 1):
            continue
        if int(xo.min()) < left or int(xo.max()) > right:
            continue  # ink beyond the line's ends: beside it, not over or under it
        side = ys - (mc + slope * (xo - mx))  # rows from the line where it runs there
        if not ((side < 0).all() or (side > 0).all()):
            continue  # the other ink crosses the line
        if out is ink:
            out = ink.copy()
        out[in_group] = 0
    return out


def thin_columns(blob: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A blob (h, w) bool -> (which columns hold one thin run of ink: at most RULE_THICK of the blob's width, at least
    3 px; each column's ink in px; the centre row of each one-run column's run, float64): where a printed line under or
    over the writing shows alone, and where it runs."""
    w = blob.shape[1]
    runs = (blob & ~np.vstack([np.zeros((1, w), bool), blob[:-1]])).sum(0)  # runs of ink per column
    length = blob.sum(0)
    centre = (np.argmax(blob, 0) + (length - 1) / 2).astype(np.float64)
    return (runs == 1) & (length <= max(3.0, RULE_THICK * w)), length, centre


def _line_showing(blob: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A blob (h, w) bool -> (columns, centre rows, thicknesses) where a line along its bottom or top shows alone: from
    each end inward, the columns holding one thin run of ink (at most RULE_THICK of the blob's width, at least 3 px);
    at each end the innermost columns that stray more than RULE_STRAIGHT px from the line fitted through them all are
    trimmed, one at a time, fitting again each time (where the writing joins the line).  Empty when none are left."""
    h, w = blob.shape
    thin, length, centre = thin_columns(blob)
    left = int(np.argmin(thin)) if not thin.all() else w  # thin columns from the left end...
    right = w - (int(np.argmin(thin[::-1])) if not thin.all() else w)  # ...and from the right end
    cols = np.r_[0:left, max(left, right):w]
    centres = centre[cols]
    a, b = left, w - max(left, right)  # how many columns each end holds
    while a + b >= 2:
        fit = line_fit(cols.astype(np.float64), centres)
        stray = np.abs(centres - fit[1] - fit[0] * (cols - fit[2]))
        if stray.max() <= RULE_STRAIGHT:
            break
        inner = [i for i, n in ((a - 1, a), (a, b)) if n > 0]  # the innermost column of each end still holding any
        drop = max(inner, key=lambda i: stray[i])
        cols, centres = np.delete(cols, drop), np.delete(centres, drop)
        a, b = (a - 1, b) if drop == a - 1 and a > 0 else (a, b - 1)
    else:
        return np.empty(0, int), np.empty(0), np.empty(0)
    return cols, centres, length[cols].astype(np.float64)


def off_line(mask: np.ndarray, top: int, left: int, fit: tuple[float, float, float], half: float) -> tuple[np.ndarray, ...]:
    """Every ink pixel of ``mask`` against a line fitted in a blob whose box starts at (``top``, ``left``) (``line_fit``'s
    ``fit``, in the box's coordinates) -> (their rows, their columns, their rows from the line where it runs there,
    which lie farther from it than ``half``: the writing, not the line's band)."""
    slope, mc, mx = fit
    ys, xs = np.nonzero(mask)
    side = ys - (top + mc + slope * (xs - left - mx))
    return ys, xs, side, np.abs(side) > half


def written_above(side: np.ndarray, height: int) -> bool:
    """The writing's rows from its line (``off_line``'s) -> whether it lies above the line, reaching below it by at
    most RULE_SLIVER of its ``height`` (a digit written on a form's line, touching or crossing it a little)."""
    return bool((side < 0).any()) and float(side.max()) <= RULE_SLIVER * height


def drop_line_under(ink: np.ndarray) -> np.ndarray:
    """Zero a form's printed line that the writing touches, under it.  For each blob, the columns where a line shows
    alone (``_line_showing``) give its fit and median thickness; the writing is all the other ink, farther from that
    line than half its thickness plus 1 px.  The line's band across the blob is not ink when the line is flat
    (RULE_TILT) and thin (RULE_THICK of the blob's width), shows in at least as many columns as the writing is wide,
    the blob is at least RULE_LONGER times as wide as the writing and at least as wide as it is tall, and the writing
    lies above the line, reaching below it by at most RULE_SLIVER of its height.  A line under the writing only: a 7's
    or a 5's bar is over its stroke.  The writing's pixels in the band go with the line (a sliver where it touches)."""
    mask = ink > INK_LEVEL
    labels, blobs = ink_blobs(mask, min_width=8)
    out = ink
    for c, left, top, w, h, blob in blobs:
        if h > (1 + RULE_THICK + RULE_TILT) * w + 3:
            continue  # taller than the conditions below allow (the writing no taller than w, the band's rows): a digit
        cols, centres, thick = _line_showing(blob)
        if cols.size < 2:
            continue
        fit = line_fit(cols.astype(np.float64), centres)
        half = float(np.median(thick)) / 2 + 1
        if abs(fit[0]) > RULE_TILT or 2 * (half - 1) > RULE_THICK * w:
            continue
        ys, xs, side, writing = off_line(mask, top, left, fit, half)
        if not writing.any():
            continue  # a line alone (a minus)
        width, height = int(np.ptp(xs[writing])) + 1, int(np.ptp(ys[writing])) + 1
        if cols.size < width or w < RULE_LONGER * width or w < height or not written_above(side[writing], height):
            continue
        band = labels[ys, xs] == c
        band &= ~writing
        if out is ink:
            out = ink.copy()
        out[ys[band], xs[band]] = 0
    return out


def _drop_specks(ink: np.ndarray) -> np.ndarray:
    """Zero connected blobs that are tiny next to the largest one (dust, sensor noise)."""
    mask = (ink > INK_LEVEL).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 2:
        return ink
    areas = stats[1:, cv2.CC_STAT_AREA]
    small = np.flatnonzero((areas < 0.05 * areas.max()) & (areas < 0.002 * ink.size)) + 1
    if small.size == 0:
        return ink
    drop = cv2.dilate(np.isin(labels, small).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return np.where(drop, 0, ink).astype(np.float32)


def fit_box(crop: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale so the longer side is ``box`` px, keeping the aspect ratio (area resampling when shrinking)."""
    h, w = crop.shape
    s = box / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if (nh, nw) == (h, w):
        return crop.astype(np.float32)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return np.clip(cv2.resize(crop, (nw, nh), interpolation=interp), 0, 1).astype(np.float32)


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    m = float(img.sum())
    if m <= 0:
        return (img.shape[0] - 1) / 2, (img.shape[1] - 1) / 2
    ys, xs = np.indices(img.shape)
    return float((img * ys).sum() / m), float((img * xs).sum() / m)


def paste_centred(digit: np.ndarray, size: int = SIZE, centre: float = CENTRE) -> np.ndarray:
    """Paste into size x size so the centre of mass lands on ``centre`` (whole-pixel shift, kept in frame)."""
    h, w = digit.shape
    cy, cx = centre_of_mass(digit)
    top = int(np.clip(round(centre - cy), 0, size - h))
    left = int(np.clip(round(centre - cx), 0, size - w))
    out = np.zeros((size, size), np.float32)
    out[top : top + h, left : left + w] = digit
    return out


STROKE_BAND = (1.53, 3.53)  # MNIST's 5-95 % stroke width (px, 20 px box), measured on x_test
STROKE_TARGET = 2.29  # MNIST's median stroke width
WORK_BOX = 80  # stroke normalisation works at 4x the final box, where 1 px of erosion is fine-grained


HAIRLINE_NOTE = "strokes thinner than a pixel once shrunk (a hairline): thickened first"
HAIRLINE = 1.0  # px at WORK_BOX scale: a stroke that would come out thinner once its crop is shrunk there fades into the
# paper (area resampling averages it away) and is measured as no stroke: a 1-px pen on a 500-px picture, 2 px on 1,000
HAIRLINE_REACH = 0.25  # and its longest piece of ink (8-connected, over INK_LEVEL at full strength) reaches this share of
# the crop's longer side: a stroke, where a photo's paper grain or a JPEG's blocks are specks a few pixels across


def thicken_hairline(crop: np.ndarray) -> np.ndarray:
    """A cropped digit whose strokes would come out thinner than HAIRLINE once the crop is shrunk to WORK_BOX, drawn
    HAIRLINE wide there (grey-level dilation at the crop's own resolution, its ink brought to full strength: a hairline's
    pixels are only partly covered by it); any other crop as it is.  A crop no larger than WORK_BOX is never shrunk, so
    MNIST's digits and the app's canvas drawings (a 6-px brush at least on 280 px) pass through unchanged; ink in
    specks (``HAIRLINE_REACH``), such as blank paper photographed, is left to fade as it did."""
    shrink = WORK_BOX / max(crop.shape)
    peak = float(crop.max())
    if shrink >= 1 or peak <= 0:
        return crop
    full = np.minimum(crop / peak, 1.0).astype(np.float32)
    width = stroke_width(full)
    if width == 0 or width * shrink >= HAIRLINE:
        return crop
    n, _, stats, _ = cv2.connectedComponentsWithStats((full > INK_LEVEL).astype(np.uint8), connectivity=8)
    reach = int(stats[1:, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]].max()) if n > 1 else 0
    if reach < HAIRLINE_REACH * max(crop.shape):
        return crop
    r = int(np.ceil((HAIRLINE / shrink - width) / 2))
    return cv2.dilate(full, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))


def normalise_stroke(digit: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Bring the stroke width of a cropped digit into MNIST's range by grey-level erosion or dilation.

    Works on the crop scaled so its longer side is WORK_BOX (= 4 x BOX) px (a hairline must be thickened first to
    survive that shrink: ``thicken_hairline``).  Widths inside MNIST's 5-95 % band are left alone, so MNIST digits
    pass through unchanged.
    Returns (digit at WORK_BOX scale or the untouched input when in band, width before, width after),
    widths in final (20 px box) pixels.
    """
    big = fit_box(digit, WORK_BOX)
    scale = BOX / WORK_BOX
    before = stroke_width(big) * scale
    lo, hi = STROKE_BAND
    r = round(abs(before - STROKE_TARGET) / scale / 2)  # erosion/dilation by r changes the width by 2r
    if lo <= before <= hi or before == 0 or r == 0:
        return digit, before, before
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    out = cv2.erode(big, kernel) if before > hi else cv2.dilate(big, kernel)
    return out, before, stroke_width(out) * scale


def work_size(grey: np.ndarray, preview: np.ndarray | None, notes: list[str], side: int = WORK_SIDE) -> tuple[np.ndarray, np.ndarray | None]:
    """Shrink a picture whose longer side is over ``side`` to it (area resampling), with a note; ``preview``
    None: the caller keeps its own (a number's reader draws its boxes on the picture as it is)."""
    h, w = grey.shape
    if max(h, w) <= side:
        return grey, preview
    size = (max(1, round(w * side / max(h, w))), max(1, round(h * side / max(h, w))))
    notes.append(f"shrunk from {w}x{h} to {size[0]}x{size[1]} for speed")
    small = None if preview is None else cv2.resize(preview, size, interpolation=cv2.INTER_AREA)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA), small


def edge_background(ink: np.ndarray) -> tuple[float, float]:
    """(the background's tone, its noise floor) from the picture's outermost pixels alone: their median, and 5 robust
    sigmas above it.  A digit cut tight to its ink touches the edge in a few places; the rest of the edge is paper.  The
    outermost ring only: ``_border``'s band, 3% of the side deep, reaches further into a tight crop's strokes."""
    edge = np.concatenate([ink[0], ink[-1], ink[1:-1, 0], ink[1:-1, -1]]).astype(np.float32)
    level = float(np.median(edge))  # in float32, as remove_background's median (web/preprocess.js computes it alike)
    return level, level + 5 * 1.4826 * float(np.median(np.abs(edge - level)))


# ----------------------------------------------------------------------------- the marks around a written digit
#
# A clerk's digit on a register's page comes with what a reader looks past: an underline, a full stop, a tick or a
# small cross beside it, a piece of the page's ruling, the edge of the next cell.  ``isolate_digit`` finds them by the
# geometry of the ink's blobs against the digit's own (position, size, shape, the gap between them).  Every threshold
# below was chosen on the real-paper dev registers (``python evaluation/paper.py``: digitlab/data/parish.py, 2,341
# crops of 17 registers) by looking at what each rule took away, and checked on MNIST's test digits, which carry no
# marks: docs/preprocessing.md (preprocessing 1.12) gives both measurements.

UNDERLINE_NOTE = "an underline below the digit left out"
STOP_NOTE = "a full stop beside the digit left out"
TICK_NOTE = "a tick or small cross beside the digit left out"
RULING_NOTE = "a ruling line at the picture's edge left out"
NEIGHBOUR_NOTE = "ink of a neighbouring cell at the picture's edge left out"
MARK_NOTES = (RULING_NOTE, UNDERLINE_NOTE, STOP_NOTE, TICK_NOTE, NEIGHBOUR_NOTE)  # the order the notes are said in

MARK_BLOBS = 12  # more blobs than this is no digit with a few marks (a word, a photo's texture): left as it is
LINE_MIN = 8  # px: a blob shorter than this is no line
FLAT_TILT = 20.0  # degrees: a flat line (an underline) slopes at most this much (the registers' underlines apart measured
# 0-18.4; the lower half of an MNIST 6's loop, broken off its stroke, 24)
FLAT_THIN = 0.25  # and is at most this thick for its length (the spread across its main axis; a digit's is 0.3 or more)
RULING_TILT = 8.0  # degrees: a ruling line runs within this of the picture's rows or columns
RULING_THIN = 0.08  # its thickness at most this share of its length (at least 2.5 px allowed: a scan's line)
RULING_EDGE = 0.1  # and it lies within this share of the picture's side from the edge it runs along...
RULING_SPAN = 0.9  # ...or spans this share of that side
JOIN_GAP = 0.08  # a blob this close to the digit (share of its height) is a piece of it: faint ink breaks a stroke
# into pieces 1-2 px apart, and a mark beside a digit stands 3 px or more off a 30 px digit
HAT_GAP = 0.5  # and so is one above its middle and right of its centre within this share of its height: a 5's hat or an
# 8's first stroke drawn apart (the registers' 5s have it 0.2-0.45 of the digit's height off, often cut by the crop)
NEIGHBOUR_GAP = 0.5  # ink at the picture's top or bottom edge this share of the digit's height off it is the row above's
# or below's (the registers' measured 0.5-1.2); nearer, it may be the digit's own, cut by the crop
UNDER_WIDE = 0.3  # an underline apart: a flat line at least this share of the digit's width...
UNDER_LOW = 0.25  # ...its centre below the digit's bottom less this share of its height, its top below the digit's middle
STOP_SIDE = 0.3  # a full stop: no side over this share of the digit's height...
STOP_RIGHT = 0.15  # ...its centre right of the digit's right edge less this share of the digit's width (the edge of
# the digit's ink in the rows from the stop's top down, when that is left of the box's: a slanted 1's top reaches over
# the stop beside its foot), in the box's right half...
STOP_LOW = 0.6  # ...and this share of the digit's height below its top, and more than STOP_GAP px off it
STOP_GAP = 1.5
TICK_TALL = 0.8  # a tick or small cross: at most this share of the digit's height, to its right (TICK_OVER of its own
TICK_OVER = 0.25  # width may lie over the digit's box), its centre below TICK_HIGH of the digit's height from its top
TICK_HIGH = 0.35  # (a 5's hat drawn apart sits at its top), and more than JOIN_GAP off it
# An underline the digit touches (``underline_band``): a thin curve along the bottom of the digit's ink
UNDER_TOL = 2.0  # px: the bottom run of each of its columns lies within this of one quadratic curve
UNDER_SLOPE = 0.4  # the curve's slope at either end at most this (a hand's underline, not a 2's or a 3's stroke)
UNDER_TALL = 0.6  # the writing left above it is at least this share of the whole ink's height...
UNDER_LONG = 0.8  # ...the line at least this many times the writing's height long...
UNDER_THIN = 0.11  # ...and at most this share of it thick: a pen's line under a 30 px digit measured 0.04-0.11; the base
# of MNIST's 2s (a thicker pen for the size of its digits), which these rules must leave alone, 0.12 and more
UNDER_PAST = 0.1  # it reaches past the writing on both sides by this share of the writing's width (2 px at least): a
# 2's base starts where its stroke comes down; the writing may reach below it by RULE_SLIVER of its height
UNDER_FAR = 0.3  # a line reaching this share of the writing's width past it on both sides, far past any 2's base, may
UNDER_FAR_THIN = 0.15  # be this thick (a fine pen's line in a 30 px crop measures 3 px) or curl this steeply at an end
UNDER_FAR_SLOPE = 1.0  # (a hand's flourish), but not both: MNIST's 2s with a long base are both


@dataclass
class _Blob:
    """One 8-connected blob of ink: its pixels' (rows, cols), box (left, top, right, bottom, exclusive), its ink pixels
    (over INK_LEVEL: the size and shape are the ink's, not the faint rim's), centre, and its main axis's length, the
    spread across it and its angle from the rows in degrees (a line L long has variance L^2 / 12 along it)."""

    label: int
    first: int
    rows: np.ndarray
    cols: np.ndarray
    left: int
    top: int
    right: int
    bottom: int
    ink: int
    cx: float
    cy: float
    length: float
    width: float
    tilt: float

    @property
    def w(self) -> int:
        return self.right - self.left

    @property
    def h(self) -> int:
        return self.bottom - self.top

    def flat(self) -> bool:
        """A flat thin line: an underline's shape."""
        return self.length >= LINE_MIN and self.width <= FLAT_THIN * self.length and self.tilt <= FLAT_TILT

    def straight(self, h: int, w: int) -> bool:
        """A straight thin line along the rows or the columns, at the edge of an (h, w) picture or across it: a ruling line
        when it reaches past the digit or out of the picture (``ruling``)."""
        if self.length < LINE_MIN or self.width > max(2.5, RULING_THIN * self.length):
            return False
        if self.tilt <= RULING_TILT:
            return self.w >= RULING_SPAN * w or self.top < RULING_EDGE * h or self.bottom > (1 - RULING_EDGE) * h
        if self.tilt >= 90 - RULING_TILT:
            return self.h >= RULING_SPAN * h or self.left < RULING_EDGE * w or self.right > (1 - RULING_EDGE) * w
        return False

    def ruling(self, box: list[int], h: int, w: int) -> bool:
        """A ``straight`` line in an (h, w) picture that reaches past the digit's box (left, top, right, bottom) on both sides
        along it, or runs out of the picture at one end: the page's ruling (a 7's bar drawn apart ends over its stem)."""
        left, top, right, bottom = box
        if self.tilt <= RULING_TILT:
            return (self.left < left and self.right > right) or self.left == 0 or self.right == w
        return (self.top < top and self.bottom > bottom) or self.top == 0 or self.bottom == h

    def neighbour(self, h: int, w: int, gap2: float, tall: int) -> bool:
        """Ink of a neighbouring cell in an (h, w) picture: touching its left or right edge (the next column), or its top or
        bottom edge and NEIGHBOUR_GAP of the digit's height (``tall``) or more off it (``gap2``, squared px: the row above or below)."""
        return self.left == 0 or self.right == w or ((self.top == 0 or self.bottom == h) and gap2 >= _square(NEIGHBOUR_GAP * tall))


def _blob(label: int, first: int, rows: np.ndarray, cols: np.ndarray, strong: np.ndarray) -> _Blob:
    """A blob's measurements from its pixels (``strong``: which of them are over INK_LEVEL).  Sums of integers are exact
    in float64 whatever their order, so web/preprocess.js measures the same."""
    ys, xs = (rows[strong], cols[strong]) if strong.sum() >= 3 else (rows, cols)
    n = float(xs.size)
    sx, sy = float(xs.sum()), float(ys.sum())
    a = (n * float((xs * xs).sum()) - sx * sx) / (n * n)  # variance along the rows, across them, and the covariance
    c = (n * float((ys * ys).sum()) - sy * sy) / (n * n)
    b = (n * float((xs * ys).sum()) - sx * sy) / (n * n)
    mid, half = (a + c) / 2, math.sqrt((a - c) / 2 * ((a - c) / 2) + b * b)
    angle = abs(0.5 * math.atan2(2 * b, a - c) * 180 / math.pi)  # of the main axis, from the rows: 0-90
    return _Blob(label, first, rows, cols, int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1, int(strong.sum()),
                 sx / n, sy / n, math.sqrt(12 * (mid + half)), math.sqrt(12 * max(mid - half, 0.0)), angle)


def _blobs(clean: np.ndarray) -> tuple[np.ndarray, list[_Blob] | None]:
    """Every pixel the background removal kept, as 8-connected blobs in the order of their first pixel (row by row);
    None for the blobs when there are more than MARK_BLOBS."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((clean > 0).astype(np.uint8), connectivity=8)
    if n - 1 > MARK_BLOBS:
        return labels, None
    width = clean.shape[1]
    out = []
    for k in range(1, n):
        left, top, w, h = (int(v) for v in stats[k, :4])
        ys, xs = np.nonzero(labels[top : top + h, left : left + w] == k)  # row by row: the first is the blob's first
        rows, cols = ys + top, xs + left
        out.append(_blob(k, int(rows[0]) * width + int(cols[0]), rows, cols, clean[rows, cols] > INK_LEVEL))
    out.sort(key=lambda b: b.first)
    return labels, out


def _square(x: float) -> float:
    return x * x  # not x ** 2: a product rounds alike in every language (web/preprocess.js)


def _outline(b: _Blob) -> np.ndarray:
    """(N, 2) int64 (row, col) of a blob's pixels with a 4-neighbour outside it: the only ones a gap is measured from."""
    top, left = int(b.rows.min()), int(b.cols.min())
    m = np.zeros((int(b.rows.max()) - top + 3, int(b.cols.max()) - left + 3), bool)
    m[b.rows - top + 1, b.cols - left + 1] = True
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    r, c = np.nonzero(m[1:-1, 1:-1] & ~inner)
    return np.stack([r + top, c + left], 1).astype(np.int64)


def _gap2(a: np.ndarray, body: np.ndarray, reach: float) -> float:
    """The squared distance in px between the nearest pixels of outline ``a`` and ``body`` (``_outline``'s), exact in
    integers, or infinity when none of body's lies within ``reach`` of a's box (farther than any rule asks)."""
    lo, hi = a.min(0) - reach, a.max(0) + reach
    near = body[((body >= lo) & (body <= hi)).all(1)]
    if near.size == 0:
        return float("inf")
    return float(((a[:, None, :] - near[None, :, :]) ** 2).sum(-1).min())


def _right_from(body: np.ndarray, top: int, right: int) -> int:
    """The right edge (exclusive) of the digit's outline pixels ``body`` ((N, 2) row, col) in rows ``top`` and below;
    ``right`` (its box's) when it has none there."""
    cols = body[body[:, 0] >= top, 1]
    return min(right, int(cols.max()) + 1) if cols.size else right


def _mark(b: _Blob, box: list[int], gap2: float, body: np.ndarray) -> str | None:
    """What blob ``b`` is beside the digit whose box is ``box`` (left, top, right, bottom) and outline ``body``, ``gap2``
    (squared px) off it: a mark's note, or None (a piece of the digit, or something else)."""
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    if b.flat() and b.w >= UNDER_WIDE * w and b.cy >= bottom - UNDER_LOW * h and b.top >= top + h / 2:
        return UNDERLINE_NOTE
    if (max(b.w, b.h) <= STOP_SIDE * h and b.cx >= _right_from(body, b.top, right) - STOP_RIGHT * w and 2 * b.cx > left + right
            and b.cy >= top + STOP_LOW * h and gap2 > STOP_GAP * STOP_GAP):
        return STOP_NOTE
    if b.left >= right - TICK_OVER * b.w and b.h <= TICK_TALL * h and b.cy >= top + TICK_HIGH * h and gap2 > _square(JOIN_GAP * h):
        return TICK_NOTE
    return None


def mark_blobs(clean: np.ndarray) -> tuple[np.ndarray, dict[int, str], list[int]]:
    """clean ink (H, W) float32 -> (its blobs' labels, {label: note} of the blobs that are marks, the labels of the
    digit's blobs).  The digit grows from its tallest blob that is no line (then the one with most ink, then the first):
    a blob that is no mark beside it (``_mark``) joins it when it lies mostly inside its box, within JOIN_GAP of its
    height, or above its middle and right of its centre within HAT_GAP, and every other blob is judged again against the
    digit so grown.  A straight line at the picture's edge or across it never joins it, and is a ruling line when it
    reaches past it on both sides or out of the picture; a blob at the picture's edge that is neither mark nor digit is a
    neighbouring cell's (``_Blob.neighbour``).  One blob, or more than MARK_BLOBS: nothing is a mark, and no digit is
    named for more than MARK_BLOBS."""
    labels, blobs = _blobs(clean)
    if blobs is None or len(blobs) < 2:
        return labels, {}, [b.label for b in blobs or []]
    h, w = clean.shape
    lines = {b.label for b in blobs if b.straight(h, w)}  # never part of the digit
    seeds = [b for b in blobs if b.label not in lines and not b.flat()]
    if not seeds:
        return labels, {}, [b.label for b in blobs]
    seed = max(seeds, key=lambda b: (b.h, b.ink))  # the tallest (a cross beside a 1 holds as much ink), the first of them
    digit, box = [seed.label], [seed.left, seed.top, seed.right, seed.bottom]
    outlines = {b.label: _outline(b) for b in blobs}
    said: dict[int, str] = {}
    grown = True
    while grown:
        grown = False
        body = np.concatenate([outlines[d] for d in digit])
        for b in blobs:
            if b.label in digit:
                continue
            left, top, right, bottom = box
            gap2 = _gap2(outlines[b.label], body, max(HAT_GAP, NEIGHBOUR_GAP) * (bottom - top) + STOP_GAP)
            note = RULING_NOTE if b.label in lines and b.ruling(box, h, w) else _mark(b, box, gap2, body)
            inside = max(0, min(b.right, right) - max(b.left, left)) * max(0, min(b.bottom, bottom) - max(b.top, top))
            hat = b.cy < (top + bottom) / 2 and b.cx > (left + right) / 2 and gap2 <= _square(HAT_GAP * (bottom - top))
            near = 2 * inside >= b.w * b.h or gap2 <= _square(JOIN_GAP * (bottom - top)) or hat
            if note is None and near and b.label not in lines:
                digit.append(b.label)
                box = [min(left, b.left), min(top, b.top), max(right, b.right), max(bottom, b.bottom)]
                said.pop(b.label, None)
                grown = True
                break
            if note is None and b.neighbour(h, w, gap2, bottom - top):
                note = NEIGHBOUR_NOTE
            if note is None:
                said.pop(b.label, None)
            else:
                said[b.label] = note
    return labels, said, digit


def quadratic_fit(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float]:
    """Least squares y = a x^2 + b x + c through integer xs and half-integer ys -> (a, b, c).  Its sums are exact in
    float64, and the normal equations are solved by Cramer's rule in one order, so web/preprocess.js fits the same."""
    x = xs.astype(np.float64)
    y = ys.astype(np.float64)
    s0, s1, s2, s3, s4 = float(x.size), float(x.sum()), float((x * x).sum()), float((x * x * x).sum()), float((x * x * x * x).sum())
    t0, t1, t2 = float(y.sum()), float((x * y).sum()), float((x * x * y).sum())

    def det(m):
        return (m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]))

    d = det([s4, s3, s2, s3, s2, s1, s2, s1, s0])
    if d == 0:
        return 0.0, 0.0, t0 / s0
    return (det([t2, s3, s2, t1, s2, s1, t0, s1, s0]) / d, det([s4, t2, s2, s3, t1, s1, s2, t0, s0]) / d,
            det([s4, s3, t2, s3, s2, t1, s2, s1, t0]) / d)


def _curve(fit: tuple[float, float, float], x):
    a, b, c = fit
    return (a * x + b) * x + c


def underline_band(ink: np.ndarray) -> np.ndarray | None:
    """A digit's ink (H, W) bool -> the pixels of an underline it touches (bool, same shape), or None.  In each column the
    lowest run of ink; the runs at most twice as thick as their median (the pen's line, where the writing does not join
    it) are fitted by one quadratic curve, those farther than UNDER_TOL px dropped and the curve fitted again; the line is
    the widest stretch of columns near it, gaps of a fifth of the width or twice the line's thickness allowed (where the
    writing joins it), and its band the pixels within half its
    median thickness plus 1 px of the curve.  It is an underline when the writing (the largest blob left above it) is at
    least UNDER_TALL of the ink's height, the line at least UNDER_LONG of the writing's height long and at most
    UNDER_THIN of it thick, its slope at either end at most UNDER_SLOPE (a line reaching UNDER_FAR past the writing on
    both sides may be up to UNDER_FAR_THIN thick or curl up to UNDER_FAR_SLOPE, not both), it reaches past the writing
    on both sides (UNDER_PAST), the ink lies above it, reaching below it by at most RULE_SLIVER of the writing's height, and the writing
    meets it in one place."""
    rows_all, cols_all = np.nonzero(ink)
    if cols_all.size < 10:
        return None
    top0, left0 = int(rows_all.min()), int(cols_all.min())
    m = ink[top0 : rows_all.max() + 1, left0 : cols_all.max() + 1]
    h, w = m.shape
    if h < LINE_MIN or w < LINE_MIN:
        return None
    cols = np.flatnonzero(m.any(0))
    rows = np.arange(h)[:, None]
    bottom = h - 1 - np.argmax(m[::-1], axis=0)  # each column's lowest ink pixel...
    above = np.where(~m & (rows <= bottom), rows, -1).max(0)  # ...and the last paper above its run
    thick = bottom - above
    centre = (bottom + above + 1) / 2
    near = cols[thick[cols] <= max(3.0, 2.0 * float(np.median(thick[cols])))]
    chosen = near
    for _ in range(5):
        if chosen.size < LINE_MIN:
            return None
        fit = quadratic_fit(chosen, centre[chosen])
        closer = near[np.abs(centre[near] - _curve(fit, near.astype(np.float64))) <= UNDER_TOL]
        if np.array_equal(closer, chosen):
            break
        chosen = closer
    if chosen.size < LINE_MIN:
        return None
    breaks = np.flatnonzero(np.diff(chosen) > max(3.0, w / 5, 2 * float(np.median(thick[chosen]))))  # where a stroke joins
    starts, ends = np.r_[0, breaks + 1], np.r_[breaks, chosen.size - 1]
    k = int(np.argmax(chosen[ends] - chosen[starts]))
    x0, x1 = int(chosen[starts[k]]), int(chosen[ends[k]])
    line = chosen[starts[k] : ends[k] + 1]
    span = x1 - x0 + 1
    if span < LINE_MIN or 5 * line.size < 3 * span:
        return None
    fit = quadratic_fit(line, centre[line])
    a, b, _ = fit
    slope = max(abs(2 * a * x0 + b), abs(2 * a * x1 + b))
    if slope > UNDER_FAR_SLOPE:
        return None
    pen = float(np.median(thick[line]))
    half = pen / 2 + 1
    band = np.zeros_like(m)
    band[:, x0 : x1 + 1] = np.abs(rows - _curve(fit, np.arange(x0, x1 + 1, dtype=np.float64))[None]) <= half
    band &= m
    n, parts, stats, _ = cv2.connectedComponentsWithStats((m & ~band).astype(np.uint8), connectivity=8)
    if n < 2:
        return None
    firsts = np.full(n, parts.size)  # each part's first pixel, row by row: of two as large, the first is the writing
    np.minimum.at(firsts, parts.ravel(), np.arange(parts.size))
    largest = min(range(1, n), key=lambda k: (-int(stats[k, cv2.CC_STAT_AREA]), int(firsts[k])))
    wl, wt, ww, wh = (int(v) for v in stats[largest, :4])
    steep, thick_line = slope > UNDER_SLOPE, pen > UNDER_THIN * wh
    far = x0 <= wl - UNDER_FAR * ww and x1 >= wl + ww - 1 + UNDER_FAR * ww
    if (steep or thick_line) and (steep and thick_line or not far):
        return None  # a 2's base or a 3's stroke: a line reaching far past the writing may fail one of the two, not both
    if wh < UNDER_TALL * h or span < UNDER_LONG * wh or pen > UNDER_FAR_THIN * wh:
        return None
    past = max(2.0, UNDER_PAST * ww)
    if x0 > wl - past or x1 < wl + ww - 1 + past:
        return None  # the line does not reach past the writing on both sides
    ys, xs = np.nonzero(parts)
    if float((ys - _curve(fit, xs.astype(np.float64))).max()) > RULE_SLIVER * wh + half:
        return None  # ink reaches below the line: a stroke through the digit, not a line under it
    writing = parts == largest
    touch = np.flatnonzero((cv2.dilate(band.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & writing).any(0))
    if touch.size and (np.diff(touch) > 2).any():
        return None  # the writing meets the line in two places: the bottom of a loop (a 6's, an 8's), not a line under it
    out = np.zeros_like(ink)
    out[top0 : top0 + h, left0 : left0 + w] = band
    return out


def isolate_digit(clean: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Clean ink (H, W) float32 -> (the same without the marks around the digit, one note per kind left out).  The
    marks apart from the digit first (``mark_blobs``); then an underline the digit touches, or that a cross drawn on it
    joins (``underline_band`` on the ink the marks left, the line's faint rim with it), after which the blobs are
    judged once more (the cross stands apart now).
    A picture of one blob with no underline, MNIST's digits among them, comes back as it is."""
    found: set[str] = set()
    for again in (False, True):
        labels, marks, digit = mark_blobs(clean)
        if not digit:
            break  # no ink, or too many blobs to judge
        if marks:
            clean = np.where(np.isin(labels, list(marks)), 0, clean).astype(np.float32)
            found.update(marks.values())
        if again:
            break
        strong = clean > INK_LEVEL
        band = underline_band(strong)
        if band is None:
            break
        rim = cv2.dilate(band.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~strong
        clean = np.where(band | rim, 0, clean).astype(np.float32)
        found.add(UNDERLINE_NOTE)
    return clean, [n for n in MARK_NOTES if n in found]


EDGE_NOTE = "ink touching the picture's edge taken away (a desk, the page's edge or a shadow's rim)"
FRAME_NOTE = "a printed box around the writing taken away (a form's box or comb field)"
RULE_LINE_NOTE = "a printed line under or over the writing taken away (a form's answer line)"


def clean_ink(grey: np.ndarray, inverted: bool, steps: list, specks: bool = True, drawn_on: float | None = None,
              edge: bool = False, line: bool = False) -> tuple[np.ndarray, np.ndarray, float, list[str]]:
    """Work image -> (ink light on dark, ink in [0, 1] on a background of 0, contrast, the notes of what was taken
    away that is not the background: EDGE_NOTE, FRAME_NOTE, RULE_LINE_NOTE, for the caller to say when it keeps this
    reading); two steps recorded.
    ``specks``: drop blobs tiny next to the largest (one digit's dust); a number's reader keeps them
    (digitlab.serving.numbers: a dot can be part of a digit, or a digit of its own).  ``drawn_on``: the tone
    ink drawn on transparency was composited onto (``Picture.drawn_on``): the background's tone, and no photo.
    ``edge``: the background's tone and noise taken from the picture's edge (``edge_background``), no photo: a digit
    cut tight to its ink, whose ink is the median.  ``line``: a number's line (``_drop_border``'s): in a photo, its
    digits at the edge are kept."""
    ink = 1.0 - grey if inverted else grey
    steps.append(("grey, ink light" + (" (inverted)" if inverted else ""), ink.astype(np.float32)))
    level = None if drawn_on is None else (1.0 - drawn_on if inverted else drawn_on)
    floor = None
    if edge and level is None:
        level, floor = edge_background(ink)
    photo = level is None and is_photo(ink)
    clean, contrast = remove_background(ink, photo, level, floor, light_ink=not inverted)
    dropped = []
    for step, wanted, note in ((partial(_drop_border, line=line), photo, EDGE_NOTE),
                               (drop_frame, drawn_on is None, FRAME_NOTE),  # a drawing on a canvas has no printed box
                               (_drop_specks, specks, None),
                               (drop_rule_line, drawn_on is None, RULE_LINE_NOTE),  # nor a printed line
                               (drop_line_under, drawn_on is None, RULE_LINE_NOTE)):  # one the writing touches too
        if wanted:
            kept = step(clean)
            if note and kept is not clean and note not in dropped:
                dropped.append(note)
            clean = kept
    # Keep faint pixels only next to real ink (anti-aliased edges stay, paper grain far away goes) or, in a picture that
    # is not a canvas drawing, where they run on from it at FAINT_RUN or more (a fine pen's faint stroke, however far
    # it reaches from the stroke's darker part; a canvas's brush draws every stroke at full strength).
    strong = clean > INK_LEVEL
    r = max(1, round(min(clean.shape) / 100))
    kept = cv2.dilate(strong.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
    faint = clean > FAINT_RUN
    far = faint & ~kept
    if drawn_on is None and far.any():  # (MNIST's faint pixels are its edges, next to ink: no labelling)
        labels, reaches = blobs_reaching(faint, strong)
        kept[far] = reaches[labels[far]]  # only the far pixels looked up: a 280 px picture's whole gather cost 0.2 ms
    clean = np.where(kept, clean, 0).astype(np.float32)
    steps.append(("background removed", clean))
    return ink, clean, contrast, dropped


def other_polarity(grey: np.ndarray, inverted: bool, steps: list, notes: list[str], specks: bool = True,
                   drawn_on: float | None = None, line: bool = False) -> tuple | None:
    """No ink with the polarity ``ink_is_dark`` chose: read the picture with the other one -> (inverted, ink, clean,
    contrast) when that finds ink, its two steps replacing the first reading's (the last two of ``steps``) and a
    note said; None otherwise.  A marker's strokes filling a tight crop are not thin next to the picture (the
    polarity rule's window is a twelfth of its side), so the paper between them can look like the ink; read
    that way the strokes are the background and nothing is left.  Blank and flat pictures find no ink
    either way and keep the first reading.  ``specks``, ``drawn_on`` and ``line`` as ``clean_ink``."""
    if float(np.ptp(grey)) < MIN_CONTRAST:
        return None
    again: list = []
    ink, clean, contrast, dropped = clean_ink(grey, not inverted, again, specks, drawn_on, line=line)
    if not has_ink(clean, contrast):
        return None
    steps[-2:] = again
    notes += [_polarity_note(inverted), *dropped]
    return not inverted, ink, clean, contrast


def _polarity_note(inverted: bool) -> str:
    """No ink found with ``inverted``, so the picture is read the other way round."""
    dark, light = "dark ink on a light background", "light ink on a dark background"
    return f"no ink found as {dark if inverted else light}: read as {light if inverted else dark} instead"


def cut_tight(grey: np.ndarray, inverted: bool, steps: list, notes: list[str], specks: bool = True,
              both: bool = False) -> tuple | None:
    """No ink found against the picture's median: read it again with the background taken from its edge (``clean_ink``'s
    ``edge``) -> (inverted, ink, clean, contrast) when that finds ink, its two steps replacing the first reading's and a
    note said; None otherwise.  A digit cut tight to its ink (a postal code's digit size-normalised into a small square, a
    form's field) covers half the picture or more, so the median is ink and nothing stands above the noise floor;
    its edge is still mostly paper.  ``both`` (the ink "auto"): when that finds nothing, the other polarity too, with
    ``other_polarity``'s note: a bold digit filling a scan cut close leaves thin paper between its strokes, which the
    polarity rule can take for the ink.  A flat picture, blank or covered in ink, has no ink either way."""
    for flip in (False, True) if both else (False,):
        again: list = []
        ink, clean, contrast, dropped = clean_ink(grey, inverted != flip, again, specks, edge=True)
        if has_ink(clean, contrast):
            steps[-2:] = again
            if flip:
                notes.append(_polarity_note(inverted))
            notes.append("its ink covers most of the picture (cut tight to the digit): the background taken from its edge")
            notes += dropped
            return inverted != flip, ink, clean, contrast
    return None


def find_ink(grey: np.ndarray, inverted: bool, invert: Invert, steps: list, notes: list[str], specks: bool = True,
             drawn_on: float | None = None, line: bool = False) -> tuple | None:
    """The first reading (``clean_ink`` with ``inverted``) found no ink: the fallbacks, in order -> (inverted, ink, clean,
    contrast) of the first that finds ink, else None.  For ``invert`` "auto" the other polarity (``other_polarity``);
    then, unless the picture is a drawing on a canvas of tone ``drawn_on``, the background from its edge
    (``cut_tight``, both polarities for "auto").  The single-digit path and a number's (``serving.numbers``) share it;
    ``specks`` and ``line`` as ``clean_ink``."""
    if invert == "auto":
        other = other_polarity(grey, inverted, steps, notes, specks, drawn_on, line)
        if other is not None:
            return other
    if drawn_on is not None:
        return None
    return cut_tight(grey, inverted, steps, notes, specks, both=invert == "auto")


def ink_pixels(clean: np.ndarray) -> int:
    return int((clean > 0.5).sum())


def has_ink(clean: np.ndarray, contrast: float) -> bool:
    """Enough contrast and enough ink pixels (``clean_ink``'s result) for a digit to be there."""
    return contrast >= MIN_CONTRAST and ink_pixels(clean) >= max(3, MIN_INK_FRACTION * clean.size)


def _ink_box(clean: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, left, height, width) of the pixels above 0, or None."""
    rows = np.flatnonzero(clean.max(axis=1) > 0)
    cols = np.flatnonzero(clean.max(axis=0) > 0)
    if rows.size == 0:
        return None
    top, left = int(rows[0]), int(cols[0])
    return top, left, int(rows[-1]) - top + 1, int(cols[-1]) - left + 1


def _read_again(picture: Picture, box: tuple[int, int, int, int], work: tuple[int, int], inverted: bool,
                notes: list[str]) -> tuple[list, np.ndarray, np.ndarray, float, list[str]] | None:
    """A small digit's surroundings read again from ``picture`` at a higher resolution: the ink ``box``
    (top, left, height, width in the work image of shape ``work``) grown by its longer side all round,
    read as sharp as pictures.Picture.region allows, shrunk to WORK_SIDE, and cleaned with the polarity
    the whole picture gave.  -> (steps, ink, clean, contrast, what was taken away: ``clean_ink``'s notes), or None when
    the region cannot be read."""
    top, left, bh, bw = box
    (h, w), (pw, ph), m = work, picture.size, max(bh, bw)
    r0, c0, r1, c1 = max(0, top - m), max(0, left - m), min(h, top + bh + m), min(w, left + bw + m)
    region = picture.region((r0 * ph // h, c0 * pw // w, -(-r1 * ph // h), -(-c1 * pw // w)))  # outward, at full size
    if region is None:
        return None
    gh, gw = region.grey.shape
    notes.append(f"small ink ({bw}x{bh} px of {w}x{h}): the region around it read again at {gw}x{gh} from the {pw}x{ph} picture")
    grey, preview = work_size(region.grey, region.preview, notes)
    steps: list[tuple[str, np.ndarray]] = [("region around the ink, read again", preview)]
    return steps, *clean_ink(grey, inverted, steps, drawn_on=region.drawn_on)


def paper_shift(colour: np.ndarray, clean: np.ndarray) -> float:
    """How far in colour the paper between the strokes is from the paper around them: the CIELAB chroma (a*, b*)
    distance between the medians of two bands of non-ink 1-4 hundredths of the picture's side from the ink, one
    inside the ink's convex hull and one outside it.  A pen's strokes enclose the paper they are written on (0 to
    3, whatever the paper's colour); a drawn face's outline encloses skin, an emoji's circle its yellow.  Lightness
    is left out, so a shadow falling across the digit does not count.  colour: the (H, W, 3) uint8 RGB picture
    ``clean`` was made from (None: no colour known); 0.0 when there is too little paper inside the hull to judge (a 1, a 7)."""
    if colour is None or colour.ndim != 3 or colour.shape[:2] != clean.shape:
        return 0.0
    if (colour[..., 0] == colour[..., 1]).all() and (colour[..., 1] == colour[..., 2]).all():
        return 0.0  # no colour at all (a canvas, a grey scan, an MNIST array): no chroma to differ, and no time spent
    ink = (clean > INK_LEVEL).astype(np.uint8)
    box = _ink_box(ink)
    if box is None:
        return 0.0
    r = max(1, round(min(clean.shape) / 100))
    hull = np.zeros(clean.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero(ink)), 1)
    gap = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    near = cv2.dilate(ink, np.ones((8 * r + 1, 8 * r + 1), np.uint8)).astype(bool) & ~cv2.dilate(ink, gap).astype(bool)
    inside, outside = near & hull.astype(bool), near & ~cv2.dilate(hull, gap).astype(bool)
    if inside.sum() < max(10, 0.02 * box[2] * box[3]) or outside.sum() < 10:
        return 0.0
    def chroma(where: np.ndarray) -> np.ndarray:  # the median (a*, b*) of those pixels
        return np.median(cv2.cvtColor(colour[where][None].astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[0, :, 1:], axis=0)

    return float(np.linalg.norm(chroma(inside) - chroma(outside)))


BLANK_DRAWING = "no digit found: nothing is drawn (every pixel is the background's tone): draw one digit"


def prepare(source, invert: Invert = "auto", stroke: bool | None = None, drawn_on: float | None = None) -> Prepared:
    """Any picture of one digit -> ``Prepared`` (28x28 float32 model input, or no_ink).

    invert: "auto" detects dark-ink-on-light; "yes" forces inversion (dark ink on
    light paper); "no" takes the picture as light ink on dark.
    stroke: normalise the stroke width into MNIST's range (None: the default, NORMALISE_STROKE).
    drawn_on: the picture is a drawing on a canvas of this plain tone (1.0 white, 0.0 black), as the app's canvases
    hand over theirs: every pixel off that tone is ink, so the ink's polarity (with invert "auto"), the background's
    level and "no photo" are known, however much of the canvas the strokes cover (None: found out, as for any picture).
    Raises ImageError for inputs that are not readable pictures.
    """
    if invert not in ("auto", "yes", "no"):
        raise ValueError(f"invert must be 'auto', 'yes' or 'no', not {invert!r}")
    picture = load(source, drawn_on)
    notes = picture.notes
    invert = file_ink(picture, invert)
    grey, preview = work_size(picture.grey, picture.preview, notes)
    steps: list[tuple[str, np.ndarray]] = [("input", preview)]
    inverted = ink_polarity(grey, invert, picture.drawn_on)
    ink, clean, contrast, dropped = clean_ink(grey, inverted, steps, drawn_on=picture.drawn_on)
    box, zoomed, colour = _ink_box(clean), False, preview
    # A digit a few percent of a large photo's width is ~20 px with ~1 px strokes once shrunk to WORK_SIDE:
    # its shape is lost before it is cropped.  The pixels are in the picture: read its surroundings again.
    if (box is not None and contrast >= MIN_CONTRAST and MIN_SIDE <= max(box[2:]) < SMALL_INK * WORK_SIDE
            and max(picture.size) >= ZOOM_GAIN * max(grey.shape)):
        again = _read_again(picture, box, grey.shape, inverted, notes)
        if again is not None and has_ink(again[2], again[3]):
            region_steps, ink, clean, contrast, dropped = again
            steps += region_steps
            zoomed, colour = True, region_steps[0][1]
        elif again is not None:
            notes.append("no ink in the region read again: the first reading kept")
    if has_ink(clean, contrast):  # (a region read again always has ink)
        notes += dropped  # a fallback below says what its own reading took away
    else:
        found = find_ink(grey, inverted, invert, steps, notes, drawn_on=picture.drawn_on)
        if found is not None:
            inverted, ink, clean, contrast = found
        else:
            notes += dropped  # what the reading kept took away, before its "no ink"
    if not has_ink(clean, contrast):
        if float(np.median(ink)) > 0.5:  # a canvas covered in ink, or blank paper taken as ink
            notes.append("no digit found: the picture is one flat tone (covered in ink, or blank): draw one digit with space around it")
        elif picture.drawn_on is not None and float(ink.max()) == 0:  # a drawing with not one pixel off its background
            notes.append(BLANK_DRAWING)
        else:
            notes.append(f"no ink found (contrast {contrast:.2f}, {ink_pixels(clean)} ink pixels)")
        return Prepared(None, True, inverted, steps, notes)
    if picture.drawn_on is None:  # a drawing on a canvas holds what was drawn, not a page's marks
        isolated, said = isolate_digit(clean)
        if said:
            clean = isolated
            notes += said
            steps.append(("marks around the digit left out", clean))
    top, left, bh, bw = _ink_box(clean)
    shift = paper_shift(colour, clean)
    refusal = None
    if shift > PAPER_SHIFT_LIMIT:
        refusal = (f"what its strokes enclose is not the paper around them: a colour shift of {shift:.0f}, over the "
                   f"limit of {PAPER_SHIFT_LIMIT:.0f}, so a picture, such as a face, not a written digit")
        notes.append(refusal)
    crop = clean[top : top + bh, left : left + bw]
    steps.append(("cropped to ink", crop))
    if NORMALISE_STROKE if stroke is None else stroke:
        thick = thicken_hairline(crop)
        if thick is not crop:
            notes.append(HAIRLINE_NOTE)
            crop = thick
            steps.append(("hairline thickened", crop))
        crop, before, after = normalise_stroke(crop)
        if after != before:
            notes.append(f"stroke width {before:.1f} px -> {after:.1f} px (MNIST: {STROKE_BAND[0]}-{STROKE_BAND[1]})")
            steps.append(("stroke width normalised", crop))
    digit = fit_box(crop)
    steps.append((f"fitted into {BOX}x{BOX}", digit))
    image = paste_centred(digit)
    steps.append((f"{SIZE}x{SIZE}, centre of mass at centre", image))
    if float(image.max()) < INK_LEVEL:  # specks scattered over a wide box fade away when it is shrunk: no stroke
        # (blank paper's grain in a photo came out at 0.12; every real digit measured >= 0.77)
        notes.append(f"no digit found: the ink is scattered specks, not strokes (brightest {image.max():.2f} once fitted)")
        return Prepared(None, True, inverted, steps, notes)
    return Prepared(image, False, inverted, steps, notes, box if zoomed else (top, left, bh, bw), shift, refusal)


def prepare_batch(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 MNIST-style arrays -> (N, 28, 28) float32 model inputs via ``prepare``.

    Used by training and evaluation so MNIST goes through the very same recipe as
    drawings.  A blank image (none in MNIST) stays blank.
    """
    out = np.zeros(images.shape, np.float32)
    for i, img in enumerate(images):
        p = prepare(img, invert="no")
        if p.image is not None:
            out[i] = p.image
    return out


# ----------------------------------------------------------------------------- MNIST-likeness


def stroke_width(img: np.ndarray) -> float:
    """Mean stroke width in px: twice the ink area over the outline length (a thin stroke of
    length L and width w has area L*w and outline ~2L)."""
    mask = (img > 0.5).astype(np.uint8)
    if not mask.any():
        return 0.0
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return float(2 * mask.sum() / max(perimeter, 1.0))


def shape_stats(img: np.ndarray) -> dict[str, float]:
    """How an (28, 28) input compares with MNIST: box size, centring, stroke width, ink."""
    rows = np.flatnonzero(img.max(axis=1) > 0.1)
    cols = np.flatnonzero(img.max(axis=0) > 0.1)
    if rows.size == 0:
        return {"box_height": 0.0, "box_width": 0.0, "centre_offset": 0.0, "stroke_width": 0.0, "ink": 0.0}
    cy, cx = centre_of_mass(img)
    return {
        "box_height": float(rows[-1] - rows[0] + 1),
        "box_width": float(cols[-1] - cols[0] + 1),
        "centre_offset": float(np.hypot(cy - CENTRE, cx - CENTRE)),
        "stroke_width": stroke_width(img),
        "ink": float(img.mean()),
    }


def reference_stats(images: np.ndarray) -> dict[str, dict[str, float]]:
    """Median and 5-95% range of ``shape_stats`` over MNIST-style float images (N, 28, 28)."""
    table = [shape_stats(im) for im in images]
    out = {}
    for key in table[0]:
        v = np.array([t[key] for t in table])
        out[key] = {"median": float(np.median(v)), "p5": float(np.percentile(v, 5)), "p95": float(np.percentile(v, 95))}
    return out
