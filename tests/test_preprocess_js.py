"""web/preprocess.js against digitlab.preprocess.prepare under Node: same pixels in, same 28x28 out.

    python -m pytest -q tests/test_preprocess_js.py     (MNIST from $DIGITLAB_MNIST, see tests/conftest.py)

The browser suite (tests/browser/test_web_page.py) compares the port on what a page produces; this
file reaches every branch of the recipe without a browser, with one canvas picture per branch made
from real MNIST test digits: no ink (blank, too faint, too small), a large picture shrunk first,
uneven paper (top-hat), specks, thin pen and fat brush (dilation, erosion), a hairline, both polarities found
automatically or forced, transparency over either colour and paper cut out on transparency, a small
digit in a large photo (the region around it read again), and the two size limits.  The same RGBA
bytes go through `node web/prepare_cli.mjs` (one run for these) and through ``prepare``; every
step image, the 28x28 result, the flags and the notes must agree, and each picture must still take
the branch it is there for.  The tunable constants are compared one by one.  One known difference
is kept as a case that must keep failing until it is fixed (AREA_ULP below).

Uploads (FILES): picture files -- an 800x600 page half in shadow, larger ones whose reduction
has edge blocks, generated photos with shadows, desk corners and a 3000x4000 phone photo, PNGs that say
they are Collect drawings or how their ink is (kept on Home with the Ink set by hand) -- decoded at
their own size as a browser decodes them, through the port's ``prepareDecoded``, against ``prepare``
reading the file's bytes, as the app and the CLI do (a node run of their own, in the full suite: -m slow).

Skips without `node`, unless DIGITLAB_REQUIRE_BROWSER=1 (CI), where that is a failure.
"""

from __future__ import annotations

import functools
import io
import json
import re
import shutil
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from browser._support import require  # the browser tests' skip-or-fail rule (tests/ is on pytest's pythonpath)
from support import (
    FAINT_ZEROS,
    FAR_FAINT_ZEROS,
    FAR_UNDERLINES,
    SLANTED_1_STOP,
    clerk_page,
    clerk_strokes,
    cut_tight_square,
    drawn_face,
    form_box_page,
    form_line_page,
    on_canvas,
    scanned_close,
)

from digitlab import files, preprocess
from digitlab.data import mnist, nondigits, parish, synthetic
from digitlab.paths import ROOT
from digitlab.preprocess import EDGE_NOTE, FRAME_NOTE, RULE_LINE_NOTE

WEB = ROOT / "web"
CLI = WEB / "prepare_cli.mjs"
# The bounds of tests/browser/test_web_page.py: float32 rounding and nothing more (~2e-7 measured there).
MAX_PIXEL_DIFF, MEAN_PIXEL_DIFF = 1e-5, 1e-6
CANVAS = 280  # the app's canvas side
SPECKS = [(20, 255), (255, 20), (255, 255)]  # (row, col) of 3x3 dust dots, off the digit and the canvas' edge
# Python constants the port has no use for: it never decodes files (the page hands over canvas bytes).
NOT_PORTED = {"IMAGE_SUFFIXES", "LINE_EDGE_HEIGHT", "LINE_EDGE_WIDTH"}  # the last two: the Numbers path's, not on the page
# The paper check's chroma distance: the port fills the convex hull and converts to CIELAB in its own code (OpenCV's
# float conversion interpolates its gamma table), and shrinks the colours in float where Python shrinks uint8.
PAPER_SHIFT_DIFF = 1.0


# ----------------------------------------------------------------------------- pictures


def _up(digit: np.ndarray, side: int) -> np.ndarray:
    """(28, 28) uint8 MNIST digit -> (side, side) uint8, light ink on black, anti-aliased edges."""
    return cv2.resize(digit, (side, side), interpolation=cv2.INTER_LINEAR)


def _canvas(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit as drawn on the app's canvas: (CANVAS, CANVAS) uint8, light ink on black,
    a margin all round (MNIST digits can touch their 28 px frame, which would make the edge uneven)."""
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    canvas[40:240, 40:240] = _up(digit, 200)
    return canvas


def _opaque(grey: np.ndarray) -> np.ndarray:
    """(H, W) uint8 -> (H, W, 4) uint8 RGBA, fully opaque."""
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])


def _on_coloured_paper(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit in dark blue ink on pale green paper, 280x280 RGBA: the paper check sees paper inside and out."""
    ink = cv2.resize(digit, (CANVAS, CANVAS), interpolation=cv2.INTER_LINEAR).astype(np.float32)[..., None] / 255
    rgb = (1 - ink) * np.array([205, 228, 180], np.float32) + ink * np.array([30, 40, 120], np.float32)
    return np.dstack([rgb.round().astype(np.uint8), np.full((CANVAS, CANVAS), 255, np.uint8)])


def _hairline(x: np.ndarray) -> np.ndarray:
    """A real MNIST digit drawn with a 1-px pen on a 400x400 picture (the work size: nothing shrinks it first): its
    Zhang-Suen skeleton, white on black.  Shrunk to the stroke normalisation's 80 px, it would fade into the paper."""
    from digitlab.data.handwriting_test import zhang_suen

    big = np.zeros((400, 400), np.uint8)
    big[40:360, 40:360] = cv2.resize(x[16], (320, 320), interpolation=cv2.INTER_LINEAR)
    return _opaque(zhang_suen(big > 127).astype(np.uint8) * 255)


def _coloured_ink(alpha: np.ndarray, rgb: int) -> np.ndarray:
    """Ink of one colour whose coverage is the alpha channel, on a transparent canvas."""
    return np.dstack([np.full_like(alpha, rgb)] * 3 + [alpha])


def _photo(x: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(synthetic.photo(x[7], seed=7))).convert("RGBA"))


def _big(x: np.ndarray, dark: bool) -> np.ndarray:
    """A 700x525 picture (larger than WORK_SIDE), light ink on black or dark ink on white."""
    grey = np.zeros((525, 700), np.uint8)
    grey[60:480, 150:570] = _up(x[8], 420)
    return _opaque(255 - grey if dark else grey)


def _small_in_big(x: np.ndarray) -> np.ndarray:
    """A 1000x800 photo (light falling off across the page) with a dark digit 70 px tall: ~28 px once
    shrunk to 400x320, small enough that the region around it is read again at the picture's size."""
    yy, xx = np.mgrid[0:800, 0:1000].astype(np.float32)
    paper = 0.85 - 0.1 * xx / 1000 - 0.05 * yy / 800
    ink = np.zeros((800, 1000), np.float32)
    ink[500:570, 300:370] = cv2.resize(x[15], (70, 70), interpolation=cv2.INTER_LINEAR) / 255
    noise = np.random.default_rng(15).normal(0, 0.02, ink.shape)  # a camera's: paper is never one flat tone
    grey = np.clip((paper * (1 - 0.75 * ink) + noise) * 255, 0, 255).astype(np.uint8)
    return _opaque(grey)


def _cut_out(x: np.ndarray) -> np.ndarray:
    """Paper with a dark digit cut out inside a transparent rounded margin that hides black (defect 8)."""
    from digitlab.hardening import hostile_pictures

    paper = np.full((200, 200), 235, np.uint8)
    paper[40:160, 40:160] = 235 - cv2.resize(x[16], (120, 120), interpolation=cv2.INTER_LINEAR).astype(np.int32) * 200 // 255
    return hostile_pictures.cutout(paper, np.random.default_rng(16), hidden=0)


def _small(x: np.ndarray) -> np.ndarray:
    """A digit about 10 px tall on a 120 px canvas: its crop is enlarged to the 20 px box (bilinear)."""
    canvas = np.zeros((120, 120), np.uint8)
    canvas[40:54, 60:74] = cv2.resize(x[9], (14, 14), interpolation=cv2.INTER_AREA)
    return _opaque(canvas)


def _specks(x: np.ndarray) -> np.ndarray:
    """A canvas digit with 3x3 dots of dust at SPECKS."""
    grey = _canvas(x[10])
    for r, c in SPECKS:
        grey[r - 1 : r + 2, c - 1 : c + 2] = 255
    return _opaque(grey)


def _faint(x: np.ndarray, rise: int) -> np.ndarray:
    """Grey paper (100) with the digit ``rise`` grey levels lighter at most: contrast ~ rise / 255."""
    return _opaque((100 + _canvas(x[13]).astype(np.uint16) * rise // 255).astype(np.uint8))


def five_at_the_edge() -> np.ndarray:
    """A 5 drawn on the canvas (black ink on transparency) whose top bar, a stroke of its own, runs along the
    canvas's top edge: a drawing that reaches the edge, not a photo (1.3 took it for one and dropped the bar)."""
    alpha = np.zeros((CANVAS, CANVAS), np.uint8)
    cv2.line(alpha, (100, 8), (210, 8), 255, 16, cv2.LINE_AA)
    bowl = [(int(140 + 60 * np.cos(t)), int(180 + 60 * np.sin(t))) for t in np.linspace(-2.2, 2.6, 20)]
    cv2.polylines(alpha, [np.array([(95, 30), (90, 120), *bowl], np.int32)], False, 255, 16, cv2.LINE_AA)
    return _coloured_ink(alpha, 0)


def _edge_kept(py: preprocess.Prepared) -> bool:
    """Every stroke kept: the ink touching the edge is still there once the background is removed."""
    clean = _step(py, "background removed")
    return not py.no_ink and not _top_hat(py) and (clean[0] > preprocess.INK_LEVEL).sum() > 50


def _dot(side: int) -> np.ndarray:
    """A white side x side dot in the middle of a black canvas, at full contrast."""
    grey = np.zeros((CANVAS, CANVAS), np.uint8)
    grey[140 : 140 + side, 140 : 140 + side] = 255
    return _opaque(grey)


# ----------------------------------------------------------------------------- what Python did


def _step(py: preprocess.Prepared, title: str) -> np.ndarray:
    return next(a for t, a in py.steps if t.startswith(title))


def _stroke(py: preprocess.Prepared) -> tuple[float, float] | None:
    """(width before, width after) from the stroke note, or None when the width was left alone."""
    for note in py.notes:
        if m := re.match(r"stroke width ([\d.]+) px -> ([\d.]+) px", note):
            return float(m.group(1)), float(m.group(2))
    return None


def _contrast(py: preprocess.Prepared) -> float:
    """The ink's contrast above the background, as prepare measured it (the note shows it rounded)."""
    return preprocess.remove_background(_step(py, "grey, ink light"))[1]


def _top_hat(py: preprocess.Prepared) -> bool:
    """remove_background's own test for uneven paper, on the light-ink image it was given."""
    return preprocess.is_photo(_step(py, "grey, ink light"))


def _plain(py: preprocess.Prepared) -> bool:
    return not py.no_ink and not py.notes and not _top_hat(py)


def _specks_dropped(py: preprocess.Prepared) -> bool:
    ink, clean = _step(py, "grey, ink light"), _step(py, "background removed")
    return all(ink[r, c] > preprocess.INK_LEVEL and clean[r - 1 : r + 2, c - 1 : c + 2].max() == 0 for r, c in SPECKS)


def _too_few_pixels(py: preprocess.Prepared) -> bool:
    clean = _step(py, "background removed")
    few = (clean > 0.5).sum() < max(3, preprocess.MIN_INK_FRACTION * clean.size)
    return py.no_ink and few and _contrast(py) >= preprocess.MIN_CONTRAST


def _too_faint(py: preprocess.Prepared) -> bool:
    return py.no_ink and _contrast(py) < preprocess.MIN_CONTRAST


def _dilated(py: preprocess.Prepared) -> bool:
    widths = _stroke(py)
    return widths is not None and widths[0] < preprocess.STROKE_BAND[0] and widths[1] > widths[0]


def _eroded(py: preprocess.Prepared) -> bool:
    widths = _stroke(py)
    return widths is not None and widths[0] > preprocess.STROKE_BAND[1] and widths[1] < widths[0]


def _shrunk(py: preprocess.Prepared) -> bool:
    return any(n.startswith("shrunk from 700x525 to 400x300") for n in py.notes)


def _case_photo(case: str, digit: np.ndarray, seed: int) -> np.ndarray:
    """A generated photo (digitlab.data.photo_cases) decoded to RGBA, as the page would get it."""
    from digitlab.data import photo_cases

    rgb = cv2.imdecode(np.frombuffer(photo_cases.make(case, digit, seed), np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _shadow_read(py: preprocess.Prepared) -> bool:
    """Dark ink found on a half-shadowed page whose border's median tone is the shadow's (1.1 read it as light ink)."""
    grey = py.steps[0][1].astype(np.float32).mean(axis=-1) / 255 if py.steps[0][1].ndim == 3 else py.steps[0][1]
    smooth = cv2.medianBlur((grey * 255).astype(np.uint8), 3).astype(np.float32) / 255
    bg = float(np.median(preprocess._border(smooth)))
    border_rule_says_dark = (bg - smooth.min()) > (smooth.max() - bg)
    return py.inverted and not py.no_ink and not border_rule_says_dark


def _edge_dropped(py: preprocess.Prepared) -> bool:
    """The desk's rim touched the edge and was dropped; the digit, away from the edge, kept."""
    clean = _step(py, "background removed")
    before = preprocess.remove_background(_step(py, "grey, ink light"))[0]
    edge = np.zeros_like(clean, bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    return (not py.no_ink and (before[edge] > preprocess.INK_LEVEL).any() and not (clean[edge] > 0).any()
            and EDGE_NOTE in py.notes)


def _composited(py: preprocess.Prepared) -> bool:
    return "transparent background composited" in py.notes


def _on_its_own_tone(py: preprocess.Prepared) -> bool:
    """The transparent margin took the paper's tone (pictures._background's paper rule): after inversion
    the corner is paper, not the ink the strokes rule (black under dark ink) would make of it."""
    return _composited(py) and py.inverted and not py.no_ink and _step(py, "grey, ink light")[0, 0] < 0.5


def _marks(py: preprocess.Prepared) -> list[str]:
    """The marks around the digit the path left out, as its notes name them."""
    return [n for n in py.notes if n in preprocess.MARK_NOTES]


def _read_again(py: preprocess.Prepared) -> bool:
    return not py.no_ink and any(t.startswith("region around the ink") for t, _ in py.steps) and max(py.bbox[2:]) < preprocess.SMALL_INK * preprocess.WORK_SIDE


# ----------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    name: str
    picture: Callable[[np.ndarray], np.ndarray]  # MNIST test images (N, 28, 28) uint8 -> RGBA (H, W, 4) uint8
    reaches: Callable[[preprocess.Prepared], bool]  # Python took the branch this picture is there for
    invert: str = "auto"
    known: str = ""  # a known difference between the port and Python: the case must fail until it is fixed
    drawn_on: float | None = None  # a drawing on a canvas of that tone, as the page says of its own (prepare's drawn_on)


def _blank_paper(seed: int = 0) -> np.ndarray:
    """300x400 light paper lit from one side, with grain and sensor noise, and nothing written on it (the
    work size: no shrinking, whose float32 rounding the port does not copy, see AREA_ULP)."""
    rng = np.random.default_rng(seed)
    light = np.linspace(198, 236, 400)[None, :] + np.linspace(-6, 6, 300)[:, None]
    return (light + rng.normal(0, 2.5, (300, 400))).clip(0, 255).astype(np.uint8)


def _peppered(grey: np.ndarray, n: int = 60, tone: int = 150) -> np.ndarray:
    """``grey`` with ``n`` single dark pixels of ``tone`` scattered over it (a scanner's dust, a sensor's dead pixels)."""
    rng = np.random.default_rng(1)
    out = grey.copy()
    out[rng.integers(5, grey.shape[0] - 5, n), rng.integers(5, grey.shape[1] - 5, n)] = tone
    return out


def _line_in_pieces(digit: np.ndarray) -> np.ndarray:
    """A 1-px form's line under ``digit`` with two gaps, as a thin line comes out of a JPEG."""
    page = form_line_page(digit, width=1)
    page[:, 60:64] = 232
    page[:, 300:303] = 232
    return page


def _fat_square() -> np.ndarray:
    """A 0 drawn as a square with an 8 px pen on a 200 px page, a little askew (a symmetric one puts its centre of mass
    on a half pixel, where float32 and float64 sums round the paste apart): its sides are wider than a frame's band,
    which cuts them where they tilt (1.9 measured them within the band and took the square for a box)."""
    page = np.full((200, 200), 232, np.uint8)
    cv2.polylines(page, [np.array([(60, 41), (142, 43), (139, 160), (58, 158)], np.int32)], True, 40, 8)
    return page


def _jpeg_pixels(grey: np.ndarray, quality: int | None = None) -> np.ndarray:
    """``grey`` (a picture, or a JPEG's bytes when quality is None) -> the grey pixels OpenCV decodes from its JPEG."""
    data = grey if quality is None else cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)


TIGHT_NOTE = "its ink covers most of the picture (cut tight to the digit): the background taken from its edge"


# cv2.resize(INTER_AREA) at a non-integer factor sums in float32 (all-white paper comes out 1.0000001),
# resizeArea in preprocess.js in float64 (exactly 1.0).  After inversion the paper's median can land
# one ulp below 0, every paper pixel is then "ink" at ~1e-7 for the crop's `clean > 0`, and the crop
# takes a column more or less: max |diff| 0.10 on the 28x28.  The page never shrinks (its canvas is
# 280 px), but the port is meant to match on any picture.
AREA_ULP = "web/preprocess.js resizeArea is not float32-exact like cv2.resize INTER_AREA; the crop's `clean > 0` amplifies it"

CASES = [
    Case("light ink on dark", lambda x: _opaque(_canvas(x[0])), lambda p: not p.inverted and _plain(p)),
    Case("dark ink on light", lambda x: _opaque(255 - _canvas(x[1])), lambda p: p.inverted and _plain(p)),
    Case("dark ink on light, invert=yes", lambda x: _opaque(255 - _canvas(x[2])), lambda p: p.inverted and _plain(p), "yes"),
    Case("28x28 MNIST, invert=no (prepare_batch)", lambda x: _opaque(x[3]), lambda p: not p.inverted and max(p.bbox[2:]) < preprocess.WORK_BOX, "no"),
    Case("small digit: enlarged to the box", _small, lambda p: not p.no_ink and max(p.bbox[2:]) < preprocess.BOX),
    Case("700x525 light ink: shrunk first", lambda x: _big(x, dark=False), lambda p: not p.inverted and _shrunk(p)),
    Case("700x525 dark ink on white: shrunk first", lambda x: _big(x, dark=True), lambda p: p.inverted and _shrunk(p), known=AREA_ULP),
    Case("phone photo: uneven paper", _photo, lambda p: p.inverted and not p.no_ink and _top_hat(p)),
    Case("half-shadowed photo: the ink's tone from thin departures", lambda x: _case_photo("half_shadow", x[13], 11), _shadow_read),
    Case("a drawing reaching the canvas's edge: its stroke apart kept", lambda x: five_at_the_edge(), _edge_kept),
    Case("photo with a desk corner: edge blobs dropped", lambda x: _case_photo("desk_corner", x[14], 2), _edge_dropped),
    Case("a marker filling a tight crop: read with the other polarity", lambda x: _case_photo("marker", x[1], 1),
         lambda p: p.inverted and not p.no_ink and any(n.startswith("no ink found as light ink") for n in p.notes)),
    Case("a bold 0 cut tight to its ink, light on dark: the background from the edge", lambda x: _opaque(cut_tight_square(x[25], 40)),
         lambda p: not p.no_ink and not p.inverted and TIGHT_NOTE in p.notes),
    Case("the same dark on light", lambda x: _opaque(255 - cut_tight_square(x[71], 40)), lambda p: not p.no_ink and p.inverted and TIGHT_NOTE in p.notes),
    Case("a bold 0 scanned close (a JPEG's pixels): its paper read as the ink, the edge's background in the other polarity",
         lambda x: _opaque(cv2.imdecode(np.frombuffer(scanned_close(x[3], 120, 3), np.uint8), cv2.IMREAD_GRAYSCALE)),
         lambda p: not p.no_ink and p.inverted and TIGHT_NOTE in p.notes and any(n.startswith("no ink found as light ink") for n in p.notes)),
    Case("specks", _specks, lambda p: not p.no_ink and _specks_dropped(p)),
    Case("thin pen: dilated", lambda x: synthetic.restroke(x[1], 0.04, seed=1), _dilated),
    Case("a 1-px pen on a 400-px picture: the hairline thickened before it is shrunk", _hairline,
         lambda p: not p.no_ink and preprocess.HAIRLINE_NOTE in p.notes and _dilated(p)),
    Case("fat brush: eroded", lambda x: synthetic.restroke(x[0], 0.3, seed=0), _eroded),
    Case("a fat brush covering most of the canvas: the opaque pixels are the ink", lambda x: synthetic.restroke(x[10], 0.3, seed=10),
         lambda p: not p.no_ink and not p.inverted and float(np.median(_step(p, "grey, ink light"))) > 0.5),
    Case("the same in black ink: its polarity from the transparency", lambda x: _coloured_ink(synthetic.restroke(x[10], 0.3, seed=10)[..., 3], 0),
         lambda p: not p.no_ink and p.inverted and float(np.median(_step(p, "grey, ink light"))) > 0.5),
    Case("the same on the page's opaque white canvas, told it is a drawing: every pixel off the paper is ink",
         lambda x: _opaque(255 - synthetic.restroke(x[10], 0.3, seed=10)[..., 3]),
         lambda p: not p.no_ink and p.inverted and float(np.median(_step(p, "grey, ink light"))) > 0.5, drawn_on=1.0),
    Case("white strokes on an opaque black canvas, told it is a drawing, the ink found by itself",
         lambda x: _opaque(synthetic.restroke(x[10], 0.3, seed=10)[..., 3]),
         lambda p: not p.no_ink and not p.inverted and float(np.median(_step(p, "grey, ink light"))) > 0.5, drawn_on=0.0),
    Case("faint coverage everywhere: no drawing, its background estimated",
         lambda x: nondigits.as_picture_canvas(nondigits.noise(np.random.default_rng(4), "paper")),
         lambda p: "transparent background composited" in p.notes and float(np.median(_step(p, "grey, ink light"))) > 0.02),
    Case("white ink on transparency", lambda x: _coloured_ink(_canvas(x[11]), 255), lambda p: not p.inverted and _composited(p)),
    Case("black ink on transparency", lambda x: _coloured_ink(_canvas(x[12]), 0), lambda p: p.inverted and _composited(p)),
    Case("paper cut out on transparency: composited onto its own tone", _cut_out, _on_its_own_tone),
    Case("small digit in a 1000x800 photo: the region around it read again", _small_in_big, _read_again),
    Case("blank canvas", lambda x: _opaque(np.full((CANVAS, CANVAS), 255, np.uint8)), lambda p: p.no_ink and "flat tone" in p.notes[-1]),
    Case("blank canvas, told it is a drawing", lambda x: _opaque(np.full((CANVAS, CANVAS), 255, np.uint8)),
         lambda p: p.no_ink and p.notes[-1] == preprocess.BLANK_DRAWING, drawn_on=1.0),
    Case("blank paper photographed: no contrast", lambda x: _opaque(_blank_paper()), lambda p: p.no_ink and "one flat tone" in p.notes[-1]),
    Case("paper with scattered dots (pepper noise): specks, not strokes", lambda x: _opaque(_peppered(_blank_paper())),
         lambda p: p.no_ink and "specks" in p.notes[-1]),
    Case("blank paper as a quality-20 JPEG, taken for light ink: no contrast before the stretch",
         lambda x: _opaque(_jpeg_pixels(_blank_paper(1), 20)), lambda p: p.no_ink and not p.inverted and "one flat tone" in p.notes[-1]),
    Case("a light marker on a dark board with a bright patch (a half-shadowed photo inverted): its ink kept",
         lambda x: _opaque(255 - _jpeg_pixels(_photo_case("half_shadow", 2, 2)(x))), lambda p: not p.no_ink and not p.inverted),
    # A form's printed box (1.8): dropped, so the ink box is the digit's, smaller than the printed one (100 px or more)
    Case("a digit in a form's box: the box dropped, and said", lambda x: _opaque(form_box_page(x[30])),
         lambda p: not p.no_ink and max(p.bbox[2:]) < 100 and FRAME_NOTE in p.notes),
    Case("a digit in one cell of a comb field: the box and its separators dropped", lambda x: _opaque(form_box_page(x[31], 3, 1, cell=100)),
         lambda p: not p.no_ink and max(p.bbox[2:]) < 90),
    Case("a digit crossing its box: the box dropped, the digit less a sliver", lambda x: _opaque(form_box_page(x[32], touch=True)),
         lambda p: not p.no_ink and max(p.bbox[2:]) < 118),
    Case("a form's box photographed (its JPEG's pixels)", lambda x: _case_photo("form_box", x[41], 41),
         lambda p: not p.no_ink and max(p.bbox[2:]) < 95),
    Case("an empty comb field: nothing written", lambda x: _opaque(form_box_page(None, 3, cell=100)), lambda p: p.no_ink),
    Case("a square 0 drawn with a fat pen: no frame, the digit", lambda x: _opaque(_fat_square()),
         lambda p: not p.no_ink and max(p.bbox[2:]) > 120 and FRAME_NOTE not in p.notes),  # whole: 128 px tall (1.9 left 110)
    # A form's printed line (1.9): dropped when apart from the writing, so the ink box is the digit's (100 px at most)
    Case("a digit above a form's line, tilted: the line dropped, and said", lambda x: _opaque(form_line_page(x[33], tilt=0.05)),
         lambda p: not p.no_ink and p.bbox[3] <= 100 and RULE_LINE_NOTE in p.notes),
    Case("a form's line in collinear pieces: dropped as one", lambda x: _opaque(_line_in_pieces(x[34])), lambda p: not p.no_ink and p.bbox[3] <= 100),
    Case("a line through the digit: one blob with it, kept", lambda x: _opaque(form_line_page(x[35], gap=-10)),
         lambda p: not p.no_ink and p.bbox[3] > 250 and RULE_LINE_NOTE not in p.notes),
    Case("a line alone (a minus): kept", lambda x: _opaque(form_line_page(None)), lambda p: not p.no_ink and p.bbox[3] > 250),
    # A form's line the digit touches (1.11): its band dropped, so the ink box is the digit's; struck through: kept
    Case("a digit touching a form's line: the line dropped, and said", lambda x: _opaque(form_line_page(x[36], gap=-3)),
         lambda p: not p.no_ink and p.bbox[3] <= 100 and RULE_LINE_NOTE in p.notes),
    Case("a digit touching a form's line, tilted", lambda x: _opaque(form_line_page(x[37], gap=-3, tilt=-0.05)),
         lambda p: not p.no_ink and p.bbox[3] <= 100 and RULE_LINE_NOTE in p.notes),
    Case("a digit struck through near its bottom: kept", lambda x: _opaque(form_line_page(x[38], gap=-15)),
         lambda p: not p.no_ink and p.bbox[3] > 250 and RULE_LINE_NOTE not in p.notes),
    # Pairs on either side of a threshold, so that moving it on one side only changes a result:
    # contrast 0.118 and 0.125 around MIN_CONTRAST, 9 and 16 ink pixels around MIN_INK_FRACTION (15.7 of 280x280).
    Case("too faint", lambda x: _faint(x, 31), _too_faint),
    Case("faint, just enough contrast", lambda x: _faint(x, 33), lambda p: not p.no_ink and not p.inverted),
    Case("3x3 dot: too few ink pixels", lambda x: _dot(3), _too_few_pixels),
    Case("4x4 dot: just enough ink pixels", lambda x: _dot(4), lambda p: not p.no_ink and p.bbox[2:] == (4, 4)),
    Case("a face: its outline encloses skin", lambda x: np.dstack([drawn_face(), np.full((320, 320), 255, np.uint8)]),
         lambda p: p.refusal is not None and p.paper_shift > 2 * preprocess.PAPER_SHIFT_LIMIT),
    Case("a 0 on coloured paper: paper inside and out", lambda x: _on_coloured_paper(x[10]),  # x_test[10] is a 0
         lambda p: p.refusal is None and not p.no_ink and p.inverted),
    # The marks a clerk leaves around a digit on a register's page (1.12): each left out, and said
    Case("a clerk's digit underlined: the underline left out", lambda x: _opaque(clerk_page(x[50], ("underline",))),
         lambda p: _marks(p) == [preprocess.UNDERLINE_NOTE]),
    Case("a digit resting on its underline (x_test[0], a 7): the line's band left out", lambda x: _opaque(clerk_page(x[0], ("touching",), pen=1)),
         lambda p: _marks(p) == [preprocess.UNDERLINE_NOTE]),
    Case("a full stop after the digit", lambda x: _opaque(clerk_page(x[51], ("stop",))), lambda p: _marks(p) == [preprocess.STOP_NOTE]),
    Case("a small cross beside the digit, and an underline", lambda x: _opaque(clerk_page(x[52], ("cross", "underline"))),
         lambda p: _marks(p) == [preprocess.UNDERLINE_NOTE, preprocess.TICK_NOTE]),
    Case("a ruling line at the crop's edge", lambda x: _opaque(clerk_page(x[53], ("ruling",))), lambda p: _marks(p) == [preprocess.RULING_NOTE]),
    Case("the next cell's ink at the crop's edge", lambda x: _opaque(clerk_page(x[54], ("neighbour",))),
         lambda p: _marks(p) == [preprocess.NEIGHBOUR_NOTE]),
    Case("a full stop at a slanted 1's foot, under its top (1.13)", lambda x: _opaque(clerk_strokes(SLANTED_1_STOP)),
         lambda p: _marks(p) == [preprocess.STOP_NOTE]),
    Case("a 5 whose hat is drawn apart: every stroke kept",
         lambda x: _opaque(clerk_strokes([[(22, 12), (20, 30), (34, 28), (40, 40), (34, 52), (18, 50)], [(26, 9), (46, 6)]])),
         lambda p: not p.no_ink and _marks(p) == [] and p.bbox[2] >= 45),
]


# ----------------------------------------------------------------------------- uploaded files


def shadowed_page(digit: np.ndarray, size: tuple[int, int] = (800, 600), shadow: int = 420, fmt: str = "PNG") -> bytes:
    """A photo that once read differently in the browser: a dark MNIST digit on light paper, ``size`` (w, h),
    the left ``shadow`` px darkened to 50 % behind a blurred edge through the digit, as ``fmt`` bytes.
    On the page's 280 px canvas its copy lost part of the digit ("Not sure, 3 at 51.8 %") where the app and the
    CLI read "3, 100 %"."""
    from PIL import Image

    w, h = size
    side = int(0.6 * h)
    paper = np.full((h, w), 0.9, np.float32)
    ink = cv2.resize(digit, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    top, left = (h - side) // 2, (w - side) // 2
    paper[top : top + side, left : left + side] *= 1 - 0.8 * np.clip(ink, 0, 1)
    light = np.ones((h, w), np.float32)
    light[:, :shadow] = 0.5
    grey = np.clip(paper * cv2.GaussianBlur(light, (0, 0), 6) * 255, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.dstack([grey] * 3)).save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _photo_case(case: str, index: int, seed: int) -> Callable[[np.ndarray], bytes]:
    from digitlab.data import photo_cases

    return lambda x: photo_cases.make(case, x[index], seed)


def _collected(x: np.ndarray, said: str, tint: bool = False) -> bytes:
    """A fat-brush drawing of MNIST test digit 15 on the white canvas, saved as the Collect page saves it but with the
    tag's text ``said`` (``tint``: its paper tinted afterwards, as by a photo filter)."""
    from digitlab import pictures

    canvas = on_canvas(synthetic.restroke(x[15], 0.3, seed=15), 1.0)
    if tint:
        canvas = np.clip(canvas.astype(int) - np.array([0, 6, 18, 0]), 0, 255).astype(np.uint8)
    return files.png_bytes(canvas, {pictures.DRAWN_ON_TAG: said})


@functools.cache
def _misread_photo() -> np.ndarray:
    """The first half-shadowed photo of an MNIST test digit (digitlab.data.photo_cases, a JPEG) that the ink's detection
    reads the other way round, as light ink on dark, where read as dark ink on light it has ink -- the JPEG and a PNG of
    its pixels alike: those pixels, (H, W, 3) uint8 as Pillow decodes them."""
    from PIL import Image

    from digitlab.data import photo_cases

    x = mnist.load().x_test
    for i in range(200):
        jpeg = photo_cases.make("half_shadow", x[i], i)
        if preprocess.prepare(jpeg).inverted or preprocess.prepare(jpeg, invert="yes").no_ink:
            continue
        rgb = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        png = files.png_bytes(rgb)
        if not preprocess.prepare(png).inverted and not preprocess.prepare(png, invert="yes").no_ink:
            return rgb
    raise AssertionError("no half-shadowed photo among the first 200 that the detection reads the other way round")


def _ink_said(said: str | None, picture: Callable[[], np.ndarray] = _misread_photo) -> Callable[[np.ndarray], bytes]:
    """A PNG of ``picture``'s pixels whose INK_TAG says ``said`` (None: nothing), as Home's Keep writes it."""
    from digitlab import pictures

    return lambda x: files.png_bytes(picture(), None if said is None else {pictures.INK_TAG: said})


def _kept_spliced(x: np.ndarray) -> bytes:
    """The misread photo's PNG kept with its Ink set to dark by hand (user_digits._with_ink): the same bytes with one
    tEXt chunk more, right after the header."""
    from digitlab.data import user_digits

    return user_digits._with_ink(_ink_said(None)(x), "yes")


def _large_page() -> np.ndarray:
    """A 1700x1275 page half in shadow, dark ink on light: read at 1/4 size, then shrunk to the work size (a note each)."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(shadowed_page(mnist.load().x_test[25], (1700, 1275), 700))).convert("RGB"))


def _dark_on_white() -> np.ndarray:
    """MNIST test digit 26, dark on a plain white 300x300 page."""
    grey = np.full((300, 300), 255, np.uint8)
    grey[50:250, 50:250] = 255 - cv2.resize(mnist.load().x_test[26], (200, 200), interpolation=cv2.INTER_LINEAR)
    return grey


def _ink_chunk(kind: bytes, data: bytes, after_image: bool = False) -> Callable[[np.ndarray], bytes]:
    """The misread photo's PNG with one more chunk (``files.png_with_chunk``): before its image data, right after its
    header, or after it (before IEND)."""
    return lambda x: files.png_with_chunk(files.png_bytes(_misread_photo()), kind, data, before=b"IEND" if after_image else b"IDAT")


_INK = b"digitlab:ink\0"


def _as_its_file_says(ink: str) -> Callable[[preprocess.Prepared, bytes], bool]:
    """Read with the ink its file says (``preprocess.file_ink``'s note), ``ink`` "dark" or "light", with ink found."""
    note = f"the ink as its file says: {'dark ink on light paper' if ink == 'dark' else 'light ink on dark'}"
    return lambda p, _: not p.no_ink and p.inverted == (ink == "dark") and note in p.notes


def _misread_unless_said(p: preprocess.Prepared, data: bytes) -> bool:
    """Read as dark ink on light as its file says, where the same pixels alone are read as light ink on dark."""
    return _as_its_file_says("dark")(p, data) and not preprocess.prepare(files.png_bytes(_misread_photo())).inverted


def _said_between_load_and_work_size(p: preprocess.Prepared, _: bytes) -> bool:
    """The file's ink note comes after load's own (read at 1/4 size) and before the work size's (shrunk to 400 px)."""
    at = {key: next((k for k, n in enumerate(p.notes) if n.startswith(key)), None) for key in ("read at", "the ink as", "shrunk from")}
    return _as_its_file_says("dark")(p, _) and None not in at.values() and at["read at"] < at["the ink as"] < at["shrunk from"]


def _said_light_no_retry(p: preprocess.Prepared, _: bytes) -> bool:
    """Dark ink on white that says it is light ink: read as the file says, the page is one flat tone of "ink", and it is
    not read the other way round as "auto" does when it finds no ink (the other polarity has the digit)."""
    return (p.no_ink and not p.inverted and "the ink as its file says: light ink on dark" in p.notes
            and not any(n.startswith("no ink found as") for n in p.notes) and not preprocess.prepare(_dark_on_white()).no_ink)


def decoded(data: bytes) -> np.ndarray:
    """A picture file as a browser hands it to the page: (H, W, 4) uint8 RGBA at its own size, upright."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGBA"))


@dataclass(frozen=True)
class FileCase:
    name: str
    file: Callable[[np.ndarray], bytes]  # MNIST test images -> the file's bytes
    reaches: Callable[[preprocess.Prepared, bytes], bool]  # (Python's reading, the file) -> took its branch
    jpeg: bool = False  # decoded by the browser in full where Python decodes at libjpeg's draft scale: close, not equal
    invert: str = "auto"  # the Ink as the person set it on the page (prepare's invert)


def _read_at(factor: int) -> Callable[[preprocess.Prepared, bytes], bool]:
    """The file is decoded at 1/factor of its width (an ordinary photo says nothing of it, so measure it)."""
    from PIL import Image

    from digitlab import pictures

    return lambda p, data: not p.no_ink and Image.open(io.BytesIO(data)).size[0] // pictures.load(data).grey.shape[1] == factor


FILES = [
    FileCase("800x600 PNG half in shadow", lambda x: shadowed_page(x[18]), _read_at(2)),
    FileCase("1600x1200 PNG half in shadow", lambda x: shadowed_page(x[19], (1600, 1200), 700), _read_at(4)),
    FileCase("1203x901 PNG in shadow: edge blocks of the reduction", lambda x: shadowed_page(x[20], (1203, 901), 500), _read_at(3)),
    FileCase("800x600 JPEG half in shadow", lambda x: shadowed_page(x[21], fmt="JPEG"), _read_at(2), jpeg=True),
    FileCase("half-shadowed photo (JPEG)", _photo_case("half_shadow", 22, 5), lambda p, _: p.inverted and not p.no_ink, jpeg=True),
    FileCase("photo with a desk corner (JPEG)", _photo_case("desk_corner", 23, 3), lambda p, _: p.inverted and not p.no_ink, jpeg=True),
    FileCase("a scan size-normalised into a small square (PNG): cut tight, the background from its edge", _photo_case("scan_tight", 95, 95),
             lambda p, _: not p.no_ink and p.inverted and TIGHT_NOTE in p.notes),
    FileCase("a comb field photographed, 560x185 (JPEG): shrunk, the box dropped", _photo_case("form_box", 43, 43),
             lambda p, _: not p.no_ink and max(p.bbox[2:]) < 60 and FRAME_NOTE in p.notes, jpeg=True),
    FileCase("a form's line photographed, 466x257 (JPEG): shrunk, the line dropped", _photo_case("form_line", 45, 45),
             lambda p, _: not p.no_ink and p.bbox[3] < 90 and RULE_LINE_NOTE in p.notes, jpeg=True),
    FileCase("a form's line touching the digit photographed (JPEG): the line dropped", _photo_case("form_line", 47, 46),
             lambda p, _: not p.no_ink and p.bbox[3] < 90 and RULE_LINE_NOTE in p.notes, jpeg=True),
    FileCase("3000x4000 phone photo, small digit read again (JPEG)", _photo_case("phone", 24, 1), lambda p, _: _read_again(p), jpeg=True),
    FileCase("1200x1200 PNG of a face: refused, read at a third of its size", lambda x: files.png_bytes(drawn_face(1200)),
             lambda p, data: p.refusal is not None and _read_at(3)(p, data)),
    FileCase("Collect page drawing, fat brush: its PNG says it is drawn on white", lambda x: _collected(x, "white"),
             lambda p, _: not p.no_ink and p.inverted and "a drawing on a white canvas (its file says so)" in p.notes),
    FileCase("a PNG that says it is drawn on white, its paper tinted since", lambda x: _collected(x, "white", tint=True),
             lambda p, _: not p.no_ink and any("read as any picture" in n for n in p.notes)),
    FileCase("a PNG that says it is drawn on a grey canvas", lambda x: _collected(x, "grey"),
             lambda p, _: not p.no_ink and any("no canvas tone" in n for n in p.notes)),
    FileCase("a photo kept with its Ink set by hand: its PNG says dark, the detection alone reads light", _ink_said("dark"),
             _misread_unless_said),
    FileCase("the same photo, its PNG saying light", _ink_said("light"), _as_its_file_says("light")),
    FileCase("the same photo, its PNG saying sideways: the ink is detected", _ink_said("sideways"),
             lambda p, _: not p.no_ink and not p.inverted and not any(n.startswith("the ink as") for n in p.notes)
             and "its file says how its ink is, but neither dark nor light: the ink is detected" in p.notes),
    FileCase("the same photo's PNG kept by user_digits (one chunk spliced in after the header)", _kept_spliced, _misread_unless_said),
    FileCase("its ink said in a compressed text chunk (zTXt), as a tool that compresses its texts re-saves it",
             _ink_chunk(b"zTXt", _INK + b"\0" + zlib.compress(b"dark")), _misread_unless_said),
    FileCase("its ink said in a compressed international text chunk (iTXt)", _ink_chunk(b"iTXt", _INK + b"\1\0en\0\0" + zlib.compress(b"dark")),
             _misread_unless_said),
    FileCase("its ink said after the image data", _ink_chunk(b"tEXt", _INK + b"dark", after_image=True), _misread_unless_said),
    FileCase("its zTXt does not unpack: an empty text, the ink detected", _ink_chunk(b"zTXt", _INK + b"\0not zlib"),
             lambda p, _: not p.no_ink and not p.inverted and "its file says how its ink is, but neither dark nor light: the ink is detected" in p.notes),
    FileCase("its iTXt's text is not UTF-8: left out, the ink detected", _ink_chunk(b"iTXt", _INK + b"\0\0\0\0d\xffrk"),
             lambda p, _: not p.no_ink and not p.inverted and not any("its file says" in n for n in p.notes)),
    FileCase("its PNG says dark, the Ink set to light on dark: as set", _ink_said("dark"),
             lambda p, _: not p.no_ink and not p.inverted and not any(n.startswith("the ink as") for n in p.notes), invert="no"),
    FileCase("1700x1275 page saying dark: its note between load's and the work size's", _ink_said("dark", _large_page),
             _said_between_load_and_work_size),
    FileCase("dark ink on white saying light: no ink, not read the other way round", _ink_said("light", _dark_on_white),
             _said_light_no_retry),
]
# A JPEG decoded in full and block-averaged against libjpeg's scaled IDCT: max 0.13, mean 0.005 measured on the
# 800x600 one (a JPEG Python decodes as stored, or whose small digit is read again at full size, agrees to 2e-7).
JPEG_MAX_DIFF, JPEG_MEAN_DIFF = 0.2, 0.01


def _texts_past_memory(x: np.ndarray) -> bytes:
    """The photo's PNG with compressed texts of TEXT_CHUNK_LIMIT bytes each, one more than TEXT_MEMORY_LIMIT holds,
    after its header."""
    header, *rest = files.png_chunks(files.png_bytes(_misread_photo()))
    text = (b"zTXt", b"comment\0\0" + zlib.compress(b" " * preprocess.TEXT_CHUNK_LIMIT, 9))
    return files.png_from_chunks([header] + [text] * (preprocess.TEXT_MEMORY_LIMIT // preprocess.TEXT_CHUNK_LIMIT + 1) + rest)


TEXT_REFUSED = {  # files Pillow refuses for their texts (the pixels are the photo's): the port refuses them as well
    "a compressed text unpacking past TEXT_CHUNK_LIMIT": _ink_chunk(b"zTXt", _INK + b"\0" + zlib.compress(b"d" * (preprocess.TEXT_CHUNK_LIMIT + 1), 9)),
    "a compressed iTXt unpacking past TEXT_CHUNK_LIMIT, after the image data":
        _ink_chunk(b"iTXt", _INK + b"\1\0\0\0" + zlib.compress(b"d" * (preprocess.TEXT_CHUNK_LIMIT + 1), 9), after_image=True),
    "compressed texts past TEXT_MEMORY_LIMIT in all": _texts_past_memory,
}

REFUSED = {  # pictures prepare must refuse, as (H, W, 4) uint8
    "a side under MIN_SIDE": lambda: np.full((preprocess.MIN_SIDE - 1, 40, 4), 255, np.uint8),
    "over MAX_PIXELS": lambda: np.zeros((preprocess.MAX_PIXELS // 8000 + 1, 8000, 4), np.uint8),
}


@pytest.fixture(scope="module")
def node_run(tmp_path_factory):
    """Every canvas picture (CASES, REFUSED) through web/preprocess.js in one `node web/prepare_cli.mjs` run:
    (the JS module's constants, {name: (RGBA picture, invert, result with its arrays loaded)})."""
    x = mnist.load().x_test
    pictures = [(c.name, c.picture(x), c.invert) for c in CASES] + [(name, make(), "auto") for name, make in REFUSED.items()]
    drawn = {c.name: {"drawnOn": c.drawn_on} for c in CASES if c.drawn_on is not None}
    return _through_node(tmp_path_factory.mktemp("preprocess_js"), pictures, {}, {}, drawn)


@pytest.fixture(scope="module")
def node_uploads(tmp_path_factory):
    """Every upload (FILES, TEXT_REFUSED) through the port's prepareDecoded in one node run, as ``node_run`` gives
    them; apart from the canvas pictures because its phone photos and pages (~90 MB of pixels) take most of the
    file's time: the fast tier keeps the canvas, the full suite both."""
    x = mnist.load().x_test
    uploads = {c.name: c.file(x) for c in FILES}
    pictures = [(c.name, decoded(uploads[c.name]), c.invert) for c in FILES]
    uploads |= {name: make(x) for name, make in TEXT_REFUSED.items()}
    pictures += [(name, decoded(files.png_bytes(_misread_photo())), "auto") for name in TEXT_REFUSED]
    kinds = {c.name: {"decoded": True, "jpeg": c.jpeg} for c in FILES} | {name: {"decoded": True} for name in TEXT_REFUSED}
    return _through_node(tmp_path_factory.mktemp("preprocess_js_uploads"), pictures, uploads, kinds, {})


def _through_node(folder, pictures, uploads, kinds, drawn):
    """``pictures`` [(name, (H, W, 4) uint8 RGBA, invert)] through `node web/prepare_cli.mjs` in ``folder``, with the
    uploads' file bytes ({name: bytes}, which the port reads for their PNG texts) and the per-picture options."""
    node = shutil.which("node")
    require(None if node else "`node` is not on PATH (apt-get install -y nodejs)", "web/preprocess.js parity tests")
    manifest = []
    for i, (name, rgba, invert) in enumerate(pictures):
        entry = {"width": rgba.shape[1], "height": rgba.shape[0], "invert": invert, "rgba": None, **kinds.get(name, {}), **drawn.get(name, {})}
        if name in uploads:  # the file itself too: the port reads its PNG text chunks (pngText)
            entry["file"] = f"picture{i}.file"
            (folder / entry["file"]).write_bytes(uploads[name])
        if rgba.any():  # an all-zero picture travels as its size only
            entry["rgba"] = f"picture{i}.rgba"
            (folder / entry["rgba"]).write_bytes(np.ascontiguousarray(rgba).tobytes())
        manifest.append(entry)
    (folder / "pictures.json").write_text(json.dumps(manifest))
    proc = subprocess.run([node, str(CLI), str(folder)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, f"node {CLI.relative_to(ROOT)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    out = json.loads((folder / "prepared.json").read_text())

    def load(file: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.fromfile(folder / file, np.float32).reshape(shape)

    results = {}
    for (name, rgba, invert), js in zip(pictures, out["results"], strict=True):
        if "error" not in js:
            js["steps"] = [(s["title"], load(s["file"], (s["h"], s["w"]))) for s in js["steps"]]
            js["image"] = None if js["image"] is None else load(js["image"], (preprocess.SIZE, preprocess.SIZE))
        results[name] = (uploads.get(name, rgba), invert, js)
    return out["constants"], results


# ----------------------------------------------------------------------------- comparing


def _numbers_agree(js_notes: list[str], py_notes: list[str]) -> bool:
    """Same notes; numbers may differ by one unit of their last shown digit (a width of 2.25 can show as 2.2 or 2.3)."""
    number = r"\d+(?:\.\d+)?"
    if [re.sub(number, "#", n) for n in js_notes] != [re.sub(number, "#", n) for n in py_notes]:
        return False
    for a, b in zip(re.findall(number, " ".join(js_notes)), re.findall(number, " ".join(py_notes))):
        unit = 10.0 ** -len(b.partition(".")[2]) if "." in b else 0.0
        if abs(float(a) - float(b)) > unit + 1e-9:
            return False
    return True


def _close(js: np.ndarray, py: np.ndarray, what: str) -> None:
    assert js.shape == py.shape, f"{what}: JS {js.shape}, Python {py.shape}"
    diff = np.abs(js - py)
    assert diff.max() <= MAX_PIXEL_DIFF and diff.mean() <= MEAN_PIXEL_DIFF, f"{what}: max |JS - Python| {diff.max():.2e}, mean {diff.mean():.2e}"


def _compare(js: dict, py: preprocess.Prepared, name: str) -> None:
    """Same flags, notes, ink box, step images and 28x28 input."""
    assert "error" not in js, js
    assert (js["noInk"], js["inverted"]) == (py.no_ink, py.inverted)
    assert _numbers_agree(js["notes"], py.notes), (js["notes"], py.notes)
    assert js["bbox"] == (list(py.bbox) if py.bbox else None), f"{name}: ink box JS {js['bbox']}, Python {py.bbox}"
    assert [t for t, _ in js["steps"]] == [t for t, _ in py.steps]
    # Python's previews (the input, a region read again) are RGB; the JS ones grey: checked by their size only.
    for (title, a), (_, b) in zip(js["steps"], py.steps):
        if b.ndim == 3:
            assert a.shape == b.shape[:2], f"{name}, step {title!r}: JS {a.shape}, Python {b.shape}"
        else:
            _close(a, b, f"{name}, step {title!r}")
    assert abs(js["paperShift"] - py.paper_shift) <= PAPER_SHIFT_DIFF, f"{name}: paper shift JS {js['paperShift']}, Python {py.paper_shift}"
    assert (js["refusal"] is None) == (py.refusal is None), (js["refusal"], py.refusal)
    if py.no_ink:
        assert js["image"] is None and py.image is None
    else:
        _close(js["image"], py.image, f"{name}, 28x28")


# ----------------------------------------------------------------------------- the tests


def test_constants_match(node_run):
    """Every constant web/preprocess.js exports equals digitlab.preprocess's, and every tunable of
    digitlab.preprocess is exported by the port (or listed in NOT_PORTED with the reason)."""
    js = node_run[0]
    python = {k: v for k, v in vars(preprocess).items() if re.fullmatch(r"[A-Z][A-Z0-9_]*", k) and not callable(v)}
    assert set(js) == set(python) - NOT_PORTED, f"only in JS: {sorted(set(js) - set(python))}, only in Python: {sorted(set(python) - set(js) - NOT_PORTED)}"
    for name, value in js.items():
        want = list(python[name]) if isinstance(python[name], tuple) else python[name]
        assert value == want, f"{name}: web/preprocess.js has {value!r}, digitlab.preprocess has {python[name]!r}"


def test_js_constants_are_all_exported():
    """A tunable the port keeps to itself would escape test_constants_match."""
    hidden = re.findall(r"^const ([A-Z][A-Z0-9_]*)\b", (WEB / "preprocess.js").read_text(), re.MULTILINE)
    assert not hidden, f"web/preprocess.js: export {hidden}, so this file compares them with digitlab.preprocess"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_port_matches_python(node_run, case):
    """The port gives what Python gives on the same pixels, and the picture takes its branch."""
    rgba, invert, js = node_run[1][case.name]
    py = preprocess.prepare(rgba, invert=invert, drawn_on=case.drawn_on)
    assert case.reaches(py), f"{case.name}: the picture no longer reaches its branch (notes {py.notes}, inverted {py.inverted}, bbox {py.bbox})"
    if not case.known:
        _compare(js, py, case.name)
        return
    try:
        _compare(js, py, case.name)
    except AssertionError as e:
        pytest.xfail(f"{case.known}; {str(e).splitlines()[0]}")
    pytest.fail(f"{case.name}: the port now matches Python; drop the case's `known` note")


@pytest.mark.slow  # the uploads' node run
@pytest.mark.parametrize("name", list(TEXT_REFUSED))
def test_port_refuses_the_texts_pillow_refuses(node_uploads, name):
    """A PNG whose compressed texts unpack past Pillow's limits is refused, by the app and the CLI (Pillow) and by the
    page's pngText, with the same message."""
    data, _, js = node_uploads[1][name]
    with pytest.raises(preprocess.ImageError) as refused:
        preprocess.prepare(data)
    assert js.get("error") == str(refused.value)


@pytest.mark.slow  # the uploads' node run
def test_the_port_tells_a_jpeg_by_its_bytes(node_uploads):
    """isJpeg says JPEG for exactly the uploads Pillow opens as one (decoded at libjpeg's draft scale), whatever the name."""
    from PIL import Image

    from digitlab import pictures

    told = {c.name: node_uploads[1][c.name][2]["jpeg"] for c in FILES}
    assert told == {c.name: Image.open(io.BytesIO(node_uploads[1][c.name][0])).format in pictures._JPEG for c in FILES}
    assert sum(told.values()) >= 4, "JPEG uploads among the files"


@pytest.mark.parametrize("name", list(REFUSED))
def test_port_refuses_what_python_refuses(node_run, name):
    rgba, invert, js = node_run[1][name]
    with pytest.raises(preprocess.ImageError) as refused:
        preprocess.prepare(rgba, invert=invert)
    assert js.get("error") == str(refused.value)


@pytest.fixture(scope="module")
def node_paper(tmp_path_factory):
    """The real-paper crops the paper rules were chosen on (``support``: FAINT_ZEROS, FAR_FAINT_ZEROS, FAR_UNDERLINES)
    and the first 40 of the registers, as uploads through the port in one node run, as ``node_uploads`` gives them."""
    scans = parish.default_path()
    require(None if scans is not None and scans.is_dir() else f"the real scans are not here: set ${parish.ENV_VAR}",
            "web/preprocess.js parity on real paper")
    names = sorted(p.name for p in scans.glob("*.png"))[:40]
    names += [n for n in (*FAINT_ZEROS, *FAR_FAINT_ZEROS, *FAR_UNDERLINES) if n not in names]
    uploads = {n: (scans / n).read_bytes() for n in names}
    pictures = [(n, decoded(uploads[n]), "auto") for n in names]
    kinds = {n: {"decoded": True, "jpeg": False} for n in names}
    return _through_node(tmp_path_factory.mktemp("preprocess_js_paper"), pictures, uploads, kinds, {})


def test_the_port_reads_real_paper_as_python_does(node_paper):
    """Crops cut from the registers' scans, read as uploads: the port gives the notes, steps and 28x28 input that
    digitlab.preprocess gives the same file, through the paper rules (a fine pen's faint strokes, faint ink running on
    far from the stroke, the marks beside the digit, a far-reaching underline)."""
    _, results = node_paper
    for name, (data, invert, js) in results.items():
        _compare(js, preprocess.prepare(data, invert=invert), name)
    noted = [n for _, _, js in results.values() for n in js["notes"]]
    assert preprocess.UNDERLINE_NOTE in noted and preprocess.STOP_NOTE in noted  # the marks' rules were reached


@pytest.mark.slow  # the uploads' node run
@pytest.mark.parametrize("case", FILES, ids=[c.name for c in FILES])
def test_upload_matches_python_reading_the_file(node_uploads, case):
    """An uploaded file, decoded by the browser at its own size (here by Pillow in full, as a browser does):
    the port's prepareDecoded gives the 28x28 input the app and the CLI give the same file
    (digitlab.preprocess.prepare on its bytes), through every step for a PNG; within a JPEG's decoding
    differences for a JPEG, with the same flags and the same ink box to a pixel or two."""
    data, invert, js = node_uploads[1][case.name]
    py = preprocess.prepare(data, invert=invert)
    assert case.reaches(py, data), f"{case.name}: the picture no longer reaches its branch (notes {py.notes}, inverted {py.inverted}, bbox {py.bbox})"
    if not case.jpeg:
        _compare(js, py, case.name)
        return
    assert "error" not in js, js
    assert (js["noInk"], js["inverted"]) == (py.no_ink, py.inverted)
    assert _numbers_agree([re.sub(r"\d+\.\d+", "#", n) for n in js["notes"]], [re.sub(r"\d+\.\d+", "#", n) for n in py.notes]), (js["notes"], py.notes)
    assert [t for t, _ in js["steps"]] == [t for t, _ in py.steps]
    assert np.abs(np.subtract(js["bbox"], py.bbox)).max() <= 2, (js["bbox"], py.bbox)
    diff = np.abs(js["image"] - py.image)
    assert diff.max() <= JPEG_MAX_DIFF and diff.mean() <= JPEG_MEAN_DIFF, f"{case.name}: max |JS - Python| {diff.max():.3f}, mean {diff.mean():.4f}"
