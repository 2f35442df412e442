"""python evaluation/predict.py PATH [PATH ...] [--model NAME_OR_FILE] [--format json|text] [--invert auto|yes|no]

Predict the digit in image files. PATH is an image file or a directory (every image
inside, sorted). Every picture goes through digitlab's one preprocessing path; the
model is loaded once and pictures are predicted in batches.

--format json prints one JSON object per line:
    {"path": str, "label": int or null, "confidence": float, "probabilities": [10 floats],
     "abstain": bool, "reason": str}
label is the model's answer (the most probable digit; null only when the picture has no ink) and
confidence its raw probability, as before.  abstain and reason come from the abstain rule in the
model card and the digit gate (digitlab.serving.abstain: temperature-scaled confidence below
the card's threshold, or the model-independent "is this a digit?" gate in models/gate/ says no):
abstain is true when the model should not be trusted to say which digit this is ("not sure this is a
digit"), and also for no ink; label is kept even then, so consumers that ignore abstain still work.
A model whose card has no calibration (e.g. one a user dropped in) is judged by the gate alone.  --format text prints
"PATH<tab>LABEL<tab>CONFIDENCE", with a fourth column "not sure this is a digit: ..." when it abstains.
An unreadable file prints {"path": ..., "error": "..."} on its line; the others go on and the exit
code is 1 (2: a usage or configuration error, e.g. no such model).  The default model is the best usable
model in models/ by its card.

Longer than a thin script because it owns the command-line contract above: folders expanded, one line per
file whatever happens to it, two output formats; every decision itself is digitlab's (serving.classifiers.Prediction).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from digitlab import cli

BATCH = 256  # pictures prepared, then predicted in one forward pass


def expand(paths: list[str]) -> list[Path]:
    """Files as given; directories replaced by the sorted image files inside them."""
    from digitlab.preprocess import is_image_file

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.is_file() and is_image_file(f)))
        else:
            out.append(p)  # a missing or unreadable file is reported on its own line
    return out


def format_line(path: Path, pred, fmt: str) -> str:
    """One output line for a ``serving.classifiers.Prediction``."""
    if fmt == "json":
        return json.dumps(
            {
                "path": str(path),
                "label": pred.label,
                "confidence": round(pred.confidence, 6),
                "probabilities": [round(float(p), 6) for p in pred.probabilities],
                "abstain": pred.abstain,
                "reason": pred.message,
            }
        )
    if pred.label is None:
        return f"{path}\tno ink"
    line = f"{path}\t{pred.label}\t{pred.confidence:.3f}"
    return f"{line}\t{pred.message}" if pred.abstain else line


def format_error(path: Path, message: str, fmt: str) -> str:
    return json.dumps({"path": str(path), "error": message}) if fmt == "json" else f"{path}\terror: {message}"


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(__doc__)
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or directories of images")
    p.add_argument("--model", default=None, help="model name in models/, a .keras or .h5 file, or an export from evaluation/export.py (.onnx, .tflite, SavedModel folder) (default: best usable model by its card)")
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format (default text)")
    p.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="auto-detect dark ink on light paper, or force it: yes = dark ink on light, no = light ink on dark (default auto)")
    a = p.parse_args(argv)

    from digitlab import preprocess
    from digitlab.models import artifacts
    from digitlab.serving.classifiers import load_classifier

    try:
        classifier = load_classifier(a.model)
    except artifacts.ModelError as e:
        return cli.error(e)
    print(f"model: {classifier.name}", file=sys.stderr)

    files = expand(a.paths)
    if not files:
        return cli.error("no image files found in " + ", ".join(a.paths))
    failed = False
    for start in range(0, len(files), BATCH):
        chunk = files[start : start + BATCH]
        prepared: list[tuple[Path, object]] = []
        for f in chunk:
            try:
                prepared.append((f, preprocess.prepare(f, invert=a.invert)))
            except preprocess.ImageError as e:
                prepared.append((f, e))
        ok = [(f, r) for f, r in prepared if not isinstance(r, Exception)]
        answers = iter(classifier.predict_prepared([r for _, r in ok]))  # the card's abstain rule and the digit gate, one pass each
        for f, r in prepared:
            if isinstance(r, Exception):
                failed = True
                print(format_error(f, str(r), a.format))
            else:
                print(format_line(f, next(answers), a.format))
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
