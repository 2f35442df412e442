"""Every figure of the project, as PNG bytes (matplotlib, Agg backend): training curves, confusion
matrix, galleries, accuracy under corruption and attack, reliability diagrams, mosaics of digits.

Pure drawing: each function takes numbers already measured (by digitlab.evaluation) and returns the
picture, so a figure looks the same in a script's report and on a page.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

TILE = 28  # side of one digit in a mosaic


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


def rows_gallery_png(rows: list[tuple[str, list[tuple[np.ndarray, str]]]], title: str, cols: int = 10) -> bytes:
    """A labelled row of (28, 28) digits per entry of ``rows``: (row label, [(digit, caption)]), at most ``cols``
    a row; the label stands left of the row, each caption under its digit."""
    fig, axes = plt.subplots(len(rows), cols + 1, figsize=((cols + 1) * 1.1, len(rows) * 1.45 + 0.4), squeeze=False, layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for r, (label, tiles) in enumerate(rows):
        axes[r, 0].text(1.0, 0.5, label, ha="right", va="center", fontsize=8, transform=axes[r, 0].transAxes)
        for ax, (img, caption) in zip(axes[r, 1:], tiles[:cols]):
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            ax.set_title(caption, fontsize=7, color="crimson")
    fig.suptitle(title, fontsize=10)
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


def sweep_png(result: dict, model: str) -> bytes:
    """Accuracy-vs-severity panels (one per suite corruption) and a bar chart of the MNIST-C-style set."""
    names = list(result["suite"])
    cols = 4
    rows = int(np.ceil(len(names) / cols)) + (1 if result["mnist_c"] else 0)
    fig = plt.figure(figsize=(cols * 3.0, rows * 2.4))
    for k, name in enumerate(names):
        e = result["suite"][name]
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.plot([0, *e["levels"]], [result["clean"], *e["accuracy"]], marker="o", ms=3)
        ax.set_ylim(0, 1.02)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(e["unit"], fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if result["mnist_c"]:
        ax = fig.add_subplot(rows, 1, rows)
        labels = list(result["mnist_c"])
        ax.bar(range(len(labels)), [result["mnist_c"][k] for k in labels], color="steelblue")
        ax.axhline(result["clean"], color="grey", ls="--", lw=1, label=f"clean {result['clean']:.1%}")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"MNIST-C-style: mean {result['mnist_c_mean']:.1%}", fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{model}: accuracy under corruption (n={result['n']})")
    fig.tight_layout()
    return _png(fig)


def mosaic(tiles: list[list[np.ndarray | None]], pad: int = 2) -> np.ndarray:
    """Rows of (28, 28) tiles (None: empty) -> one grey image with ``pad`` px of grey between tiles."""
    cols = max(len(r) for r in tiles)
    out = np.full((len(tiles) * (TILE + pad) + pad, cols * (TILE + pad) + pad), 0.35, np.float32)
    for i, row in enumerate(tiles):
        for j, tile in enumerate(row):
            if tile is not None:
                top, left = pad + i * (TILE + pad), pad + j * (TILE + pad)
                out[top : top + TILE, left : left + TILE] = tile
    return out


def corruption_examples_png(image: np.ndarray, ex: dict[str, list[np.ndarray]], suite: dict, mnist_c: dict) -> bytes:
    """One digit under every corruption and level (``robustness.examples``): a row per suite corruption
    (clean first), then the MNIST-C-style set in rows of 6.  One image, so it renders in a fraction of a second."""
    names = list(suite)
    rows: list[list[np.ndarray | None]] = [[image, *ex[f"suite/{n}"]] for n in names]
    labels = [f"{n} ({', '.join(f'{lv:g}' for lv in suite[n].levels)})" for n in names]
    mc = list(mnist_c)
    for i in range(0, len(mc), 6):
        rows.append([ex[f"mnist_c/{n}"][0] for n in mc[i : i + 6]])
        labels.append("MNIST-C-style: " + ", ".join(mc[i : i + 6]))
    m = mosaic(rows)
    fig, ax = plt.subplots(figsize=(m.shape[1] / 22 + 5.5, m.shape[0] / 22))
    ax.imshow(m, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([2 + i * 30 + 14 for i in range(len(rows))])
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xticks([])
    ax.set_title("corruptions: clean, then each level (suite); the MNIST-C-style set", fontsize=8)
    return _png(fig)


def attack_curves_png(result: dict, model: str) -> bytes:
    """Accuracy against epsilon, one line per attack."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for curve in result["curves"]:
        label = "FGSM" if curve["attack"] == "fgsm" else f"PGD-{curve['steps']}" + (f" x{curve['restarts']}" if curve["restarts"] > 1 else "")
        ax.plot(curve["eps"], curve["accuracy"], marker="o", ms=3, label=label)
    ax.set_xlabel("epsilon (L-inf, pixel scale 0-1)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"{model}: accuracy under attack (n={result['n']})")
    return _png(fig)


def attack_examples_png(rows: list[dict], model: str, attack: str) -> bytes:
    fig, axes = plt.subplots(1, len(rows), figsize=(len(rows) * 1.2, 1.6), squeeze=False)
    for ax, r in zip(axes[0], rows):
        ax.imshow(r["image"], cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"ε {r['eps']:g}\n{r['label']} ({r['confidence']:.0%})", fontsize=7)
        ax.axis("off")
    fig.suptitle(f"{model}: {attack.upper()} against its own prediction", fontsize=9)
    return _png(fig)


def reliability_png(report: dict, model: str) -> bytes:
    """Reliability diagram before and after temperature scaling, with the confidence histogram."""
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
    fig.suptitle(f"{model}: reliability on MNIST test ({report['bins']} bins)")
    fig.tight_layout()
    return _png(fig)


def non_digits_png(details: list[str], images: np.ndarray, predictions: list, title: str, cols: int = 10) -> bytes:
    """Gallery of non-digit pictures: what the model saw (28x28), captioned with its ``Prediction``
    ("-" abstained, or the digit it claimed) and what the picture was."""
    n = len(details)
    tiles = [list(images[i : i + cols]) for i in range(0, n, cols)]
    m = mosaic(tiles, pad=16)
    fig, ax = plt.subplots(figsize=(m.shape[1] / 30, m.shape[0] / 30))
    ax.imshow(m, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for i, (detail, p) in enumerate(zip(details, predictions)):
        label = None if p.abstain else p.label
        r, c = divmod(i, cols)
        x0, y0 = 16 + c * 44, 16 + r * 44
        ax.text(x0 + 14, y0 - 2, "-" if label is None else f"{label}", ha="center", fontsize=7, color="green" if label is None else "crimson")
        ax.text(x0 + 14, y0 + 28 + 7, detail[:10], ha="center", fontsize=5, color="white")
    ax.axis("off")
    ax.set_title(title, fontsize=8)
    return _png(fig)
