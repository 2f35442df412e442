"""The numbers dev benchmark: generated pictures of numbers (``digitlab.data.number_cases``) read by
``serving.numbers.read_number``, the predict CLI's --number path, and scored.

    whole number   the number read is exactly the number written
    digits         1 - edit distance / digits written (a digit missed, added or misread costs one), at least 0
    count          as many digits found as written
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from digitlab import files
from digitlab.data import number_cases
from digitlab.serving.numbers import COMMITTED


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings of digits."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def as_file(case: number_cases.NumberCase) -> bytes:
    """The picture as the bytes of a file, as the CLI reads it: a canvas drawing as PNG, a photo as its JPEG."""
    return case.picture if isinstance(case.picture, bytes) else files.png_bytes(case.picture)


def read_cases(classifier, cases, log=print, reader=COMMITTED) -> list[dict]:
    """Every (indices, NumberCase) read through ``read_number`` with the number reader ``reader`` (its default:
    the committed one; None: the cuts alone): one row per picture."""
    from digitlab.serving import numbers

    rows = []
    for k, (indices, case) in enumerate(cases, 1):
        t0 = time.perf_counter()
        reading = numbers.read_number(as_file(case), classifier, reader=reader)
        seconds = time.perf_counter() - t0
        read = reading.number
        rows.append({"number": case.number, "read": read, "gap": case.gap, "render": case.render, "length": len(case.number),
                     "right": read == case.number, "count_right": len(read) == len(case.number),
                     "digit_score": max(0.0, 1 - edit_distance(case.number, read) / len(case.number)),
                     "unsure": len(reading.unsure), "read_by": reading.read_by, "seconds": seconds, "mnist_test_indices": indices})
        if log and k % 200 == 0:
            log(f"  {k} numbers read ({np.mean([r['right'] for r in rows]):.1%} right so far)")
    return rows


CAUSES = ("digit count wrong", "a digit the model misreads alone", "a digit misread in the number only")


def misread_causes(rows: list[dict], x: np.ndarray, y: np.ndarray, classifier) -> dict:
    """Why each misread number was misread, for the rows that carry their MNIST test indices (the numbers were
    made from ``x`` (N, 28, 28) uint8, labels ``y``), each row counted once, in this order:

        digit count wrong                   a digit split in two, two joined, a piece read as a digit or left out
        a digit the model misreads alone    every wrong digit is one the model gets wrong as a single MNIST digit
                                            (prepared by ``preprocess.prepare``): the classifier's own error
        a digit misread in the number only  a digit read wrong although the model reads it right alone (a piece
                                            of it lost or another digit's piece joined, or its rendering)

    Returns {cause: count} and, under "by_gap", the same per gap class."""
    from digitlab import preprocess

    wrong = [r for r in rows if not r["right"]]
    indices = sorted({int(i) for r in wrong for i in r["mnist_test_indices"]})
    alone = {}
    if indices:
        predictions = classifier.predict_prepared([preprocess.prepare(x[i], invert="no") for i in indices])
        alone = {i: p.label for i, p in zip(indices, predictions)}
    out: dict = {c: 0 for c in CAUSES}
    by_gap: dict[str, dict[str, int]] = {}
    for r in wrong:
        written, read = r["number"], r["read"]
        if len(read) != len(written):
            cause = CAUSES[0]
        else:
            misread = [k for k, (a, b) in enumerate(zip(written, read)) if a != b]
            by_model = [k for k, i in enumerate(r["mnist_test_indices"]) if alone[int(i)] != int(y[int(i)])]
            cause = CAUSES[1] if set(misread) <= set(by_model) else CAUSES[2]
        out[cause] += 1
        by_gap.setdefault(r["gap"], {c: 0 for c in CAUSES})[cause] += 1
    out["by_gap"] = by_gap
    return out


def _summary(rows: list[dict]) -> dict:
    return {"n": len(rows), "whole_number": float(np.mean([r["right"] for r in rows])),
            "digits": float(np.mean([r["digit_score"] for r in rows])),
            "count": float(np.mean([r["count_right"] for r in rows]))}


def summarise(rows: list[dict]) -> dict:
    """Accuracy overall, by gap class, render, length, gap x render, and the headline: 4-digit numbers with visible gaps."""
    groups: dict[str, dict[str, list[dict]]] = {k: defaultdict(list) for k in ("gap", "render", "length", "gap_render", "visible_by_length")}
    for r in rows:
        groups["gap"][r["gap"]].append(r)
        groups["render"][r["render"]].append(r)
        groups["length"][str(r["length"])].append(r)
        groups["gap_render"][f"{r['gap']}/{r['render']}"].append(r)
        if r["gap"] in number_cases.VISIBLE:
            groups["visible_by_length"][str(r["length"])].append(r)
    order = {"gap": list(number_cases.GAPS), "render": list(number_cases.RENDERS)}
    out = {"all": _summary(rows)}
    for key, g in groups.items():
        names = order.get(key) or sorted(g, key=lambda s: (len(s), s))
        out[key] = {name: _summary(g[name]) for name in names if g.get(name)}
    four = [r for r in rows if r["length"] == 4 and r["gap"] in number_cases.VISIBLE]
    out["four_digits_visible_gaps"] = _summary(four) if four else None
    out["seconds_per_picture"] = {"p50": float(np.median([r["seconds"] for r in rows])), "p95": float(np.percentile([r["seconds"] for r in rows], 95))}
    return out


def markdown(report: dict) -> str:
    """The report as a Markdown page (evaluation/reports/numbers/numbers.md)."""
    s = report["summary"]
    lines = [f"# Numbers dev benchmark ({report['model']})", "",
             f"`{report['command']}` — {s['all']['n']} pictures of numbers made from MNIST test digits "
             f"(`digitlab/data/number_cases.py`), read by the predict CLI's `--number` path; seed {report['seed']}. "
             + (f"Read by the cuts and the number reader (`{report['number_reader']['file']}`): the reader's number taken for "
                f"{report['read_by_reader']} of them." if report.get("number_reader") else "Read by the cuts alone (`--no-reader`)."), ""]
    four = s["four_digits_visible_gaps"]
    if four:
        met = "met" if four["whole_number"] >= report["target"] else "NOT met"
        lines += [f"**4-digit numbers with visible gaps (wide + narrow): {four['whole_number']:.1%} whole number right** "
                  f"(n = {four['n']}; target {report['target']:.0%}: {met}).", ""]
    lines += ["| group | n | whole number | digits | digit count right |", "| --- | --- | --- | --- | --- |"]
    for key, title in (("gap", "gap"), ("render", "render"), ("length", "length"), ("visible_by_length", "visible gaps, length"), ("gap_render", "gap / render")):
        for name, v in s[key].items():
            lines.append(f"| {title}: {name} | {v['n']} | {v['whole_number']:.1%} | {v['digits']:.1%} | {v['count']:.1%} |")
    lines.append(f"| all | {s['all']['n']} | {s['all']['whole_number']:.1%} | {s['all']['digits']:.1%} | {s['all']['count']:.1%} |")
    t = s["seconds_per_picture"]
    lines += ["", f"Time per picture (decode, segmentation, every candidate read): p50 {t['p50'] * 1000:.0f} ms, p95 {t['p95'] * 1000:.0f} ms.",
              "", "Digits: 1 - edit distance / digits written. Gap classes: wide 0.25-0.5 of the height, narrow 0.05-0.15, "
              "touching (strokes meet), overlap (strokes cross by 1-4 px).", ""]
    causes = s.get("causes")
    if causes:
        four = causes.get("four_digits_visible_gaps")
        if four:
            lines += ["Why the 4-digit numbers with visible gaps were misread: "
                      + ", ".join(f"{c} {four[c]}" for c in CAUSES) + ".", ""]
        lines += ["Why numbers were misread, by gap class:", "", "| gap | " + " | ".join(CAUSES) + " |",
                  "| --- |" + " --- |" * len(CAUSES)]
        for gap in number_cases.GAPS:
            if gap in causes["by_gap"]:
                lines.append(f"| {gap} | " + " | ".join(str(causes["by_gap"][gap][c]) for c in CAUSES) + " |")
        lines.append("")
    wrong = [r for r in report["rows"] if not r["right"]][:30]
    if wrong:
        lines += ["Some misread numbers (written -> read, gap, render):", ""]
        lines += [f"- {r['number']} -> {r['read'] or '(nothing)'} ({r['gap']}, {r['render']})" for r in wrong]
    return "\n".join(lines) + "\n"
