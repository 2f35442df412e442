"""Calibration and "not a digit", measured: ECE, reliability, temperature scaling, the abstain thresholds.
Shared by evaluation/calibrate.py and the leaderboard; the rule itself, which the predict CLI and the
app apply, lives in ``digitlab.serving.abstain``.

    probabilities (N, 10) -- temperature T (fitted on the validation split) --> calibrated probabilities
    abstain ("not a digit") when EITHER
        the digit gate (``digitlab.serving.gate``, one tiny CNN for every model) gives P(digit) below its threshold, OR
        the calibrated max probability is below the model's threshold

Temperature scaling (Guo et al. 2017) divides the logits by T.  Because log p = z - logsumexp(z),
dividing the log-probabilities by T gives exactly softmax(z / T), so everything here works from the
probabilities a ``Classifier`` returns; no second forward pass is needed.

Why two rules: a confidence threshold alone rejects few generated non-digits (the "confidence_only" figures
in evaluation/reports/calibration.md and each card's "calibration"), because a
classifier is often *sure* a star is a 4 or an "A" a 4; the gate is trained to tell digits from
non-digits.  The confidence threshold still catches digits the model itself finds ambiguous.  Both
thresholds are fitted on MNIST *validation* digits: the gate's in its own card (``reject_rate`` of
the validation digits), the model's here so that gate OR confidence rejects ``reject_rate`` of them
together.  They are then measured on MNIST test, on digits that are not MNIST (redrawn with a canvas
brush, printed from fonts never used in training) and on generated non-digits (``digitlab.nondigits``)
from the gate's training generators with another seed and from held-out generators.  The figures and
the threshold go into the model card under "calibration", where ``decide`` reads them.

Which rule applies to which model (``decide``):
  model card with a "calibration" entry, picture given   gate + confidence threshold
  model card with a "calibration" entry, probabilities only   confidence threshold
  no calibration entry (e.g. a model dropped into models/)   gate only (when the picture is given)
  gate file missing or unusable                               confidence threshold only (with a warning)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digitlab.paths import shown
from digitlab.serving.abstain import _log, apply_temperature, log_softmax

N_BINS = 15  # reliability bins, as in Guo et al.
# share of validation digits that gate OR confidence may reject together; the target is <= 1 % of test
# (what the gate alone rejects is in its card: models/gate/not_a_digit.json, "measured")
REJECT_RATE = 0.007


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


def fit_temperature(probs: np.ndarray, y: np.ndarray, lo: float | None = None, hi: float | None = None) -> float:
    """The temperature minimising the negative log-likelihood of ``y`` (golden-section search on 1/T,
    where the NLL is convex), within [``lo``, ``hi``]: by default the range a card may hold (``cards.TEMPERATURE_RANGE``)."""
    from digitlab.models import cards

    lo, hi = lo if lo is not None else cards.TEMPERATURE_RANGE[0], hi if hi is not None else cards.TEMPERATURE_RANGE[1]
    logp = _log(probs)
    y = np.asarray(y)

    def loss(beta):
        return float(-log_softmax(logp * beta)[np.arange(len(y)), y].mean())

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


def fit_threshold(confidence_val: np.ndarray, reject_rate: float = REJECT_RATE, already: np.ndarray | None = None) -> float:
    """Calibrated confidence below which validation digits are rejected.

    Alone (``already`` None): the ``reject_rate`` quantile.  With ``already`` ((N,) bool, the digits
    another rule, the gate, rejects anyway), the highest threshold at which both rules together reject
    at most ``reject_rate`` of the digits; digits the gate already rejects cost nothing.
    """
    conf = np.asarray(confidence_val, np.float64)
    if already is None:
        return float(np.quantile(conf, reject_rate))
    already = np.asarray(already, bool)
    order = np.argsort(conf, kind="stable")
    budget = reject_rate * len(conf) - already.sum()
    extra = np.cumsum(~already[order])  # extra[j]: digits newly rejected when the j+1 least confident go
    k = int(np.searchsorted(extra, budget + 1e-9, side="right"))  # how many of the least confident may go
    # "conf < threshold" rejects the k least confident (fewer on ties, never more)
    return float(conf[order[k]]) if k < len(conf) else float(np.nextafter(conf.max(), np.inf))


# ----------------------------------------------------------------------------- the whole measurement


Predict = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) -> (N, 10) probabilities


def calibrate(predict: Predict, x_val: np.ndarray, y_val: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
              sets: dict | None = None, reject_rate: float = REJECT_RATE, gate=None, n_bins: int = N_BINS) -> dict:
    """Fit the temperature and the confidence threshold on validation; measure the abstain rule.

    sets: ``nondigit_sets.measurement_sets(...)`` ({"non_digits": {name: prepared}, "digits": {name: prepared}}).
    gate: a ``digitlab.training.gate.Gate`` or None (confidence threshold alone).
    Returns the card's "calibration" entry plus reliability data: {"temperature", "ece_before", "ece_after",
    "nll_before", "nll_after", "reliability_before", "reliability_after", "abstain": {...}}.  "abstain" also
    holds the same figures for the confidence threshold alone at the same validation budget
    ("confidence_only"), which is what the gate adds.
    """
    from digitlab.evaluation import nondigit_sets

    sets = sets or {"non_digits": {}, "digits": {}}
    p_val, p_test = predict(x_val), predict(x_test)
    t = fit_temperature(p_val, y_val)
    q_val, q_test = apply_temperature(p_val, t), apply_temperature(p_test, t)
    g_val = gate.rejects(x_val) if gate is not None else np.zeros(len(x_val), bool)
    g_test = gate.rejects(x_test) if gate is not None else np.zeros(len(x_test), bool)
    threshold = fit_threshold(q_val.max(1), reject_rate, g_val if gate is not None else None)
    alone = fit_threshold(q_val.max(1), reject_rate)

    def rejected(images, no_ink, conf_threshold, with_gate=True):
        if not len(images):
            return np.zeros(0, bool)
        r = no_ink | (apply_temperature(predict(images), t).max(1) < conf_threshold)
        return r | gate.rejects(images) if (with_gate and gate is not None) else r

    c_test = q_test.max(1) < threshold
    test_rejected = c_test | g_test
    wrong = q_test.argmax(1) != y_test
    accepted_wrong = (~test_rejected) & wrong
    digits = {name: float(rejected(im, ni, threshold).mean()) for name, (im, ni, _, _) in sets["digits"].items()}
    non_digits = {name: nondigit_sets.rejection_summary(rejected(im, ni, threshold), ni, k, d) for name, (im, ni, k, d) in sets["non_digits"].items()}
    only = {name: nondigit_sets.rejection_summary(rejected(im, ni, alone, False), ni, k, d) for name, (im, ni, k, d) in sets["non_digits"].items()}
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
            "rule": ("digit gate P(digit) below its threshold, or calibrated max probability below threshold" if gate is not None
                     else "calibrated max probability below threshold"),
            "threshold": threshold,
            "gate": None if gate is None else {"path": shown(gate.path), "fingerprint": gate.fingerprint(), "threshold": gate.threshold},
            "val_reject_rate": reject_rate,
            "mnist_val_rejected": float((g_val | (q_val.max(1) < threshold)).mean()),
            "mnist_test_rejected": float(test_rejected.mean()),
            "mnist_test_rejected_by_gate": float(g_test.mean()),
            "mnist_test_rejected_by_confidence": float(c_test.mean()),
            "mnist_test_errors_rejected": float(test_rejected[wrong].mean()) if wrong.any() else None,
            "accuracy_on_accepted": float(1 - accepted_wrong.sum() / max(1, (~test_rejected).sum())),
            "digits_rejected": digits,
            "non_digits": non_digits,
            **{f"non_digits_rejected_{name}": v["rejected"] for name, v in non_digits.items()},
            "confidence_only": {
                "threshold": alone,
                "mnist_test_rejected": float((q_test.max(1) < alone).mean()),
                "digits_rejected": {name: float(rejected(im, ni, alone, False).mean()) for name, (im, ni, _, _) in sets["digits"].items()},
                **{f"non_digits_rejected_{name}": v["rejected"] for name, v in only.items()},
                "non_digits_rejected_by_kind": {name: v["rejected_by_kind"] for name, v in only.items()},
            },
        },
        "reliability_before": before,
        "reliability_after": after,
    }


def card_entry(report: dict) -> dict:
    """What goes into the model card: ``calibrate``'s report without the per-bin arrays and per-picture-kind details."""
    entry = {k: v for k, v in report.items() if not k.startswith("reliability_")}
    ab = dict(entry["abstain"])
    ab["non_digits"] = {name: {k: v for k, v in s.items() if k != "rejected_by_detail"} for name, s in ab["non_digits"].items()}
    entry["abstain"] = ab
    return entry


