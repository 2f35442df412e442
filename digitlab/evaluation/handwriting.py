"""The real-handwriting dev benchmark: how models read digits that are not MNIST's.

    build_sets     the benchmark's pictures (``digitlab.data.handwriting_test``, test-only generators)
    prepare_set    pictures -> model inputs through the one preprocessing path, as the app and CLI do
    score          probabilities -> accuracy, per-class accuracy, confusion, most-confused pairs, per style
    tta_proba      test-time augmentation: the mean probability over shifted, turned, scaled, thinned copies
    run            every model on every set -> one report (``evaluation/handwriting.py`` writes it)
    markdown       the report as Markdown tables

    conventions_per_style   the conventions set style by style, hundreds of drawings each (streamed): accuracy,
                            its 95 % Wilson interval and a verdict against a target (``evaluation/conventions.py``)
    conventions_markdown    that report as a Markdown table
    save_conventions        that report, its table and its galleries into a folder

    real_sets      real pen strokes (``digitlab.data.unipen``) of writers no model trained on: the held-out
                   site with pen-ups kept and lost, the training sites' validation writers (per site)
    real_numbers   numbers one real writer wrote in a row, read through the Numbers path (``read_number``)

The sets: scikit-learn's bundled ``load_digits`` (1,797 real digits by 43 writers, 8x8) rendered as
uploaded photos and as canvas drawings at three sizes; a writing-conventions set drawn as canvas
strokes; MNIST test digits re-drawn as strokes.  Canvas drawings reach ``preprocess.prepare`` as the
dark canvas gives them (white on black arrays, ``invert="no"``, drawn on a canvas of tone 0: ``drawn_on``, as Home
says of its canvas), uploads as encoded PNG/JPEG bytes (``invert="auto"``, the predict CLI's and the upload widget's
default).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from digitlab import preprocess
from digitlab.data import handwriting_test as hw
from digitlab.evaluation import metrics
from digitlab.serving.numbers import COMMITTED
from digitlab.serving.writing import DEFAULT as DEFAULT_WRITING

CONVENTIONS = "conventions"
MISREAD_KEPT = 40  # misread pictures listed per model and set, most confident first (the report's gallery)
TTA_VARIANTS = ("identity", "shift right", "shift left", "shift down", "shift up", "turn +8", "turn -8",
                "scale 0.9", "scale 1.1", "thicker", "thinner")


@dataclass
class Inputs:
    """A prepared set: (N, 28, 28) float32 model inputs (zeros where ``inked`` is False), labels, and
    each picture's style, sampling and writer (``handwriting_test.PictureSet``; empty lists when the set has none)."""

    name: str
    images: np.ndarray
    inked: np.ndarray
    labels: np.ndarray
    styles: list[str]
    sampling: list[str]
    about: str
    writers: list[str] = field(default_factory=list)


def build_sets(n: int, seed: int, mnist_test: tuple[np.ndarray, np.ndarray]) -> Iterator[hw.PictureSet]:
    """The benchmark's sets, ``n`` pictures each at most (load_digits has 1,797; MNIST strokes are a
    seeded sample of ``mnist_test``), one at a time: 2,000 canvas pictures hold 600 MB."""
    x, y = mnist_test
    pick = np.sort(np.random.default_rng([seed, 99]).choice(len(y), size=min(n, len(y)), replace=False))
    yield hw.load_digits_uploads(n, seed)
    for size in hw.CANVAS_SIZES:
        yield hw.load_digits_canvas(size, n, seed)
    yield hw.conventions(n, seed)
    yield hw.mnist_strokes(x[pick], y[pick], seed)


REAL_HELD_OUT = "real strokes: held-out site"
REAL_HELD_OUT_JOINED = "real strokes: held-out site, pen-ups lost"
REAL_WRITERS = "real strokes: unseen writers"
PENDIGITS_POINTS = 8  # the pen-path sets: each digit as 8 points along the pen's whole path, as UCI pendigits keeps them
REAL_HELD_OUT_PATH = f"real strokes: held-out site, {PENDIGITS_POINTS} points"
REAL_WRITERS_PATH = f"real strokes: unseen writers, {PENDIGITS_POINTS} points"


def real_set(name: str, items: list, seed: int, salt: int, joined: bool, about: str, points: int | None = None) -> hw.PictureSet:
    """Every item drawn once on the canvas as people draw: size and place as on the app's canvas, the brush as people
    set the slider (``handwriting_test.BRUSHES``, like every canvas set of the benchmark), white on black.  ``points``:
    the pen's whole path (pen-ups lost) through that many points at equal distances along it (``unipen.resample_path``,
    the UCI pendigits protocol), else every sample (``joined``: the pen's moves between strokes drawn too)."""
    from digitlab.data import unipen

    rng = np.random.default_rng([seed + hw.SEED_OFFSET, salt])
    paths = [unipen.resample_path(i.strokes, points) if points else i.strokes for i in items]  # a resampled path is one line
    pictures = [unipen.render(p, rng, brush=float(rng.choice(hw.BRUSHES)), joined=joined and len(p) > 1) for p in paths]
    sampling = f"{points} points, pen-ups lost" if points else "pen-ups lost" if joined else "pen-ups kept"
    return hw.PictureSet(name, pictures, np.asarray([i.label for i in items], np.int64), "no", [i.source for i in items],
                         [sampling] * len(items), about, hw.DARK_CANVAS, writers=[f"{i.source}/{i.writer}" for i in items])


def real_sets(split, n: int, seed: int) -> Iterator[hw.PictureSet]:
    """The real-strokes sets of ``split`` (``unipen.split``): nobody in them was trained on.  ``styles`` holds each
    picture's site, so the report has per-site figures.  ``n`` items per set at most (a seeded sample)."""

    def some(items, salt):
        if len(items) <= n:
            return items
        keep = np.sort(np.random.default_rng([seed, salt]).choice(len(items), size=n, replace=False))
        return [items[i] for i in keep]

    site = split.held_out_site
    held = some(split.held_out, 31)
    yield real_set(REAL_HELD_OUT, held, seed, 21, False,
                    f"site {site} ({len({i.writer for i in held})} writers) as canvas drawings, every pen-up kept")
    yield real_set(REAL_HELD_OUT_JOINED, held, seed, 22, True,
                    "the same digits with the pen's moves between strokes drawn (pen-ups lost)")
    val = some(split.val, 32)
    yield real_set(REAL_WRITERS, val, seed, 23, False,
                    f"writers of the training sites kept apart ({len({(i.source, i.writer) for i in val})} writers), per site")
    yield real_set(REAL_HELD_OUT_PATH, held, seed, 24, True, f"the held-out site's digits as the pen's whole path through {PENDIGITS_POINTS} "
                   "points at equal distances along it, pen-ups lost (the UCI pendigits protocol)", points=PENDIGITS_POINTS)
    yield real_set(REAL_WRITERS_PATH, val, seed, 25, True, f"the unseen writers' digits as {PENDIGITS_POINTS} points along the pen's whole "
                   "path, the same way", points=PENDIGITS_POINTS)


def real_numbers(split, classifier, seed: int, n: int | None = None, progress: Callable[[str], None] | None = None,
                 reader=COMMITTED, scanned: bool = False) -> dict:
    """Numbers of 2-6 digits one writer wrote in a row on one line (``unipen.runs_on_a_line``) of the held-out
    site and the validation writers, drawn on a 560x280 canvas where the writer put each stroke and read
    through ``numbers.read_number`` as the Numbers page and ``predict.py --number`` do: whole-number accuracy
    overall, per site, per length and by how far its digits overlap sideways (``unipen.overlap_group``: digits
    written over one another cannot be taken apart in the picture), how many the number reader read (``reader``:
    ``read_number``'s, the committed one by default; None: the cuts alone), and why each misread number was misread (``causes``, the causes of
    ``evaluation.numbers.CAUSES``): its digit count is wrong; every wrong digit is also misread alone (its own
    strokes as drawn in the number, without its neighbours, read through the single-digit path); or a digit is
    misread only inside the number.  ``scanned``: each number as a scan of a form gives it instead
    (``unipen.scan_number``: dark ink on paper that is no exact tone, cut out close to its ink, JPEG), read with the ink
    detected, as an upload is."""
    from collections import defaultdict

    from digitlab.data import unipen
    from digitlab.evaluation.numbers import CAUSES
    from digitlab.files import png_bytes
    from digitlab.serving import numbers

    runs = unipen.runs_on_a_line(split.held_out) + unipen.runs_on_a_line(split.val)
    if n is not None and len(runs) > n:
        runs = [runs[i] for i in np.sort(np.random.default_rng([seed, 33]).choice(len(runs), size=n, replace=False))]
    rng = np.random.default_rng([seed + hw.SEED_OFFSET, 24])
    groups: dict[str, list[bool]] = defaultdict(list)
    counted: dict[str, list[bool]] = defaultdict(list)  # per group: as many digits read as written
    misread, causes, by_reader = [], dict.fromkeys(CAUSES, 0), 0

    def picture(run, j: int, brush: float | None, only: int | None = None) -> bytes:
        if scanned:
            return unipen.scan_number(run, (seed + hw.SEED_OFFSET, 25, j), only)
        return png_bytes(unipen.render_number(run, rng, brush=brush, only=only))

    read_as = {"invert": "auto"} if scanned else {"invert": "no", "drawn_on": hw.DARK_CANVAS}
    for j, run in enumerate(runs):
        truth = "".join(str(i.label) for i in run)
        brush = None if scanned else float(rng.choice(hw.BRUSHES))  # the slider as people set it
        reading = numbers.read_number(picture(run, j, brush), classifier, reader=reader, **read_as)
        read, by_reader = reading.number, by_reader + (reading.read_by == "reader")
        right = read == truth
        for key in ("all", f"site {run[0].source}", f"{len(run)} digits", unipen.overlap_group(run)):
            groups[key].append(right)
            counted[key].append(len(read) == len(truth))
        if right:
            continue
        if len(read) != len(truth):
            cause = CAUSES[0]
        else:
            wrong = [k for k, (item, r) in enumerate(zip(run, read)) if str(item.label) != r]
            alone = classifier.predict_prepared([preprocess.prepare(picture(run, j, brush, k), **read_as) for k in wrong])
            cause = CAUSES[1] if all(p.label != run[k].label for p, k in zip(alone, wrong)) else CAUSES[2]
        causes[cause] += 1
        if len(misread) < 20:
            misread.append({"number": truth, "read": read, "site": run[0].source, "writer": run[0].writer, "cause": cause, "read_by": reading.read_by})
    if progress:
        progress(f"{classifier.name}: {len(runs)} real numbers read{' as scans' if scanned else ''}")
    return {"n": len(runs), "whole_number": float(np.mean(groups["all"])) if runs else 0.0,
            "count_right": float(np.mean(counted["all"])) if runs else 0.0,
            "groups": {k: {"n": len(v), "whole_number": float(np.mean(v)), "count_right": float(np.mean(counted[k]))}
                       for k, v in sorted(groups.items()) if k != "all"},
            "wrong_count": causes[CAUSES[0]],  # misreads with too many or too few digits: the segmentation, not the classifier
            "causes": causes, "misread": misread, "read_by_reader": by_reader}


def prepare_set(s: hw.PictureSet) -> Inputs:
    """Every picture through ``preprocess.prepare`` with the set's ``invert`` and ``drawn_on``, as the app and the CLI do."""
    images = np.zeros((len(s.pictures), 28, 28), np.float32)
    inked = np.zeros(len(s.pictures), bool)
    for i, picture in enumerate(s.pictures):
        p = preprocess.prepare(picture, invert=s.invert, drawn_on=s.drawn_on)
        if not p.no_ink:
            images[i], inked[i] = p.image, True
    return Inputs(s.name, images, inked, np.asarray(s.labels), list(s.styles), list(s.sampling), s.about, list(s.writers))


def predicted(probs: np.ndarray, inputs: Inputs) -> np.ndarray:
    """(N,) the digit each picture is read as, -1 for a picture without ink (wrong whatever its label)."""
    return np.where(inputs.inked, probs.argmax(1), -1)


def score(probs: np.ndarray, inputs: Inputs, pred: np.ndarray | None = None) -> dict:
    """(N, 10) probabilities on ``inputs`` (and ``pred``, their ``predicted`` digits when the caller has them) -> accuracy (a picture without ink counts as wrong), per-class
    accuracy (recall), the confusion matrix of the inked pictures, most-confused pairs, the misread inked
    pictures (at most MISREAD_KEPT, most confident first), accuracy per style and per sampling (in the set's order), and
    where the set knows its writers, ``writers``: the mean of the writers' own accuracies (each writer weighing the same,
    however many digits he wrote), the largest writer's share of the set and the writers read worst (``writer_figures``)."""
    y = inputs.labels
    pred = predicted(probs, inputs) if pred is None else pred
    right = pred == y
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (y[inputs.inked], pred[inputs.inked]), 1)
    misread = np.flatnonzero(~right & inputs.inked)
    misread = misread[np.argsort(-probs[misread].max(1), kind="stable")][:MISREAD_KEPT]  # most confident first
    out = {
        "n": int(len(y)),
        "accuracy": float(right.mean()) if len(y) else 0.0,
        "no_ink": int((~inputs.inked).sum()),
        "per_class": {str(c): float(right[y == c].mean()) for c in metrics.CLASSES if (y == c).any()},
        "confusion": confusion.tolist(),
        "most_confused": metrics.most_confused(confusion.tolist(), top=5),
        "misread": [{"index": int(i), "pred": int(pred[i]), "confidence": round(float(probs[i].max()), 4)} for i in misread],
    }
    for key, tags in (("styles", inputs.styles), ("sampling", inputs.sampling)):
        if tags:
            tags = np.asarray(tags)
            out[key] = {t: {"n": int((tags == t).sum()), "accuracy": float(right[tags == t].mean())} for t in dict.fromkeys(tags.tolist())}
    if inputs.writers:
        out["writers"] = writer_figures(right, inputs.writers)
    return out


WORST_WRITERS = 5  # writers listed in a set's ``writer_figures``, the most misread first


def writer_figures(right: np.ndarray, writers: list[str]) -> dict:
    """Right/wrong per picture and each picture's writer -> {"n": writers, "mean": the mean of the writers' own
    accuracies, "largest_share": the share of the pictures the largest writer wrote, "worst": the WORST_WRITERS
    writers with the most misreads, each {"writer", "n", "wrong", "accuracy"}}.  A set where a few writers wrote most
    digits reads mostly their habits; the mean gives every writer the same say."""
    tags = np.asarray(writers)
    rows = [{"writer": w, "n": int((tags == w).sum()), "wrong": int((~right[tags == w]).sum()),
             "accuracy": float(right[tags == w].mean())} for w in dict.fromkeys(tags.tolist())]
    worst = sorted(rows, key=lambda r: (-r["wrong"], r["accuracy"]))[:WORST_WRITERS]
    return {"n": len(rows), "mean": float(np.mean([r["accuracy"] for r in rows])),
            "largest_share": max(r["n"] for r in rows) / len(tags), "worst": worst}


def _variants(x: np.ndarray) -> list[np.ndarray]:
    """(N, 28, 28) inputs -> the TTA_VARIANTS of each, same shape, in [0, 1]."""
    import cv2

    def warp(m):
        return np.stack([cv2.warpAffine(im, m, (28, 28), flags=cv2.INTER_LINEAR) for im in x])

    def affine(angle=0.0, scale=1.0):
        return cv2.getRotationMatrix2D((13.5, 13.5), angle, scale)

    k = np.ones((2, 2), np.uint8)
    return [
        x,
        warp(np.float32([[1, 0, 1], [0, 1, 0]])), warp(np.float32([[1, 0, -1], [0, 1, 0]])),
        warp(np.float32([[1, 0, 0], [0, 1, 1]])), warp(np.float32([[1, 0, 0], [0, 1, -1]])),
        warp(affine(8)), warp(affine(-8)), warp(affine(scale=0.9)), warp(affine(scale=1.1)),
        np.stack([cv2.dilate(im, k) for im in x]), np.stack([cv2.erode(im, k) for im in x]),
    ]


def tta_proba(classifier, x: np.ndarray) -> np.ndarray:
    """Mean probabilities over the TTA_VARIANTS of (N, 28, 28) inputs: (N, 10)."""
    return np.mean([classifier.predict_proba(v) for v in _variants(x)], axis=0)


def run(classifiers: list, inputs: list[Inputs], tta: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Every classifier on every prepared set -> {"results": {model: {set: score}}, "tta": ... (when asked), and with
    two classifiers or more "paired": {"against": the first's name, "models": {each later model: {set: {"only_against",
    "only_this": pictures only that one reads right, "p": the exact McNemar p-value}}}}}: the same pictures read by
    both, compared picture by picture (``metrics.mcnemar``)."""
    results, with_tta, right = {}, {}, {}
    for clf in classifiers:
        t0 = time.time()
        probs = {s.name: clf.predict_proba(s.images) for s in inputs}
        pred = {s.name: predicted(probs[s.name], s) for s in inputs}
        results[clf.name] = {s.name: score(probs[s.name], s, pred[s.name]) for s in inputs}
        right[clf.name] = {s.name: pred[s.name] == s.labels for s in inputs}
        if tta:
            with_tta[clf.name] = {s.name: score(tta_proba(clf, s.images), s) for s in inputs}
        if progress:
            progress(f"{clf.name}: {time.time() - t0:.1f} s")
    out = {"results": results, **({"tta": with_tta, "tta_variants": list(TTA_VARIANTS)} if tta else {})}
    if len(classifiers) > 1:
        first = classifiers[0].name
        out["paired"] = {"against": first, "models": {
            clf.name: {s.name: metrics.paired(right[first][s.name], right[clf.name][s.name]) for s in inputs}
            for clf in classifiers[1:]}}
    return out


def mean_accuracy(table: dict) -> float:
    return float(np.mean([r["accuracy"] for r in table.values()]))


def markdown(report: dict, default: str | None = None) -> str:
    """The report as Markdown: accuracy per set and model, per-class accuracy and most-confused pairs per
    model, conventions per style (and with TTA when measured)."""
    from digitlab.report.tables import markdown as table
    from digitlab.report.tables import pct

    results = report["results"]
    models = list(results)
    sets = list(next(iter(results.values())))
    lines = [f"# Real-handwriting dev benchmark ({report.get('date', '')[:10]})", "",
             f"`{report['command']}`", "", "## Accuracy per set", ""]
    rows = [[f"{s} ({results[models[0]][s]['n']})", *(pct(results[m][s]["accuracy"]) for m in models)] for s in sets]
    rows.append(["**mean**", *(f"**{pct(mean_accuracy(results[m]))}**" for m in models)])
    lines += [table(["set (n)", *models], rows), ""]
    if "tta" in report:
        rows = [[s, *(f"{pct(results[m][s]['accuracy'])} -> {pct(report['tta'][m][s]['accuracy'])}" for m in models)] for s in sets]
        rows.append(["**mean**", *(f"{pct(mean_accuracy(results[m]))} -> {pct(mean_accuracy(report['tta'][m]))}" for m in models)])
        lines += ["## Test-time augmentation (plain -> mean over " + ", ".join(report["tta_variants"]) + ")", "", table(["set", *models], rows), ""]
    if report.get("paired"):
        against, others = report["paired"]["against"], report["paired"]["models"]
        rows = [[s, *(_paired_cell(c[s]) for c in others.values())] for s in sets]
        lines += [f"## Against {against}, picture by picture", "",
                  f"-k: the pictures only {against} reads right; +k: those only the model reads right; p: the exact McNemar "
                  "p-value of the two (small: one reads the set better, not by the luck of which pictures it holds).", "",
                  table(["set", *others], rows), ""]
    lines += ["## Per-class accuracy", ""]
    for m in ([default] if default in results else []) + [m for m in models if m != default]:
        rows = [[s, *(pct(results[m][s]["per_class"].get(str(c)), 0) for c in range(10)),
                 ", ".join(f"{p['true']}->{p['pred']} ({p['count']})" for p in results[m][s]["most_confused"][:3])] for s in sets]
        lines += [f"### {m}", "", table(["set", *map(str, range(10)), "most confused (true->pred)"], rows), ""]
    if all(CONVENTIONS in results[m] and "styles" in results[m][CONVENTIONS] for m in models):
        styles = results[models[0]][CONVENTIONS]["styles"]
        rows = [[f"{s} ({styles[s]['n']})", *(pct(results[m][CONVENTIONS]["styles"][s]["accuracy"], 0) for m in models)] for s in styles]
        lines += ["## Conventions set, per style", "", table(["style (n)", *models], rows), ""]
    real = [s for s in sets if s.startswith("real strokes") and "styles" in results[models[0]][s]]
    if real:
        rows = [[f"{s}: site {site} ({r['n']})", *(pct(results[m][s]["styles"][site]["accuracy"]) for m in models)]
                for s in real for site, r in results[models[0]][s]["styles"].items()]
        lines += ["## Real strokes, per site", "", table(["set: site (n)", *models], rows), ""]
    real = [s for s in sets if "writers" in results[models[0]][s]]
    if real:
        first = results[models[0]]
        rows = [[f"{s} ({first[s]['writers']['n']} writers, the largest {pct(first[s]['writers']['largest_share'], 0)} of the digits)",
                 *(f"{pct(results[m][s]['writers']['mean'])} (all digits {pct(results[m][s]['accuracy'])})" for m in models)] for s in real]
        lines += ["## Real strokes, each writer weighing the same (the mean of the writers' own accuracies)", "",
                  table(["set (writers)", *models], rows), ""]
        m = default if default in results else models[0]
        rows = [[s, ", ".join(f"{w['writer']} {w['wrong']} of {w['n']}" for w in results[m][s]["writers"]["worst"] if w["wrong"])]
                for s in real]
        lines += [f"Misreads of `{m}` by writer (the most misread first):", "", table(["set", "writer: misread of written"], rows), ""]
    for key, title in (("real_numbers", "## Real numbers (one writer's digits in a row, read through the Numbers path): whole number right (and as many digits read as written)"),
                       ("real_numbers_scanned", "## Real numbers as scans of a form (the same numbers: dark ink on paper, cut out close, JPEG): "
                                                "whole number right")):
        nums = report.get(key)
        if not nums:
            continue
        keys = ["all", *next(iter(nums.values()))["groups"]]

        def cell(m: str, k: str, nums: dict = nums) -> str:
            g = nums[m] if k == "all" else nums[m]["groups"][k]
            return pct(g["whole_number"]) + (f" (count {pct(g['count_right'])})" if "count_right" in g else "")

        rows = [[f"{k} ({nums[models[0]]['n'] if k == 'all' else nums[models[0]]['groups'][k]['n']})", *(cell(m, k) for m in models)]
                for k in keys]
        if all("causes" in nums[m] for m in models):
            for cause in nums[models[0]]["causes"]:
                rows.append([f"misread: {cause}", *(f"{nums[m]['causes'][cause]} of {sum(nums[m]['causes'].values())}" for m in models)])
        elif all("wrong_count" in nums[m] for m in models):  # a report written before causes were counted
            rows.append(["misread with the wrong count of digits", *(f"{nums[m]['wrong_count']} of {round(nums[m]['n'] * (1 - nums[m]['whole_number']))}"
                                                                    for m in models)])
        lines += [title, "", table(["numbers (n)", *models], rows), ""]
    rows = [[f"{s}: {t} ({r['n']})", *(pct(results[m][s]["sampling"][t]["accuracy"]) for m in models)]
            for s in sets for t, r in results[models[0]][s].get("sampling", {}).items()]
    if rows:
        lines += ["## Per sampling (how the strokes were sampled, how the upload was saved)", "", table(["set: sampling (n)", *models], rows), ""]
    return "\n".join(lines)


def misreads_png(inputs: list[Inputs], table: dict, title: str, sets: tuple[str, ...] = (REAL_WRITERS, REAL_HELD_OUT)) -> bytes | None:
    """The misread model inputs of ``sets`` (one model's ``score`` per set in ``table``), most confident first,
    captioned true->read (confidence): what the model gets wrong on real writers.  None when there is none."""
    from digitlab.report import plots

    rows = [(s, m) for s in inputs if s.name in sets and s.name in table for m in table[s.name].get("misread", [])]
    if not rows:
        return None
    rows.sort(key=lambda r: -r[1]["confidence"])
    images = np.stack([s.images[m["index"]] for s, m in rows])
    return plots.gallery_png(images, np.array([s.labels[m["index"]] for s, m in rows]), np.array([m["pred"] for _, m in rows]),
                             np.array([m["confidence"] for _, m in rows]), title)


def samples_png(inputs: list[Inputs], per_set: int = 16) -> bytes:
    """The first ``per_set`` prepared inputs of every set, a row per set (what the models see)."""
    from digitlab.files import png_bytes
    from digitlab.report import plots

    grid = plots.mosaic([[im for im in s.images[:per_set]] for s in inputs])
    return png_bytes((np.clip(grid, 0, 1) * 255).astype(np.uint8))


# ----------------------------------------------------------------------------- the conventions set, style by style

CONVENTIONS_CHUNK = 256  # drawings drawn and prepared at a time: at most 80 MB of canvas pictures, dropped once prepared
TARGET_OUTCOMES = ("meets", "below", "unresolved")
Z95 = 1.96  # the normal quantile of a 95 % interval


def target_outcome(right: int, n: int, target: float, z: float = Z95) -> str:
    """``right`` of ``n`` against ``target``: "meets" (accuracy >= target), "below" (the Wilson interval's upper end is
    under the target: below it with confidence) or "unresolved" (under the target, but the interval reaches it: more
    drawings would tell)."""
    if right / n >= target:
        return TARGET_OUTCOMES[0]
    return TARGET_OUTCOMES[1] if metrics.wilson(right, n, z)[1] < target else TARGET_OUTCOMES[2]


def _against_target(right: int, n: int, target: float) -> dict:
    low, high = metrics.wilson(right, n, Z95)
    return {"n": n, "right": right, "accuracy": right / n, "low": low, "high": high, "verdict": target_outcome(right, n, target)}


NO_INK = "no ink"  # what a drawing the preprocessing found no ink in was "read as"


def conventions_per_style(classifiers: list, per_style: int, seed: int, target: float, chunk: int = CONVENTIONS_CHUNK,
                          progress: Callable[[str], None] | None = None, keep: int = 0, writing: str = DEFAULT_WRITING,
                          styles: list[str] | None = None) -> dict:
    """Every classifier on ``per_style`` drawings of every conventions style (``handwriting_test.conventions_stream``:
    the benchmark's drawings, ``chunk`` at a time, each chunk prepared once through ``prepare_set`` and read by every
    model) -> {"per_style", "seed", "target", "z", "styles": {style: label}, "samplings": [sampling], "results": {model:
    {"n", "right", "accuracy", "low", "high", "verdict", "verdicts": {verdict: styles}, "styles": {style: {"n", "right",
    "accuracy", "low", "high", "verdict", "read_as": {digit or "no ink": misreads}, "sampling": {sampling: {"n",
    "right"}}}}}}}.  A picture without ink counts as wrong, as in ``score``; (low, high) is the 95 % Wilson interval, the
    verdict ``target_outcome``'s against ``target``.  The benchmark's 54 drawings per style move a style by 1.9 points each,
    and 51 of 54 (94.4 %) still has 97 % inside its interval; of 300, 285 (95 %) is below 97 % with confidence.
    ``writing``: the probabilities read as that writer writes 1 and 7 (``serving.writing``; the report says which).
    ``styles``: those styles only (``handwriting_test.check_styles``), drawn as their own draw.

    With two classifiers or more, each after the first also gets "paired": the same drawings read by it and by the
    first, {"against": the first's name, "only_against", "only_this": drawings only that one reads right, "p": the exact
    McNemar p-value (``metrics.mcnemar``), "styles": {style: the same three}}.  Two models' accuracies on one draw
    differ by less than their intervals suggest: the drawings both read alike do not count.

    With ``keep`` > 0 the report also holds, under the key "misread_inputs" (not JSON: ``misreads_png`` draws them),
    the first ``keep`` misread model inputs of every style and model: {model: {style: [(input, read as, confidence,
    sampling)]}}."""
    if per_style < 1:
        raise ValueError(f"per_style must be at least 1, not {per_style}")
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], not {target}")
    from digitlab.serving import writing as writing_

    writing_.check(writing)
    names = list(hw.STYLES) if styles is None else hw.check_styles(styles)
    drawn = Counter()  # (style, sampling) -> drawings; a style's totals are sums of these
    right = {clf.name: Counter() for clf in classifiers}  # (style, sampling) -> drawings read right
    read_as = {clf.name: {s: Counter() for s in names} for clf in classifiers}
    kept = {clf.name: {s: [] for s in names} for clf in classifiers}
    first = classifiers[0].name if classifiers else None
    only = {clf.name: (Counter(), Counter()) for clf in classifiers[1:]}  # style -> drawings only the first / only this reads right
    for part in hw.conventions_stream(per_style, seed, chunk, styles):
        inputs = prepare_set(part)  # (chunk, 28, 28) inputs; the canvas pictures go with ``part``
        keys = list(zip(inputs.styles, inputs.sampling))
        drawn.update(keys)
        ok = {}
        for clf in classifiers:
            probs = writing_.read_as(clf.predict_proba(inputs.images), writing)
            pred = predicted(probs, inputs)
            ok[clf.name] = pred == inputs.labels
            right[clf.name].update(keys[i] for i in np.flatnonzero(ok[clf.name]))
            for i in np.flatnonzero(~ok[clf.name]):
                style = inputs.styles[i]
                read_as[clf.name][style][NO_INK if pred[i] < 0 else str(pred[i])] += 1
                if pred[i] >= 0 and len(kept[clf.name][style]) < keep:
                    kept[clf.name][style].append((inputs.images[i], int(pred[i]), float(probs[i].max()), inputs.sampling[i]))
        for name, (only_first, only_this) in only.items():
            only_first.update(inputs.styles[i] for i in np.flatnonzero(ok[first] & ~ok[name]))
            only_this.update(inputs.styles[i] for i in np.flatnonzero(~ok[first] & ok[name]))
        if progress:
            progress(f"{drawn.total()} of {per_style * len(names)} drawings read")
    samplings = list(hw.SAMPLING)
    drawn_style = _per_style(drawn)
    results = {}
    for name, counts in right.items():
        right_style = _per_style(counts)
        styles = {}
        for s in names:
            styles[s] = {**_against_target(right_style[s], drawn_style[s], target),
                         "read_as": dict(read_as[name][s].most_common()),
                         "sampling": {t: {"n": drawn[s, t], "right": counts[s, t]} for t in samplings if drawn[s, t]}}
        results[name] = {**_against_target(counts.total(), drawn.total(), target),  # every style together
                         "verdicts": {v: sum(r["verdict"] == v for r in styles.values()) for v in TARGET_OUTCOMES}, "styles": styles}
        if name in only:
            results[name]["paired"] = {"against": first, **metrics.paired_counts(*(c.total() for c in only[name])),
                                       "styles": {s: metrics.paired_counts(only[name][0][s], only[name][1][s]) for s in names}}
    report = {"per_style": per_style, "seed": seed, "target": target, "z": Z95, "writing": writing, "styles": {s: hw.STYLES[s][0] for s in names},
              "samplings": samplings, "results": results}
    if keep:
        report["misread_inputs"] = kept
    return report


def save_conventions(out, report: dict, galleries: dict) -> str:
    """``conventions_per_style``'s report (its pictures taken out) into the folder ``out``: conventions.json, conventions.md
    and misreads_<model>.png of each of ``galleries`` ({model: ``conventions_misreads_png`` or None}: a model with no
    style under the target any more keeps no earlier gallery).  Returns the Markdown."""
    from pathlib import Path

    from digitlab.files import atomic_write_bytes, atomic_write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = conventions_markdown(report)
    atomic_write_json(out / "conventions.json", report)
    atomic_write_bytes(out / "conventions.md", (text + "\n").encode())
    for name, png in galleries.items():
        if png is not None:
            atomic_write_bytes(out / f"misreads_{name}.png", png)
        else:
            (out / f"misreads_{name}.png").unlink(missing_ok=True)
    return text


def _paired_cell(c: dict) -> str:
    """A ``metrics.paired`` comparison as a table cell: "-lost / +won (p ...)"."""
    return f"-{c['only_against']} / +{c['only_this']} (p {c['p']:.2g})"


def _per_style(counts: Counter) -> Counter:
    """{(style, sampling): n} -> {style: n}."""
    out = Counter()
    for (style, _), n in counts.items():
        out[style] += n
    return out


def conventions_misreads_png(report: dict, model: str, per_row: int = 10) -> bytes | None:
    """The misread inputs ``conventions_per_style(..., keep=...)`` kept of ``model``, a row per style under the target
    (the weakest first), each captioned with what it was read as, its confidence and how its strokes were sampled: what
    "below" and "unresolved" look like.  None when every style meets the target or nothing was kept."""
    from digitlab.report import plots

    styles = report["results"][model]["styles"]
    under = sorted((s for s, r in styles.items() if r["verdict"] != "meets"), key=lambda s: styles[s]["accuracy"])
    kept = report.get("misread_inputs", {}).get(model, {})
    rows = [(f"{s}\n{styles[s]['accuracy']:.1%}", [(img, f"{report['styles'][s]}→{p} {c:.0%}\n{_SHORT.get(t, t)}") for img, p, c, t in kept.get(s, [])[:per_row]])
            for s in under if kept.get(s)]
    if not rows:
        return None
    return plots.rows_gallery_png(rows, f"{model}: writing-convention styles under {report['target']:.0%}, drawings it misreads "
                                        f"({report['per_style']} per style, seed {report['seed']})", cols=per_row)


_SHORT = {"pen path, 8-12 points": "pen path", "coarse tablet": "coarse", "few points": "few pts"}  # captions under a tile


def conventions_markdown(report: dict) -> str:
    """``conventions_per_style``'s report as Markdown: a row per style, a column per model, "accuracy [low-high]" marked
    **below** or *unresolved*; then every style together and how many styles are under the target."""
    from digitlab.report.tables import markdown as table
    from digitlab.report.tables import pct

    results, target = report["results"], report["target"]
    models = list(results)
    marks = {"meets": "", "below": " **below**", "unresolved": " *unresolved*"}

    def cell(r: dict) -> str:
        return f"{pct(r['accuracy'])} [{pct(r['low'])}-{pct(r['high'])}]" + marks[r["verdict"]]

    rows = [[s, *(cell(results[m]["styles"][s]) for m in models)] for s in report["styles"]]
    rows.append([f"**every style** ({len(report['styles']) * report['per_style']})", *(cell(results[m]) for m in models)])
    rows.append([f"**styles under {pct(target)}**", *(f"{results[m]['verdicts']['below']} below, {results[m]['verdicts']['unresolved']} unresolved"
                                                        f" of {len(report['styles'])}" for m in models)])
    under = [*_conventions_under_markdown(report), *_conventions_paired_markdown(report)]
    return "\n".join([
        f"# Writing conventions, style by style ({report.get('date', '')[:10]})", "",
        *([f"`{report['command']}`", ""] if report.get("command") else []),
        f"{report['per_style']} drawings of each style (seed {report['seed']}), read through the one preprocessing path"
        + (f", 1 and 7 read as {report['writing']} hands write them (`serving.writing`)" if report.get("writing", DEFAULT_WRITING) != DEFAULT_WRITING else "")
        + "; accuracy and its "
        f"95 % Wilson interval. Target {pct(target)}: **below** when the whole interval is under it, *unresolved* when the accuracy "
        "is under it but the interval reaches it (judged on the unrounded figures).", "",
        table([f"style ({report['per_style']} each)", *models], rows), "", *under])


def _conventions_paired_markdown(report: dict) -> list[str]:
    """Lines of a section comparing every model after the first with the first on the same drawings: per style where
    any two disagree, the drawings only the first reads right, only this one, and the exact McNemar p-value.  No lines
    for one model, or a report that predates these counts."""
    from digitlab.report.tables import markdown as table

    others = {m: r["paired"] for m, r in report["results"].items() if "paired" in r}
    if not others:
        return []
    first = next(iter(others.values()))["against"]
    rows = [[s, *(_paired_cell(c["styles"][s]) for c in others.values())] for s in report["styles"]
            if any(c["styles"][s]["only_against"] + c["styles"][s]["only_this"] for c in others.values())]
    rows.append(["**every style**", *(_paired_cell(c) for c in others.values())])
    return [f"## Against {first}, drawing by drawing", "",
            f"The same drawings read by each model and by {first}: -k, the drawings only {first} reads right; +k, those only "
            "the model reads right; p, the exact McNemar p-value of the two (small: one reads this style better, not by "
            "the luck of the draw). The styles where none disagree are left out.", "",
            table(["style", *others], rows), ""]


def _conventions_under_markdown(report: dict) -> list[str]:
    """Lines of a section on the styles under the target, model by model: what their misreads were read as, and how
    many of each sampling's drawings were misread (the pen's path replayed as one line draws the moves between
    strokes too). No lines when every style of every model meets the target, or the report predates these counts."""
    from digitlab.report.tables import markdown as table
    from digitlab.report.tables import pct

    samplings = report.get("samplings") or []
    rows = []
    for model, r in report["results"].items():
        for s, st in sorted(r["styles"].items(), key=lambda kv: kv[1]["accuracy"]):
            if st["verdict"] == "meets" or "read_as" not in st:
                continue
            read = ", ".join(f"{k} ({v})" for k, v in st["read_as"].items())
            by = [f"{c['n'] - c['right']} of {c['n']}" if (c := st["sampling"].get(t)) else "-" for t in samplings]
            rows.append([model, s, pct(st["accuracy"]), read, *by])
    if not rows:
        return []
    return [f"## Styles under {pct(report['target'])}: what their misreads were read as, and misread by sampling", "",
            "How each drawing's strokes reached the canvas (`handwriting_test.SAMPLING`): a mouse, a quick hand on a coarse "
            "tablet, a coarser one, or the pen's path replayed as one line of 8-12 points (the moves between strokes drawn too).",
            "", table(["model", "style", "accuracy", "read as (drawings)", *(f"misread: {t}" for t in samplings)], rows), ""]
