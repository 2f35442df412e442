"""Which real writers a model reads worst: every digit of one part of the real-strokes file (``unipen.split``) drawn
on the canvas as the benchmark draws it (``handwriting.real_set``), read through the one preprocessing path, and the
figures kept per writer: how many digits, how many right, and what their misreads were read as.

A writer's own way of writing a digit shows up here and nowhere else: the per-class and per-site figures of the
benchmark average it away.  One training writer at the site ``gmd`` slashes every zero (Ø): the committed
``mnist_advanced`` reads 58% of his zeros right, most of the rest as 8, and he holds half of its misreads of the
training writers (``python evaluation/writers.py --part train``).
Training writers are a tuning set (the model saw their strokes); the validation writers and the held-out site are
not trained on, and the held-out site is never tuned on.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

PARTS = ("train", "val", "held-out")  # the split's parts: training writers, validation writers, the held-out site
SALT = 41  # the drawings' seed salt: none of the benchmark's sets draws with it


def items_of(split, part: str) -> list:
    """The real digits of ``part`` (``PARTS``) of ``split``."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, not {part!r}")
    return {"train": split.train, "val": split.val, "held-out": split.held_out}[part]


def by_writer(items: list, classifier, seed: int = 0, renders: int = 1, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Every item drawn ``renders`` times and read by ``classifier`` -> one row per writer, the most misread first:
    {"site", "writer", "digits", "right", "accuracy", "refused", "misread": {"true->read": count}, "per_class": {label:
    accuracy}}.  As in the benchmark, a digit is right when the model's most likely label is its own; a drawing where
    no ink is found counts as wrong ("true->no ink").  ``refused`` counts the inked drawings the abstain rule refuses
    (the gate, or too little confidence), right or not: what the app would answer "not sure" to."""
    from digitlab import preprocess
    from digitlab.evaluation import handwriting

    many = [i for i in items for _ in range(renders)]
    drawn = handwriting.real_set("writers", many, seed, SALT, False, "")
    pictures = drawn.pictures
    predictions = []
    for start in range(0, len(pictures), 512):
        chunk = pictures[start:start + 512]
        predictions += classifier.predict_prepared([preprocess.prepare(p, invert=drawn.invert, drawn_on=drawn.drawn_on) for p in chunk])
        if progress:
            progress(f"{start + len(chunk)} of {len(pictures)} read")
    rows = defaultdict(lambda: {"digits": 0, "right": 0, "refused": 0, "misread": Counter(), "classes": defaultdict(lambda: [0, 0])})
    for item, p in zip(many, predictions):
        row = rows[(item.source, item.writer)]
        right = p.label == item.label
        row["digits"] += 1
        row["right"] += right
        row["refused"] += p.refused
        row["classes"][item.label][0] += right
        row["classes"][item.label][1] += 1
        if not right:
            row["misread"][f"{item.label}->{'no ink' if p.no_ink else p.label}"] += 1
    out = [{"site": site, "writer": writer, "digits": r["digits"], "right": r["right"], "accuracy": r["right"] / r["digits"],
            "refused": r["refused"], "misread": dict(r["misread"].most_common()),
            "per_class": {int(k): ok / n for k, (ok, n) in sorted(r["classes"].items())}}
           for (site, writer), r in rows.items()]
    return sorted(out, key=lambda r: (-(r["digits"] - r["right"]), r["accuracy"], r["site"], r["writer"]))


def summary(rows: list[dict]) -> dict:
    """All writers together: digits, right, accuracy, the mean of the writers' own accuracies (each writer weighing the
    same), and the share of the misreads the worst writer holds."""
    digits, right = sum(r["digits"] for r in rows), sum(r["right"] for r in rows)
    wrong = digits - right
    return {"writers": len(rows), "digits": digits, "right": right, "accuracy": right / digits if digits else float("nan"),
            "writer_mean": sum(r["accuracy"] for r in rows) / len(rows) if rows else float("nan"),
            "worst_share": (rows[0]["digits"] - rows[0]["right"]) / wrong if wrong else 0.0}


def markdown(rows: list[dict], top: int) -> str:
    """The ``top`` most misread writers as a Markdown table (writers read without a miss are only counted)."""
    s = summary(rows)
    missed = [r for r in rows if r["right"] < r["digits"]]
    lines = [f"{s['writers']} writers, {s['digits']:,} drawings: {s['accuracy']:.2%} right ({s['writer_mean']:.2%} with each writer "
             f"weighing the same); {len(missed)} writers have a misread, "
             f"the most misread holds {s['worst_share']:.0%} of the misreads", "",
             "| site | writer | drawings | right | misread as (true->read) | weakest digit | refused (abstain rule) |",
             "|---|---|---|---|---|---|---|"]
    for r in missed[:top]:
        weakest = min(r["per_class"].items(), key=lambda kv: kv[1])
        misread = ", ".join(f"{k} x{v}" for k, v in list(r["misread"].items())[:5]) or "-"
        lines.append(f"| {r['site']} | {r['writer']} | {r['digits']} | {r['accuracy']:.1%} | {misread} | {weakest[0]}: {weakest[1]:.0%} | {r['refused'] / r['digits']:.1%} |")
    return "\n".join(lines)
