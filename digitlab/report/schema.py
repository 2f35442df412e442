"""What a measured figure is and where it may go: ``Figure``, the results file's sections (in the order
docs/results.md shows them, each with its reference text) and the formats a value is shown in.

``digitlab.report.extractors`` makes figures from the reports the measuring commands write,
``digitlab.report.results`` keeps them in docs/results.json, and ``digitlab.report.prose`` renders them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

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


def check_figure(f: Figure) -> None:
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


def shown_value(entry: dict) -> str:
    v = entry["value"]
    return str(v) if isinstance(v, (str, bool)) else FORMATS[entry.get("fmt", "")](v)
