"""Evaluation of a model on labelled digits: the val/test metrics of training runs and ensembles
(``evaluate_splits``), and evaluation/evaluate.py's report files (``evaluate_entry``, ``format_report``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from digitlab.evaluation import metrics
from digitlab.files import atomic_write_bytes
from digitlab.models import artifacts
from digitlab.report import plots
from digitlab.serving.classifiers import Classifier


def evaluate_entry(entry: artifacts.ModelEntry, x: np.ndarray, y: np.ndarray, out: Path, split: str = "test", gallery: int = 40) -> dict:
    """Evaluate one model on prepared inputs x (N, 28, 28) (``Mnist.inputs``) and write metrics.json,
    confusion.png, misclassified.png, per_class_f1.png into ``out``."""
    m = metrics.classification_metrics(Classifier(entry).predict_proba(x), y)
    wrong = np.flatnonzero(m["pred"] != y)
    wrong = wrong[np.argsort(-m["confidence"][wrong])][:gallery]  # most confident mistakes first
    report = {
        "model": entry.name,
        "split": split,
        **metrics.jsonable(m),
        "most_confused": metrics.most_confused(m["confusion"]),
        "misclassified": [{"index": int(i), "true": int(y[i]), "pred": int(m["pred"][i]), "confidence": float(m["confidence"][i])} for i in wrong],
    }
    out.mkdir(parents=True, exist_ok=True)
    title = f"{entry.name} on MNIST {split} ({m['accuracy']:.2%})"
    atomic_write_bytes(out / "confusion.png", plots.confusion_png(m["confusion"], title))
    atomic_write_bytes(out / "per_class_f1.png", plots.per_class_f1_png(m["per_class"], f"{entry.name}: F1 per digit"))
    if len(wrong):
        atomic_write_bytes(
            out / "misclassified.png",
            plots.gallery_png(x[wrong], y[wrong], m["pred"][wrong], m["confidence"][wrong], f"{entry.name}: most confident mistakes"),
        )
    atomic_write_bytes(out / "metrics.json", (json.dumps(report, indent=1) + "\n").encode())
    return report


def evaluate_splits(name: str, path: Path, model, d) -> tuple[dict, dict]:
    """Validation and test metrics of a just-built digitlab model, through the Classifier path that
    the app and the CLI use."""
    entry = artifacts.ModelEntry(name, Path(path), None, True, layout="28x28x1", outputs="probabilities", model=model)
    classifier = Classifier(entry)
    val = metrics.classification_metrics(classifier.predict_proba(d.x_val), d.y_val)
    test = metrics.classification_metrics(classifier.predict_proba(d.x_test), d.y_test)
    return val, test


def format_report(report: dict) -> str:
    """Human-readable summary: headline, per-class precision/recall/F1, most-confused pairs."""
    lines = [f"{report['model']}: accuracy {report['accuracy']:.4f}, weighted F1 {report['weighted_f1']:.4f} on {report['n']} {report['split']} digits"]
    lines.append("digit  precision  recall  f1      support")
    for d in range(10):
        r = report["per_class"][str(d)]
        lines.append(f"{d:>5}  {r['precision']:.4f}     {r['recall']:.4f}  {r['f1-score']:.4f}  {int(r['support'])}")
    pairs = ", ".join(f"{p['true']}→{p['pred']} x{p['count']}" for p in report["most_confused"])
    lines.append(f"most confused: {pairs or 'none'}")
    return "\n".join(lines)
