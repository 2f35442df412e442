"""The real-paper dev benchmark: handwritten digits cut from scanned church registers (``digitlab.data.parish``), each
read as the predict command reads a file (``serving.predict.predict_files``: the one preprocessing path, then the
model served by ONNX Runtime with its card's abstain rule), per model.

A picture counts as right when the label the command answers is its label, whether or not the abstain rule says it
is unsure (the command keeps the label then too); a picture without ink, or one the command refuses, is wrong.  The
labels are used as they are, wrong ones included: the misreads a person judged mislabelled (``parish.JUDGED``) are
listed apart, never left out of a figure.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import numpy as np

from digitlab.data.parish import JUDGED, Scans
from digitlab.evaluation import metrics
from digitlab.report.tables import markdown as table

TOP_PAIRS = 10  # the most confused (label, read as) pairs kept per model
NO_READING = -1  # what a picture without ink, or refused, is read as


def served(names: list[str] | None) -> list:
    """The classifiers the predict command would answer with (ONNX Runtime), one per name, or every usable model in
    models/; raises ModelError (no such model, or two models of one name)."""
    from digitlab.models import artifacts
    from digitlab.serving import runtime

    names = names or [e.name for e in artifacts.select(None)]
    loaded = [runtime.load(n) for n in names]
    artifacts.check_distinct(names, [c.name for c in loaded])
    return loaded


def read(classifier, scans: Scans, images: list | None = None) -> list[dict]:
    """Every picture of ``scans`` through the predict command's path -> per picture {"read": the label answered
    (NO_READING without ink or when refused), "confidence", "abstain", "notes": what the preprocessing did, "error"
    (only for a refused file)}.  ``images``: a list that is given each picture's model input (None without one)."""
    from digitlab.serving import predict

    rows = []
    for _, outcome, r in predict.predict_files(classifier, [(p, None) for p in scans.paths()]):
        if outcome != "ok":
            rows.append({"read": NO_READING, "confidence": 0.0, "abstain": True, "notes": [], "error": str(r)})
            if images is not None:
                images.append(None)
            continue
        rows.append({"read": NO_READING if r.label is None else int(r.label), "confidence": round(float(r.confidence), 4),
                     "abstain": bool(r.abstain), "notes": list(r.prepared.notes)})
        if images is not None:
            images.append(None if r.label is None else r.prepared.image)
    return rows


def with_tta(classifier, images: list, plain: np.ndarray, labels: np.ndarray) -> dict:
    """The same pictures read with test-time augmentation (``handwriting.tta_proba``: the model input shifted, turned,
    scaled, thickened and thinned, the probabilities averaged) against the plain reading (``plain``: which pictures it
    reads right): its accuracy, and the pictures only one of the two readings gets right with their exact McNemar
    p-value.  A picture without a model input stays wrong."""
    from digitlab.evaluation.handwriting import TTA_VARIANTS, tta_proba

    inked = np.flatnonzero([im is not None for im in images])
    pred = np.full(len(labels), NO_READING)
    if inked.size:
        pred[inked] = tta_proba(classifier, np.stack([images[i] for i in inked])).argmax(1)
    tta = pred == labels
    c = metrics.paired(plain, tta)
    return {"accuracy": float(tta.mean()) if len(labels) else 0.0, "variants": list(TTA_VARIANTS),
            "only_without": c["only_against"], "only_with": c["only_this"], "p": c["p"]}


def _share(right: np.ndarray, where: np.ndarray) -> dict:
    return {"n": int(where.sum()), "accuracy": float(right[where].mean()) if where.any() else 0.0}


def score(rows: list[dict], scans: Scans) -> dict:
    """One model's readings of ``scans`` -> accuracy, per register (largest first) and per class, the confusion of the
    inked pictures, the most confused pairs, and every misread picture (most confident first) with the judged
    mislabelled ones apart.  ``accuracy_judged_labels``: the share right were each judged picture labelled with what it
    shows (a picture of no single digit wrong whatever is read), beside the figure, never instead of it."""
    y = np.asarray(scans.labels)
    pred = np.asarray([r["read"] for r in rows])
    right = pred == y
    regs = np.asarray(scans.registers)
    inked = pred != NO_READING
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (y[inked], pred[inked]), 1)
    order = sorted(set(scans.registers), key=lambda r: (-int((regs == r).sum()), r))
    misread = sorted(np.flatnonzero(~right), key=lambda i: -rows[i]["confidence"])
    listed = [{"file": scans.files[i], "label": int(y[i]), "read": int(pred[i]), "confidence": rows[i]["confidence"],
               "register": scans.registers[i], "notes": rows[i]["notes"]} for i in misread]
    shown = np.asarray([int(JUDGED[f]) if JUDGED.get(f, "").isdigit() else -2 if f in JUDGED else y[i]  # -2: no one digit
                        for i, f in enumerate(scans.files)])
    return {
        "n": int(len(y)),
        "accuracy": float(right.mean()) if len(y) else 0.0,
        "accuracy_judged_labels": float((pred == shown).mean()) if len(y) else 0.0,
        "no_ink": int((pred == NO_READING).sum()),
        "abstained": int(sum(r["abstain"] for r in rows)),
        "per_register": {r: _share(right, regs == r) for r in order},
        "per_class": {str(c): _share(right, y == c) for c in metrics.CLASSES},
        "confusion": confusion.tolist(),
        "most_confused": metrics.most_confused(confusion.tolist(), top=TOP_PAIRS),
        "misread": [m for m in listed if m["file"] not in JUDGED],
        "misread_judged_mislabelled": [{**m, "shows": JUDGED[m["file"]]} for m in listed if m["file"] in JUDGED],
    }


def run(classifiers: list, scans: Scans, progress: Callable[[str], None] | None = None, tta: bool = False) -> dict:
    """Every classifier on ``scans`` -> {"results": {model: ``score``}, "seconds": {model: the time to read them all},
    "notes": {note: how many pictures the preprocessing said it of}, counted once (the path is the same for every model),
    with ``tta`` "tta": {model: ``with_tta``}, and with two classifiers or more "paired": {"against": the first's name,
    "models": {each later model: {"only_against", "only_this": the pictures only one of the two reads right, "p": their
    exact McNemar p-value}}}}."""
    results, seconds, notes, augmented, right = {}, {}, Counter(), {}, {}
    labels = np.asarray(scans.labels)
    for k, clf in enumerate(classifiers):
        t0 = time.perf_counter()
        images: list | None = [] if tta else None
        rows = read(clf, scans, images)
        seconds[clf.name] = round(time.perf_counter() - t0, 2)
        results[clf.name] = score(rows, scans)
        right[clf.name] = np.asarray([r["read"] for r in rows]) == labels
        if tta:
            augmented[clf.name] = with_tta(clf, images, right[clf.name], labels)
        if k == 0:
            notes.update(note for r in rows for note in dict.fromkeys(_kind(n) for n in r["notes"]))
        if progress:
            progress(f"{clf.name}: {results[clf.name]['accuracy']:.1%} of {len(rows)} in {seconds[clf.name]:.1f} s")
    out = {"results": results, "seconds": seconds, "notes": dict(notes.most_common()), **({"tta": augmented} if tta else {})}
    if len(classifiers) > 1:
        first = classifiers[0].name
        out["paired"] = {"against": first, "models": {c.name: metrics.paired(right[first], right[c.name]) for c in classifiers[1:]}}
    return out


def _kind(note: str) -> str:
    """A note without its measurements (``stroke width 0.7 px -> 1.8 px ...`` -> ``stroke width normalised``), so notes
    of one kind count together."""
    return "stroke width normalised" if note.startswith("stroke width ") else note


def markdown(report: dict) -> str:
    """The report's tables: each model's accuracy, per register, per class, and its most confused pairs."""
    results = report["results"]
    models = list(results)
    first = results[models[0]]
    lines = [f"# Real scanned paper: {first['n']:,} digits from {len(first['per_register'])} church registers", "",
             table(["model", "right", "no ink", "abstained", "misread, judged mislabelled", "right by the judged labels"],
                   [[m, f"{r['accuracy']:.1%}", r["no_ink"], r["abstained"], len(r["misread_judged_mislabelled"]),
                     f"{r['accuracy_judged_labels']:.1%}"] for m, r in results.items()]), "",
             "## Per register", "",
             table(["register", "pictures", *models],
                   [[reg, s["n"], *(f"{results[m]['per_register'][reg]['accuracy']:.1%}" for m in models)]
                    for reg, s in first["per_register"].items()]), "",
             "## Per class", "",
             table(["digit", "pictures", *models],
                   [[c, s["n"], *(f"{results[m]['per_class'][c]['accuracy']:.1%}" for m in models)]
                    for c, s in first["per_class"].items()]), "",
             "## Most confused (label -> read as)", ""]
    lines.append(table(["model", *(f"#{i + 1}" for i in range(TOP_PAIRS))],
                       [[m, *(f"{p['true']}->{p['pred']} ({p['count']})" for p in r["most_confused"])] for m, r in results.items()]))
    if report.get("paired"):
        against = report["paired"]["against"]
        lines += ["", f"## Against {against}, picture by picture", "",
                  table(["model", f"right only by {against}", "right only by the model", "McNemar p"],
                        [[m, c["only_against"], c["only_this"], f"{c['p']:.2g}"] for m, c in report["paired"]["models"].items()])]
    if report.get("tta"):
        lines += ["", "## With test-time augmentation (" + ", ".join(next(iter(report["tta"].values()))["variants"]) + ")", "",
                  table(["model", "right", "with TTA", "right only without / only with", "McNemar p"],
                        [[m, f"{results[m]['accuracy']:.1%}", f"{t['accuracy']:.1%}", f"{t['only_without']} / {t['only_with']}",
                          f"{t['p']:.3g}"] for m, t in report["tta"].items()])]
    judged = first["misread_judged_mislabelled"]
    if judged:
        lines += ["", f"## Misread by {models[0]}, judged mislabelled (kept in every figure)", "",
                  table(["file", "label", "read as", "the picture shows"], [[m["file"], m["label"], m["read"], m["shows"]] for m in judged])]
    if report.get("notes"):
        lines += ["", "## What the preprocessing said (pictures)", "",
                  table(["note", "pictures"], [[n, k] for n, k in report["notes"].items()])]
    return "\n".join(lines)
