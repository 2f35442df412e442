"""Does an export answer like the Keras model it came from?  Every exported file is checked on one probe set before
it is trusted (``python evaluation/export.py`` runs ``check`` after ``digitlab.serving.export.export``).

    probe_set      MNIST test digits and other test digits re-drawn as canvas strokes, through digitlab.preprocess
    TOLERANCES     what each format may differ from Keras: float formats bit-close, quantised ones by answers
    check          every exported file loaded as ``predict.py --model FILE`` loads it, compared on the probe set
    failures       the formats outside their tolerance
    write_report   the parity report (JSON and Markdown) and a copy of the card beside the exports
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from digitlab import data, preprocess
from digitlab.data import synthetic
from digitlab.files import atomic_write_bytes, atomic_write_json, sha256
from digitlab.models import artifacts, cards
from digitlab.report import tables
from digitlab.serving import classifiers
from digitlab.serving.export import INPUT_NAME, OUTPUT_NAME, tfjs_run
from digitlab.serving.export import source as resolve_source

DRAWN_WIDTHS = (0.04, 0.07, 0.11, 0.2, 0.3)  # brush width / digit height, as evaluation/drawn_digits.py


@dataclass
class Probe:
    """The inputs every export is compared on: x (N, 28, 28) float32 model inputs, y (N,) labels,
    group (N,) "mnist" (test digits) or "drawn" (test digits redrawn like canvas strokes)."""

    x: np.ndarray
    y: np.ndarray
    group: np.ndarray

    def describe(self) -> str:
        n = {g: int((self.group == g).sum()) for g in ("mnist", "drawn")}
        return (f"{n['mnist']} MNIST test digits + {n['drawn']} other test digits redrawn as canvas strokes "
                f"(synthetic.restroke, brush {DRAWN_WIDTHS[0]}-{DRAWN_WIDTHS[-1]} of the digit height), all through digitlab.preprocess")


def probe_set(n_mnist: int = 1000, n_drawn: int = 500, seed: int = 0, mnist_path=None) -> Probe:
    """MNIST test digits, and other test digits drawn on a 280x280 canvas at random size, place and
    brush width, all through digitlab.preprocess exactly as the CLI and the app see them."""
    mnist = data.load(mnist_path)
    idx = np.random.default_rng(seed).choice(len(mnist.x_test), n_mnist + n_drawn, replace=False)
    plain, drawn = idx[:n_mnist], idx[n_mnist:]
    x_drawn = np.zeros((n_drawn, 28, 28), np.float32)
    for k, i in enumerate(drawn):
        picture = synthetic.restroke(mnist.x_test[i], DRAWN_WIDTHS[k % len(DRAWN_WIDTHS)], seed=seed * 1_000_003 + k)
        prepared = preprocess.prepare(picture)
        if prepared.image is not None:
            x_drawn[k] = prepared.image
    x = np.concatenate([mnist.inputs("test", indices=plain)[0], x_drawn])
    y = mnist.y_test[idx].astype(np.int64)
    return Probe(x, y, np.array(["mnist"] * n_mnist + ["drawn"] * n_drawn))


@dataclass(frozen=True)
class Tolerance:
    """What an export may differ from the Keras model on the probe set."""

    min_agreement: float  # share of probe images with the same argmax as Keras
    max_abs_dp: float | None  # largest |probability difference| on any digit of any probe image (None: reported only)
    max_accuracy_drop: float  # probe accuracy below Keras's (fraction, per group)


# Float formats run the same float32 maths in another order (oneDNN, XNNPACK, onnxruntime kernels):
# differences are ~1e-6, so 1e-4 is tiny and any disagreement is a real bug.  Quantised formats
# (dynamic-range: int8 weights; int8: weights and activations, outputs in steps of 1/256) are judged
# on what a user sees, the answer and the accuracy: an unsure image's probabilities can legitimately
# move a lot (0.55 on a weak test model whose answers all stayed the same), so max |dp| is reported only.
FLOAT = Tolerance(min_agreement=1.0, max_abs_dp=1e-4, max_accuracy_drop=0.0)
TOLERANCES = {
    "keras": FLOAT,
    "h5": FLOAT,
    "savedmodel": FLOAT,
    "tflite": FLOAT,
    "onnx": FLOAT,
    "tfjs": FLOAT,  # @tensorflow/tfjs in Node, the page's WebAssembly backend
    "tflite-dynamic": Tolerance(min_agreement=0.995, max_abs_dp=None, max_accuracy_drop=0.003),
    "tflite-int8": Tolerance(min_agreement=0.99, max_abs_dp=None, max_accuracy_drop=0.005),
}


def load_export(path) -> classifiers.Classifier | classifiers.ExportedClassifier:
    """An export loaded exactly as ``predict.py --model PATH`` loads it."""
    return classifiers.load_classifier(str(path))


def size_bytes(path: Path) -> int:
    path = Path(path)
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def compare(reference: np.ndarray, probs: np.ndarray, probe: Probe, fmt: str) -> dict:
    """Parity figures of one export's probabilities against Keras's, and what breaks its tolerance."""
    tol = TOLERANCES[fmt]
    row = {
        "max_abs_dp": float(np.abs(probs - reference).max()),
        "agreement": float((probs.argmax(1) == reference.argmax(1)).mean()),
        "disagreeing": int((probs.argmax(1) != reference.argmax(1)).sum()),
    }
    failures = []
    if row["agreement"] < tol.min_agreement:
        failures.append(f"argmax agreement {row['agreement']:.2%} < {tol.min_agreement:.2%} ({row['disagreeing']} images differ)")
    if tol.max_abs_dp is not None and row["max_abs_dp"] > tol.max_abs_dp:
        failures.append(f"max |dp| {row['max_abs_dp']:.3g} > {tol.max_abs_dp:.3g}")
    for g in ("mnist", "drawn"):
        m = probe.group == g
        if not m.any():
            continue
        acc, ref_acc = float((probs[m].argmax(1) == probe.y[m]).mean()), float((reference[m].argmax(1) == probe.y[m]).mean())
        row[f"accuracy_{g}"] = acc
        if ref_acc - acc > tol.max_accuracy_drop + 1e-12:
            failures.append(f"{g} accuracy {acc:.2%} is {ref_acc - acc:.2%} below Keras's {ref_acc:.2%}")
    row["failures"] = failures
    row["ok"] = not failures
    return row


def check(source, files: dict[str, Path | Exception], probe: Probe, latency_repeats: int = 200) -> dict:
    """Run the probe set through the Keras model and through each exported file (loaded the way the
    predict CLI loads it; TF.js in Node, ``tfjs_run``); returns the report: one row per format plus the
    Keras reference row.

    ``files`` maps format -> path, or the exception raised while exporting it (a failed row)."""
    model, layout, outputs, name = resolve_source(source)
    src_path = getattr(source, "path", None)
    keras_clf = classifiers.Classifier(artifacts.ModelEntry(name, Path(src_path or name), None, True, None, layout, outputs, model))
    reference = keras_clf.predict_proba(probe.x)
    rows = [dict(
        format="keras", file=Path(src_path).name if src_path else name, bytes=size_bytes(src_path) if src_path else None,
        load_s=None, latency_ms=classifiers.forward_ms(keras_clf, probe.x, latency_repeats), **compare(reference, reference, probe, "keras"),
    )]
    for fmt, path in files.items():
        row = {"format": fmt, "file": Path(path).name if isinstance(path, Path) else None}
        try:
            if isinstance(path, Exception):
                raise path
            if not Path(path).exists():
                raise artifacts.ModelError(f"{path}: missing (export it first)")
            if fmt == "tfjs":  # a browser format: run in Node with @tensorflow/tfjs, as a web page would
                run = tfjs_run({name: path}, probe.x, latency_runs=latency_repeats)
                probs = run.outputs[name]
                row.update(load_s=run.load_s[name], bytes=size_bytes(path), latency_ms=run.latency_ms[name], runtime=run.runtime)
            else:
                t0 = time.perf_counter()
                clf = load_export(path)
                row["load_s"] = time.perf_counter() - t0
                probs = clf.predict_proba(probe.x)
                row.update(bytes=size_bytes(path), latency_ms=classifiers.forward_ms(clf, probe.x, latency_repeats))
            row.update(compare(reference, probs, probe, fmt))
        except Exception as e:  # a broken or missing export is that format's failure, loudly, not a crash
            row.update(ok=False, failures=[f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]])
        rows.append(row)
    return {
        "model": name,
        "source": str(src_path) if src_path else None,
        "source_sha256": sha256(src_path, 16) if src_path else None,
        "probe": probe.describe(),
        "n_probe": len(probe.x),
        "tolerances": {k: asdict(v) for k, v in TOLERANCES.items()},
        "interface": {"input": INPUT_NAME + " float32 (N, 28, 28)", "output": OUTPUT_NAME + " float32 (N, 10)"},
        "rows": rows,
        "ok": all(r["ok"] for r in rows),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("tensorflow-cpu", "tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def failures(report: dict) -> list[str]:
    """One loud line per format outside its tolerance."""
    return [f"{report['model']} {r['format']}: {'; '.join(r['failures'])}" for r in report["rows"] if not r["ok"]]


def write_report(report: dict, files: dict[str, Path | Exception], out_dir: Path, card: dict | None, command: str) -> None:
    """parity.json, parity.md and ``<model>.json``: the source card plus an "export" section listing
    the files (the predict CLI reads it to find the card, e.g. the abstain rule, of an export)."""
    out_dir = Path(out_dir)
    report = dict(report, command=command)
    atomic_write_json(out_dir / "parity.json", report)
    md = f"# Export parity: {report['model']}\n\n`{command}`\n\nProbe: {report['probe']}.\n\n{tables.export_parity(report)}\n"
    atomic_write_bytes(out_dir / "parity.md", md.encode())
    written = {fmt: p.name for fmt, p in files.items() if isinstance(p, Path) and p.exists()}
    card = cards.build({**(card or {"name": report["model"]}), "export": {
        "files": written,
        "source_sha256": report["source_sha256"],
        "interface": report["interface"],
        "parity_ok": {r["format"]: r["ok"] for r in report["rows"] if r["format"] != "keras"},
        "command": command,
        "date": report["date"],
    }})
    atomic_write_json(out_dir / f"{report['model']}.json", card)
