"""python -m digitlab.serving.convert {classifier,gate,reader} MODEL.keras OUT.onnx

The one step of serving that needs TensorFlow, run in its own process by ``digitlab.serving.store`` so
the server that asks never imports it: load the file with Keras safe mode, check it (a 28x28 -> 10 digit
classifier, the digit gate, or the number reader), write ONNX (``digitlab.serving.export.to_onnx``: "image"
(N, 28, 28) -> "probabilities" (N, 10); the gate: "image" -> "p_digit" (N,); the reader: "line" (N, 28, 224)
-> "logits" (N, 56, 11)), run the same probe through both and refuse the file when they differ by more than
``MAX_DP`` (the reader: ``MAX_DLOGIT`` on its logits).  Prints one JSON line (what ``store`` records beside
the ONNX file).  Exit codes: 0 written, 3 (``store.REFUSED``) the model is refused (the reason on
stderr's last line), anything else a failure of the converter itself.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from digitlab.models import artifacts
from digitlab.serving.store import REFUSED

MAX_DP = 1e-5  # |ONNX - Keras| on any probability of the probe, as the serving contract promises
KINDS = ("classifier", "gate", "reader")
MAX_DLOGIT = 1e-4  # the number reader's: |ONNX - Keras| on any logit of the probe lines (an LSTM sums 56 frames in float32)


def probe_images(n: int = 64, seed: int = 0) -> np.ndarray:
    """Digit-like inputs without MNIST (the converter must work offline and fast): random polyline
    strokes as a canvas gives them, through the one preprocessing path, plus a blank and a noise image."""
    import cv2

    from digitlab import preprocess

    rng = np.random.default_rng(seed)
    images = [np.zeros((28, 28), np.float32), rng.random((28, 28), dtype=np.float32)]
    while len(images) < n:
        canvas = np.zeros((280, 280), np.uint8)
        points = rng.integers(40, 240, size=(int(rng.integers(2, 7)), 2)).astype(np.int32)
        cv2.polylines(canvas, [points], False, 255, int(rng.integers(10, 30)), cv2.LINE_AA)
        images.append(preprocess.prepare(canvas, invert="no").image)
    return np.stack(images).astype(np.float32)


def probe_lines(n: int = 16) -> np.ndarray:
    """Lines for the number reader's probe: ``probe_images`` side by side, two to eight in a row, through the
    reader's own line input (``number_lines.to_line``), plus a blank line."""
    from digitlab.data import number_lines

    images = probe_images(4 * n)
    lines = [np.zeros((number_lines.LINE_H, number_lines.LINE_W), np.float32)]
    for k in range(1, n):
        lines.append(number_lines.to_line(np.hstack(list(images[4 * k - 4 : 4 * k - 4 + 2 + k % 7]))))
    return np.stack(lines)


def convert(kind: str, path: Path, out: Path) -> dict:
    """Write ``out`` from ``path``; returns what to record about it.  Raises ModelError for a refused model."""
    import onnxruntime as ort

    from digitlab.serving import backends, export

    t0 = time.perf_counter()
    if kind == "reader":
        from digitlab.serving.reader import INPUT_NAME, OUTPUT_NAME, Reader

        reader = Reader(path, "keras")  # safe mode, shape checks, margin on the card
        probe, bound, input_name = probe_lines(), MAX_DLOGIT, INPUT_NAME
        export.reader_to_onnx(reader, out)
        expected = reader.logits(probe).astype(np.float64)
        layout, outputs = "28x224x1", OUTPUT_NAME
    else:
        probe, bound, input_name = probe_images(), MAX_DP, export.INPUT_NAME
        if kind == "gate":
            from digitlab.serving.gate import Gate

            gate = Gate(path)  # safe mode, shape checks, threshold on the card
            export.gate_to_onnx(gate, out)
            expected = gate.score(probe)
            layout, outputs = "28x28x1", export.GATE_OUTPUT
        else:
            entry = artifacts.inspect(path)
            if not entry.usable:
                raise artifacts.ModelError(entry.reason)
            from digitlab.serving.classifiers import Classifier

            expected = Classifier(entry).predict_proba(probe).astype(np.float64)
            export.to_onnx(entry, out)
            layout, outputs = entry.layout, entry.outputs
    session = ort.InferenceSession(str(out), backends.session_options(), providers=["CPUExecutionProvider"])
    got = np.asarray(session.run(None, {input_name: probe})[0], np.float64)
    dp = float(np.abs(got - expected).max())
    if not np.isfinite(got).all() or dp > bound:
        out.unlink(missing_ok=True)
        raise artifacts.ModelError(f"{path.name}: its ONNX conversion differs from Keras by {dp:.2g} (> {bound:g}) on the probe")
    return {"kind": kind, "layout": layout, "outputs": outputs, "probe_max_abs_dp": dp, "probe_n": len(probe),
            "seconds": round(time.perf_counter() - t0, 2)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] not in KINDS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        info = convert(argv[0], Path(argv[1]), Path(argv[2]))
    except artifacts.ModelError as e:
        print(str(e).replace("\n", " "), file=sys.stderr)
        return REFUSED
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
