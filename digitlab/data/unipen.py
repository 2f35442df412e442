"""Real pen strokes: UNIPEN's isolated digits, written on tablets by real people, rendered the way the
app's canvas draws them and prepared through the one preprocessing path.

The file ships with the project (``data/unipen/unipen_dev.json.gz``, CC BY 4.0, its attribution in
``data/unipen/README.md``; ``$DIGITLAB_UNIPEN`` or a path given by hand points at another) and is a gzipped JSON list of
``{"source": "syn", "file": "...", "label": 7, "strokes": [[[x, y], ...], ...]}``: one list of points per
pen-down, tablet units, y down, not scaled or centred.  A ``source`` is a site (the institution that
collected it), a ``file`` one writer's session.  Real data: some items are mis-segmented or written
sideways; they stay in (label noise is reported, not hidden).

    load          the file -> ``Item``s, every field checked (a clear ``DataError`` otherwise)
    split         writer-disjoint train / validation of the training sites, one site held out entirely
    render        one item's strokes -> a (280, 280) uint8 canvas picture, white ink on black: the digit
                  placed and sized as people draw on the app's canvas, one brush width of the app's slider
                  range, every pen-up kept (or, for ``joined``, the pen's moves drawn: pen-ups lost)
    edit          writing conventions added to real strokes, label-preserving: a slash or a dot in a 0,
                  a flag and a foot on a 1, a bar across a 7, an 8 as two circles (``EDITS``)
    coarsen       the pen-downs as a coarse device reports them: few points, straight lines between them
    resample_path the pen's whole path, pen-ups lost, as K points at equal distances along it (the UCI pendigits
                  protocol keeps each digit as 8 such points)
    warp          the same writer's digit as another hand would shape it: slant, width, a small turn, each pen-down
                  moved a little, a smooth bend (the pen's path changed, the pen-ups kept)
    pool          items -> prepared model inputs for training (``digitlab.training.recipe``), cached
    numbers       digits one writer wrote in a row on one line -> a real number, as one canvas picture

Splitting is by writer or by site, never by item: a writer's digits all land on one side.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from digitlab.data import CANVAS, polylines
from digitlab.data.mnist import DataError
from digitlab.paths import ROOT

ENV_VAR = "DIGITLAB_UNIPEN"
SITES = ("syn", "app", "apa", "art", "gmd", "imp")  # the sites of unipen_dev.json.gz
HELD_OUT_SITE = "app"  # never trained on, never tuned on: the project's own unseen-site figure (115 writers)
VAL_WRITERS = 0.2  # share of each training site's writers kept for writer-disjoint validation
SPLIT_SEED = 20261123  # fixed, independent of any training seed: every model sees the same split
BRUSH = (6, 40)  # the app's brush slider range (px); Home's default is 20
HEIGHT = (0.3, 0.88)  # digit height / canvas side, as people draw on it
MAX_POINTS = 20_000  # points per item: more is not a handwritten digit (the file's largest has ~500)


class UnipenError(DataError):
    """The real-strokes file is missing or not in the expected format; the message says which item and why."""


@dataclass(frozen=True)
class Item:
    source: str  # site
    writer: str  # the file the digit came from: one writer's session at that site
    label: int
    strokes: tuple  # of (n, 2) float64 arrays, one per pen-down, tablet units, y down
    index: int  # position in the file: consecutive items of one writer were written in a row


SHIPPED = ROOT / "data" / "unipen" / "unipen_dev.json.gz"
SHIPPED_SHA256 = "b31ef5ac84e4e2c095fcc5a1e95e96534b7cf9c575ed3b3a0a273c4ae99468a5"


def default_path() -> Path | None:
    """``$DIGITLAB_UNIPEN`` when set, else the file that ships with the project (None only when a checkout
    lost it)."""
    value = os.environ.get(ENV_VAR)
    if value:
        return Path(value)
    return SHIPPED if SHIPPED.is_file() else None


def _strokes(raw, where: str) -> tuple:
    if not isinstance(raw, list) or not raw:
        raise UnipenError(f"{where}: 'strokes' must be a non-empty list of strokes")
    out = []
    for k, s in enumerate(raw):
        try:
            a = np.asarray(s, np.float64)
        except (TypeError, ValueError) as e:
            raise UnipenError(f"{where}: stroke {k} is not a list of [x, y] points ({e})") from e
        if a.ndim != 2 or a.shape[1] != 2 or len(a) == 0 or not np.all(np.isfinite(a)):
            raise UnipenError(f"{where}: stroke {k} must be a non-empty list of finite [x, y] points, not shape {a.shape}")
        out.append(a)
    if sum(len(a) for a in out) > MAX_POINTS:
        raise UnipenError(f"{where}: more than {MAX_POINTS:,} points: not one handwritten digit")
    return tuple(out)


def load(path: str | os.PathLike) -> list[Item]:
    """The real-strokes file (gzipped JSON, or plain JSON) -> its items, in file order, every field checked."""
    path = resolve(path)
    if not path.is_file():
        raise UnipenError(f"real-strokes file {path}: no such file (the project's own is {SHIPPED.relative_to(ROOT)}; "
                          f"see docs/training.md#real-pen-strokes---real-strokes)")
    try:
        with path.open("rb") as f:
            head = f.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rt", encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UnipenError(f"real-strokes file {path}: not readable gzipped JSON ({type(e).__name__}: {e})") from e
    if not isinstance(raw, list) or not raw:
        raise UnipenError(f"real-strokes file {path}: expected a non-empty JSON list of items")
    items = []
    for i, r in enumerate(raw):
        where = f"{path.name} item {i}"
        if not isinstance(r, dict):
            raise UnipenError(f"{where}: expected an object with source, file, label and strokes")
        missing = {"source", "file", "label", "strokes"} - set(r)
        if missing:
            raise UnipenError(f"{where}: missing {', '.join(sorted(missing))}")
        label = r["label"]
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label <= 9:
            raise UnipenError(f"{where}: label must be a digit 0-9, not {label!r}")
        if not isinstance(r["source"], str) or not r["source"] or not isinstance(r["file"], str) or not r["file"]:
            raise UnipenError(f"{where}: source and file must be non-empty strings")
        items.append(Item(r["source"], r["file"], label, _strokes(r["strokes"], where), i))
    return items


def resolve(path: str | os.PathLike) -> Path:
    """A real-strokes path as cards and recipes write it: relative to the repository unless it is found as given."""
    path = Path(path)
    return ROOT / path if not path.is_absolute() and not path.exists() else path


def fingerprint(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(resolve(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


@dataclass
class Split:
    train: list[Item]
    val: list[Item]  # other writers of the training sites
    held_out: list[Item]  # one whole site
    held_out_site: str

    def describe(self) -> dict:
        def part(items):
            return {"items": len(items), "writers": len({(i.source, i.writer) for i in items}),
                    "sites": sorted({i.source for i in items})}

        return {"held_out_site": self.held_out_site, "train": part(self.train), "val": part(self.val),
                "held_out": part(self.held_out), "val_writers": VAL_WRITERS, "seed": SPLIT_SEED}


def split(items: list[Item], held_out_site: str = HELD_OUT_SITE, val_writers: float = VAL_WRITERS,
          seed: int = SPLIT_SEED) -> Split:
    """Writer-disjoint split: ``held_out_site`` entirely apart; of every other site, ``val_writers`` of its
    writers (at least one when it has two or more) for validation, the rest for training."""
    sites = sorted({i.source for i in items})
    if held_out_site not in sites:
        raise UnipenError(f"held-out site {held_out_site!r} has no items (sites: {', '.join(sites)})")
    val_keys = writers_apart([i for i in items if i.source != held_out_site], val_writers, seed)
    train = [i for i in items if i.source != held_out_site and (i.source, i.writer) not in val_keys]
    val = [i for i in items if (i.source, i.writer) in val_keys]
    held = [i for i in items if i.source == held_out_site]
    return Split(train, val, held, held_out_site)


def writers_apart(items: list[Item], share: float, seed: int) -> set[tuple[str, str]]:
    """(site, writer) of ``share`` of each site's writers, at least one of a site with two or more and never all
    of them, chosen by ``seed``: the writers a split keeps apart."""
    rng = np.random.default_rng(seed)
    apart = set()
    for site in sorted({i.source for i in items}):
        writers = sorted({i.writer for i in items if i.source == site})
        k = min(max(int(round(share * len(writers))), 1), len(writers) - 1) if len(writers) >= 2 and share > 0 else 0
        apart |= {(site, w) for w in rng.permutation(writers)[:k]}
    return apart


def card(path: str | os.PathLike) -> dict:
    """What a model card keeps of the real strokes it was trained with: the file's name and hash, the split."""
    return {"file": Path(path).name, "sha256": fingerprint(path), "split": split(load(path)).describe()}


# ----------------------------------------------------------------------------- writing conventions on real strokes


def _box(strokes) -> tuple[np.ndarray, np.ndarray]:
    allp = np.concatenate(strokes)
    return allp.min(0), allp.max(0)


def _slash_0(strokes, rng):
    """A slash through the 0 (Scandinavian, engineering and computing forms: Ø), corner to corner, past the oval."""
    lo, hi = _box(strokes)
    size = hi - lo
    over = rng.uniform(0.0, 0.15) * size
    a, b = np.array([lo[0] - over[0], hi[1] + over[1]]), np.array([hi[0] + over[0], lo[1] - over[1]])
    if rng.uniform() < 0.25:  # the other way round (\), rarer
        a, b = np.array([lo[0] - over[0], lo[1] - over[1]]), np.array([hi[0] + over[0], hi[1] + over[1]])
    return [*strokes, np.linspace(a, b, 8) + rng.normal(0, 0.01 * size.max(), (8, 2))]


def _dot_0(strokes, rng):
    """A dot in the middle of the 0 (typewriter and programmer's zero)."""
    lo, hi = _box(strokes)
    c = (lo + hi) / 2 + rng.normal(0, 0.05, 2) * (hi - lo)
    r = rng.uniform(0.01, 0.05) * (hi - lo).max()
    return [*strokes, c + np.array([[0, 0], [r, r * 0.5]])]


def _flag_foot_1(strokes, rng):
    """A flag from the top of the 1 down to the left, a foot across its base, or both (continental and
    engineering lettering; the printed 1)."""
    lo, hi = _box(strokes)
    h = hi[1] - lo[1]
    allp = np.concatenate(strokes)
    top = allp[np.argmin(allp[:, 1])]
    bottom = allp[np.argmax(allp[:, 1])]
    out = list(strokes)
    kind = rng.choice(["flag", "foot", "both"], p=[0.45, 0.15, 0.4])
    if kind in ("flag", "both"):
        length, turn = rng.uniform(0.2, 0.55) * h, np.deg2rad(rng.uniform(25, 60))  # from straight down
        end = top + length * np.array([-np.sin(turn), np.cos(turn)])
        out.insert(0, np.linspace(end, top, 6))
    if kind in ("foot", "both"):
        half = rng.uniform(0.15, 0.3) * h
        y = bottom[1] + rng.uniform(-0.02, 0.02) * h
        out.append(np.linspace([bottom[0] - half, y], [bottom[0] + half, y], 6))
    return out


def _cross_7(strokes, rng):
    """A bar across the 7's stem near its middle (continental European 7)."""
    lo, hi = _box(strokes)
    h, w = hi[1] - lo[1], hi[0] - lo[0]
    y = lo[1] + rng.uniform(0.45, 0.62) * h
    allp = np.concatenate(strokes)
    near = allp[np.abs(allp[:, 1] - y) < 0.1 * h]
    x = float(np.median(near[:, 0])) if len(near) else (lo[0] + hi[0]) / 2
    half = rng.uniform(0.25, 0.45) * max(w, 0.4 * h)
    tilt = rng.uniform(-0.05, 0.05) * h
    return [*strokes, np.linspace([x - half, y + tilt], [x + half, y - tilt], 6)]


def _dense(stroke: np.ndarray, step: float) -> np.ndarray:
    """A pen-down's points with a point at least every ``step`` along it (linear in between)."""
    if len(stroke) < 2:
        return stroke
    seg = np.hypot(*np.diff(stroke, axis=0).T)
    at = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, at[-1], max(2, int(np.ceil(at[-1] / step)) + 1))
    return polylines.at_lengths(stroke, at, t)


def _two_circles_8(strokes, rng):
    """The 8 drawn as two circles, one over the other, apart or just touching (school scripts that build the 8 from two
    round loops; the conventions benchmark's "8 two circles apart"): the writer's own 8 cut at its waist, each half
    drawn as its outer edge in one pen-down, the halves moved apart by 0-8% of the height; the top circle first
    (``polylines.two_circles``).  Unchanged when a half is too narrow to be a loop."""
    lo, hi = _box(strokes)
    h = max(hi[1] - lo[1], 1e-6)
    loops = polylines.two_circles(np.concatenate([_dense(np.asarray(s, float), 0.01 * h) for s in strokes]), rng, box=(lo, hi))
    return strokes if loops is None else loops


EDITS = {0: (_slash_0, _dot_0), 1: (_flag_foot_1,), 7: (_cross_7,), 8: (_two_circles_8,)}
EDITS_VERSION = 2  # part of every cached pool's key: 2 added the 8 as two circles (given only when asked: the classes)


def edit(strokes, label: int, rng: np.random.Generator):
    """``strokes`` with a writing convention of ``label`` added (``EDITS``), or unchanged when it has none."""
    makers = EDITS.get(label)
    if not makers:
        return strokes
    return makers[int(rng.integers(len(makers)))](list(strokes), rng)


# ----------------------------------------------------------------------------- rendering like the canvas


def render(strokes, rng: np.random.Generator, *, brush: float | None = None, height: float | None = None,
           joined: bool = False) -> np.ndarray:
    """A digit's strokes -> (CANVAS, CANVAS) uint8, white ink on black, as the app's dark canvas gives it:
    scaled (aspect kept) to ``height`` x the canvas side (default: random in ``HEIGHT``), placed at random
    inside it, each pen-down one anti-aliased polyline of ``brush`` px (default: random in the slider's
    ``BRUSH`` range, at most a quarter of the digit's height).  ``joined``: the pen's moves between strokes
    drawn as lines too (a tablet trajectory whose pen-ups were lost)."""
    lo, hi = _box(strokes)
    size = np.maximum(hi - lo, 1e-6)
    h = CANVAS * (rng.uniform(*HEIGHT) if height is None else height)
    scale = h / max(size[1], 0.35 * size[0])  # a sideways or flat item still fits
    if size[0] * scale > 0.95 * CANVAS:
        scale = 0.95 * CANVAS / size[0]
    b = float(rng.uniform(*BRUSH) if brush is None else brush)
    b = max(2.0, min(b, 0.25 * max(size[1] * scale, 8)))
    pts = [(s - lo) * scale for s in strokes]
    if joined:
        pts = [np.concatenate(pts)]
    ext = size * scale + b
    free = CANVAS - ext
    shift = np.array([rng.uniform(0, f) if f > 0 else f / 2 for f in free]) + b / 2
    return draw(np.zeros((CANVAS, CANVAS), np.uint8), [p + shift for p in pts], b)


def draw(ink: np.ndarray, strokes, brush: float) -> np.ndarray:
    """Pen-downs in pixels ((k, 2) x, y each) onto ``ink`` (uint8, white on black), as the canvas draws them: each one
    anti-aliased polyline of ``brush`` px at a quarter-pixel's precision, a dot (or a stroke under a pixel long) the
    brush's disc.  Returns ``ink``."""
    for p in strokes:
        q = np.round(np.asarray(p) * 4).astype(np.int32)
        if len(q) == 1 or np.ptp(q, axis=0).max() < 4:  # a dot: the brush's disc
            cv2.circle(ink, tuple(int(v) for v in q[0]), int(brush * 2), 255, -1, cv2.LINE_AA, shift=2)
        else:
            cv2.polylines(ink, [q], False, 255, int(round(brush)), cv2.LINE_AA, shift=2)
    return ink


@dataclass(frozen=True)
class Pool:
    """How the training pool is rendered (written into the model card through ``TrainConfig``)."""

    renders: int = 3  # canvas pictures per real digit, each with its own size, place and brush
    conventions: float = 0.15  # share of 0s, 1s and 7s given a writing-convention edit (``EDITS``)
    joined: float = 0.2  # share drawn with the pen-ups lost (one line through every stroke)
    seed: int = 0
    classes: str = "017"  # the digits a convention edit may be given (of EDITS' 0, 1, 7)
    coarse: float = 0.0  # share drawn from few points, as a coarse device reports them (``coarsen``)
    warp: float = 0.0  # share whose pen's path is reshaped before it is drawn (``warp``)
    path: float = 0.0  # share drawn as the pen's whole path through PATH_POINTS points (``resample_path``)


COARSE_STEP = (0.1, 0.45)  # coarsen: a point every this share of the digit's height
PATH_POINTS = (8, 16)  # resample_path in training: this many points, drawn uniformly (pendigits keeps 8)


def coarsen(strokes, rng: np.random.Generator) -> list[np.ndarray]:
    """The pen-downs as a coarse device reports them, a point every ``COARSE_STEP`` of the digit's height (one step per
    digit), straight lines between the points: half the time at equal distances along the path (a path simplifier:
    a corner between two points is cut), else every k-th sample in time (a slower tablet: the pen slows down at a
    corner, so its samples crowd there).  Each pen-down keeps its two ends; a dot stays a dot."""
    lo, hi = _box(strokes)
    h = max(hi[1] - lo[1], 0.35 * (hi[0] - lo[0]), 1e-9)
    step = rng.uniform(*COARSE_STEP) * h
    in_time = rng.uniform() < 0.5
    out = []
    for s in strokes:
        s = np.asarray(s, np.float64)
        arc = polylines.lengths(s)
        if len(s) < 3 or arc[-1] <= step:
            out.append(s[[0, -1]] if len(s) > 1 else s)
            continue
        if in_time:
            k = max(1, int(round((len(s) - 1) * step / arc[-1])))
            idx = np.unique(np.concatenate([[0], np.arange(int(rng.integers(0, k)), len(s), k), [len(s) - 1]]))
            out.append(s[idx])
        else:
            at = np.concatenate([[0.0], np.arange(rng.uniform(0, 1) * step, arc[-1], step), [arc[-1]]])
            out.append(polylines.at_lengths(s, arc, at))
    return out


def resample_path(strokes, k: int) -> list[np.ndarray]:
    """The pen's whole path as one line through ``k`` points at equal distances along it, the first and the last
    point of the writing among them: every pen-down in the order written, the moves between them drawn (pen-ups
    lost), as the UCI pendigits set keeps a tablet's digit (8 points, spatially resampled).  Corners between two
    points are cut and a small loop may close into a line; a digit with no length stays one point."""
    if k < 2:
        raise ValueError(f"resample_path: k must be at least 2, got {k}")
    path = np.concatenate([np.asarray(s, np.float64).reshape(-1, 2) for s in strokes])
    arc = polylines.lengths(path)
    if arc[-1] <= 0:
        return [path[:1]]
    return [polylines.at_lengths(path, arc, np.linspace(0.0, arc[-1], k))]


# How far ``warp`` reshapes a digit: each drawn uniformly in +-the value (the shift and the bend: their sd and
# amplitude), in shares of the digit's height.  The ranges of writer-style variation that online-handwriting
# augmentation draws (slant, width, rotation, stroke placement, smooth distortion), fixed before any model read one.
WARP_SLANT = 0.35  # x moved by this share of the height above the middle: a slant of up to about 19 degrees either way
WARP_WIDTH = 0.2  # the width scaled by e^u, u within +-this
WARP_TURN = 8.0  # degrees
WARP_SHIFT = 0.04  # each pen-down of a digit of several moved by a Gaussian of this sd
WARP_BEND = 0.04  # a smooth displacement of this amplitude, about one wave per height


def warp(strokes, rng: np.random.Generator) -> list[np.ndarray]:
    """The pen-downs reshaped as another hand would shape the same digit: slanted (``WARP_SLANT``), made wider
    or narrower (``WARP_WIDTH``), turned a little (``WARP_TURN``), each pen-down of several moved on its own
    (``WARP_SHIFT``), then bent by a smooth displacement (``WARP_BEND``).  Every pen-down keeps its points and its
    order.  The ranges keep a digit its own digit (checked by eye on 70 warped real digits)."""
    lo, hi = _box(strokes)
    h = max(hi[1] - lo[1], 0.35 * (hi[0] - lo[0]), 1e-9)
    mid = (lo + hi) / 2
    slant = rng.uniform(-WARP_SLANT, WARP_SLANT)
    width = np.exp(rng.uniform(-WARP_WIDTH, WARP_WIDTH))
    turn = np.deg2rad(rng.uniform(-WARP_TURN, WARP_TURN))
    c, s = np.cos(turn), np.sin(turn)
    m = np.array([[c, -s], [s, c]]) @ np.array([[width, -slant], [0.0, 1.0]])  # y down: above the middle leans right
    waves = [(rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.5), rng.uniform(0, 2 * np.pi)) for _ in range(2)]
    several = len(strokes) > 1
    out = []
    for stroke in strokes:
        p = (np.asarray(stroke, np.float64) - mid) / h
        if several:
            p = p + rng.normal(0, WARP_SHIFT, 2)
        p = p @ m.T
        for axis, (angle, freq, phase) in enumerate(waves):  # one smooth wave for x, one for y
            along = p @ np.array([np.cos(angle), np.sin(angle)])
            p[:, axis] += WARP_BEND * np.sin(2 * np.pi * freq * along + phase)
        out.append(p * h + mid)
    return out


def prepare_items(items: list[Item], renders: int, seed: int, conventions: float = 0.0, joined: float = 0.0,
                  log=None, classes: str = "017", coarse: float = 0.0, warped: float = 0.0,
                  path: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Items -> ((N * renders, 28, 28) uint8 model inputs x 255, labels) through ``preprocess.prepare`` as the
    app reads its canvas (``invert="no"``, a drawing on the black canvas: ``drawn_on=0.0``); a rendering with no ink
    found is dropped.  ``warped``: the share of renderings whose pen's path is reshaped (``warp``), before any
    convention edit; ``coarse``: the share drawn from few points (``coarsen``), after it; ``path``: the share drawn
    as the pen's whole path through ``PATH_POINTS`` points (``resample_path``), after that."""
    from digitlab import preprocess

    rng = np.random.default_rng([seed, 4242])
    out, labels, edited = [], [], 0
    t0 = time.time()
    for item in items:
        for _ in range(renders):
            strokes = item.strokes
            if warped and rng.uniform() < warped:  # no draw at 0: a pool without warped drawings draws what it drew before
                strokes = warp(strokes, rng)
            if conventions and item.label in EDITS and str(item.label) in classes and rng.uniform() < conventions:
                strokes, edited = edit(strokes, item.label, rng), edited + 1
            if coarse and rng.uniform() < coarse:  # no draw at 0: a pool without coarse drawings draws what it drew before
                strokes = coarsen(strokes, rng)
            if path and rng.uniform() < path:  # no draw at 0, as above
                strokes = resample_path(strokes, int(rng.integers(PATH_POINTS[0], PATH_POINTS[1] + 1)))
            canvas = render(strokes, rng, joined=bool(joined and len(strokes) > 1 and rng.uniform() < joined))
            p = preprocess.prepare(canvas, invert="no", drawn_on=0.0)  # strokes on the black canvas, as the app reads its canvas
            if not p.no_ink:
                out.append(np.round(p.image * 255).astype(np.uint8))
                labels.append(item.label)
    if log:
        log(f"real strokes: {len(out)} canvas pictures of {len(items)} real digits ({edited} with a writing-convention edit) "
            f"in {time.time() - t0:.1f} s")
    return np.asarray(out, np.uint8).reshape(-1, 28, 28), np.asarray(labels, np.int64)


def pool(path: str | os.PathLike, p: Pool, dry_run: bool = False, cache_dir=None, log=print) -> tuple[np.ndarray, np.ndarray]:
    """The training sites' training writers (``split``), rendered ``p.renders`` times each and prepared:
    ((P, 28, 28) uint8, (P,) labels), kept in ``cache_dir`` under the file's hash, ``p`` and the preprocessing
    version.  A dry run renders 200 items once."""
    from digitlab import preprocess
    from digitlab.files import cache_params, cached_arrays

    key = hashlib.sha256(json.dumps({"file": fingerprint(path), **cache_params(p), "dry_run": dry_run, "edits": EDITS_VERSION,
                                     "preprocess": preprocess.PREPROCESS_VERSION, "drawn_on": 0.0, "held_out": HELD_OUT_SITE,
                                     "split": SPLIT_SEED}, sort_keys=True).encode()).hexdigest()[:16]

    def build():
        train = split(load(path)).train
        if dry_run:
            train = [train[i] for i in np.random.default_rng(p.seed).choice(len(train), size=min(200, len(train)), replace=False)]
        return prepare_items(train, 1 if dry_run else p.renders, p.seed, p.conventions, p.joined, log=log, classes=p.classes,
                             coarse=p.coarse, warped=p.warp, path=p.path)

    return cached_arrays(None if cache_dir is None else Path(cache_dir) / f"unipen-{key}.npz", build)


# ----------------------------------------------------------------------------- one real writer as an app user


def writer_items(items: list[Item], name: str) -> list[Item]:
    """The digits one writer wrote, ``name`` "site/writer" (as ``evaluation/writers.py`` shows them), in the file's
    order.  Raises UnipenError naming a few writers when there is no such writer."""
    site, _, writer = name.partition("/")
    out = [i for i in items if i.source == site and i.writer == writer]
    if not out:
        known = sorted({f"{i.source}/{i.writer}" for i in items})
        raise UnipenError(f"no writer {name!r} in the file (site/writer, e.g. {', '.join(known[:3])}; {len(known)} writers)")
    return out


def as_user(items: list[Item], folder: Path, per_class: int, seed: int, brushes=(20,)) -> list[Item]:
    """A real writer as a user of the app: ``per_class`` of his digits of every class, drawn on the dark canvas with a
    brush from ``brushes`` (px), saved into ``folder`` as the Collect page saves them (``user_digits.save``).  Returns the
    digits left over, never saved: his fresh digits to measure on.  Raises UnipenError when a digit has fewer than
    ``per_class + 1`` samples (one must stay out)."""
    from digitlab.data import user_digits

    rng = np.random.default_rng([seed, 4711])
    by_label = {d: [i for i in items if i.label == d] for d in range(10)}
    short = {d: len(v) for d, v in by_label.items() if len(v) <= per_class}
    if short:
        raise UnipenError(f"this writer has too few digits for {per_class} per class and one left to measure on: "
                          + ", ".join(f"{d}: {n}" for d, n in short.items()))
    rest = []
    for d, mine in by_label.items():
        picked = set(rng.choice(len(mine), size=per_class, replace=False).tolist())
        for k, item in enumerate(mine):
            if k in picked:
                user_digits.save(render(item.strokes, rng, brush=float(rng.choice(brushes))), d, folder, invert="no", drawn_on=0.0)
            else:
                rest.append(item)
    return rest


# ----------------------------------------------------------------------------- real numbers


def runs_on_a_line(items: list[Item], lengths=(2, 6)) -> list[list[Item]]:
    """Digits one writer wrote in a row on one line: consecutive items of one file, each starting to the right
    of the one before, overlapping it vertically by half the smaller height, with a gap under 1.5 heights.
    Maximal runs are cut into pieces of ``lengths[0]``-``lengths[1]`` digits."""
    runs, cur = [], []

    def close():
        i = 0
        while len(cur) - i >= lengths[0]:
            n = min(lengths[1], len(cur) - i)
            if len(cur) - i - n == 1 and n > lengths[0]:
                n -= 1  # never leave a single digit behind
            runs.append(cur[i : i + n])
            i += n

    for item in items:
        if cur:
            prev = cur[-1]
            (plo, phi), (lo, hi) = _box(prev.strokes), _box(item.strokes)
            ph, h = phi[1] - plo[1], hi[1] - lo[1]
            overlap = min(phi[1], hi[1]) - max(plo[1], lo[1])
            same = (item.source == prev.source and item.writer == prev.writer and item.index == prev.index + 1)
            on_line = (lo[0] > plo[0] + 0.3 * (phi[0] - plo[0]) and overlap > 0.5 * min(ph, h) and lo[0] - phi[0] < 1.5 * max(ph, h))
            if same and on_line:
                cur.append(item)
                continue
            close()
        cur = [item]
    close()
    return runs


def sideways_overlap(run: list[Item]) -> float:
    """How far the run's digits are written over one another: the largest sideways overlap of two consecutive
    digits' boxes as a share of the narrower one's width (0 or less: every digit apart from the next; 1: one
    digit's width wholly inside the other's).  ``runs_on_a_line`` lets a digit start 0.3 of the previous one's
    width to its right, so a run can hold digits a reader of the picture cannot take apart."""
    most = -np.inf
    for a, b in zip(run, run[1:]):
        (alo, ahi), (blo, bhi) = _box(a.strokes), _box(b.strokes)
        across = min(ahi[0], bhi[0]) - max(alo[0], blo[0])
        most = max(most, across / max(min(ahi[0] - alo[0], bhi[0] - blo[0]), 1e-6))
    return float(most) if run[1:] else 0.0


OVERLAP_GROUPS = ((0.0, "digits apart"), (0.25, "digits overlapping sideways up to 1/4"), (np.inf, "digits overlapping more"))


def overlap_group(run: list[Item]) -> str:
    """``OVERLAP_GROUPS``' name for the run's ``sideways_overlap``."""
    v = sideways_overlap(run)
    return next(name for bound, name in OVERLAP_GROUPS if v <= bound)


def render_number(run: list[Item], rng: np.random.Generator, width: int = 560, height: int = 280,
                  brush: float | None = None, only: int | None = None) -> np.ndarray:
    """A run of one writer's digits -> (height, width) uint8 canvas, white on black, as the Numbers page's
    canvas gives it: every pen-down where the writer put it (one scale for the whole number), one brush of
    ``brush`` px (default: random in the slider's range), at most a fifth of a digit's height.  ``only``: draw
    the digit ``run[only]`` alone, where and as it is drawn in the number (its neighbours left out)."""
    strokes = [s for item in run for s in item.strokes]
    drawn = strokes if only is None else run[only].strokes
    lo, hi = _box(strokes)
    size = np.maximum(hi - lo, 1e-6)
    scale = min(0.85 * width / size[0], 0.6 * height / size[1])
    digit_h = np.median([np.ptp(np.concatenate(i.strokes)[:, 1]) for i in run]) * scale
    b = max(3.0, min(rng.uniform(*BRUSH) if brush is None else brush, 0.2 * digit_h))
    shift = (np.array([width, height]) - size * scale) / 2
    return draw(np.zeros((height, width), np.uint8), [(s - lo) * scale + shift for s in drawn], b)


def scan_number(run: list[Item], seed, only: int | None = None) -> bytes:
    """A run of one writer's digits as a scan of a form gives it: JPEG bytes of dark ink on white paper, the pen 2-4% of
    a digit's height, the number cut out with a margin of 2.5-27.5% of a digit's height around its ink, the line
    32-160 px high, the scanner's blur and noise.  Every parameter comes from ``seed`` (anything
    ``np.random.default_rng`` takes), so ``only`` (the digit ``run[only]`` alone, where it is in the number) is drawn
    as it is in the whole number.  Unlike the canvas, the paper is no exact tone: the preprocessing reads it as a photo."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    digit_h = 400.0
    strokes = [s for item in run for s in item.strokes]
    lo, hi = _box(strokes)
    scale = digit_h / max(float(np.median([np.ptp(np.concatenate(i.strokes)[:, 1]) for i in run])), 1e-6)
    margin = int(rng.uniform(0.0, 0.25) * digit_h) + 10
    size = ((hi - lo) * scale).astype(int) + 2 * margin
    drawn = strokes if only is None else run[only].strokes
    ink = draw(np.zeros((size[1], size[0]), np.uint8), [(s - lo) * scale + margin for s in drawn], rng.uniform(0.02, 0.04) * digit_h)
    paper = 255 - ink.astype(np.float32) * rng.uniform(0.6, 0.9)
    h = int(rng.uniform(32, 160))
    w = max(8, round(paper.shape[1] * h / paper.shape[0]))
    small = cv2.resize(cv2.GaussianBlur(paper, (0, 0), 0.6 * paper.shape[0] / h), (w, h), interpolation=cv2.INTER_AREA)
    small = np.clip(small + rng.normal(0, 3, small.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, "JPEG", quality=85)
    return buf.getvalue()
