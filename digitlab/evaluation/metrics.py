"""Classification metrics shared by training, the evaluation scripts and the app."""

from __future__ import annotations

import numpy as np

CLASSES = list(range(10))


def classification_metrics(probs: np.ndarray, y: np.ndarray) -> dict:
    """(N, 10) probabilities and (N,) labels -> accuracy, weighted F1, per-class report, confusion.

    Also returns ``pred`` (N,) and ``confidence`` (N,) for galleries; drop them before saving JSON.
    """
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    pred = probs.argmax(1)
    return {
        "pred": pred,
        "confidence": probs.max(1),
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        "weighted_f1": float(f1_score(y, pred, average="weighted", labels=CLASSES, zero_division=0)),
        "per_class": classification_report(y, pred, labels=CLASSES, output_dict=True, zero_division=0),
        "confusion": confusion_matrix(y, pred, labels=CLASSES).tolist(),
    }


def jsonable(m: dict) -> dict:
    """``classification_metrics`` without its per-sample arrays."""
    return {k: v for k, v in m.items() if k not in ("pred", "confidence")}


def most_confused(confusion: list[list[int]], top: int = 5) -> list[dict]:
    """The largest off-diagonal cells: [{"true": t, "pred": p, "count": n}, ...]."""
    c = np.asarray(confusion)
    pairs = [(int(c[t, p]), t, p) for t in CLASSES for p in CLASSES if t != p and c[t, p] > 0]
    return [{"true": t, "pred": p, "count": n} for n, t, p in sorted(pairs, reverse=True)[:top]]


def mcnemar(only_first: int, only_second: int) -> float:
    """The exact two-sided McNemar p-value of two classifiers read on the same items: ``only_first`` items only the
    first reads right, ``only_second`` only the second (the items both read alike tell nothing).  Under "neither is
    better" each such item is a fair coin: the binomial test at 1/2 (``scipy.stats.binomtest``).  1.0 when they
    disagree on no item.  Unlike two accuracies' intervals, it sees that the same drawings were read by both."""
    if only_first < 0 or only_second < 0:
        raise ValueError(f"need counts of 0 or more, not {only_first}, {only_second}")
    if only_first + only_second == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_first, only_first + only_second, 0.5).pvalue)


def paired(against_right: np.ndarray, this_right: np.ndarray) -> dict:
    """Two readings of the same items (boolean arrays, right or not) compared item by item: {"only_against",
    "only_this": the items only the one or the other reads right, "p": their ``mcnemar`` p-value}."""
    return paired_counts(int((against_right & ~this_right).sum()), int((~against_right & this_right).sum()))


def paired_counts(only_against: int, only_this: int) -> dict:
    """``paired`` from the two counts alone."""
    return {"only_against": only_against, "only_this": only_this, "p": mcnemar(only_against, only_this)}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion, ``k`` successes in ``n`` trials: (low, high) in [0, 1], 95 % at
    z=1.96.  Unlike the normal approximation it stays inside [0, 1] and is not empty at k=0 or k=n, where
    accuracies near 100 % live."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, not k={k}, n={n}")
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (0.0 if k == 0 else float(centre - half)), (1.0 if k == n else float(centre + half))  # exact ends, no rounding dust
