"""The in-browser page's model descriptions (``web/model/*.json``): what each holds, built and checked in one place.

These are not model cards.  A card (``digitlab.models.cards``) says how a Keras model was made and measured;
a page manifest says which exported files the static page in ``web/`` loads and how it must use them (input
and output names, each runtime's file and hash, the "not a digit" rule), with a few of the card's figures
copied for the page to show.  Three documents, one schema each:

    <name>.json   MODEL   one page model: its ONNX file and TF.js folder with their hashes and parity, the
                          .keras file they came from, input and output, preprocessing version, abstain rule
    gate.json     GATE    the digit gate's files, hashes, parity and threshold
    index.json    INDEX   the models the page offers, and the one it opens with

``model``, ``gate`` and ``index`` build them (``web/build.py`` is their caller; nothing else writes
``web/model/``); each result is ``check``ed, which refuses a key the schema does not list and a value the
page cannot use (web/app.js and web/abstain.js read these fields), so no hand-assembled field reaches the
page.  ``read`` checks a file again on the way in.  A new field: add its line to the schema (what it is and
its check) and read it in web/app.js.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from digitlab import files

GATE_FILE = "gate.json"
INDEX_FILE = "index.json"
CLASSES = [str(d) for d in range(10)]


class ManifestError(ValueError):
    """A page manifest with a key no code writes or a value the page cannot use."""


# ----------------------------------------------------------------------------- value checks (None: fine, else why not)


def _text(v) -> str | None:
    return None if isinstance(v, str) and v else f"{v!r} is not a non-empty text"


def _sha(v) -> str | None:
    return None if isinstance(v, str) and v.startswith("sha256:") and len(v) == 71 else f"{v!r} is not a full 'sha256:<hex>'"


def _gap(v) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1
    return None if ok else f"{v!r} is not a probability gap in [0, 1)"


def _count(v) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) and v > 0 else f"{v!r} is not a whole number > 0"


def _optional(check: Callable) -> Callable:
    return lambda v: None if v is None else check(v)


def _fraction(v) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1
    return None if ok else f"{v!r} is not a number in [0, 1]"


def _positive(v) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
    return None if ok else f"{v!r} is not a positive number"


def _equals(want) -> Callable:
    return lambda v: None if v == want else f"{v!r} is not {want!r}"


def _object(schema: dict[str, tuple[Callable, str]], optional: frozenset = frozenset()) -> Callable:
    """A check of a JSON object holding exactly ``schema``'s keys (``optional`` ones may be absent)."""

    def check(v) -> str | None:
        if not isinstance(v, dict):
            return f"{v!r} is not an object"
        unknown = sorted(set(v) - set(schema))
        if unknown:
            return f" has keys {unknown} that no code writes (known: {sorted(schema)})"
        missing = sorted(set(schema) - set(v) - optional)
        if missing:
            return f" lacks {missing}"
        for key, (check_value, _) in schema.items():
            if key in v and (why := check_value(v[key])):
                return f".{key}{why}" if why.startswith((".", " ")) else f".{key}: {why}"
        return None

    return check


# ----------------------------------------------------------------------------- the schemas: key -> (check, what it is)

TFJS = {
    "model": (_text, "the TF.js graph model's model.json, relative to web/model/"),
    "sha256": (_sha, "folder_sha256 of the TF.js folder"),
    "parity_max_abs_dp": (_gap, "largest |Keras - TF.js| on the parity inputs, checked in Node"),
    "checked_with": (_text, "the @tensorflow/tfjs version, backend and Node that checked it (models only)"),
}
ABSTAIN = {
    "temperature": (_positive, "the card's calibration temperature"),
    "threshold": (_optional(_fraction), "calibrated confidence below this abstains (the card's calibration.abstain)"),
    "from": (_text, "where the rule comes from"),
}
MODEL = {
    "name": (_text, "the model's name in models/"),
    "onnx": (_text, "its ONNX file (onnxruntime-web, the page's default runtime)"),
    "onnx_sha256": (_sha, "sha256 of that file"),
    "tfjs": (_optional(_object(TFJS)), "its TF.js folder, or null when only ONNX was built"),
    "keras_sha256": (_sha, "sha256 of the .keras file the exports came from"),
    "classes": (_equals(CLASSES), "the label of each output, in order"),
    "input": (_object({k: (lambda v: None, "") for k in ("name", "shape", "dtype", "range", "polarity")}),
              "the input tensor: name, shape, dtype, range, polarity"),
    "output": (_object({"name": (_text, ""), "shape": (lambda v: None, "")}), "the output tensor: name, shape"),
    "preprocess_version": (_text, "digitlab.preprocess's version; the page refuses a model of another"),
    "abstain": (_optional(_object(ABSTAIN)), "the card's \"not a digit\" rule (web/abstain.js), or null without calibration"),
    "gate": (_equals(GATE_FILE), "the digit gate's manifest"),
    "test_accuracy": (_optional(_fraction), "the card's MNIST test accuracy, shown beside the model's name"),
    "params": (_optional(_count), "the card's parameter count"),
    "parity_max_abs_dp": (_gap, "largest |Keras - ONNX| on the parity digits"),
    "parity_digits": (_count, "MNIST test digits the exports were compared on"),
    "command": (_text, "the command that builds it again"),
}
_RUNTIME_FILE = {k: TFJS[k] for k in ("model", "sha256", "parity_max_abs_dp")}
GATE = {
    "name": (_text, "the gate's name in models/gate/"),
    "keras_sha256": (_sha, "sha256 of the gate's .keras file"),
    "threshold": (_fraction, "P(digit) below this rejects (the gate's card)"),
    "output": (_object({"name": (_text, ""), "shape": (lambda v: None, ""), "meaning": (_text, "")}), "the output tensor"),
    "preprocess_version": (_text, "digitlab.preprocess's version; the page drops a gate of another"),
    "onnx": (_object(_RUNTIME_FILE), "its ONNX file, hash and parity"),
    "tfjs": (_optional(_object(_RUNTIME_FILE)), "its TF.js folder, hash and parity, or null"),
    "parity_inputs": (_text, "what the gate's exports were compared on"),
    "command": (_text, "the command that builds it again"),
}
INDEX = {
    "default": (_text, "the model the page opens with"),
    "models": (lambda v: None if isinstance(v, list) and v and all(isinstance(n, str) and n for n in v)
               else f"{v!r} is not a list of model names", "the models the page offers, the default first"),
}
SCHEMAS = {"model": MODEL, "gate": GATE, "index": INDEX}


def check(kind: str, doc) -> dict:
    """Raise ManifestError unless ``doc`` holds exactly the keys of schema ``kind`` ("model", "gate", "index")
    with values the page can use; returns ``doc``."""
    why = _object(SCHEMAS[kind])(doc)
    if kind == "index" and why is None and doc["default"] not in doc["models"]:
        why = f".default: {doc['default']!r} is not one of the models"
    if why:
        raise ManifestError(f"page {kind} manifest{why}" if why.startswith((".", " ")) else f"page {kind} manifest: {why}")
    return doc


def read(path: Path, kind: str) -> dict:
    """A manifest file, ``check``ed; ManifestError when it cannot be read or is not one."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ManifestError(f"{path}: not a readable page manifest ({e})") from e
    return check(kind, doc)


def write(path: Path, kind: str, doc: dict) -> None:
    files.atomic_write_bytes(Path(path), (json.dumps(check(kind, doc), indent=2) + "\n").encode())


# ----------------------------------------------------------------------------- building


def folder_sha256(folder: Path) -> str:
    """One hash for a TF.js model folder: sha256 over each file's name and sha256, in name order."""
    h = hashlib.sha256()
    for f in sorted(Path(folder).iterdir()):
        if f.is_file():
            h.update(f"{f.name}\0{files.sha256(f).removeprefix('sha256:')}\n".encode())
    return "sha256:" + h.hexdigest()


def abstain_rule(card: dict | None) -> dict | None:
    """The model card's "not a digit" rule as the page applies it (web/abstain.js), or None without calibration."""
    cal = (card or {}).get("calibration") or {}
    if not cal.get("temperature"):
        return None
    return {
        "temperature": float(cal["temperature"]),
        "threshold": (cal.get("abstain") or {}).get("threshold"),
        "from": "the model card's calibration (python evaluation/calibrate.py --write-card); digitlab.serving.abstain",
    }


def tfjs_entry(folder: Path, gap: float, checked_with: str | None = None) -> dict:
    """The "tfjs" entry of a manifest for the TF.js folder ``folder`` (inside web/model/ or where it is built)."""
    out = {"model": f"{Path(folder).name}/model.json", "sha256": folder_sha256(folder), "parity_max_abs_dp": gap}
    return out if checked_with is None else dict(out, checked_with=checked_with)


def model(entry, onnx_file: Path, parity: float, parity_digits: int, tfjs: dict | None = None) -> dict:
    """The manifest of page model ``entry`` (a digitlab.models.artifacts.ModelEntry) exported to ``onnx_file``
    (and ``tfjs``: ``tfjs_entry``), whose ONNX output differed from Keras by at most ``parity`` on
    ``parity_digits`` MNIST test digits."""
    from digitlab import preprocess
    from digitlab.serving import export  # TensorFlow: only to build, never to read or check

    card = entry.card or {}
    return check("model", {
        "name": entry.name,
        "onnx": Path(onnx_file).name,
        "onnx_sha256": files.sha256(onnx_file),
        "tfjs": tfjs,
        "keras_sha256": files.sha256(entry.path),
        "classes": CLASSES,
        "input": {"name": export.INPUT_NAME, "shape": ["batch", 28, 28], "dtype": "float32", "range": [0, 1], "polarity": "light ink on black"},
        "output": {"name": export.OUTPUT_NAME, "shape": ["batch", 10]},
        "preprocess_version": preprocess.PREPROCESS_VERSION,
        "abstain": abstain_rule(card),
        "gate": GATE_FILE,
        "test_accuracy": (card.get("metrics") or {}).get("test_accuracy"),
        "params": card.get("params"),
        "parity_max_abs_dp": parity,
        "parity_digits": parity_digits,
        "command": "python web/build.py --model " + entry.name,
    })


def gate(the_gate, onnx_file: Path, parity: float, parity_inputs: str, tfjs: dict | None = None) -> dict:
    """The manifest of the digit gate ``the_gate`` (digitlab.serving.gate.Gate) exported to ``onnx_file``
    (and ``tfjs``: ``tfjs_entry`` without ``checked_with``)."""
    from digitlab import preprocess
    from digitlab.serving import export

    return check("gate", {
        "name": the_gate.path.stem,
        "keras_sha256": files.sha256(the_gate.path),
        "threshold": the_gate.threshold,
        "output": {"name": export.GATE_OUTPUT, "shape": ["batch"], "meaning": "P(the input is a digit); reject below threshold"},
        "preprocess_version": preprocess.PREPROCESS_VERSION,
        "onnx": {"model": Path(onnx_file).name, "sha256": files.sha256(onnx_file), "parity_max_abs_dp": parity},
        "tfjs": tfjs,
        "parity_inputs": parity_inputs,
        "command": "python web/build.py",
    })


def index(folder: Path, added: str, make_default: bool = False) -> dict:
    """``folder``'s index.json once model ``added`` is built into it: the models whose ONNX file is there,
    ``added`` last; the default kept unless ``make_default`` or it is gone (then ``added``), listed first."""
    path = Path(folder) / INDEX_FILE
    old = json.loads(path.read_text()) if path.is_file() else {}
    names = [n for n in old.get("models", []) if (Path(folder) / f"{n}.onnx").exists() and n != added] + [added]
    default = old.get("default")
    if make_default or default not in names:
        default = added
    return check("index", {"default": default, "models": sorted(names, key=lambda n: n != default)})


def figures(folder: Path, date: str | None = None) -> list:
    """``web/build.py``'s page files in ``folder`` (web/model/), read through their manifests: size and parity per
    model and runtime, and the digit gate's: ``digitlab.report.schema.Figure``s for the results file."""
    from digitlab.paths import shown
    from digitlab.report.schema import Figure

    def size(p: Path) -> int:
        return sum(f.stat().st_size for f in p.iterdir() if f.is_file()) if p.is_dir() else p.stat().st_size

    folder = Path(folder)
    index = read(folder / INDEX_FILE, "index")
    gate = read(folder / GATE_FILE, "gate")
    out = []
    for name in index["models"]:
        info = read(folder / f"{name}.json", "model")
        common = dict(model=name, model_sha=info["keras_sha256"][:23], date=date, source=shown(folder / f"{name}.json"),
                      note=f"{info['parity_digits']} MNIST test digits")
        files = [("ONNX", info["onnx"], info["parity_max_abs_dp"])]
        if info["tfjs"]:
            files.append(("TF.js", Path(info["tfjs"]["model"]).parent, info["tfjs"]["parity_max_abs_dp"]))
        for runtime, file, gap in files:
            out += [Figure("web_files", "size", size(folder / file), info["command"], row=f"{name}, {runtime}", fmt="bytes", **common),
                    Figure("web_files", "max abs dp vs Keras", gap, info["command"], row=f"{name}, {runtime}", fmt="sci", **common)]
    common = dict(date=date, source=shown(folder / GATE_FILE), note=gate["parity_inputs"])
    for runtime, entry in (("ONNX", gate["onnx"]), ("TF.js", gate["tfjs"])):
        if entry:
            row = f"digit gate {gate['name']}, {runtime}"
            out += [Figure("web_files", "size", size(folder / Path(entry["model"]).parent if runtime == "TF.js" else folder / entry["model"]),
                           gate["command"], row=row, fmt="bytes", **common),
                    Figure("web_files", "max abs dp vs Keras", entry["parity_max_abs_dp"], gate["command"], row=row, fmt="sci", **common)]
    return out
