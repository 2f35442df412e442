"""Paper hands for TRAINING: MNIST training digits written as older and continental hands and other pens write them.

Scans of real paper hold digits MNIST's writers rarely made.  This module turns training digits into such digits,
once per run, into a pool the training pipeline mixes into its batches (``TrainConfig.paper``,
``digitlab.training.recipe``).  Each digit of the pool gets one of:

    looped 2     a 2 with a small loop at its foot, where the diagonal turns into the base (older school hands)
    struck 0     a 0 crossed by a straight stroke that runs past the oval on both sides, at any angle
    crossed 7    a 7 with a bar across its stem (``stroke_augment``'s edit), its stem drawn longer below the bar
    flagged 1    a 1 with a long flag (``stroke_augment``'s edit)
    thick pen    any digit written with a pen whose stroke is a fifth to a third of the digit's height
    stretched    any digit whose ink was stretched to fill a square box, as an old scanner's size normalisation did,
                 kept at 16-32 px and, for half of them, thresholded to 1 bit
    narrow fine  any digit written narrow and leant right with a fine pen whose ink comes and goes, as clerks wrote
                 row numbers: its skeleton squeezed to 35-70% of its width, drawn 1-3 px wide on a 168 px picture (the
                 scan path thickens such a hairline to MNIST's stroke, closing narrow loops as it does in real scans);
                 given to a share of the pool (``narrow``), before any other style

The edits are painted with a pen like MNIST's (``stroke_augment.paint_edit``), so the digit keeps its scanned look;
every picture then goes through ``preprocess.prepare`` as a scan, the path every picture of paper takes.  Which
digits and styles were chosen, and what they did on the real-paper dev benchmark, is in docs/ablations.md.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from digitlab.data import stroke_augment

VERSION = 1  # part of every cached pool's key and of the card ("edits"): a change to any style raises it
STYLES = ("looped 2", "struck 0", "crossed 7", "flagged 1", "thick pen", "stretched", "narrow fine")
EDITED = {"looped 2": 2, "struck 0": 0, "crossed 7": 7, "flagged 1": 1}  # the styles that are one digit's edit
SHARE_EDITED = 0.5  # of the pool's digits of 0, 1, 2 and 7: the share given their class's edit (the rest: pen or box)
THICK = (0.2, 0.34)  # the thick pen's stroke, as a fraction of the digit's height
BOX_SIDES = (16, 20, 24, 32)  # the stretched digit's square box, in pixels
NARROW = (0.35, 0.7)  # the narrow hand's width, as a fraction of the digit's own
LEAN = (-0.05, 0.45)  # its slant: horizontal shift per pixel of height, top to the right
FINE_SCALE = 3  # the fine pen's picture is this many times the skeleton's 56 px
FINE_PEN = (1, 3)  # its stroke in px on that picture (a 1-3 px pen on a ~120 px digit: a hairline)


def _loop_2(sk: np.ndarray, rng: np.random.Generator):
    """A small loop at the 2's foot: an ellipse sitting on the lowest-left point of the skeleton, above and right
    of it, so the diagonal runs into the loop and the base leaves it."""
    ys, xs, top, bottom, left, right = stroke_augment._box(sk)
    h = bottom - top + 1
    low = ys >= top + 0.75 * h
    if not low.any():
        return None
    i = np.flatnonzero(low)[np.argmin(xs[low])]
    r = rng.uniform(0.07, 0.13) * h
    centre = (round(xs[i] + r * rng.uniform(0.3, 0.8)), round(ys[i] - r * rng.uniform(0.6, 0.9)))
    axes = (max(2, round(r * rng.uniform(0.8, 1.2))), max(2, round(r)))
    cv2.ellipse(sk, centre, axes, rng.uniform(-30, 30), 0, 360, 255, 1)
    return []


def _strike_0(sk: np.ndarray, rng: np.random.Generator):
    """A straight stroke through the 0 at any angle, reaching 10-40% of the oval's size past it on both sides."""
    ys, xs, top, bottom, left, right = stroke_augment._box(sk)
    h, w = bottom - top + 1, right - left + 1
    if w < 0.3 * h:  # a 0 drawn as a bar: no oval to cross
        return None
    centre = np.array([(left + right) / 2, (top + bottom) / 2]) + rng.normal(0, 0.05, 2) * (w, h)
    angle = rng.uniform(0, np.pi)
    d = np.array([np.cos(angle), np.sin(angle)])
    reach = 0.5 * np.hypot(w * d[0], h * d[1])  # centre to the oval's edge along the stroke, about
    ends = [centre + s * d * reach * (1 + rng.uniform(0.1, 0.4)) for s in (-1, 1)]
    a, b = (tuple(int(np.clip(round(v), 0, sk.shape[0] - 1)) for v in end) for end in ends)
    cv2.line(sk, a, b, 255, 1)
    return []


def _long_crossed_7(sk: np.ndarray, rng: np.random.Generator):
    """A crossed 7 whose stem runs on below the bar: the stem's lowest point extended downwards by 10-25% of the
    height in the stem's own direction, then the bar (``stroke_augment``'s crossbar edit)."""
    ys, xs, top, bottom, left, right = stroke_augment._box(sk)
    h = bottom - top + 1
    low, mid = np.argmax(ys), (ys >= top + 0.6 * h) & (ys <= top + 0.8 * h)
    if mid.any() and bottom + 0.1 * h < sk.shape[0] - 2:
        x0 = float(np.median(xs[mid]))
        dx = (xs[low] - x0) / max(1.0, bottom - float(np.median(ys[mid])))
        extra = min(rng.uniform(0.1, 0.25) * h, sk.shape[0] - 2 - bottom)
        cv2.line(sk, (int(xs[low]), int(ys[low])), (round(xs[low] + dx * extra), round(ys[low] + extra)), 255, 1)
    return stroke_augment.EDITS[7](sk, rng)


EDITS = {"looped 2": _loop_2, "struck 0": _strike_0, "crossed 7": _long_crossed_7, "flagged 1": stroke_augment.EDITS[1]}


def thick_pen(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The digit ((28, 28) float [0, 1]) written with a thick pen: its ink dilated at 4x until the stroke is
    ``THICK`` of its height, softened at the edge; returned at 4x (the picture a scan would give)."""
    big = cv2.resize(digit.astype(np.float32), (112, 112), interpolation=cv2.INTER_LINEAR)
    ys = np.flatnonzero((big > 0.3).any(axis=1))
    h = (ys[-1] - ys[0] + 1) if ys.size else 80
    k = max(3, round(rng.uniform(*THICK) * h - 9))  # MNIST's own stroke is ~9 px at this size
    pen = cv2.dilate(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return np.clip(cv2.GaussianBlur(pen, (0, 0), 1.0), 0, 1)


def stretched(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """The digit's ink box stretched to fill a square box of ``BOX_SIDES`` pixels, for half of them thresholded to
    1 bit, on a margin of one pixel (None for a digit with no ink)."""
    ys, xs = np.nonzero(digit > 0.2)
    if ys.size == 0:
        return None
    s = int(rng.choice(BOX_SIDES))
    box = cv2.resize(digit[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32), (s, s),
                     interpolation=cv2.INTER_AREA if min(np.ptp(ys), np.ptp(xs)) >= s else cv2.INTER_LINEAR)
    if rng.uniform() < 0.5:
        box = (box > 0.5).astype(np.float32)
    return np.pad(box, 1)


def narrow_fine(sk: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """The digit's skeleton ((56, 56) uint8 0/255) written narrow, leant right and with a fine pen: squeezed to
    ``NARROW`` of its width about its centre, sheared by ``LEAN``, drawn ``FINE_PEN`` px wide at ``FINE_SCALE`` x, its
    ink as strong as 0.35-1.2 of full in smooth patches (a dip pen's pressure), on a little grain.  None for a
    skeleton of a few pixels."""
    ys, xs = np.nonzero(sk)
    if ys.size < 10:
        return None
    cy, cx = ys.mean(), xs.mean()
    squeeze, lean, s = rng.uniform(*NARROW), rng.uniform(*LEAN), FINE_SCALE
    side = sk.shape[0] * s
    m = np.float32([[squeeze * s, -lean * s, s * (cx - squeeze * cx + lean * cy)], [0, s, 0]])
    line = cv2.warpAffine(sk.astype(np.float32) / 255, m, (side, side), flags=cv2.INTER_LINEAR) > 0.15
    line = stroke_augment.thin(line.astype(np.uint8) * 255)
    w = int(rng.integers(FINE_PEN[0], FINE_PEN[1] + 1))
    pen = cv2.dilate(line, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (w, w))).astype(np.float32) / 255
    field = cv2.GaussianBlur(rng.uniform(0, 1, (side, side)).astype(np.float32), (0, 0), 12)
    field = (field - field.min()) / (float(np.ptp(field)) + 1e-6)
    pen = cv2.GaussianBlur(pen, (0, 0), rng.uniform(0.5, 1.2)) * (rng.uniform(0.35, 0.7) + 0.5 * field)
    return np.clip(pen + rng.normal(0, rng.uniform(0, 0.04), pen.shape), 0, 1).astype(np.float32)


def paper_one(digit: np.ndarray, label: int, sk: np.ndarray, rng: np.random.Generator,
              narrow: float = 0.0) -> tuple[np.ndarray, str] | None:
    """One training digit ((28, 28) float [0, 1], its (56, 56) skeleton) in one paper style: (the picture before
    preprocessing, the style), or None when the drawn style does not apply to this digit.  ``narrow``: the chance it
    is written narrow with a fine pen (no random number is drawn for it at 0, so a pool without it stays as it was)."""
    if narrow > 0 and rng.uniform() < narrow:
        picture = narrow_fine(sk, rng)
        return None if picture is None else (picture, "narrow fine")
    edit = next((s for s, c in EDITED.items() if c == label), None)
    if edit is not None and rng.uniform() < SHARE_EDITED:
        edited = sk.copy()
        if not sk.any() or EDITS[edit](edited, rng) is None:
            return None
        return stroke_augment.paint_edit(digit, sk, edited, rng), edit
    if rng.uniform() < 0.5:
        return thick_pen(digit, rng), "thick pen"
    picture = stretched(digit, rng)
    return None if picture is None else (picture, "stretched")


def pool(x: np.ndarray, y: np.ndarray, size: int, seed: int, cache_dir=None, log=print,
         narrow: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``size`` training digits (a seeded sample of ``x`` (N, 28, 28) float [0, 1], ``y`` (N,)) in paper styles
    (``paper_one``; ``narrow`` of them written narrow with a fine pen) and prepared as scans: ((P, 28, 28) uint8 model
    inputs x 255, (P,) labels); cached in
    ``cache_dir`` like the other pools."""
    from digitlab import preprocess

    stroke_augment._digits(x, y)

    def build():
        t0 = time.time()
        rng = np.random.default_rng([seed, 1893])
        pick = rng.choice(len(x), size=min(int(size * 1.2) + 8, len(x)), replace=False)  # some styles do not apply
        sks = stroke_augment.skeletons(x[pick])
        out, labels, styles = [], [], dict.fromkeys(STYLES, 0)
        for i, sk in zip(pick, sks):
            made = paper_one(x[i], int(y[i]), sk, rng, narrow)
            if made is None:
                continue
            p = preprocess.prepare(made[0], invert="no")
            if p.no_ink:
                continue
            out.append(np.round(p.image * 255).astype(np.uint8))
            labels.append(int(y[i]))
            styles[made[1]] += 1
            if len(out) == size:
                break
        if log:
            made = ", ".join(f"{n} {s}" for s, n in styles.items())
            log(f"paper pool: {len(out)} digits in {time.time() - t0:.1f} s ({made})")
        return np.stack(out) if out else np.zeros((0, 28, 28), np.uint8), np.asarray(labels, np.int64)

    return stroke_augment._cached("paper", x, y, {"size": size, "seed": seed, "thick": THICK, "boxes": BOX_SIDES,
                                                  "edited": SHARE_EDITED, "version": VERSION,
                                                  **({"narrow": narrow} if narrow else {})}, cache_dir, build)
