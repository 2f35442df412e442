"""python evaluation/predict.py PATH [PATH ...] [--number] [--model NAME_OR_FILE] [--format json|text] [--invert auto|yes|no]
                              [--writing default|continental]

Predict the digit in image files. PATH is an image file or a directory (every image inside, sorted).
What it prints for each file, and its exit codes, are digitlab.serving.predict's contract (below).
"""

from __future__ import annotations

import sys

from digitlab import cli
from digitlab.serving import predict, writing


def main(argv: list[str] | None = None) -> int:
    p = cli.parser(f"{__doc__}\n{predict.__doc__}", internal=True)
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or directories of images")
    p.add_argument("--model", default=None, help="model name in models/, a .keras or .h5 file, or an export from evaluation/export.py (.onnx, .tflite, SavedModel folder) (default: best usable model by its card)")
    p.add_argument("--number", action="store_true", help="read each picture as a number of several digits (default: one digit)")
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format (default text)")
    p.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                   help="auto-detect dark ink on light paper, or force it: yes = dark ink on light, no = light ink on dark (default auto)")
    p.add_argument("--writing", choices=tuple(writing.WRITINGS), default=writing.DEFAULT,
                   help="how the writer writes 1 and 7: " + "; ".join(f"{k} = {v}" for k, v in writing.ABOUT.items()) + " (default: default)")
    a = p.parse_args(argv)
    return predict.run(a.paths, a.model, a.number, a.format, a.invert, a.writing)


if __name__ == "__main__":
    sys.exit(main())
