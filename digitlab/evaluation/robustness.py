"""Corruptions of model inputs and accuracy-vs-severity sweeps; shared by evaluation/evaluate_robustness.py,
the leaderboard and the app.

Every corruption maps (N, 28, 28) float32 in [0, 1] (light ink on black, the output of
``digitlab.preprocess``) to the same shape and range, and draws its randomness from the
``numpy.random.Generator`` it is given, so a fixed seed gives the same corrupted set every time.

Two families:

* ``SUITE``: accuracy against a growing severity (noise, blur, rotation, translation, scale, shear,
  thicker and thinner strokes, contrast, brightness, inversion), to see *where* a model breaks.
* ``MNIST_C``: the 15 corruptions of MNIST-C (Mu & Gilmer 2019, arXiv:1906.02337), each at the one
  severity the MNIST-C dataset uses, re-implemented here with numpy/OpenCV (their code needs
  ImageMagick and scikit-image).  Parameters follow their ``corruptions.py``; where our version
  differs (glass blur's pixel shuffle is a random local gather, motion blur is a one-sided Gaussian
  streak, fog's fractal comes from a seeded bank) the docstring says so.  The numbers are
  therefore "MNIST-C-style", not comparable digit for digit with the published MNIST-C files.

``sweep`` evaluates several models on the same corrupted sets (each set is generated once).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from digitlab.report.progress import Progress

SIDE = 28
C = (SIDE - 1) / 2  # 13.5: the image centre in pixel-index coordinates


@dataclass(frozen=True)
class Corruption:
    name: str
    fn: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]  # (x (N,28,28), level, rng) -> (N,28,28)
    levels: tuple[float, ...]  # severity parameters, mildest first
    unit: str  # what a level means (axis label)
    family: str  # "suite" or "mnist_c"
    about: str = ""


def _out(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def _per_image(x: np.ndarray, f) -> np.ndarray:
    out = np.empty_like(x, dtype=np.float32)
    for i, img in enumerate(x):
        out[i] = f(i, img)
    return out


def _warp(x: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Apply one 2x3 affine matrix per image (output -> input coordinates), bilinear, zero outside."""
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return _per_image(x, lambda i, img: cv2.warpAffine(img, matrices[i], (SIDE, SIDE), flags=flags, borderValue=0))


def _about_centre(a: np.ndarray) -> np.ndarray:
    """(N, 2, 2) linear maps (output -> input) -> (N, 2, 3) affine maps that keep the centre (13.5, 13.5) fixed."""
    c = np.array([C, C])
    t = c - a @ c
    return np.concatenate([a, t[..., None]], axis=-1).astype(np.float64)


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0]), size=n)


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    return _per_image(x, lambda i, img: cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE))


# ----------------------------------------------------------------------------- geometric


def rotate(x, degrees, rng):
    """Rotate by ``degrees`` about the centre, direction random per image."""
    th = np.deg2rad(degrees) * _signs(rng, len(x))
    a = np.stack([np.stack([np.cos(th), -np.sin(th)], -1), np.stack([np.sin(th), np.cos(th)], -1)], -2)
    return _out(_warp(x, _about_centre(a)))


def translate(x, pixels, rng):
    """Shift by ``pixels`` in a random direction."""
    ang = rng.uniform(0, 2 * np.pi, len(x))
    m = np.zeros((len(x), 2, 3))
    m[:, 0, 0] = m[:, 1, 1] = 1
    m[:, 0, 2] = -pixels * np.cos(ang)
    m[:, 1, 2] = -pixels * np.sin(ang)
    return _out(_warp(x, m))


def translate_xy(x, pixels, rng):
    """MNIST-C translate: ``pixels`` along both axes, each sign random."""
    m = np.zeros((len(x), 2, 3))
    m[:, 0, 0] = m[:, 1, 1] = 1
    m[:, 0, 2] = -pixels * _signs(rng, len(x))
    m[:, 1, 2] = -pixels * _signs(rng, len(x))
    return _out(_warp(x, m))


def scale(x, change, rng):
    """Shrink to (1 - change) or enlarge to 1 / (1 - change) about the centre, at random per image."""
    f = np.where(rng.random(len(x)) < 0.5, 1 - change, 1 / (1 - change))
    a = np.zeros((len(x), 2, 2))
    a[:, 0, 0] = a[:, 1, 1] = 1 / f
    return _out(_warp(x, _about_centre(a)))


def shrink(x, factor, rng):
    """MNIST-C scale: shrink to ``factor`` of the size about the centre."""
    a = np.zeros((len(x), 2, 2))
    a[:, 0, 0] = a[:, 1, 1] = 1 / factor
    return _out(_warp(x, _about_centre(a)))


def shear(x, amount, rng):
    """Horizontal shear of ``amount`` radians (scikit-image's AffineTransform convention, as MNIST-C),
    direction random, centre fixed."""
    s = amount * _signs(rng, len(x))
    a = np.zeros((len(x), 2, 2))
    a[:, 0, 0] = 1
    a[:, 0, 1] = -np.sin(s)
    a[:, 1, 1] = np.cos(s)
    return _out(_warp(x, _about_centre(a)))


# ----------------------------------------------------------------------------- strokes and intensity


def _morph(x, radius, op):
    """Grey-level dilation/erosion by a disc of fractional ``radius``: blend of the two nearest whole radii."""
    def at(r):
        if r == 0:
            return x
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        return _per_image(x, lambda i, img: op(img, k))

    lo, frac = int(np.floor(radius)), radius - np.floor(radius)
    a = at(lo)
    return a if frac == 0 else a + frac * (at(lo + 1) - a)


def thicken(x, radius, rng):
    """Thicker strokes: grey dilation by a disc of ``radius`` px (fractions blend the neighbours)."""
    return _out(_morph(x, radius, cv2.dilate))


def thin(x, radius, rng):
    """Thinner strokes: grey erosion by a disc of ``radius`` px (a 1 px erosion leaves ~0.3 px of an MNIST stroke)."""
    return _out(_morph(x, radius, cv2.erode))


def gaussian_noise(x, sigma, rng):
    return _out(x + rng.normal(0, sigma, x.shape))


def blur(x, sigma, rng):
    return _out(_gaussian(x, sigma))


def contrast(x, factor, rng):
    """Pull every pixel towards the image's mean grey: factor 1 unchanged, 0 flat."""
    m = x.mean(axis=(1, 2), keepdims=True)
    return _out(m + (x - m) * factor)


def brightness(x, amount, rng):
    """Add ``amount`` to every pixel (grey's HSV value, as MNIST-C) and clip."""
    return _out(x + amount)


def invert(x, amount, rng):
    """Blend towards the negative: 1 = dark ink on white (what an un-inverted photo of paper gives)."""
    return _out(x + amount * (1 - 2 * x))


# ----------------------------------------------------------------------------- noise and blur (MNIST-C)


def shot_noise(x, photons, rng):
    """Poisson noise with ``photons`` counts at full ink."""
    return _out(rng.poisson(x * photons) / photons)


def impulse_noise(x, amount, rng):
    """Salt and pepper on ``amount`` of the pixels, half each."""
    u = rng.random(x.shape)
    out = x.copy()
    out[u < amount / 2] = 0.0
    out[(u >= amount / 2) & (u < amount)] = 1.0
    return _out(out)


def glass_blur(x, sigma, rng, max_delta: int = 1, iterations: int = 2):
    """Blur, shuffle pixels locally, blur again (MNIST-C severity 1: sigma 0.7, delta 1, 2 rounds).
    MNIST-C swaps pixel pairs in a Python loop; here each pixel takes, with probability 1/2, the value
    of a neighbour up to ``max_delta`` away (a vectorised local shuffle with the same reach)."""
    out = _gaussian(x, sigma)
    n = len(x)
    rows, cols = np.indices((SIDE, SIDE))
    for _ in range(iterations):
        move = rng.random((n, SIDE, SIDE)) < 0.5
        dy = np.where(move, rng.integers(-max_delta, max_delta, (n, SIDE, SIDE)), 0)
        dx = np.where(move, rng.integers(-max_delta, max_delta, (n, SIDE, SIDE)), 0)
        r = np.clip(rows + dy, 0, SIDE - 1)
        c = np.clip(cols + dx, 0, SIDE - 1)
        out = out[np.arange(n)[:, None, None], r, c]
    return _out(_gaussian(out, sigma))


def motion_blur(x, radius, rng, sigma: float = 3.0):
    """Streak along a random direction in [-45, 45] degrees: a one-sided line kernel of ``radius`` px with
    Gaussian weights (sigma 3), like ImageMagick's -motion-blur that MNIST-C uses (radius 10, sigma 3)."""
    r = int(radius)

    def kernel(angle):
        k = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
        for d in np.linspace(0, r, 4 * r + 1):
            px = r + d * np.cos(angle)
            py = r - d * np.sin(angle)
            k[int(round(py)), int(round(px))] += np.exp(-0.5 * (d / sigma) ** 2)
        return k / k.sum()

    degrees = np.round(rng.uniform(-45, 45, len(x))).astype(int)  # whole degrees: 91 kernels, built once
    kernels = {d: kernel(np.deg2rad(d)) for d in np.unique(degrees)}
    return _out(_per_image(x, lambda i, img: cv2.filter2D(img, -1, kernels[degrees[i]], borderType=cv2.BORDER_CONSTANT)))


# ----------------------------------------------------------------------------- overlays (MNIST-C)


def stripe(x, _level, rng):
    """Invert the 7 leftmost and 7 rightmost columns."""
    out = x.copy()
    out[:, :, :7] = 1 - out[:, :, :7]
    out[:, :, 21:] = 1 - out[:, :, 21:]
    return _out(out)


def _plasma(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """Diamond-square fractal height map (size a power of two) in [0, 1]."""
    m = np.zeros((size, size))
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = m[0:size:step, 0:size:step]
        sq = corners + np.roll(corners, -1, 0)
        sq = sq + np.roll(sq, -1, 1)
        m[half:size:step, half:size:step] = sq / 4 + wibble * rng.uniform(-wibble, wibble, sq.shape)
        centres = m[half:size:step, half:size:step]
        corners = m[0:size:step, 0:size:step]
        lt = centres + np.roll(centres, 1, 0) + corners + np.roll(corners, -1, 1)
        m[0:size:step, half:size:step] = lt / 4 + wibble * rng.uniform(-wibble, wibble, lt.shape)
        tt = centres + np.roll(centres, 1, 1) + corners + np.roll(corners, -1, 0)
        m[half:size:step, 0:size:step] = tt / 4 + wibble * rng.uniform(-wibble, wibble, tt.shape)
        step //= 2
        wibble /= decay
    m -= m.min()
    return m / m.max()


def fog(x, strength, rng, decay: float = 1.4, bank: int = 32):
    """Add a fractal fog of ``strength`` and rescale (MNIST-C severity 5: 3.0, decay 1.4).  The fog is a
    random 28x28 window of one of ``bank`` seeded 256x256 fractals (MNIST-C draws a fresh one per image)."""
    maps = [_plasma(256, decay, rng) for _ in range(bank)]
    which = rng.integers(0, bank, len(x))
    tops = rng.integers(0, 256 - SIDE, (len(x), 2))
    layer = np.stack([maps[w][t : t + SIDE, s : s + SIDE] for w, (t, s) in zip(which, tops)])
    peak = x.max(axis=(1, 2), keepdims=True)
    return _out((x + strength * layer) * peak / (peak + strength))


def spatter(x, _level, rng):
    """Mud spatter (MNIST-C severity 4): blobs of thresholded smoothed noise painted in dark grey (63/255)."""
    liquid = _gaussian(rng.normal(0.65, 0.3, x.shape).astype(np.float32), 1.0)
    liquid[liquid < 0.65] = 0
    m = _gaussian((liquid > 0.65).astype(np.float32), 1.5)
    m[m < 0.8] = 0
    return _out(x * (1 - m) + 63 / 255 * m)


def _line_profile(dist: np.ndarray) -> np.ndarray:
    """MNIST-C's stroke profile: log(1 - d / 2.3) + 1, clipped to [0, 1] (about 1.5 px either side)."""
    d = np.clip(dist, 0, 2.3 - 1e-6)
    return np.clip(np.log(1 - d / 2.3) + 1, 0, 1)


def _segments_ink(points: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Polylines through (N, K, 2) (col, row) points -> (N, 28, 28) ink with the MNIST-C profile
    (distance from each pixel to the nearest segment)."""
    rr, cc = np.indices((SIDE, SIDE), dtype=np.float32)
    px, py = cc.reshape(1, -1, 1), rr.reshape(1, -1, 1)  # (1, 784, 1)
    out = np.empty((len(points), SIDE * SIDE), np.float32)
    for i in range(0, len(points), chunk):
        pts = points[i : i + chunk].astype(np.float32)
        ax, ay = pts[:, None, :-1, 0], pts[:, None, :-1, 1]  # (n, 1, K-1)
        bx, by = pts[:, None, 1:, 0] - ax, pts[:, None, 1:, 1] - ay
        t = np.clip(((px - ax) * bx + (py - ay) * by) / np.maximum(bx * bx + by * by, 1e-9), 0, 1)
        dx, dy = px - ax - t * bx, py - ay - t * by
        out[i : i + chunk] = _line_profile(np.sqrt((dx * dx + dy * dy).min(-1)))
    return out.reshape(-1, SIDE, SIDE)


def dotted_line(x, _level, rng):
    """A dotted line across the image between two random rows (2 px on, 2 px off)."""
    rows = rng.integers(0, 27, (len(x), 2)).astype(np.float32)
    pts = np.stack([np.stack([np.zeros(len(x)), rows[:, 0]], -1), np.stack([np.full(len(x), 27.0), rows[:, 1]], -1)], 1)
    on = ((np.arange(SIDE) // 2) % 2 == 1).astype(np.float32)
    return _out(np.maximum(x, _segments_ink(pts) * on[None, None, :]))


def zigzag(x, _level, rng, a: float = 2.0, b: float = 2.0):
    """A zigzag (teeth 2 px long, 2 px high) along a random line from column 2 to 25, rising or falling up to 5 px."""
    n = len(x)
    r0 = rng.integers(0, 27, n)
    theta = np.arctan((rng.integers(-5, 5, n)) / 23)
    length = 23 / np.cos(theta)  # 23 to 23.5 px: always 11 teeth corners plus the end point
    k = np.arange(11)
    along = np.concatenate([np.broadcast_to(k * a, (n, 11)), length[:, None]], 1)
    across = np.concatenate([np.broadcast_to(np.where(k % 2 == 1, b * (-1.0) ** (k // 2), 0.0), (n, 11)), np.zeros((n, 1))], 1)
    cols = 2 + along * np.cos(theta)[:, None] - across * np.sin(theta)[:, None]
    rows = r0[:, None] + along * np.sin(theta)[:, None] + across * np.cos(theta)[:, None]
    return _out(np.maximum(x, _segments_ink(np.stack([cols, rows], -1))))


def canny_edges(x, _level, rng):
    """Only the outline: Canny edges (Gaussian sigma 1, thresholds 0.1 / 0.2 of full scale, as scikit-image's defaults)."""
    def edges(i, img):
        smooth = cv2.GaussianBlur(img, (0, 0), 1.0)
        u8 = np.clip(smooth * 255, 0, 255).astype(np.uint8)
        return (cv2.Canny(u8, 0.1 * 255, 0.2 * 255, L2gradient=True) > 0).astype(np.float32)

    return _out(_per_image(x, edges))


# ----------------------------------------------------------------------------- the registries

SUITE: dict[str, Corruption] = {c.name: c for c in [
    Corruption("gaussian_noise", gaussian_noise, (0.1, 0.2, 0.3, 0.4, 0.5), "noise sigma", "suite"),
    Corruption("blur", blur, (0.5, 1.0, 1.5, 2.0, 2.5), "Gaussian sigma (px)", "suite"),
    Corruption("rotation", rotate, (10, 20, 30, 45, 60), "degrees", "suite"),
    Corruption("translation", translate, (1, 2, 3, 4, 6), "pixels", "suite"),
    Corruption("scale", scale, (0.1, 0.2, 0.3, 0.4, 0.5), "size change (fraction)", "suite"),
    Corruption("shear", shear, (0.1, 0.2, 0.3, 0.45, 0.6), "shear (radians)", "suite"),
    Corruption("thicken", thicken, (0.5, 1.0, 1.5, 2.0, 2.5), "dilation radius (px)", "suite"),
    Corruption("thin", thin, (0.25, 0.5, 0.75, 1.0), "erosion radius (px)", "suite"),
    Corruption("contrast", contrast, (0.8, 0.6, 0.4, 0.3, 0.2), "contrast factor", "suite"),
    Corruption("brightness", brightness, (0.1, 0.2, 0.3, 0.4, 0.5), "added brightness", "suite"),
    Corruption("inversion", invert, (0.25, 0.75, 1.0), "blend towards the negative", "suite"),
]}

MNIST_C: dict[str, Corruption] = {c.name: c for c in [
    Corruption("shot_noise", shot_noise, (3,), "photons", "mnist_c"),
    Corruption("impulse_noise", impulse_noise, (0.17,), "fraction of pixels", "mnist_c"),
    Corruption("glass_blur", glass_blur, (0.7,), "sigma", "mnist_c"),
    Corruption("motion_blur", motion_blur, (10,), "radius (px)", "mnist_c"),
    Corruption("shear", shear, (0.4,), "radians", "mnist_c"),
    Corruption("scale", shrink, (0.7,), "size factor", "mnist_c"),
    Corruption("rotate", rotate, (float(np.rad2deg(0.4)),), "degrees", "mnist_c"),
    Corruption("brightness", brightness, (0.5,), "added brightness", "mnist_c"),
    Corruption("translate", translate_xy, (3,), "pixels per axis", "mnist_c"),
    Corruption("stripe", stripe, (1,), "-", "mnist_c"),
    Corruption("fog", fog, (3.0,), "strength", "mnist_c"),
    Corruption("spatter", spatter, (1,), "-", "mnist_c"),
    Corruption("dotted_line", dotted_line, (1,), "-", "mnist_c"),
    Corruption("zigzag", zigzag, (1,), "-", "mnist_c"),
    Corruption("canny_edges", canny_edges, (1,), "-", "mnist_c"),
]}


def get(name: str, family: str = "suite") -> Corruption:
    table = SUITE if family == "suite" else MNIST_C
    if name not in table:
        raise KeyError(f"unknown {family} corruption {name!r}; known: {sorted(table)}")
    return table[name]


def corrupt(x: np.ndarray, corruption: Corruption | str, level: float, seed: int = 0, family: str = "suite") -> np.ndarray:
    """(N, 28, 28) or (28, 28) inputs -> corrupted copy, same shape, float32 in [0, 1].

    The generator is seeded from (seed, corruption name, level), so every call with the same
    arguments gives the same images, and two corruptions do not share their noise.
    """
    c = get(corruption, family) if isinstance(corruption, str) else corruption
    x = np.asarray(x, np.float32)
    single = x.ndim == 2
    xb = x[None] if single else x
    rng = np.random.default_rng([seed, zlib.crc32(f"{c.family}/{c.name}".encode()), int(round(level * 1000))])
    out = c.fn(xb, level, rng)
    return out[0] if single else out


# ----------------------------------------------------------------------------- sweeps

Predict = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) inputs -> (N, 10) probabilities


def _reprepare(x: np.ndarray) -> np.ndarray:
    """Send corrupted inputs through the picture path again (what the app does with a picture)."""
    from digitlab import preprocess

    out = np.zeros_like(x)
    for i, img in enumerate(x):
        p = preprocess.prepare(img, invert="auto")
        if p.image is not None:
            out[i] = p.image
    return out


def sweep(models: Mapping[str, Predict], x: np.ndarray, y: np.ndarray, suite: Mapping[str, Corruption] | None = None,
          mnist_c: Mapping[str, Corruption] | None = None, seed: int = 0, through_preprocess: bool = False,
          progress: Progress = None) -> dict[str, dict]:
    """Accuracy of every model on every corrupted set; each set is generated once and shared.

    models: {name: predict function}, e.g. {"mnist_cnn": classifier.predict_proba}
    x: (N, 28, 28) model inputs, y: (N,) labels.  suite / mnist_c: which corruptions (default: all).
    through_preprocess: pass each corrupted image through ``preprocess.prepare`` first, as a picture
    would be (it undoes translation and scale, removes some noise).
    Returns {model: {"clean": acc, "suite": {name: {"levels", "unit", "accuracy"}}, "mnist_c": {name: acc},
    "suite_mean": mean over (corruption, level), "mnist_c_mean": mean over the 15}}.
    """
    suite = SUITE if suite is None else suite
    mnist_c = MNIST_C if mnist_c is None else mnist_c
    y = np.asarray(y)
    jobs = [(c, lv) for c in suite.values() for lv in c.levels] + [(c, c.levels[0]) for c in mnist_c.values()]
    res = {m: {"n": int(len(x)), "seed": seed, "through_preprocess": through_preprocess, "suite": {}, "mnist_c": {}} for m in models}

    def accuracy(images):
        return {m: float((np.asarray(f(images)).argmax(1) == y).mean()) for m, f in models.items()}

    for m, acc in accuracy(_reprepare(x) if through_preprocess else x).items():
        res[m]["clean"] = acc
    for k, (c, level) in enumerate(jobs):
        if progress:
            progress(k / len(jobs), f"{c.family} {c.name} @ {level:g}")
        images = corrupt(x, c, level, seed)
        if through_preprocess:
            images = _reprepare(images)
        for m, acc in accuracy(images).items():
            if c.family == "suite":
                entry = res[m]["suite"].setdefault(c.name, {"levels": list(c.levels), "unit": c.unit, "accuracy": []})
                entry["accuracy"].append(acc)
            else:
                res[m]["mnist_c"][c.name] = acc
    for r in res.values():
        flat = [a for e in r["suite"].values() for a in e["accuracy"]]
        r["suite_mean"] = float(np.mean(flat)) if flat else None
        r["mnist_c_mean"] = float(np.mean(list(r["mnist_c"].values()))) if r["mnist_c"] else None
    if progress:
        progress(1.0, "done")
    return res


def sweep_one(image: np.ndarray, predict: Predict, corruption: str, family: str = "suite", seed: int = 0) -> list[dict]:
    """One (28, 28) input (e.g. the user's drawing) under every level of one corruption.

    Returns [{"level", "image" (28, 28), "label", "confidence", "probabilities" (10,)}, ...], level 0 first.
    """
    c = get(corruption, family)
    levels = [0.0, *c.levels]
    images = np.stack([np.asarray(image, np.float32)] + [corrupt(image, c, lv, seed) for lv in c.levels])
    probs = np.asarray(predict(images))
    return [{"level": float(lv), "image": img, "label": int(p.argmax()), "confidence": float(p.max()), "probabilities": p}
            for lv, img, p in zip(levels, images, probs)]


def examples(image: np.ndarray, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Every corruption of one (28, 28) input at every level: {"suite/<name>": [images], "mnist_c/<name>": [image]}."""
    out = {}
    for family, table in (("suite", SUITE), ("mnist_c", MNIST_C)):
        for c in table.values():
            out[f"{family}/{c.name}"] = [corrupt(image, c, lv, seed) for lv in c.levels]
    return out


def curve(result: dict, corruption: str, family: str = "suite") -> dict | None:
    """One corruption's accuracy against severity from one model's ``sweep`` result (or a report written
    from one): {"levels": [0, ...], "accuracy": [clean, ...], "unit"}; None when the result lacks it."""
    if family == "suite":
        e = (result.get("suite") or {}).get(corruption)
        return None if e is None else {"levels": [0.0, *e["levels"]], "accuracy": [result["clean"], *e["accuracy"]], "unit": e["unit"]}
    acc = (result.get("mnist_c") or {}).get(corruption)
    c = get(corruption, family)
    return None if acc is None else {"levels": [0.0, c.levels[0]], "accuracy": [result["clean"], acc], "unit": c.unit}


def read_report(reports_dir, name: str, model_path) -> dict | None:
    """The sweep evaluation/evaluate_robustness.py wrote for model ``name`` (``<reports_dir>/<name>/robustness.json``),
    or None when there is none, it cannot be read, or it is older than the model file (it measured an earlier version)."""
    import json
    from pathlib import Path

    path = Path(reports_dir) / name / "robustness.json"
    try:
        if path.stat().st_mtime < Path(model_path).stat().st_mtime:
            return None
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and "clean" in report else None


# ----------------------------------------------------------------------------- reporting


def chart_rows(curves: list[tuple[str, dict]]) -> tuple[dict[str, list], list[dict]]:
    """[(source, ``curve``)] -> (the points of an accuracy-vs-severity chart, one list per field ("severity", "accuracy",
    "source"), the rows of its table: one per severity, "clean" for 0, each source's accuracy as a percentage)."""
    points: dict[str, list] = {"severity": [], "accuracy": [], "source": []}
    by_level: dict = {}
    for source, c in curves:
        points["severity"] += c["levels"]
        points["accuracy"] += c["accuracy"]
        points["source"] += [source] * len(c["levels"])
        for lv, acc in zip(c["levels"], c["accuracy"]):
            by_level.setdefault(lv, {"severity": "clean" if lv == 0 else f"{lv:g}"})[source] = f"{acc:.1%}"
    return points, list(by_level.values())
