"""Calibration and "not a digit": ECE, reliability diagrams, temperature scaling, the abstain rule,
and a generated set of non-digit pictures.  Shared by evaluation/calibrate.py, the leaderboard,
the predict CLI and the app.

    probabilities (N, 10) -- temperature T (fitted on the validation split) --> calibrated probabilities
    calibrated max probability < threshold  -->  abstain: "not sure this is a digit"

Temperature scaling (Guo et al. 2017) divides the logits by T.  Because log p = z - logsumexp(z),
dividing the log-probabilities by T gives exactly softmax(z / T), so everything here works from the
probabilities a ``Classifier`` returns; no second forward pass is needed.  The abstain threshold is
the calibrated confidence below which only ``reject_rate`` of the *validation* digits fall; it is
then measured on MNIST test and on non-digit pictures (scribbles, letters from fonts, blank-ish
noise, shapes) that go through ``preprocess.prepare`` exactly like an uploaded picture.  Both
numbers are stored in the model card under "calibration", where ``decide`` reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

N_BINS = 15  # reliability bins, as in Guo et al.
REJECT_RATE = 0.005  # share of validation digits the abstain threshold may reject (the target is <= 1 % of test)
CANVAS = 280  # the app's drawing canvas side; non-digits are drawn at this size
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
# Letters that *are* digits in shape are not "non-digits": a model that reads O as 0 or l as 1 is right to.
DIGIT_LIKE_LETTERS = set("OoIliZzSsBbgq")  # 0, 1, 2, 5, 8, 6, 9 in letter form
LETTERS = "".join(ch for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if ch not in DIGIT_LIKE_LETTERS)
KINDS = ("scribble", "letter", "noise", "shape")


# ----------------------------------------------------------------------------- calibration metrics


def reliability(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> dict:
    """Confidence histogram of (N, 10) probabilities against (N,) labels, in ``n_bins`` equal-width bins.

    Returns {"edges" (n_bins+1,), "confidence", "accuracy", "count" (n_bins,) (NaN where a bin is empty),
    "ece": sum_b |acc_b - conf_b| * n_b / N, "mce": max_b |acc_b - conf_b|}.
    """
    probs = np.asarray(probs, np.float64)
    conf = probs.max(1)
    correct = (probs.argmax(1) == np.asarray(y)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin b holds edges[b] < conf <= edges[b+1]; a confidence of exactly 0 goes to the first bin
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, conf, n_bins) / count
        acc = np.bincount(which, correct, n_bins) / count
    gap = np.abs(acc - mean_conf)
    filled = count > 0
    n = max(1, len(conf))
    return {
        "edges": edges.tolist(), "confidence": mean_conf.tolist(), "accuracy": acc.tolist(), "count": count.astype(int).tolist(),
        "ece": float((gap[filled] * count[filled]).sum() / n), "mce": float(gap[filled].max()) if filled.any() else 0.0,
    }


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> float:
    """Expected calibration error of the max-probability confidence (equal-width bins)."""
    return reliability(probs, y, n_bins)["ece"]


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    p = np.asarray(probs, np.float64)[np.arange(len(y)), np.asarray(y)]
    return float(-np.log(np.maximum(p, 1e-300)).mean())


def _log(probs: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(np.asarray(probs, np.float64), 1e-300))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) = softmax(z / T): (N, 10) or (10,) probabilities -> calibrated, same shape, float32."""
    z = _log(probs) / float(temperature)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def fit_temperature(probs: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The temperature minimising the negative log-likelihood of ``y`` (golden-section search on 1/T,
    where the NLL is convex)."""
    logp = _log(probs)
    y = np.asarray(y)

    def loss(beta):
        z = logp * beta
        z -= z.max(1, keepdims=True)
        return float((np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]).mean())

    a, b = 1 / hi, 1 / lo
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = loss(d)
    return float(1 / ((a + b) / 2))


# ----------------------------------------------------------------------------- the abstain rule


def fit_threshold(confidence_val: np.ndarray, reject_rate: float = REJECT_RATE) -> float:
    """Calibrated confidence below which ``reject_rate`` of the validation digits fall."""
    return float(np.quantile(np.asarray(confidence_val, np.float64), reject_rate))


def calibrated(probs: np.ndarray, card: dict | None) -> np.ndarray:
    """Probabilities scaled by the card's temperature (unchanged when the card has none)."""
    t = ((card or {}).get("calibration") or {}).get("temperature")
    return apply_temperature(probs, t) if t else np.asarray(probs, np.float32)


def decide(probs: np.ndarray, card: dict | None) -> tuple[int | None, str]:
    """One prediction's (10,) probabilities + the model card -> (label, or None to abstain; reason).

    Uses the card's "calibration" entry written by evaluation/calibrate.py: temperature, then the
    abstain threshold on the calibrated max probability.  All-zero probabilities (the picture had
    no ink) give (None, "no ink").  A card without calibration never abstains.
    """
    probs = np.asarray(probs, np.float64).reshape(-1)
    if probs.sum() <= 0:
        return None, "no ink"
    p = calibrated(probs, card)
    label, conf = int(p.argmax()), float(p.max())
    rule = (((card or {}).get("calibration") or {}).get("abstain")) or {}
    threshold = rule.get("threshold")
    if threshold is None:
        return label, f"confidence {conf:.1%} (no abstain rule in the model card)"
    if conf < threshold:
        return None, f"not sure this is a digit: calibrated confidence {conf:.1%} is below {threshold:.1%}"
    return label, f"calibrated confidence {conf:.1%}"


# ----------------------------------------------------------------------------- non-digit pictures


def _fonts() -> list[Path]:
    found = sorted(p for d in FONT_DIRS if d.is_dir() for p in d.glob("*.ttf") if "Math" not in p.name)
    return found


def _pen(rng) -> int:
    return int(rng.integers(10, 28))  # the app's canvas strokes are ~10-28 px wide on 280 px


def _curve(points: np.ndarray, n: int = 120) -> np.ndarray:
    """Catmull-Rom spline through (K, 2) points -> (n, 2) int32 polyline."""
    p = np.concatenate([points[:1], points, points[-1:]])
    out = []
    for i in range(1, len(p) - 2):
        t = np.linspace(0, 1, max(2, n // (len(p) - 3)))[:, None]
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    return np.concatenate(out).astype(np.int32)


def scribble(rng: np.random.Generator) -> np.ndarray:
    """2-4 random smooth strokes crossing each other, like someone testing the pen. (280, 280) uint8 ink."""
    img = np.zeros((CANVAS, CANVAS), np.uint8)
    w = _pen(rng)
    for _ in range(int(rng.integers(2, 5))):
        pts = rng.uniform(30, CANVAS - 30, (int(rng.integers(4, 8)), 2))
        cv2.polylines(img, [_curve(pts)], False, 255, w, cv2.LINE_AA)
    return img


def letter(rng: np.random.Generator, fonts: list[Path] | None = None) -> tuple[np.ndarray, str]:
    """A letter that does not look like a digit, rendered from a random installed font (PIL's default
    font when none is installed). (280, 280) uint8 ink and the letter."""
    from PIL import Image, ImageDraw, ImageFont

    fonts = _fonts() if fonts is None else fonts
    ch = LETTERS[int(rng.integers(len(LETTERS)))]
    size = int(rng.integers(120, 220))
    if fonts:
        font = ImageFont.truetype(str(fonts[int(rng.integers(len(fonts)))]), size)
    else:
        font = ImageFont.load_default(size=size)
    im = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(im)
    left, top, right, bottom = draw.textbbox((0, 0), ch, font=font)
    pos = ((CANVAS - (right - left)) / 2 - left + rng.uniform(-30, 30), (CANVAS - (bottom - top)) / 2 - top + rng.uniform(-30, 30))
    draw.text(pos, ch, fill=255, font=font)
    return np.asarray(im), ch


def noise(rng: np.random.Generator) -> np.ndarray:
    """Blank-ish: faint texture (sensor noise, paper grain, a smudge, a few specks). (280, 280) uint8 ink."""
    sigma = rng.uniform(2, 20)
    img = rng.normal(rng.uniform(0, 30), sigma, (CANVAS, CANVAS))
    if rng.random() < 0.5:  # a soft smudge
        blob = np.zeros((CANVAS, CANVAS), np.float32)
        cv2.circle(blob, tuple(int(v) for v in rng.uniform(40, 240, 2)), int(rng.uniform(20, 70)), float(rng.uniform(20, 60)), -1)
        img = img + cv2.GaussianBlur(blob, (0, 0), 15)
    for _ in range(int(rng.integers(0, 6))):  # specks
        cv2.circle(img, tuple(int(v) for v in rng.uniform(0, CANVAS, 2)), int(rng.integers(1, 4)), float(rng.uniform(80, 255)), -1)
    return np.clip(img, 0, 255).astype(np.uint8)


SHAPES = ("triangle", "square", "filled_square", "star", "cross", "plus", "hash", "arrow", "spiral", "smiley", "wave", "heart")


def shape(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A geometric shape or symbol drawn with the pen. (280, 280) uint8 ink and its name.
    Circles and single straight lines are left out: they are a 0 and a 1."""
    name = SHAPES[int(rng.integers(len(SHAPES)))]
    img = np.zeros((CANVAS, CANVAS), np.uint8)
    w = _pen(rng)
    c = np.array([CANVAS / 2, CANVAS / 2]) + rng.uniform(-25, 25, 2)
    r = rng.uniform(60, 110)
    rot = rng.uniform(0, 2 * np.pi)

    def poly(angles, radii, closed=True, fill=False):
        pts = np.stack([c[0] + radii * np.cos(angles + rot), c[1] + radii * np.sin(angles + rot)], -1).astype(np.int32)
        if fill:
            cv2.fillPoly(img, [pts], 255, cv2.LINE_AA)
        else:
            cv2.polylines(img, [pts], closed, 255, w, cv2.LINE_AA)

    if name == "triangle":
        poly(np.arange(3) * 2 * np.pi / 3, np.full(3, r))
    elif name == "square":
        poly(np.arange(4) * np.pi / 2 + np.pi / 4, np.full(4, r))
    elif name == "filled_square":
        poly(np.arange(4) * np.pi / 2 + np.pi / 4, np.full(4, r * 0.8), fill=True)
    elif name == "star":
        poly(np.arange(10) * np.pi / 5, np.where(np.arange(10) % 2 == 0, r, r * 0.4))
    elif name in ("cross", "plus"):
        base = np.pi / 4 if name == "cross" else 0.0
        for a in (base, base + np.pi / 2):
            d = r * np.array([np.cos(a + rot * 0.1), np.sin(a + rot * 0.1)])
            cv2.line(img, tuple((c - d).astype(int)), tuple((c + d).astype(int)), 255, w, cv2.LINE_AA)
    elif name == "hash":
        for k in (-1, 1):
            o = k * r / 3
            cv2.line(img, (int(c[0] + o), int(c[1] - r)), (int(c[0] + o), int(c[1] + r)), 255, w, cv2.LINE_AA)
            cv2.line(img, (int(c[0] - r), int(c[1] + o)), (int(c[0] + r), int(c[1] + o)), 255, w, cv2.LINE_AA)
    elif name == "arrow":
        tail, head = c - [r, 0], c + [r, 0]
        cv2.line(img, tuple(tail.astype(int)), tuple(head.astype(int)), 255, w, cv2.LINE_AA)
        for s in (-1, 1):
            cv2.line(img, tuple(head.astype(int)), (int(head[0] - r / 2), int(head[1] + s * r / 2)), 255, w, cv2.LINE_AA)
    elif name == "spiral":
        t = np.linspace(0, 5 * np.pi, 200)
        poly(t, r * t / t[-1], closed=False)
    elif name == "smiley":
        cv2.circle(img, tuple(c.astype(int)), int(r), 255, w, cv2.LINE_AA)
        for s in (-1, 1):
            cv2.circle(img, (int(c[0] + s * r / 2.5), int(c[1] - r / 3)), max(3, w // 2), 255, -1, cv2.LINE_AA)
        cv2.ellipse(img, tuple(c.astype(int)), (int(r / 2), int(r / 3)), 0, 20, 160, 255, w, cv2.LINE_AA)
    elif name == "wave":
        xs = np.linspace(c[0] - r, c[0] + r, 100)
        ys = c[1] + r / 3 * np.sin((xs - xs[0]) / (2 * r) * 2 * np.pi * rng.uniform(1.5, 3))
        cv2.polylines(img, [np.stack([xs, ys], -1).astype(np.int32)], False, 255, w, cv2.LINE_AA)
    elif name == "heart":
        t = np.linspace(0, 2 * np.pi, 100)
        hx = 16 * np.sin(t) ** 3
        hy = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        pts = np.stack([c[0] + hx * r / 17, c[1] + hy * r / 17], -1).astype(np.int32)
        cv2.polylines(img, [pts], True, 255, w, cv2.LINE_AA)
    return img, name


def as_picture(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink (280, 280) uint8 -> a picture as the app receives one: half the time a canvas drawing
    (RGBA, white ink on transparent), half the time dark ink on light paper (RGB)."""
    if rng.random() < 0.5:
        rgba = np.zeros((CANVAS, CANVAS, 4), np.uint8)
        rgba[..., :3] = 255
        rgba[..., 3] = ink
        return rgba
    paper = rng.uniform(200, 250)
    grey = np.clip(paper - ink.astype(np.float32) * rng.uniform(0.6, 0.9) + rng.normal(0, 3, ink.shape), 0, 255)
    return np.repeat(grey.astype(np.uint8)[..., None], 3, -1)


def non_digit_pictures(n: int = 400, seed: int = 0) -> list[tuple[str, str, np.ndarray]]:
    """``n`` generated non-digit pictures, an equal share of each kind: [(kind, detail, picture)]."""
    rng = np.random.default_rng(seed)
    fonts = _fonts()
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        if kind == "scribble":
            ink, detail = scribble(rng), "scribble"
        elif kind == "letter":
            ink, detail = letter(rng, fonts)
        elif kind == "noise":
            ink, detail = noise(rng), "noise"
        else:
            ink, detail = shape(rng)
        out.append((kind, detail, as_picture(ink, rng)))
    return out


def prepare_pictures(pictures: list[tuple[str, str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Send pictures through ``preprocess.prepare`` -> (images (M, 28, 28), no_ink (M,) bool, kinds, details).
    No-ink pictures get an all-zero image."""
    from digitlab import preprocess

    images, no_ink = [], []
    for _, _, pic in pictures:
        p = preprocess.prepare(pic)
        no_ink.append(p.no_ink)
        images.append(np.zeros((28, 28), np.float32) if p.no_ink else p.image)
    return np.stack(images), np.array(no_ink), [k for k, _, _ in pictures], [d for _, d, _ in pictures]


# ----------------------------------------------------------------------------- the whole measurement


Predict = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) -> (N, 10) probabilities


def calibrate(predict: Predict, x_val: np.ndarray, y_val: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
              non_digits: tuple[np.ndarray, np.ndarray, list[str], list[str]], reject_rate: float = REJECT_RATE,
              n_bins: int = N_BINS) -> dict:
    """Fit the temperature and the abstain threshold on validation; measure on test and non-digits.

    non_digits: the output of ``prepare_pictures``.  Returns the card's "calibration" entry plus
    reliability data: {"temperature", "ece_before", "ece_after", "nll_before", "nll_after",
    "reliability_before", "reliability_after", "abstain": {...}}.
    """
    p_val, p_test = predict(x_val), predict(x_test)
    t = fit_temperature(p_val, y_val)
    q_val, q_test = apply_temperature(p_val, t), apply_temperature(p_test, t)
    threshold = fit_threshold(q_val.max(1), reject_rate)
    images, no_ink, kinds, details = non_digits
    q_nd = apply_temperature(predict(images), t) if len(images) else np.zeros((0, 10))
    rejected_nd = no_ink | (q_nd.max(1) < threshold)
    test_rejected = q_test.max(1) < threshold
    by_kind = {k: float(rejected_nd[np.array(kinds) == k].mean()) for k in dict.fromkeys(kinds)}
    accepted_wrong = (~test_rejected) & (q_test.argmax(1) != y_test)
    before, after = reliability(p_test, y_test, n_bins), reliability(q_test, y_test, n_bins)
    return {
        "temperature": t,
        "bins": n_bins,
        "fitted_on": f"validation split ({len(y_val)} digits)",
        "measured_on": f"MNIST test ({len(y_test)} digits)",
        "ece_before": before["ece"],
        "ece_after": after["ece"],
        "nll_before": nll(p_test, y_test),
        "nll_after": nll(q_test, y_test),
        "abstain": {
            "rule": "calibrated max probability below threshold",
            "threshold": threshold,
            "val_reject_rate": reject_rate,
            "mnist_test_rejected": float(test_rejected.mean()),
            "mnist_test_errors_rejected": float(test_rejected[q_test.argmax(1) != y_test].mean()) if (q_test.argmax(1) != y_test).any() else None,
            "accuracy_on_accepted": float(1 - accepted_wrong.sum() / max(1, (~test_rejected).sum())),
            "non_digits": int(len(kinds)),
            "non_digits_rejected": float(rejected_nd.mean()) if len(kinds) else None,
            "non_digits_no_ink": float(no_ink.mean()) if len(kinds) else None,
            "non_digits_rejected_by_kind": by_kind,
        },
        "reliability_before": before,
        "reliability_after": after,
    }


def card_entry(report: dict) -> dict:
    """What goes into the model card: ``calibrate``'s report without the per-bin arrays."""
    return {k: v for k, v in report.items() if not k.startswith("reliability_")}


def reliability_png(report: dict, model: str) -> bytes:
    """Reliability diagram before and after temperature scaling, with the confidence histogram."""
    import matplotlib.pyplot as plt

    from digitlab import plots

    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, key, title in ((axes[0], "reliability_before", "before"), (axes[1], "reliability_after", f"after (T = {report['temperature']:.2f})")):
        r = report[key]
        edges = np.array(r["edges"])
        mids = (edges[:-1] + edges[1:]) / 2
        acc = np.nan_to_num(np.array(r["accuracy"], dtype=float), nan=0.0)
        ax.bar(mids, acc, width=edges[1] - edges[0], edgecolor="black", color="steelblue", alpha=0.8, label="accuracy")
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        ax2 = ax.twinx()
        ax2.plot(mids, np.array(r["count"]) / max(1, sum(r["count"])), color="darkorange", marker=".", lw=1, label="share of digits")
        ax2.set_yscale("log")
        ax2.set_ylabel("share of digits (log)", fontsize=8)
        ax.set_xlabel("confidence (max probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{title}: ECE {r['ece']:.2%}", fontsize=10)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left", fontsize=7)
    fig.suptitle(f"{model}: reliability on MNIST test ({N_BINS} bins)")
    fig.tight_layout()
    return plots._png(fig)


def non_digits_png(pictures: list[tuple[str, str, np.ndarray]], images: np.ndarray, decisions: list[tuple[int | None, str]],
                   title: str, cols: int = 10) -> bytes:
    """Gallery of non-digit pictures: what the model saw (28x28), captioned with the decision
    ("-" abstained, or the digit it claimed) and what the picture was."""
    import matplotlib.pyplot as plt

    from digitlab import plots
    from digitlab.robustness import mosaic

    n = len(pictures)
    tiles = [list(images[i : i + cols]) for i in range(0, n, cols)]
    m = mosaic(tiles, pad=16)
    fig, ax = plt.subplots(figsize=(m.shape[1] / 30, m.shape[0] / 30))
    ax.imshow(m, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for i, ((_, detail, _), (label, _)) in enumerate(zip(pictures, decisions)):
        r, c = divmod(i, cols)
        x0, y0 = 16 + c * 44, 16 + r * 44
        ax.text(x0 + 14, y0 - 2, "-" if label is None else f"{label}", ha="center", fontsize=7, color="green" if label is None else "crimson")
        ax.text(x0 + 14, y0 + 28 + 7, detail[:10], ha="center", fontsize=5, color="white")
    ax.axis("off")
    ax.set_title(title, fontsize=8)
    return plots._png(fig)
