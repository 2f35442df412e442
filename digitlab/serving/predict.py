"""The predict command's contract (``python evaluation/predict.py``): what it answers for each file, line by line.

Every picture goes through digitlab's one preprocessing path; the model is loaded once (served by ONNX
Runtime, digitlab.serving.runtime: no TensorFlow) and pictures are predicted in batches.

--format json prints one JSON object per line:
    {"path": str, "label": int or null, "confidence": float, "probabilities": [10 floats],
     "runner_up": {"label": int, "confidence": float} or null, "abstain": bool, "reason": str, "notes": [str, ...]}
label is the model's answer (the most probable digit; null only when the picture has no ink),
confidence its probability and runner_up the second most probable digit, all on one calibrated scale
(softmax(logits / T), T from the model card; the model's own probabilities when the card has no
calibration), the scale the app shows too.  abstain and reason come from the abstain rule in the
model card and the digit gate (digitlab.serving.abstain: temperature-scaled confidence below
the card's threshold, or the model-independent "is this a digit?" gate in models/gate/ says no):
abstain is true when the model should not be trusted to say which digit this is ("not sure this is a
digit"), and also for no ink; label is kept even then, so consumers that ignore abstain still work.
notes are the preprocessing's own words for what it did to the picture (``Prepared.notes``), every mark it left
out of the digit among them ("an underline below the digit left out", "a printed box around the writing taken
away", ...): a picture whose ink changed is never changed in silence.
A model whose card has no calibration (e.g. one a user dropped in) is judged by the gate alone.
--writing continental reads 1 and 7 as continental hands write them (a 1 with a long up-stroke, a crossed 7;
digitlab.serving.writing): the odds between the two move, nothing else; each JSON line then also holds
"writing": "continental" and "by_writing": true where the setting changed the answer.  --format text prints
"PATH<tab>LABEL<tab>CONFIDENCE", with a fourth column "not sure this is a digit: ..." when it abstains;
in a name, control characters and bytes that are not UTF-8 are escaped (\\n, \\t, \\x1b, \\xff), so a
line is always one line and never a terminal command.  JSON escapes control characters its own way, and
a byte of a name that is not UTF-8 as the text does: the four characters \\xff (never a lone surrogate,
which strict JSON parsers refuse).
An unreadable or refused file prints {"path": ..., "error": "..."} on its line; the others go on and the
exit code is 1 (2: a usage or configuration error, e.g. no such model; 3: an internal error, a bug and not
a bad file, with its traceback on stderr: its file still gets a line and the others go on).  In a
directory every entry named like a picture is taken, whatever it is: a FIFO, a socket or a dangling link
gets its error line instead of being skipped.  The default model is the best usable model in models/ by
its card.

--number reads each picture as a handwritten number (digitlab.serving.numbers: the digits found in order,
each through the same preprocessing and the same abstain rule as one digit, and the whole line read by the
number reader, whose number is taken where the two differ and it is sure: "read_by" says which).  --format json prints
    {"path": str, "number": "4071", "read_by": "cuts" | "reader", "digits": [{"label": int, "confidence": float,
     "box": [x0, y0, x1, y1], "abstain": bool}, ...]}
number is every digit's best label in reading order, the ones the model abstains on included ("abstain": true
on that digit); "" when the picture has no ink.  box is the digit's ink in the picture's own pixels (after
EXIF orientation), x1 and y1 exclusive.  --format text prints "PATH<tab>NUMBER<tab>CONFIDENCES", a "?" after
the confidence of each digit the model abstains on ("PATH<tab>no ink" without ink).  Errors and exit codes
are those above.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import traceback
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from digitlab import cli
from digitlab.serving.writing import DEFAULT as DEFAULT_WRITING

BATCH = 16  # pictures prepared, then predicted in one forward pass: as fast per picture as 256 (ONNX Runtime,
# mnist_advanced), and 1,000 pictures peak ~20 MB above one instead of ~210 MB (the activations of a batch)
_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def expand(paths: list[str]) -> list[tuple[Path, str | None]]:
    """(file, None) for each file as given and for each picture-named entry of a directory (sorted), or
    (path, reason) for a directory that cannot be listed.  Entries that are not regular files (a FIFO, a
    socket, a dangling link) are kept, so they are reported on their own line instead of skipped."""
    from digitlab.preprocess import is_image_file

    out: list[tuple[Path, str | None]] = []
    for p in map(Path, paths):
        if not p.is_dir():
            out.append((p, None))  # a missing or unreadable file is reported on its own line
            continue
        try:
            entries = list(p.iterdir())
        except OSError as e:
            out.append((p, f"{p}: cannot list this folder ({e.strerror or type(e).__name__})"))
            continue
        pictures = sorted(f for f in entries if is_image_file(f))
        skipped = len(entries) - len(pictures)
        if skipped:
            print(f"{printable(str(p))}: skipped {skipped} {'entry' if skipped == 1 else 'entries'} without a picture suffix", file=sys.stderr)
        out.extend((f, None) for f in pictures)
    return out


def without_surrogates(text: str) -> str:
    """``text`` with every lone surrogate spelled out: one that stands for a byte of a name that is not
    UTF-8 (Python decodes it as U+DC80..U+DCFF) as \\xNN, like the text output, any other as \\uNNNN.
    Everything else is kept, so a name that is valid UTF-8 comes out as it is."""
    def spelled(ch: str) -> str:
        n = ord(ch)
        if 0xDC80 <= n <= 0xDCFF:
            return f"\\x{n - 0xDC00:02x}"
        return f"\\u{n:04x}" if 0xD800 <= n <= 0xDFFF else ch

    return "".join(map(spelled, text))


def printable(text: str) -> str:
    """``text`` as one safe line of a terminal: bytes of a file name that are not UTF-8 as \\xNN, control and
    format characters (newline, tab, terminal escape codes, bidi overrides) and line separators escaped."""
    return "".join(_escape(ch) if unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp") else ch
                   for ch in without_surrogates(text))


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def json_line(obj) -> str:
    """One JSON line whose every string is free of lone surrogates (``without_surrogates``): a name's
    undecodable byte reaches a strict parser as the text \\xff, never as "\\udcff"."""
    def clean(o):
        if isinstance(o, str):
            return without_surrogates(o)
        if isinstance(o, dict):
            return {clean(k): clean(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [clean(v) for v in o]
        return o

    return json.dumps(clean(obj))


def shown_path(path: Path) -> str:
    """The "path" of a JSON line: the path as given, its undecodable bytes as \\xNN."""
    return without_surrogates(str(path))


def format_line(path: Path, pred, fmt: str) -> str:
    """One output line for a ``serving.classifiers.Prediction``."""
    if fmt == "json":
        line = {
            "path": str(path),
            "label": pred.label,
            "confidence": round(pred.confidence, 6),
            "probabilities": [round(float(p), 6) for p in pred.probabilities],
            "runner_up": None if pred.runner_up is None else {"label": pred.runner_up[0], "confidence": round(pred.runner_up[1], 6)},
            "abstain": pred.abstain,
            "reason": pred.message,
            "notes": [] if pred.prepared is None else list(pred.prepared.notes),
        }
        if pred.writing != "default":
            line |= {"writing": pred.writing, "by_writing": pred.by_writing}
        return json_line(line)
    if pred.label is None:
        return f"{printable(str(path))}\tno ink"
    line = f"{printable(str(path))}\t{pred.label}\t{pred.confidence:.3f}"
    return f"{line}\t{pred.message}" if pred.abstain else line


def format_error(path: Path, message: str, fmt: str) -> str:
    if fmt == "json":
        return json_line({"path": str(path), "error": message})
    return f"{printable(str(path))}\terror: {printable(message)}"


def format_number(path: Path, reading, fmt: str) -> str:
    """One output line for a ``serving.numbers.NumberReading``."""
    if fmt == "json":
        digits = [{"label": d.label, "confidence": round(d.prediction.confidence, 6), "box": list(d.box), "abstain": d.prediction.abstain}
                  for d in reading.digits]
        return json_line({"path": str(path), "number": reading.number, "read_by": reading.read_by, "digits": digits})
    if reading.no_ink:
        return f"{printable(str(path))}\tno ink"
    shown = " ".join(f"{d.prediction.confidence:.3f}" + ("?" if d.prediction.abstain else "") for d in reading.digits)
    return f"{printable(str(path))}\t{reading.number}\t{shown}"


def read_guarded(f: Path, reason: str | None, work) -> tuple[str, object]:
    """One file: ("ok", ``work(f)``), ("error", the reason) when it was refused before or by the
    preprocessing (ImageError), or ("internal", a message) when ``work`` raised something else (a bug:
    its traceback goes to stderr and the other files go on).  Messages only, never an exception, whose
    traceback would hold the file open."""
    from digitlab import preprocess

    if reason is not None:
        return "error", reason
    try:
        return "ok", work(f)
    except preprocess.ImageError as e:
        return "error", str(e)
    except Exception as e:
        traceback.print_exc()
        return "internal", f"internal error, not a problem with this file: {type(e).__name__}: {e}"


def number_lines(classifier, files: list[tuple[Path, str | None]], invert: str, fmt: str, writing: str = DEFAULT_WRITING) -> Iterator[tuple[str, str]]:
    """``predict_lines`` for --number: (line, outcome) for every file, each read as a number (one model pass
    per picture for all its candidate digits)."""
    from digitlab.serving import numbers

    for f, reason in files:
        outcome, r = read_guarded(f, reason, lambda f: numbers.read_number(f, classifier, invert=invert, writing=writing))
        yield (format_number(f, r, fmt) if outcome == "ok" else format_error(f, r, fmt)), outcome


def predict_files(classifier, files: list[tuple[Path, str | None]], invert: str = "auto",
                  writing: str = DEFAULT_WRITING) -> Iterator[tuple[Path, str, object]]:
    """(file, outcome, the ``Prediction`` or a message) for every file, in order: outcome "ok", "error" (the file was
    refused, with its reason) or "internal" (preparing it raised something that is not a refusal: a bug, whose
    traceback goes to stderr; the other files go on).  One forward pass per BATCH pictures.  The command's lines
    (``predict_lines``) and the real-paper benchmark (``digitlab.evaluation.paper``) both read pictures here."""
    from digitlab import preprocess

    def prepared(f: Path):  # the intermediate steps are for the app's inspector: a batch keeps only the 28x28 input
        return dataclasses.replace(preprocess.prepare(f, invert=invert), steps=[])

    for start in range(0, len(files), BATCH):
        done = [(f, *read_guarded(f, reason, prepared)) for f, reason in files[start : start + BATCH]]  # (file, outcome, Prepared or message)
        answers = iter(answered(classifier, [r for _, o, r in done if o == "ok"], writing))
        for f, outcome, r in done:
            yield (f, *next(answers)) if outcome == "ok" else (f, outcome, r)


def _finite(pred) -> bool:
    import numpy as np

    return bool(np.isfinite(pred.raw_probabilities).all() and np.isfinite(pred.probabilities).all())


def answered(classifier, prepared: list, writing: str = DEFAULT_WRITING) -> list[tuple[str, object]]:
    """("ok", Prediction) or ("internal", a message) for each prepared picture: one pass for the batch (the card's
    abstain rule and the digit gate, one pass each); when that pass fails, or answers a probability that is not a number
    (NaN) for some picture, each picture is answered alone, so only the pictures that fail get an internal-error line."""
    try:
        preds = classifier.predict_prepared(prepared, writing)
    except Exception:
        preds = None
    if preds is not None and all(_finite(p) for p in preds):
        return [("ok", p) for p in preds]
    out = []
    for one in prepared:
        try:
            (pred,) = classifier.predict_prepared([one], writing)
            if not _finite(pred):
                raise ValueError("the model answered probabilities that are not numbers (NaN) for this picture")
            out.append(("ok", pred))
        except Exception as e:
            traceback.print_exc()
            out.append(("internal", f"internal error, not a problem with this file: {type(e).__name__}: {e}"))
    return out


def predict_lines(classifier, files: list[tuple[Path, str | None]], invert: str, fmt: str, writing: str = DEFAULT_WRITING) -> Iterator[tuple[str, str]]:
    """(line, outcome) for every file, in order (``predict_files``' outcomes: "ok", "error" or "internal", whose
    line says so).  The fuzzing harness (digitlab.hardening.fuzz) runs this per file, so it checks exactly the
    command's code."""
    for f, outcome, r in predict_files(classifier, files, invert, writing):
        yield (format_line(f, r, fmt) if outcome == "ok" else format_error(f, r, fmt)), outcome


def run(paths: list[str], model: str | None = None, number: bool = False, fmt: str = "text", invert: str = "auto",
        writing: str = DEFAULT_WRITING) -> int:
    """The whole command: load the model, one line per file on stdout (flushed as it comes), and the exit
    code of the contract above (``cli.OK``, ``SOME_FAILED``, ``USAGE`` or ``INTERNAL``)."""
    from digitlab.models import artifacts
    from digitlab.serving import runtime

    try:
        classifier = runtime.load(model)
    except artifacts.ModelError as e:
        return cli.error(e)
    print(f"model: {classifier.name}", file=sys.stderr)

    files = expand(paths)
    if not files:
        return cli.error("no image files found in " + ", ".join(printable(p) for p in paths))
    if hasattr(sys.stdout, "reconfigure"):  # a name's characters never end the run, whatever stdout's encoding
        sys.stdout.reconfigure(errors="backslashreplace")
    outcomes = set()
    try:
        for line, outcome in (number_lines if number else predict_lines)(classifier, files, invert, fmt, writing):
            print(line, flush=True)  # what was answered is out even if a later file kills the process
            outcomes.add(outcome)
    except Exception:  # a crash (not a bad file) must never look like one: traceback and its own exit code
        traceback.print_exc()
        return cli.INTERNAL
    if "internal" in outcomes:
        return cli.INTERNAL
    return cli.SOME_FAILED if "error" in outcomes else cli.OK
