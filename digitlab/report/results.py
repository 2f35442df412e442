"""Every measured figure the README and docs/ quote, written once, in one machine-written file.

``docs/results.json`` holds each figure with the command that measured it, the date and, where a model was
measured, the model file's sha256.  The measuring commands write into it through ``record`` (one figure) or
``record_all`` with the figures an extractor below reads out of the report they just wrote, for example
``record_all(from_handwriting(report))``.  Nothing else writes it, and nobody types a figure into the README
or docs/results.md: both are rendered from the file by

    python -m digitlab.report.results --write    # README's results block and docs/results.md
    python -m digitlab.report.results --check    # exit 1 when either disagrees with the file (the tests run it)
    python -m digitlab.report.results --from-cards   # the committed models' cards -> the file, then --write
    python -m digitlab.report.results --stale        # the commands that measure again what an earlier model file measured
    python -m digitlab.report.results --remeasure    # run them, one after another, each output in runs/remeasure/

``$DIGITLAB_RESULTS`` points ``record`` at another file (the tests set it, so a script they run never
writes the tracked one).  A run with other settings than the figure's recorded command (``--n 200``) keeps
the documented figure unless ``$DIGITLAB_RECORD=replace``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import re
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from digitlab import paths
from digitlab.paths import MODELS_DIR, ROOT, shown

RESULTS_ENV = "DIGITLAB_RESULTS"
RECORD_ENV = "DIGITLAB_RECORD"  # "replace": a run with other settings replaces the documented figures
RESULTS_FILE = paths.RESULTS_FILE
README = ROOT / "README.md"
RESULTS_MD = ROOT / "docs" / "results.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
SCHEMA = 1

# How a value is shown; the file keeps the raw number, so a figure is rounded in one place only.
FORMATS = {
    "": lambda v: str(v),
    "pct0": lambda v: f"{v:.0%}",
    "pct1": lambda v: f"{v:.1%}",
    "pct2": lambda v: f"{v:.2%}",
    "int": lambda v: f"{v:,.0f}",
    "f1": lambda v: f"{v:.1f}",
    "f2": lambda v: f"{v:.2f}",
    "f3": lambda v: f"{v:.3f}",
    "f4": lambda v: f"{v:.4f}",
    "sci": lambda v: f"{v:.1e}",
    "ms": lambda v: f"{v:.2f} ms",
    "ms0": lambda v: f"{v:,.0f} ms",
    "s": lambda v: f"{v:,.1f} s",
    "s0": lambda v: f"{v:,.0f} s",
    "s2": lambda v: f"{v:.2f} s",
    "MiB": lambda v: f"{v:,.0f} MiB",
    "MB": lambda v: f"{v:,.1f} MB",
    "kB": lambda v: f"{v:,.0f} kB",
    "bytes": lambda v: f"{v / 1e6:.1f} MB" if v >= 1e6 else f"{v / 1e3:.0f} kB",
    "x": lambda v: f"{v:.1f}x",
}


@dataclass(frozen=True)
class Section:
    title: str
    about: str  # what was measured and on what: reference text, no figures (those are in the table)


# The sections, in the order docs/results.md shows them.  A figure goes into one of these or is refused,
# so a typo in a script cannot start a section nobody renders.
SECTIONS: dict[str, Section] = {
    "models": Section(
        "Committed models",
        "MNIST test split (10,000 digits) and validation split (5,000), read from each model's card "
        "(`models/<name>.json`, written by the training script and `training/promote.py`). The predict CLI gives "
        "the same accuracies on the test digits written as PNG files (`tests/test_committed_models.py`). How each "
        "model was trained is on its card (`recipe`, `command`, `config`) and in its recipe "
        "([training.md](training.md#recipes-the-committed-models-file-by-file-trainingconfigs-trainingrebuildpy)). "
        "Train time is the card's: an ensemble's is the sum of its networks' training runs."),
    "drawn_digits": Section(
        "Digits that do not look like MNIST",
        "1,000 MNIST test digits per set, redrawn as solid canvas strokes (five brushes from a thin pen to a fat "
        "brush) and as photos (dark ink on shaded, noisy paper, JPEG); the mean of the six sets, three ways into "
        "the model: squashed to 28x28 (naive), the MNIST recipe, and the recipe with stroke-width normalisation "
        "(the default path). These pictures are synthetic, built from MNIST digits."),
    "drawn_digits_sets": Section(
        "Digits that do not look like MNIST, per set",
        "The same measurement per set, on the default path (recipe and stroke-width normalisation). \"MNIST as is\" "
        "is the control: what the path costs on MNIST's own digits."),
    "handwriting": Section(
        "Real-handwriting dev benchmark",
        "`load_digits` (scikit-learn's digits by 43 writers) as uploaded photos and as canvas drawings of three "
        "sizes, 37 writing conventions drawn as strokes, MNIST test digits re-drawn as strokes, and real pen strokes "
        "of writers no model trained on (UNIPEN: the held-out site `app`, its digits with the pen-ups lost, the "
        "training sites' validation writers); every picture through the app's preprocessing, no test-time "
        "augmentation. The sets: [evaluation.md](evaluation.md#real-handwriting-dev-benchmark)."),
    "conventions": Section(
        "Writing conventions, style by style",
        "Each of the benchmark's 37 writing-convention styles drawn 300 times on the canvas (seed 1; the benchmark's "
        "own set has 54 of each, too few to tell 94% from 97%) and read through the app's preprocessing "
        "(`python evaluation/conventions.py`); every style's 95% Wilson interval and its verdict against 97% are in "
        "the report the notes name (`conventions.md`): below (the whole interval under it), unresolved (under it, the "
        "interval reaching it) or meets. "
        "[evaluation.md](evaluation.md#writing-conventions-style-by-style-evaluationconventionspy)."),
    "conventions_continental": Section(
        "Writing conventions, read as continental hands write",
        "The same styles drawn afresh, 1,200 of each (seed 2, a draw that chose nothing), read with the writer's "
        "setting \"continental\" (`python evaluation/conventions.py --writing continental`: the odds between 1 and 7 "
        "moved by `digitlab.serving.writing`, every other class unchanged): what a writer who crosses the 7 and gives the "
        "1 a long up-stroke gets after saying so. The default reading is the table above; what the setting costs a "
        "writer who writes as MNIST's writers do: [evaluation.md](evaluation.md#how-you-write-1-and-7-the-writing-setting)."),
    "real_numbers": Section(
        "Real handwritten numbers",
        "2-6 digits one real writer wrote in a row on one line (UNIPEN: the held-out site and the validation "
        "writers), drawn on a 560x280 canvas where the writer put each stroke and read through the Numbers path (the "
        "cuts and the number reader, whose hash and margin each figure's note gives: where the two differ, the reader's "
        "number is taken when the reader finds the cuts' far less likely, [numbers.md](numbers.md#the-number-reader)); "
        "a number counts as right only when every digit is."),
    "real_numbers_scanned": Section(
        "Real handwritten numbers, scanned",
        "The same numbers as a scan of a form gives them (`digitlab.data.unipen.scan_number`: dark ink, a pen 2-4% of a "
        "digit's height, on paper that is no exact tone, cut out with 2.5-27.5% of a digit's height around the ink, "
        "32-160 px high, blur, noise, JPEG), read through the Numbers path with the ink detected, as an upload is."),
    "writers": Section(
        "Real writers, several draws per digit",
        "Every digit of one part of the real-strokes file (the held-out site, the validation writers) drawn on the "
        "canvas several times, each with its own brush, size and place, and read through the app's preprocessing "
        "(`python evaluation/writers.py --renders N`): the share right over all drawings. The benchmark above draws "
        "each real digit once. Per writer: "
        "[evaluation.md](evaluation.md#writer-by-writer-evaluationwriterspy)."),
    "photo_cases": Section(
        "Photos with a shadow, a desk corner, lines, pencil, a marker, a form's box or line; a scan cut tight",
        "MNIST test digits photographed (or scanned: `scan_tight`, size-normalised into a 16-64 px square as postal "
        "digit sets keep them) on generated paper (`digitlab/data/photo_cases.py`), read through the "
        "predict CLI's path by the default model."),
    "paper": Section(
        "Real scanned paper",
        "2,341 handwritten digits cut from greyscale scans of 17 Danish church registers (parish clerks' row numbers, "
        "about 1890-1930; the data set of Cabello Piqueras et al., ICFHR 2022), with whatever the clerk wrote beside "
        "them (an underline, a full stop, a tick or a cross) and pieces of the page's ruling, each read as the predict "
        "CLI reads a file (`python evaluation/paper.py`); about 3% of the labels are wrong and stay in. Per class, "
        "the confusions and the misreads: [evaluation.md](evaluation.md#real-scanned-paper-evaluationpaperpy)."),
    "numbers": Section(
        "Reading a number",
        "Numbers of 2-8 digits built from MNIST test digits, drawn on the canvas or photographed, with gaps from "
        "wide to overlapping, read by the cuts and the number reader (the notes give its hash); a number counts as "
        "right only when every digit is. The benchmark: [numbers.md](numbers.md#dev-benchmark), what the reader "
        "bought: [numbers.md](numbers.md#the-number-reader)."),
    "latency": Section(
        "Latency",
        "One 280x280 canvas drawing to 10 probabilities, preprocessing included, one picture at a time; the "
        "Classifier row is the path of the app and the CLI. The drawing is what Home's light canvas hands over (black on "
        "opaque white), read as Home reads it (`drawn_on`); until 2026-11-26 it was white strokes on transparency, read "
        "as any picture, which cost 3.38 against 2.80 ms in one run."),
    "training_race": Section(
        "Training speed",
        "Test accuracy 99.0% first reached: `train_cnn.py`'s recipe against the keras-io `mnist_convnet` reference "
        "fed exactly as its source feeds it, both checked every 1/8 epoch on the same test digits (evaluation on "
        "neither clock). *In-epoch* seconds leave out the epoch boundaries, *wall* seconds include them."),
    "app": Section(
        "The app as a person meets it",
        "A freshly started `streamlit run app/Home.py` over the committed models, driven in Chromium; memory is "
        "resident set size in MiB (2^20 bytes)."),
    "app_browser": Section(
        "The app in the browser tests",
        "The browser tests (Playwright and Chromium) on the app: a cold start, and a mouse stroke on the canvas "
        "to the updated prediction (200 ms of it is the canvas component's own debounce)."),
    "stress": Section(
        "Stress: corruptions, attacks, calibration",
        "Mean accuracy over the 15 MNIST-C-style corruptions (3,000 test digits), FGSM and PGD-40 on the logits "
        "(500 test digits, the leaderboard's settings), and the expected calibration error before and after "
        "temperature scaling (15 bins, MNIST test). How they work: "
        "[evaluation.md](evaluation.md#stress-robustness-attacks-calibration)."),
    "adversarial": Section(
        "Adversarially trained model under attack",
        "`mnist_robust` on all 10,000 test digits: FGSM, PGD-100 with 2 random restarts, PGD on the logit margin, "
        "the worst case per digit over both losses, and PGD examples made on `mnist_cnn` (a black-box transfer). "
        "The sanity report's checks against gradient masking are on the card (`adversarial.sanity`)."),
    "abstain": Section(
        "The \"not a digit\" rule",
        "Share rejected by the rule (the digit gate, or calibrated confidence below the model's threshold): MNIST "
        "test digits, digits redrawn with a canvas brush, digits printed in held-out fonts, and generated "
        "non-digits from the gate's own generators (in-distribution), from generators it never saw (held-out) and "
        "from a set written last (fresh). How the rule works: "
        "[evaluation.md](evaluation.md#the-abstain-rule-not-sure-this-is-a-digit)."),
    "serving": Section(
        "Serving without TensorFlow",
        "The ONNX Runtime serving path against the Keras models on the 10,000 MNIST test digits as PNG files, "
        "and the predict CLI's cost on one picture."),
    "export": Section(
        "Export parity",
        "Every export format against the Keras model on the probe set: the float formats' largest difference in "
        "probability, the quantised formats' size and argmax agreement. How: [export.md](export.md)."),
    "web_page": Section(
        "The in-browser page",
        "The static page in `web/` in headless Chromium: the JavaScript preprocessing against `preprocess.prepare`, "
        "onnxruntime-web against Python, digits drawn with the mouse and uploaded."),
    "web_files": Section(
        "The in-browser page's files",
        "`web/model/` as `web/build.py` wrote it (its descriptions, `digitlab.serving.web_manifest`): each exported "
        "file's size and its largest difference in probability from the Keras model it came from, the check that "
        "refuses a file before it is written. How: [export.md](export.md#in-the-browser-web)."),
    "web_bench": Section(
        "The two browser runtimes, size and speed",
        "`python web/bench.py`: the page served locally and opened in headless Chromium, a fresh browser context per "
        "runtime; MNIST test digits uploaded one by one (medians), then the last picture timed many times; bytes are "
        "what the page fetched, uncompressed. Also the TF.js model alone in Node. How: "
        "[export.md](export.md#size-and-speed-of-the-two-browser-runtimes)."),
    "fuzz": Section(
        "Hostile input",
        "Generated hostile pictures (byte flips, truncations, bomb headers, odd modes, animated files, EXIF, odd "
        "names, special files, unread formats) through the predict CLI's per-file code and the app's upload path. "
        "How: [evaluation.md](evaluation.md#fuzzing)."),
    "tuning": Section(
        "Hyperparameter search",
        "Keras Tuner over the CNN's width, depth, dropout, learning rate and augmentation, 2 epochs per trial on "
        "10,000 training digits; the best trial retrained on all 55,000. How: "
        "[training.md](training.md#hyperparameter-search-trainingtunepy)."),
    "finetune": Section(
        "Fine-tuning on your own digits",
        "A stand-in user's digits (`digitlab/data/user_style.py`): held-out pictures, 500 new drawings by the same "
        "hand and MNIST test, before and after `finetune_on_custom.py` at its defaults with 3 replayed MNIST digits "
        "per picture (the default) or none. How: "
        "[training.md](training.md#your-own-digits-collect-and-fine-tune)."),
}


class ResultsError(ValueError):
    """A figure that cannot be recorded, or a results file that cannot be read."""


@dataclass(frozen=True)
class Figure:
    """One measured figure: ``section`` / ``row`` / ``key`` place it in a table (row: a model, a set, a case)."""

    section: str
    key: str
    value: float | int | str | bool
    command: str
    row: str = ""
    model: str | None = None
    model_sha: str | None = None
    fmt: str = ""
    date: str | None = None
    note: str | None = None
    source: str | None = None  # the report or card the figure was read from, when not the command's own output
    extra: dict = field(default_factory=dict)

    def entry(self) -> dict:
        e = {"value": self.value, "fmt": self.fmt, "command": self.command,
             "date": self.date or datetime.now(UTC).date().isoformat()}
        for k in ("model", "model_sha", "note", "source"):
            if getattr(self, k):
                e[k] = getattr(self, k)
        return e


def results_path() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or RESULTS_FILE)


def model_sha(model) -> str | None:
    """"sha256:<16 hex>" of a model file (a name in models/ or a path), as the handwriting report and the
    serving cache name models; None when there is no such file."""
    from digitlab.files import sha256

    path = Path(model)
    if not path.suffix:
        path = MODELS_DIR / f"{model}.keras"
    return sha256(path, 16) if path.is_file() else None


def _check(f: Figure) -> None:
    if f.section not in SECTIONS:
        raise ResultsError(f"unknown results section {f.section!r}; the sections are {', '.join(SECTIONS)}")
    if not isinstance(f.key, str) or not f.key.strip():
        raise ResultsError(f"{f.section}: a figure needs a non-empty key, got {f.key!r}")
    if not isinstance(f.command, str) or not f.command.strip():
        raise ResultsError(f"{f.section}/{f.row}/{f.key}: a figure needs the command that measured it")
    if f.fmt not in FORMATS:
        raise ResultsError(f"{f.section}/{f.row}/{f.key}: unknown format {f.fmt!r}; known: {', '.join(map(repr, FORMATS))}")
    v = f.value
    if isinstance(v, (bool, str)):
        return
    if not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise ResultsError(f"{f.section}/{f.row}/{f.key}: a figure must be a finite number or text, got {v!r}")


def load(path: Path | None = None) -> dict:
    """The results file as {"schema", "figures": {section: {row: {key: entry}}}}; empty when there is none yet."""
    path = Path(path) if path is not None else results_path()
    if not path.exists():
        return {"schema": SCHEMA, "figures": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ResultsError(f"cannot read the results file {shown(path)}: {e}") from e
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("figures"), dict):
        raise ResultsError(f"{shown(path)} is not a results file of schema {SCHEMA}")
    return data


@contextlib.contextmanager
def _locked(path: Path):
    """Two measuring commands finishing together must not drop each other's figures: the read-modify-write
    runs under an advisory lock kept outside the repository (the file itself is replaced atomically)."""
    import fcntl

    name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"digitlab-results-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _save(path: Path, data: dict) -> None:
    """Write the results ``data`` to ``path`` (under ``_locked``), its sections in their rendering order; rows and
    keys keep the order they were first written in."""
    from digitlab.files import atomic_write_json

    data["figures"] = {s: data["figures"][s] for s in SECTIONS if s in data["figures"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, data)


def record_all(figures: list[Figure], path: Path | None = None, *, replace: bool | None = None) -> int:
    """Write ``figures`` into the results file, each replacing the figure with the same section, row and key
    (the others stay).  Every figure is checked before anything is written: one bad figure writes none.

    A figure the file already holds from another command (other settings: ``--n 200`` where the docs quote
    ``--n 20000``) is kept, and the run says so on stderr: a quick run does not replace the documented
    figure.  ``replace=True``, or ``$DIGITLAB_RECORD=replace`` for a measuring command, replaces it anyway
    (a new documented setting).  Returns how many figures were written."""
    for f in figures:
        _check(f)
    if replace is None:
        replace = os.environ.get(RECORD_ENV, "") == "replace"
    path = Path(path) if path is not None else results_path()
    kept: Counter[tuple[str, str]] = Counter()  # (the held command, this run's) -> figures kept
    with _locked(path):
        data = load(path)
        written = 0
        for f in figures:
            row = data["figures"].setdefault(f.section, {}).setdefault(f.row, {})
            held = row.get(f.key, {}).get("command")
            if held is not None and held.strip() != f.command.strip() and not replace:
                kept[held, f.command] += 1
                continue
            row[f.key] = f.entry()
            written += 1
        if written:
            _save(path, data)
    for (held, command), n in kept.items():
        print(f"{shown(path)} keeps {n} figure{'s' * (n != 1)} measured by `{held}`, not replaced by this run's "
              f"`{command}` (set {RECORD_ENV}=replace to replace them)", file=sys.stderr)
    return written


def record(section: str, key: str, value, *, command: str, row: str = "", model: str | None = None,
           model_sha: str | None = None, fmt: str = "", note: str | None = None, path: Path | None = None,
           replace: bool | None = None) -> int:
    """Write one figure (see ``record_all``); ``model_sha`` defaults to the sha of ``model``'s file."""
    if model and model_sha is None:
        model_sha = globals()["model_sha"](model)
    return record_all([Figure(section, key, value, command, row, model, model_sha, fmt, note=note)], path, replace=replace)


def value(results: dict, section: str, row: str, key: str):
    """The raw value of one figure; ResultsError naming the missing figure otherwise."""
    try:
        return results["figures"][section][row][key]["value"]
    except KeyError:
        raise ResultsError(f"no figure {section}/{row}/{key} in the results file") from None


def shown_value(entry: dict) -> str:
    v = entry["value"]
    return str(v) if isinstance(v, (str, bool)) else FORMATS[entry.get("fmt", "")](v)


# ---- extractors: a report a measuring command writes -> its figures ------------------------------------------

def committed(figures: list[Figure]) -> list[Figure]:
    """The figures measured on no model or on a committed model's very file: a candidate measured by the same
    command (``--model runs/x.keras``, or a model of the same name elsewhere) is not what the docs describe."""
    return [f for f in figures if f.model is None or (f.model_sha is not None and f.model_sha == model_sha(f.model))]


def _day(iso: str | None) -> str | None:
    return iso[:10] if iso else None


MODEL_ABOUT = {  # the README's "what it is" column; a model not named here shows its card's builder
    "mnist_advanced": "three depthwise-separable residual CNNs, two fine-tuned on re-drawn and real pen strokes, a wider one trained on real strokes from its first epoch, and mnist_cnn's second network; logits averaged",
    "mnist_cnn": "two compact CNNs at twice the default width, BatchNorm after pooling, trained on re-drawn and real pen strokes from their first epoch; logits averaged",
    "mnist_robust": "Madry et al.'s CNN, adversarially trained (PGD-7, eps 0.3)",
    "mnist_baseline": "softmax regression (scikit-learn, copied into Keras)",
}


def from_card(card: dict, keras_file: Path | None = None) -> list[Figure]:
    """A model card's figures: accuracy and size (models), calibration (stress, abstain), attacks (adversarial)."""
    name = card["name"]
    sha = model_sha(keras_file) if keras_file is not None else model_sha(name)
    source = shown(MODELS_DIR / f"{name}.json")
    promoted = card.get("promoted") or {}
    command = promoted.get("command") or card.get("command") or "(not on the card)"
    date = _day(promoted.get("date") or card.get("date"))
    m = card.get("metrics", {})

    def fig(section, key, v, fmt, cmd=command, day=date, note=None):
        return Figure(section, key, v, cmd, row=name, model=name, model_sha=sha, fmt=fmt, date=day, source=source, note=note)

    out = [fig("models", "MNIST test acc.", m["test_accuracy"], "pct2"),
           fig("models", "weighted F1", m["test_weighted_f1"], "f4"),
           fig("models", "validation acc.", m["val_accuracy"], "pct2"),
           fig("models", "params", card["params"], "int")]
    if card.get("file_bytes"):
        out.append(fig("models", "file", card["file_bytes"], "bytes"))
    if card.get("train_seconds"):
        out.append(fig("models", "train time (wall)", card["train_seconds"], "s0"))
    if card.get("calibration"):
        out += calibration_figures(name, card["calibration"], sha, source, command, date)
    if card.get("adversarial"):
        out += adversarial_figures(name, card["adversarial"], sha, source, command, date)
    return out


def adversarial_figures(name: str, adv: dict, sha: str | None, source: str | None = None,
                        command: str | None = None, date: str | None = None) -> list[Figure]:
    """A card's "adversarial" entry (``evaluation/attack.py --write-card``): accuracy per attack, sanity verdict."""
    cmd, day = adv.get("command") or command or "(not on the card)", _day(adv.get("date")) or date
    s = adv.get("sanity") or {}
    eps, transfer = s.get("eps"), s.get("transfer") or {}
    steps, restarts = adv.get("pgd_steps", 100), adv.get("restarts", 1)
    rows = [("clean", adv.get("clean_accuracy"))]
    rows += [(f"FGSM, {k.removeprefix('fgsm_eps')}", v) for k, v in adv.items() if k.startswith("fgsm_eps")]
    rows += [(f"PGD-{steps}, {restarts} restarts, {k.removeprefix(f'pgd{steps}_eps')}", v)
             for k, v in adv.items() if k.startswith(f"pgd{steps}_eps")]
    rows += [(f"PGD on the logit margin, {eps}", s.get(f"pgd{steps}_margin_eps{eps}")),
             (f"worst case per digit, {eps}", s.get(f"worst_case_eps{eps}")),
             (f"transfer from {transfer.get('source')}, {eps}", transfer.get("accuracy"))]
    out = [Figure("adversarial", "accuracy", v, cmd, row=k, model=name, model_sha=sha, fmt="pct2", date=day, source=source)
           for k, v in rows if v is not None]
    if "passed" in s:
        out.append(Figure("adversarial", "accuracy", "passed" if s["passed"] else "FAILED", cmd, row="sanity checks",
                          model=name, model_sha=sha, date=day, source=source))
    return out


def calibration_figures(name: str, cal: dict, sha: str | None, source: str | None = None,
                        command: str | None = None, date: str | None = None) -> list[Figure]:
    """A card's calibration entry (written by ``evaluation/calibrate.py``): ECE (stress) and the rule's rejections."""
    cmd, day = cal.get("command") or command or "(not on the card)", _day(cal.get("date")) or date

    def fig(section, key, v, fmt):
        return Figure(section, key, v, cmd, row=name, model=name, model_sha=sha, fmt=fmt, date=day, source=source)

    out = [fig("stress", "ECE before temperature", cal["ece_before"], "pct2"),
           fig("stress", "ECE after temperature", cal["ece_after"], "pct2")]
    ab = cal.get("abstain", {})
    for key, card_key, fmt in (("MNIST test", "mnist_test_rejected", "pct2"),
                               ("non-digits, in-distribution", "non_digits_rejected_in_distribution", "pct1"),
                               ("non-digits, held-out", "non_digits_rejected_held_out", "pct1"),
                               ("non-digits, fresh", "non_digits_rejected_fresh", "pct1")):
        if card_key in ab:
            out.append(fig("abstain", key, ab[card_key], fmt))
    for kind, v in (ab.get("digits_rejected") or {}).items():
        out.append(fig("abstain", f"{kind} digits", v, "pct1"))
    return out


def from_handwriting(report: dict, source: str | None = None) -> list[Figure]:
    """``evaluation/handwriting.py``'s report: accuracy per set and model (no test-time augmentation), the mean
    of the sets, the conventions set's weakest class and its 0s, 1s and 7s (the classes it was built for), and the real numbers."""
    out = []
    day = _day(report.get("date"))
    for model, sets in report["results"].items():
        sha = (report.get("models", {}).get(model) or {}).get("sha256")
        note = "pictures per set: " + ", ".join(f"{name} {r['n']:,}" for name, r in sets.items())
        common = dict(model=model, model_sha=sha, fmt="pct1", date=day, source=source, note=note)
        for name, r in sets.items():
            out.append(Figure("handwriting", model, r["accuracy"], report["command"], row=name, **common))
        out.append(Figure("handwriting", model, sum(r["accuracy"] for r in sets.values()) / len(sets), report["command"],
                          row="mean of the sets", **common))
        for name, r in sets.items():  # every writer weighing the same: a set of few prolific writers reads mostly their habits
            if "writers" in r:
                out.append(Figure("handwriting", model, r["writers"]["mean"], report["command"], row=f"{name}, each writer weighing the same",
                                  **dict(common, note=f"the mean of {r['writers']['n']} writers' own accuracies; the largest wrote "
                                                      f"{r['writers']['largest_share']:.0%} of the set's {r['n']:,} digits")))
        conv = sets.get("conventions")
        if conv:
            out.append(Figure("handwriting", model, min(conv["per_class"].values()), report["command"],
                              row="conventions, its weakest class", **common))
            for digit in ("0", "1", "7"):
                out.append(Figure("handwriting", model, conv["per_class"][digit], report["command"],
                                  row=f"conventions, its {digit}s", **common))
        for key in ("real_numbers", "real_numbers_scanned"):
            numbers = (report.get(key) or {}).get(model)
            if not numbers:
                continue
            reader = report.get("number_reader")
            read_with = f", read with the number reader {_reader(reader)}" if reader else ", read by the cuts alone"
            common_n = dict(common, note=f"{numbers['n']} numbers of 2-6 digits{read_with}")
            # two decimals: of 634 numbers one is 0.16 point, and 94.95% must not read as the 95% it misses
            out.append(Figure(key, model, numbers["whole_number"], report["command"], row="all lengths",
                              **dict(common_n, fmt="pct2")))
            for group, r in numbers["groups"].items():
                out.append(Figure(key, model, r["whole_number"], report["command"], row=group,
                                  **dict(common_n, note=f"{r['n']} numbers{read_with}")))
    return out


def from_conventions(report: dict, source: str | None = None) -> list[Figure]:
    """``evaluation/conventions.py``'s report: per model the accuracy of every style (its interval and verdict in the
    note), every style together, and how many styles are below the target or unresolved."""
    out = []
    day, cmd, target = _day(report.get("date")), report["command"], report["target"]
    writing = report.get("writing", "default")  # serving.writing.DEFAULT, by its value: report does not import serving
    section = "conventions" if writing == "default" else f"conventions_{writing}"
    for model, r in report["results"].items():
        sha = (report.get("models", {}).get(model) or {}).get("sha256")
        common = dict(model=model, model_sha=sha, date=day, source=source,
                      note=f"{report['per_style']} drawings of each of {len(r['styles'])} styles, seed {report['seed']}; every style's "
                           f"95% interval and verdict: conventions.md beside it")
        for style, st in r["styles"].items():
            out.append(Figure(section, model, st["accuracy"], cmd, row=style, fmt="pct1", **common))
        out.append(Figure(section, model, r["accuracy"], cmd, row="every style", fmt="pct1", **common))
        for verdict in ("below", "unresolved"):
            out.append(Figure(section, model, r["verdicts"][verdict], cmd, row=f"styles {verdict} {target:.0%}", fmt="int", **common))
    return out


def _reader(reader: dict) -> str:
    """The number reader a report read with: its file's hash, and the margin its card held (reports written
    before the margin replaced the confidence threshold hold none)."""
    return reader["sha256"] + (f" at margin {reader['margin']:g}" if reader.get("margin") is not None else "")


def from_numbers(report: dict, model_file: Path | None = None, source: str | None = None) -> list[Figure]:
    """``evaluation/numbers.py``'s report: whole numbers and digits right, by gap and for 4 visible-gap digits."""
    s, cmd, model = report["summary"], report["command"], report["model"]
    day = _day(report.get("date"))
    common = dict(model=model, model_sha=model_sha(model_file or model), date=day, source=source)
    rows = [("4 digits, visible gaps", s["four_digits_visible_gaps"])]
    rows += [(f"{gap} gaps", s["gap"][gap]) for gap in s["gap"]]
    rows += [("all", s["all"])]
    reader = report.get("number_reader")
    common["note"] = "numbers per row: " + ", ".join(f"{row} {r['n']:,}" for row, r in rows) + (
        f"; read with the number reader {_reader(reader)}" if reader else "; read by the cuts alone")
    out = []
    for row, r in rows:
        out += [Figure("numbers", "whole numbers right", r["whole_number"], cmd, row=row, fmt="pct1", **common),
                Figure("numbers", "digits right", r["digits"], cmd, row=row, fmt="pct1", **common)]
    return out


def from_benchmark(report: dict, command: str, model_file: Path | None = None, source: str | None = None) -> list[Figure]:
    """``evaluation/benchmark.py``'s report: latency per path and, when it ran, the training race."""
    day = _day(report.get("date"))
    model = report.get("latency_model")
    sha = model_sha(model_file) if model_file is not None else None
    out = []
    for path_name, r in report.get("latency", {}).items():
        for q in ("p50", "p95"):
            out.append(Figure("latency", f"{q} ms", r[f"{q}_ms"], command, row=path_name, model=model, model_sha=sha,
                              fmt="ms", date=day, source=source))
    target = None
    for racer in report.get("race", []):
        if not racer.get("reached"):
            continue
        target = racer.get("target", 0.99)
        for key, v, fmt in ((f"epochs to {target:.1%}", racer.get("epochs"), "f2"),
                            ("in-epoch s", racer.get("in_epoch_seconds"), "s"), ("wall s", racer.get("wall_seconds"), "s")):
            if v is not None:
                out.append(Figure("training_race", key, v, command, row=racer["name"], fmt=fmt, date=day, source=source))
    sp = report.get("speedup")
    if isinstance(sp, dict) and target is not None:  # older reports kept one ratio, not per clock
        for key, k in ((f"epochs to {target:.1%}", "epochs"), ("in-epoch s", "in_epoch"), ("wall s", "wall")):
            if k in sp:
                out.append(Figure("training_race", key, sp[k], command, row="speed-up", fmt="x", date=day, source=source))
    return out


DRAWN_SETS_MEAN_EXCLUDES = "MNIST as is"  # the control set is not part of "the six drawn and photo sets"


def from_drawn_digits(report: dict, command: str, files: dict[str, Path] | None = None,
                      source: str | None = None) -> list[Figure]:
    """``evaluation/drawn_digits.py``'s report: per model the mean of the drawn and photo sets each way, and
    per set on the default path; ``files`` maps a model's name to the file measured."""
    out = []
    for model, table in report["results"].items():
        sha = model_sha((files or {}).get(model) or model)
        sets = [r for name, r in table.items() if name != DRAWN_SETS_MEAN_EXCLUDES]
        for way in ("naive", "recipe", "recipe + stroke"):
            out.append(Figure("drawn_digits", way, sum(r[way] for r in sets) / len(sets), command, row=model,
                              model=model, model_sha=sha, fmt="pct1", source=source))
        for name, r in table.items():
            out.append(Figure("drawn_digits_sets", model, r["recipe + stroke"], command, row=name, model=model,
                              model_sha=sha, fmt="pct1", source=source))
    return out


def from_writers(report: dict, model_file: Path | None = None) -> list[Figure]:
    """``evaluation/writers.py``: the share right over every drawing of the part read."""
    s = report["summary"]
    part = {"held-out": "held-out site", "val": "validation writers", "train": "training writers"}[report["part"]]
    return [Figure("writers", f"{part}, {report['renders']} draw{'s' if report['renders'] != 1 else ''}", s["accuracy"], report["command"], row=report["model"],
                   model=report["model"], model_sha=model_sha(model_file or report["model"]), fmt="pct2",
                   note=f"{s['digits']:,} drawings of {s['writers']} writers, seed {report['seed']}")]


def from_photo_cases(report: dict, model_file: Path | None = None, source: str | None = None) -> list[Figure]:
    model = report["model"]
    sha = model_sha(model_file or model)
    n = {r["n"] for r in report["cases"].values()}
    note = f"{', '.join(map(str, sorted(n)))} MNIST test digits per case, preprocessing {report['preprocess_version']}"
    return [Figure("photo_cases", "accuracy", r["accuracy"], report["command"], row=case, model=model, model_sha=sha,
                   fmt="pct1", source=source, note=note)
            for case, r in report["cases"].items()]


def from_paper(report: dict, source: str | None = None) -> list[Figure]:
    """``evaluation/paper.py``'s report: per model the share read right of every picture, of each register, and of its
    weakest class (a register of a few pictures is a row like any other: the note gives each one's size)."""
    out = []
    day, cmd = _day(report.get("date")), report["command"]
    for model, r in report["results"].items():
        sha = (report.get("models", {}).get(model) or {}).get("sha256")
        note = (f"{r['n']:,} pictures, preprocessing {report['preprocess_version']}; per register: "
                + ", ".join(f"{reg} {s['n']:,}" for reg, s in r["per_register"].items()))
        common = dict(model=model, model_sha=sha, fmt="pct1", date=day, source=source, note=note)
        out.append(Figure("paper", model, r["accuracy"], cmd, row="every picture", **common))
        for reg, s in r["per_register"].items():
            out.append(Figure("paper", model, s["accuracy"], cmd, row=f"register {reg}", **common))
        weakest = min(r["per_class"], key=lambda c: r["per_class"][c]["accuracy"])
        out.append(Figure("paper", model, r["per_class"][weakest]["accuracy"], cmd, row="its weakest class", **common))
    return out


def from_robustness(model: str, result: dict, command: str, model_file: Path | None = None) -> list[Figure]:
    """``evaluation/evaluate_robustness.py``, one model: clean accuracy and the MNIST-C-style mean."""
    sha = model_sha(model_file or model)
    return [Figure("stress", "mean corruption acc.", result["mnist_c_mean"], command, row=model, model=model,
                   model_sha=sha, fmt="pct1")]


def from_leaderboard(rows: list[dict], command: str, files: dict[str, Path]) -> list[Figure]:
    """``evaluation/leaderboard.py`` at its full settings (PGD-40): FGSM eps 0.1 and PGD-40 eps 0.3 per model;
    ``files`` names each row's model file (its sha marks which file was measured)."""
    out = []
    for r in rows:
        sha, n = model_sha(files[r["name"]]), (r.get("n") or {}).get("attacks")
        out += [Figure("stress", header, r[key], command, row=r["name"], model=r["name"], model_sha=sha, fmt="pct1",
                       note=f"{n:,} MNIST test digits" if n else None)
                for key, header in (("fgsm_eps0.1", "FGSM eps 0.1"), ("pgd40_eps0.3", "PGD-40 eps 0.3")) if r.get(key) is not None]
    return out


def from_finetune_study(report: dict, base_file: Path) -> list[Figure]:
    """``evaluation/finetune_study.py``: per user-digit count and replay, the held-out pictures, the new drawings and
    MNIST test before and after the fine-tune of ``report["base"]`` (the file ``base_file``)."""
    sha, out = model_sha(base_file), []
    for r in report["rows"]:
        row = f"{r['pictures']} user digits, replay {r['replay']:g}" + (f", seed {r['seed']}" if len({q["seed"] for q in report["rows"]}) > 1 else "")
        for key, stem, fmt in (("held-out", "holdout", "pct1"), ("new drawings", "fresh", "pct1"), ("MNIST test", "mnist", "pct2")):
            out += [Figure("finetune", f"{key} {when}", r[f"{stem}_{when}"], report["command"], row=row, model=report["base"],
                           model_sha=sha, fmt=fmt) for when in ("before", "after")]
    return out


def from_evaluate(model: str, report: dict, command: str, model_file: Path | None = None) -> list[Figure]:
    """``evaluation/evaluate.py`` on the full test split: the models table's accuracy and weighted F1."""
    sha = model_sha(model_file or model)
    return [Figure("models", "MNIST test acc.", report["accuracy"], command, row=model, model=model, model_sha=sha, fmt="pct2"),
            Figure("models", "weighted F1", report["weighted_f1"], command, row=model, model=model, model_sha=sha, fmt="f4")]


EXPORT_GROUPS = {  # the export section's column groups -> the formats each summarises
    "float formats": ("h5", "savedmodel", "tflite", "onnx"),
    "dynamic-range": ("tflite-dynamic",),
    "int8": ("tflite-int8",),
    "TF.js": ("tfjs",),
}


def from_export(report: dict) -> list[Figure]:
    """``evaluation/export.py``'s parity report of one model: per group of formats the largest |dp| and the lowest
    argmax agreement on the probe set, and the quantised and TF.js files' size.  A format that failed to export or
    load has no figures."""
    rows = {r["format"]: r for r in report["rows"] if "agreement" in r}
    common = dict(row=report["model"], model=report["model"], model_sha=report.get("source_sha256"),
                  date=_day(report.get("date")), note=f"probe: {report['n_probe']:,} images")
    out = []
    for group, formats in EXPORT_GROUPS.items():
        found = [rows[f] for f in formats if f in rows]
        if not found:
            continue
        if group != "float formats":
            out.append(Figure("export", f"{group}: size", found[0]["bytes"], report["command"], fmt="bytes", **common))
        out += [Figure("export", f"{group}: agreement", min(r["agreement"] for r in found), report["command"], fmt="pct2", **common),
                Figure("export", f"{group}: max abs dp", max(r["max_abs_dp"] for r in found), report["command"],
                       fmt="sci" if group in ("float formats", "TF.js") else "f3", **common)]
    return out


def from_serving_parity(report: dict, command: str, models_dir: Path) -> list[Figure]:
    """``evaluation/serving.py --parity N``: ONNX Runtime against Keras per model, and over all the committed
    models when ``models_dir`` is models/ and every one of them was measured."""
    out = []
    for name, r in report.items():
        common = dict(row=name, model=name, model_sha=model_sha(Path(models_dir) / f"{name}.keras"),
                      note=f"{r['n']:,} MNIST test digits as PNG files")
        out += [Figure("serving", "max abs dp", r["max_abs_dp"], command, fmt="sci", **common),
                Figure("serving", "labels that differ", r["labels_differ"], command, fmt="int", **common),
                Figure("serving", "decisions that differ", r["abstain_differ"], command, fmt="int", **common)]
    committed_names = {p.stem for p in MODELS_DIR.glob("*.keras")}
    if report and Path(models_dir).resolve() == MODELS_DIR.resolve() and set(report) == committed_names:
        n = min(r["n"] for r in report.values())
        common = dict(row="all committed models", note=f"{n:,} MNIST test digits as PNG files, {len(report)} models")
        out += [Figure("serving", "max abs dp", max(r["max_abs_dp"] for r in report.values()), command, fmt="sci", **common),
                Figure("serving", "labels that differ", sum(r["labels_differ"] for r in report.values()), command, fmt="int", **common),
                Figure("serving", "decisions that differ", sum(r["abstain_differ"] for r in report.values()), command, fmt="int", **common)]
    return out


WEB_PAGE_COMMAND = "DIGITLAB_REFRESH_DOCS=1 python -m pytest -q tests/browser/test_web_page.py"


def from_web_page(report: dict, source: str | None = "docs/web_page.json") -> list[Figure]:
    """The browser test's figures (``tests/browser/test_web_page.py``'s web_page.json): the JavaScript port against
    Python, the page's probabilities against onnxruntime and Keras, the uploaded MNIST digits, the time per image."""
    load = report.get("machine", {}).get("load_average_1m")
    common = dict(model=report["model"], model_sha=report.get("model_sha"), date=report.get("date"), source=source)
    port, probs, mnist, per = report["js_vs_python_28x28"], report["probabilities_max_abs_diff"], report["mnist_uploaded"], report["per_image_ms"]
    rows = [(f"28x28 input, JS vs Python, max abs diff ({port['inputs']} inputs)", port["max_abs_diff"], "sci"),
            ("probabilities, onnxruntime-web vs onnxruntime, max abs diff", probs["onnxruntime"], "sci"),
            ("probabilities, onnxruntime-web vs Keras, max abs diff", probs["keras"], "sci"),
            (f"MNIST digits uploaded, right in the page (of {mnist['digits']})", mnist["right_in_page"], "int"),
            (f"MNIST digits, right in Python from the 28x28 (of {mnist['digits']})", mnist["right_in_python_from_28x28"], "int"),
            (f"per image, canvas to probabilities, median ms ({per['n']} images)", per["median"], "f1"),
            ("of which preprocessing, median ms", report["preprocess_ms_median"], "f1"),
            ("of which inference, median ms", report["inference_ms_median"], "f1")]
    note = f"Chromium {report['browser']}, load average {load}" if load is not None else None
    return [Figure("web_page", "measured", v, WEB_PAGE_COMMAND, row=row, fmt=fmt, note=note if row.startswith(("per image", "of which")) else None,
                   **common) for row, v, fmt in rows]


def replace_section(section: str, figures: list[Figure], path: Path | None = None) -> int:
    """The results file's ``section`` made of ``figures`` alone (rows no longer measured go): for a section one
    command measures whole, whose rows name their counts. Every figure is checked first; returns how many."""
    if any(f.section != section for f in figures):
        raise ResultsError(f"replace_section({section!r}) was given figures of another section")
    for f in figures:
        _check(f)
    path = Path(path) if path is not None else results_path()
    with _locked(path):
        data = load(path)
        data["figures"][section] = {}
        for f in figures:
            data["figures"][section].setdefault(f.row, {})[f.key] = f.entry()
        _save(path, data)
    return len(figures)


WEB_RUNTIMES = {"onnx": "ONNX (onnxruntime-web)", "tfjs": "TF.js (wasm backend)"}


def from_web_bench(report: dict) -> list[Figure]:
    """``web/bench.py``'s figures: per runtime the bytes fetched, page ready, model load and the per-image medians;
    the TF.js model alone in Node per backend."""
    load = report.get("machine", {}).get("load_average_1m")
    common = dict(model=report["model"], model_sha=report.get("model_sha"),
                  note=f"Chromium {report['browser']['chromium']}, load average {load}")
    out = []
    for runtime, r in report["runtimes"].items():
        row = WEB_RUNTIMES.get(runtime, runtime)
        for key, v, fmt in (("runtime code fetched", r["bytes_runtime_code"], "bytes"), ("model + gate files", r["bytes_model_and_gate"], "bytes"),
                            ("page ready (cold)", r["page_ready_s"], "s2"), ("model load", r["model_load_ms"], "ms0"),
                            ("inference p50 (model + gate + rule)", r["inference_ms_median"], "ms"),
                            ("preprocessing p50", r["preprocess_ms_median"], "ms"),
                            ("canvas -> verdict p50", r["canvas_to_verdict_ms_median"], "ms")):
            out.append(Figure("web_bench", key, v, report["command"], row=row, fmt=fmt, **common))
    for backend, r in report.get("node_tfjs_model_only", {}).items():
        out.append(Figure("web_bench", "inference p50 (model + gate + rule)", r["latency_ms_median"], report["command"],
                          row=f"TF.js in Node, {backend} backend, the model alone", fmt="ms", **common))
    return out


FUZZ_RUNS = {(20000, 0): "full run", (2000, 2024): "CI slice"}  # (--n, --seed) -> the row docs/evaluation.md names


def from_fuzz(report: dict, headline: dict) -> list[Figure]:
    """``evaluation/fuzz.py``'s report and its ``hardening.fuzz.headline``: what the run found, and its peak RSS."""
    row = FUZZ_RUNS.get((report["n"], report["seed"]), f"{report['n']:,} files, seed {report['seed']}")
    common = dict(row=row)
    out = [Figure("fuzz", key, headline[k], report["command"], fmt="int", **common)
           for key, k in (("files", "files"), ("crashes", "crashes"), ("hangs", "hangs"), ("wrong refusals", "wrong_refusals"),
                          ("wrong acceptances", "wrong_acceptances"), ("non-JSON lines", "non_json_lines"))]
    if headline.get("peak_rss_mb") is not None:
        out.append(Figure("fuzz", "peak RSS per file", headline["peak_rss_mb"], report["command"], fmt="MiB", **common))
    return out


def from_app_benchmark(result: dict) -> list[Figure]:
    """``evaluation/app_benchmark.py``'s figures: cold start, memory, ten sessions at once, the predict CLI, the
    heaviest page and the all-pages session."""
    cmd = result["command"]
    load = result.get("machine", {}).get("load_average_at_start")
    common = dict(note=f"load average at start {load}" if load else None)
    cold, s, cli_run = result["cold_start"], result["sessions"], result["predict_cli"]
    out = [Figure("app", "measured", cold["canvas_usable_s"], cmd, row="canvas usable after the browser asks (cold server)", fmt="s2", **common),
           Figure("app", "measured", cold["first_prediction_s"], cmd, row="first prediction of a stroke (cold server)", fmt="s2", **common),
           Figure("app", "server RSS", cold["server_rss_after_first_prediction_mb"], cmd, row="Home, after the first prediction",
                  fmt="MiB", **common),
           Figure("app", "measured", f"{s['answered']} of {s['sessions']} answered, p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms", cmd,
                  row="ten sessions drawing at once", **common),
           Figure("app", "measured", f"median wall {cli_run['median_s']} s, peak RSS {cli_run['peak_rss_mb']} MiB", cmd,
                  row="predict CLI, one PNG", **common)]
    if result.get("pages"):
        heaviest = max(result["pages"], key=lambda r: r["server_peak_mb"])
        out += [Figure("app", "server RSS", heaviest["server_peak_mb"], cmd, row="heaviest page, server peak", fmt="MiB",
                       **dict(common, note="; ".join(filter(None, [f"the {heaviest['page']} page", common["note"]])))),
                Figure("app", "server RSS", result["all_pages"]["server_rss_mb"], cmd, row="every page in one session", fmt="MiB", **common)]
    return out


# ---- rendering ---------------------------------------------------------------------------------------------

def _rows_and_keys(section: dict) -> tuple[list[str], list[str]]:
    keys: list[str] = []
    for row in section.values():
        keys += [k for k in row if k not in keys]
    return list(section), keys


def _provenance(section: dict) -> list[str]:
    """One line per distinct (command, date, model, sha, note, source) of a section's figures."""
    seen: dict[tuple, None] = {}
    for row in section.values():
        for e in row.values():
            seen[(e["command"], e["date"], e.get("model"), e.get("model_sha"), e.get("note"), e.get("source"))] = None
    lines = []
    for command, day, model, sha, note, source in seen:
        bits = [day]
        if model:
            bits.append(f"`{model}`" + (f" {sha}" if sha else ""))
        if source:
            bits.append(f"read from `{source}`")
        lines.append(f"- `{command}` ({', '.join(bits)})" + (f": {note}" if note else ""))
    return lines


def section_table(results: dict, name: str) -> str:
    from digitlab.report.tables import markdown

    section = results["figures"].get(name, {})
    rows, keys = _rows_and_keys(section)
    header = ["" if all(r == "" for r in rows) else "", *keys]
    body = [[f"`{r}`" if r.startswith("mnist_") else r, *(shown_value(section[r][k]) if k in section[r] else "" for k in keys)]
            for r in rows]
    return markdown(header, body)


def _slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def render_results_md(results: dict) -> str:
    present = [s for s in SECTIONS if results["figures"].get(s)]
    lines = ["# Results", "",
             "Every measured figure of the project, each with the command that measured it, the day and the model "
             "file's sha256. This page and the README's results are generated from `docs/results.json` by "
             "`python -m digitlab.report.results --write`; the measuring commands write that file. Measured on a "
             "2-core CPU machine without a GPU (Python 3.11, tensorflow-cpu 2.21, Keras 3.15), often shared with "
             "other jobs: timings are noisy, accuracies are not.", ""]
    lines += [f"- [{SECTIONS[s].title}](#{_slug(SECTIONS[s].title)})" for s in present]
    for s in present:
        lines += ["", f"## {SECTIONS[s].title}", "", SECTIONS[s].about, "", section_table(results, s), "",
                  "Measured by:", "", *_provenance(results["figures"][s])]
    return "\n".join(lines) + "\n"


# The README's summary: {section/row/key} becomes that figure as shown, {more:section} a link to its section.
README_SUMMARY = [
    "- **Drawn and photographed digits** (`python evaluation/drawn_digits.py`, synthetic): `mnist_cnn` reads "
    "{drawn_digits/mnist_cnn/naive} of them when the picture is squashed to 28x28, "
    "{drawn_digits/mnist_cnn/recipe + stroke} through the one preprocessing path; `mnist_advanced` "
    "{drawn_digits/mnist_advanced/naive} -> {drawn_digits/mnist_advanced/recipe + stroke} ({more:drawn_digits}).",
    "- **Real handwriting** (`python evaluation/handwriting.py`): `mnist_advanced` reads "
    "{handwriting/mean of the sets/mnist_advanced} over the eleven sets: `load_digits` by 43 writers as uploads "
    "{handwriting/load_digits upload/mnist_advanced}, 37 writing conventions "
    "{handwriting/conventions/mnist_advanced} ({more:handwriting}).",
    "- **Writing conventions, style by style** (`python evaluation/conventions.py`, 300 drawings of each of 37 styles): "
    "`mnist_advanced` reads {conventions/every style/mnist_advanced} of them; {conventions/styles below 97%/mnist_advanced} "
    "styles are below 97% with confidence and {conventions/styles unresolved 97%/mnist_advanced} under it within "
    "their 95% interval ({more:conventions}). The 1 with a long up-stroke is a 7 to MNIST's writers; for a writer who "
    "says \"continental\" (the app's *How you write 1 and 7*, `--writing continental`) it reads "
    "{conventions_continental/1 long flag/mnist_advanced} of 1,200 fresh drawings ({more:conventions_continental}).",
    "- **Real pen strokes** (UNIPEN, writers no model trained on; `python evaluation/handwriting.py` with the file): "
    "`mnist_advanced` reads {handwriting/real strokes: held-out site/mnist_advanced} of a whole held-out site's "
    "digits drawn on the canvas, {handwriting/real strokes: held-out site, pen-ups lost/mnist_advanced} with their "
    "pen-ups lost, {handwriting/real strokes: held-out site, 8 points/mnist_advanced} as 8 points along the pen's path "
    "(as the UCI pendigits set keeps a tablet's digit), {handwriting/real strokes: unseen writers/mnist_advanced} of the "
    "other sites' unseen writers "
    "({handwriting/real strokes: unseen writers, each writer weighing the same/mnist_advanced} with each writer weighing the same: "
    "three writers wrote most of those digits), and "
    "{real_numbers/all lengths/mnist_advanced} of their handwritten numbers whole ({more:real_numbers}), "
    "{real_numbers_scanned/all lengths/mnist_advanced} of them as scans of a form ({more:real_numbers_scanned}). Each real "
    "digit drawn five times (`python evaluation/writers.py --renders 5`), the held-out site reads "
    "{writers/mnist_advanced/held-out site, 5 draws} ({more:writers}).",
    "- **Photos** (`python evaluation/photo_cases.py`): a 3000x4000 phone photo of a small digit "
    "{photo_cases/phone/accuracy}, a hard half shadow "
    "{photo_cases/half_shadow/accuracy}, a desk corner in the frame "
    "{photo_cases/desk_corner/accuracy}, a fat marker filling a tight crop {photo_cases/marker/accuracy}, a digit in a "
    "form's printed box {photo_cases/form_box/accuracy}, on its printed line {photo_cases/form_line/accuracy} (a "
    "third of them touching it); a scan "
    "size-normalised into a 16-64 px square, as postal digits are kept, {photo_cases/scan_tight/accuracy} ({more:photo_cases}).",
    "- **Reading a number** (`python evaluation/numbers.py`): 4 digits with visible gaps: "
    "{numbers/4 digits, visible gaps/whole numbers right} of whole numbers right; touching digits "
    "{numbers/touching gaps/whole numbers right} ({more:numbers}).",
    "- **Speed** (`python evaluation/benchmark.py`): {latency/Classifier (tf.function)/p50 ms} p50 from a canvas "
    "drawing to 10 probabilities, preprocessing included ({more:latency}); training reaches 99.0% test accuracy "
    "{training_race/speed-up/wall s} faster than the keras-io reference, wall clock ({more:training_race}).",
    "- **Serving without TensorFlow**: ONNX Runtime answers like Keras (max |dp| "
    "{serving/all committed models/max abs dp}, {serving/all committed models/labels that differ} labels differ "
    "on 10,000 test digits); the app's server holds {app/Home, after the first prediction/server RSS} after its "
    "first prediction ({more:app}).",
    "- **Stress**: `mnist_robust` keeps {adversarial/PGD-100, 2 restarts, 0.3/accuracy} under PGD-100 at eps 0.3 "
    "({more:adversarial}); the \"not a digit\" rule rejects {abstain/mnist_advanced/non-digits, in-distribution} "
    "of generated non-digits and {abstain/mnist_advanced/MNIST test} of MNIST test digits with `mnist_advanced` "
    "({more:abstain}); {fuzz/full run/files} hostile files, {fuzz/full run/crashes} crashes ({more:fuzz}).",
]

README_MODEL_KEYS = ["MNIST test acc.", "weighted F1", "params", "file"]


def render_readme_block(results: dict) -> str:
    from digitlab.report.tables import markdown

    models = results["figures"].get("models", {})
    drawn = results["figures"].get("drawn_digits", {})
    body = []
    by_accuracy = sorted(models, key=lambda m: -float(models[m].get("MNIST test acc.", {}).get("value", 0)))
    for name in by_accuracy:
        row = models[name]
        cells = [shown_value(row[k]) if k in row else "" for k in README_MODEL_KEYS]
        d = drawn.get(name, {}).get("recipe + stroke")
        body.append([f"`{name}`", MODEL_ABOUT.get(name, ""), *cells[:2], shown_value(d) if d else "", *cells[2:]])
    table = markdown(["model", "what it is", "MNIST test acc.", "weighted F1", "drawn & photo digits (mean of 6 sets)",
                      "params", "file"], body)

    def fill(m: re.Match) -> str:
        section, row, key = m.group(1), m.group(2), m.group(3)
        entry = results["figures"].get(section, {}).get(row, {}).get(key)
        if entry is None:
            raise ResultsError(f"the README quotes {section}/{row}/{key}, which is not in the results file")
        return shown_value(entry)

    def link(m: re.Match) -> str:
        return f"[more](docs/results.md#{_slug(SECTIONS[m.group(1)].title)})"

    summary = [re.sub(r"\{([a-z_]+)/([^/{}]*)/([^{}]+)\}", fill, re.sub(r"\{more:([a-z_]+)\}", link, line))
               for line in README_SUMMARY]
    return "\n".join([BEGIN, table, "", *summary, END])


def _replace_block(readme: str, block: str) -> str:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ResultsError(f"README.md has no {BEGIN} ... {END} block to fill")
    return readme[:start] + block + readme[end + len(END):]


def rendered(results: dict, root: Path = ROOT) -> dict[Path, str]:
    """What README.md and docs/results.md must contain, given the results."""
    readme = root / "README.md"
    return {readme: _replace_block(readme.read_text(), render_readme_block(results)),
            root / "docs" / "results.md": render_results_md(results)}


def check(root: Path = ROOT, path: Path | None = None) -> list[str]:
    """The files that disagree with the results file (empty when all agree)."""
    want = rendered(load(path or root / "docs" / "results.json"), root)
    return [shown(p) for p, text in want.items() if not p.exists() or p.read_text() != text]


def write(root: Path = ROOT, path: Path | None = None) -> list[Path]:
    from digitlab.files import atomic_write_bytes

    changed = []
    for p, text in rendered(load(path or root / "docs" / "results.json"), root).items():
        if not p.exists() or p.read_text() != text:
            atomic_write_bytes(p, text.encode())
            changed.append(p)
    return changed


EARLIER = "measured on an earlier"  # how a retired figure's note names the file it was measured on


def _current_files(models_dir: Path = MODELS_DIR) -> dict[str, str | None]:
    """{model name: sha of its file in ``models_dir`` now}."""
    return {p.stem: model_sha(p) for p in Path(models_dir).glob("*.keras")}


def _on_earlier_file(e: dict, current: dict[str, str | None]) -> bool:
    """The figure ``e`` names a file of a model in the folder that is no longer there."""
    sha, model = e.get("model_sha"), e.get("model")
    return bool(sha and model in current and sha != current[model])


def stale(path: Path | None = None, models_dir: Path = MODELS_DIR) -> dict[str, Counter]:
    """What to measure again after a committed model's file changed: {command: Counter(section)} of the figures
    measured on another file of a model in ``models_dir`` than the one there now, retired ones included (their note
    says so), most figures first."""
    current = _current_files(models_dir)
    found: dict[str, Counter] = {}
    for section, rows in load(path)["figures"].items():
        for keys in rows.values():
            for e in keys.values():
                if _on_earlier_file(e, current) or EARLIER in (e.get("note") or ""):
                    found.setdefault(e["command"], Counter())[section] += 1
    return dict(sorted(found.items(), key=lambda kv: (-kv[1].total(), kv[0])))


def stale_lines(found: dict[str, Counter]) -> list[str]:
    """``stale``'s commands, one line each with how many figures they measure again and where."""
    return [f"{command}    # {n.total()} figure{'s' * (n.total() != 1)}: {', '.join(n)}" for command, n in found.items()]


class RemeasureError(ValueError):
    """A recorded command that is not one of this project's scripts: it is not run."""


MEASURING_ENV = {"DIGITLAB_REFRESH_DOCS": "1", "DIGITLAB_RECORD": "replace"}  # the settings a recorded command may begin with


def measuring_argv(command: str, root: Path = ROOT) -> tuple[list[str], dict[str, str]]:
    """A recorded measuring command as the argument list that runs it here, and the settings it begins with:
    ``python <a script of this project> ...`` or ``python -m pytest ... tests/...`` (the browser tests that refresh
    the docs), with this interpreter, never a shell, optionally after ``MEASURING_ENV`` settings
    (``DIGITLAB_REFRESH_DOCS=1``); anything else is refused."""
    import shlex

    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise RemeasureError(f"{command!r} cannot be read as a command: {e}") from None
    env = {}
    while argv and "=" in argv[0] and argv[0].split("=", 1)[0] in MEASURING_ENV:
        name, value = argv.pop(0).split("=", 1)
        if value != MEASURING_ENV[name]:
            raise RemeasureError(f"{command!r}: {name}={value} is not a setting a measurement runs with: not run")
        env[name] = value
    tests = argv[1:3] == ["-m", "pytest"]
    paths = [a for a in argv[3:] if not a.startswith("-")] if tests else argv[1:2]
    if (len(argv) < 2 or argv[0] != "python" or not paths
            or any(a.startswith(("/", "-")) or ".." in Path(a).parts or (Path(a).parts[0] != "tests" if tests else not a.endswith(".py"))
                   for a in paths)):
        raise RemeasureError(f"{command!r} is not `python <a script of this project> ...` or `python -m pytest ... tests/...`: not run")
    for a in paths:
        if not ((root / a).is_dir() if tests and not a.endswith(".py") else (root / a).is_file()):
            raise RemeasureError(f"{command!r}: {a} is not in {shown(root)}")
    return [sys.executable, *argv[1:]], env


def remeasure(logs: Path, path: Path | None = None, models_dir: Path = MODELS_DIR, root: Path = ROOT, say=print) -> list[tuple[str, int]]:
    """Run every command ``stale`` lists, one after another (each its own process in ``root``, its output in
    ``logs``). Every command runs even if one before it failed; returns [(command, exit code)] (-1: refused, not run).
    A command measures again only what it writes: ``stale`` afterwards is what is left."""
    import subprocess
    import time

    logs.mkdir(parents=True, exist_ok=True)
    done = []
    for i, command in enumerate(stale(path, models_dir), 1):
        log = logs / f"{i:02d}_{re.sub(r'[^A-Za-z0-9]+', '_', command).strip('_')[:80]}.log"
        try:
            argv, env = measuring_argv(command, root)
        except RemeasureError as e:
            say(f"[{i}] refused: {e}")
            done.append((command, -1))
            continue
        say(f"[{i}] {time.strftime('%H:%M:%S')} {command}  (output: {shown(log)})")
        with log.open("w") as out:
            code = subprocess.run(argv, cwd=root, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env={**os.environ, **env}).returncode
        say(f"[{i}] {time.strftime('%H:%M:%S')} exit {code}")
        done.append((command, code))
    return done


def retire_stale(path: Path | None = None) -> int:
    """Figures measured on a committed model's earlier file lose that file's sha and say so in their note: a sha
    stands only for the file in models/ now.  Run after promoting a model (``--from-cards`` does).  Returns how
    many figures were retired."""
    path = path or results_path()
    current = _current_files()
    with _locked(path):
        results = load(path)
        retired = 0
        for rows in results["figures"].values():
            for keys in rows.values():
                for e in keys.values():
                    if _on_earlier_file(e, current):
                        sha = e.pop("model_sha")
                        e["note"] = "; ".join(filter(None, [e.get("note"), f"{EARLIER} {e['model']} ({sha})"]))
                        retired += 1
        if retired:
            from digitlab.files import atomic_write_json

            atomic_write_json(path, results)
    return retired


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitlab.report.results", description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true", help="render README.md's results block and docs/results.md")
    g.add_argument("--check", action="store_true", help="exit 1 when README.md or docs/results.md disagree with the file")
    g.add_argument("--from-cards", action="store_true", help="record every committed model card's figures, then --write")
    g.add_argument("--stale", action="store_true",
                   help="print the commands that measure again the figures taken on an earlier file of a committed model")
    g.add_argument("--remeasure", action="store_true",
                   help="run --stale's commands one after another (hours: the app benchmark wants a quiet machine), then --write")
    p.add_argument("--logs", type=Path, default=None, help="with --remeasure: folder for each command's output "
                   "(default runs/remeasure/<date and time>)")
    a = p.parse_args(argv)
    if a.logs is not None and not a.remeasure:
        p.error("--logs goes with --remeasure")
    try:
        if a.stale:
            lines = stale_lines(stale(RESULTS_FILE))
            print("\n".join(lines) if lines else "every figure of a committed model names the file in models/ now")
            return 0
        if a.remeasure:
            logs = a.logs or ROOT / "runs" / "remeasure" / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            ran = remeasure(logs, RESULTS_FILE)
            for changed in write():
                print(f"written {shown(changed)}")
            left = stale_lines(stale(RESULTS_FILE))
            print("still to measure again:\n  " + "\n  ".join(left) if left else "every figure of a committed model names the file in models/ now")
            for c, code in ran:
                if code:
                    print(f"refused: {c}" if code < 0 else f"failed (exit {code}): {c}, its output in {shown(logs)}", file=sys.stderr)
            return 1 if any(code for _, code in ran) else 0
        if a.check:
            disagree = check()
            for s in disagree:
                print(f"{s} disagrees with {shown(RESULTS_FILE)}: run python -m digitlab.report.results --write", file=sys.stderr)
            return 1 if disagree else 0
        if a.from_cards:
            figures = []
            from digitlab.models import cards

            for card_path in sorted(MODELS_DIR.glob("*.json")):
                if card_path.name.count(".") == 1:  # <name>.json, not <name>.metrics.json / .history.json
                    try:
                        card = cards.validate(json.loads(card_path.read_text()))
                    except cards.CardError as e:  # a card the listing refuses is no source of figures either
                        raise ResultsError(f"{shown(card_path)} is refused: {e}") from e
                    figures += from_card(card, card_path.with_suffix(".keras"))
            print(f"recorded {record_all(figures, RESULTS_FILE, replace=True)} figures from {shown(MODELS_DIR)}")
            print(f"{retire_stale(RESULTS_FILE)} figures measured on an earlier file of a committed model marked as such")
            if lines := stale_lines(stale(RESULTS_FILE)):
                print("to measure them again (python -m digitlab.report.results --remeasure runs them all):\n  " + "\n  ".join(lines))
        for changed in write():
            print(f"written {shown(changed)}")
    except ResultsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
