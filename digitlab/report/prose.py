"""The prose rendered from the results file: docs/results.md (every section with its reference text and
table) and the README's results block (the model table and the summary lines, each figure as shown).

Pure text from the results (``rendered``); ``digitlab.report.results`` reads the file and writes the pages.
"""

from __future__ import annotations

import re
from pathlib import Path

from digitlab.paths import ROOT
from digitlab.report.schema import SECTIONS, ResultsError, shown_value

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
MODEL_ABOUT = {  # the README's "what it is" column; a model not named here shows its card's builder
    "mnist_advanced": "a depthwise-separable residual CNN trained on MNIST and two compact CNNs trained with re-drawn and real pen strokes and paper hands, each once from random weights; logits averaged",
    "mnist_cnn": "three compact CNNs at twice the default width, each trained once from random weights with re-drawn and real pen strokes from its first epoch; logits averaged",
    "mnist_robust": "Madry et al.'s CNN, adversarially trained (PGD-7, eps 0.3)",
    "mnist_baseline": "softmax regression (scikit-learn, copied into Keras)",
}


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
    "- **Real scanned paper** (`python evaluation/paper.py`, parish clerks' digits from 17 registers, with the marks "
    "they wrote beside them; about 3% of the labels are wrong and stay in): `mnist_advanced` reads "
    "{paper/every picture/mnist_advanced}: register K2721's 94 crops {paper/register K2721/mnist_advanced}, K2728's 184 "
    "{paper/register K2728/mnist_advanced} ({more:paper}).",
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
