"""Matplotlib figures as PNG bytes (Agg backend): training curves, confusion matrix, galleries.

Shared by the training/evaluation scripts and the app, so a figure looks the same
wherever it is shown.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def curves_png(history: dict[str, list[float]], title: str) -> bytes:
    """Loss and accuracy per epoch, train solid and validation dashed."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for split, style in (("", "-"), ("val_", "--")):
            values = history.get(split + metric)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, marker="o", ms=3, label=(split or "train_") + metric)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


def confusion_png(confusion: list[list[int]], title: str) -> bytes:
    """10x10 confusion matrix, counts in the cells, log-scaled colours so errors show."""
    c = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.imshow(np.log1p(c), cmap="Blues")
    for t in range(10):
        for p in range(10):
            if c[t, p]:
                ax.text(p, t, str(c[t, p]), ha="center", va="center", fontsize=7, color="white" if t == p else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _png(fig)


def gallery_png(images: np.ndarray, true: np.ndarray, pred: np.ndarray, confidence: np.ndarray, title: str, cols: int = 10) -> bytes:
    """Grid of (N, 28, 28) digits captioned 'true->pred (confidence)'."""
    n = len(images)
    rows = max(1, int(np.ceil(n / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, t, p, c in zip(axes.ravel(), images, true, pred, confidence):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{t}→{p} ({c:.0%})", fontsize=8, color="crimson")
    fig.suptitle(title)
    return _png(fig)


def per_class_f1_png(per_class: dict, title: str) -> bytes:
    """Bar chart of the F1 score of each digit from a scikit-learn classification report dict."""
    f1 = [per_class[str(d)]["f1-score"] for d in range(10)]
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.bar(range(10), f1, color="steelblue")
    ax.set_xticks(range(10))
    ax.set_ylim(min(f1) - 0.02, 1.0)
    ax.set_xlabel("digit")
    ax.set_ylabel("F1")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)
