"""Hostile files beside a model, made from seeds: its serving file and record (``serving.store``), its card and
its side files, as a damaged disk, a careless copy or a hand edit leaves them.

    KINDS                          every kind: what it damages, what it is, and what must happen
    make_case(kind, folder, seed)  a models folder holding one model with that damage -> ``Case``
    copy_model(source, target)     a byte-different copy of a ``.keras`` file (the same model under a new hash)
    served(keras, onnx_bytes, ...) an ONNX file and its record for a model file, where ``serving.store`` finds it
    onnx_classifier(...), ...      small ONNX graphs that are wrong in one way (NaN, negative, too wide, a bomb)

Targets (``Kind.target``):

    classifier   the model's own serving file or record         must be refused with a reason (never served)
    gate         the digit gate's serving file                    digits still read, "digit gate unavailable"
    reader       the number reader's serving file                 numbers still read, by the cuts alone
    dropped      a serving file a dropped folder brings along     never taken for the folder's model
    card         the model's card                                 the model refused with a reason, or (claims)
                                                                  usable but never the default over the measured
                                                                  model beside it (a link to the committed baseline)
    side         <name>.metrics.json                              its panel refused with a reason, never a crash

Every case's model is a copy of a committed file (``copy_model``: same weights, a hash of its own), so no committed
serving file stands in for the damaged one; a damaged serving file goes where serving files of uncommitted models
live (``serving.store.cache_dir()``), its name the copy's hash.  ``digitlab.hardening.fuzz.fuzz_files`` runs the cases
through the code the CLI and the app use; ``tests/test_serving_files.py`` and ``tests/test_card_values.py`` check
each kind.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.paths import ROOT

COMMITTED = ROOT / "models"
BASE = "mnist_baseline"  # the model every case copies: the smallest committed one (47 kB, its ONNX 33 kB)
OTHER = "mnist_cnn"  # whose serving file is copied over the base's
NAME = "model"  # the copy's name in a case's folder
OPSET = 17  # as digitlab.serving.export writes


@dataclass(frozen=True)
class Kind:
    name: str
    target: str  # "classifier", "gate", "reader", "dropped", "card" or "side"
    expect: str  # "refuse", "usable" (a control), "degrade" (gate, reader: read without it), "not_default" (claims)
    what: str


@dataclass
class Case:
    kind: Kind
    folder: Path  # the models folder
    model: Path  # <folder>/model.keras
    gate: Path | None = None  # the case's own digit gate (target "gate"), else None: the committed one
    reader: Path | None = None  # the case's own number reader (target "reader")
    what: str = ""


# ----------------------------------------------------------------------------- files


def copy_model(source: Path, target: Path, tag: str = "copy") -> Path:
    """``source`` (a ``.keras`` archive) written again at ``target`` with the same members and a zip comment
    ``tag``: the same model, other bytes, so its serving file is looked up under a hash of its own."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as out:
        for info in src.infolist():
            out.writestr(info.filename, src.read(info))
        out.comment = f"digitlab.hardening {tag}".encode()[:200]
    return target


def committed_onnx(keras_file: Path) -> bytes:
    """The serving file of a committed model, gate or reader (``models/serving/<key>.onnx``)."""
    from digitlab.serving import store

    return (COMMITTED / store.SERVING_SUBDIR / f"{store.file_key(keras_file)}.onnx").read_bytes()


_RECORDED = {"classifier": ("28x28x1", "probabilities"), "gate": ("28x28x1", "p_digit"), "reader": ("28x224x1", "logits")}


def served(keras_file: Path, onnx: bytes, kind: str = "classifier", folder: Path | None = None, digest: bool = True,
           record: dict | None = None, source: str | None = None) -> Path:
    """``onnx`` written as the serving file of ``keras_file`` in ``folder`` (default: ``store.cache_dir()``), with the
    record the converter writes (``digest``: with the file's own sha256, as the converter writes it now; False: a
    record of an older converter, without one); ``record``: keys that replace the converter's.  Returns the ONNX path."""
    from digitlab.serving import store

    key = store.file_key(keras_file)
    folder = Path(folder) if folder is not None else store.cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.onnx"
    for old in (path, path.with_suffix(".json")):  # what an earlier case left here (a FIFO, a folder)
        if old.is_dir() and not old.is_symlink():
            old.rmdir()
        elif os.path.lexists(old):
            old.unlink()
    path.write_bytes(onnx)
    layout, outputs = _RECORDED[kind]
    info = {"kind": kind, "layout": layout, "outputs": outputs, "probe_max_abs_dp": 0.0, "probe_n": 64, "seconds": 1.0,
            "source": source or Path(keras_file).name, "sha256": key}
    if digest:
        info = store.record_with_digest(path, info)
    path.with_suffix(".json").write_text(json.dumps({**info, **(record or {})}))
    return path


# ----------------------------------------------------------------------------- ONNX graphs


def _model(nodes, inits, inputs, outputs, name: str = BASE, opset: int = OPSET, domains=()):
    from onnx import helper

    graph = helper.make_graph(nodes, "hostile", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), *(helper.make_opsetid(d, 1) for d in domains)],
                              producer_name="digitlab.hardening")
    model.ir_version = 8
    model.metadata_props.add(key="digitlab.model", value=name)
    return model


def _io(name: str, dims):
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *dims])


def _const(name: str, values, dtype=np.float32):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, dtype), name)


def onnx_classifier(width: int = 10, head: str = "softmax", extra: Callable | None = None, rng: np.random.Generator | None = None,
                    name: str = BASE) -> bytes:
    """image (N, 28, 28) -> "probabilities" (N, ``width``): a linear layer and ``head`` ("softmax"; "nan": 0/0;
    "negative": minus the softmax; "raw": the scores as they are).  ``extra(nodes, inits)`` adds nodes whose
    output "extra" (a scalar) is added times 0: a branch that changes no answer and may cost a lot."""
    from onnx import helper

    rng = rng or np.random.default_rng(0)
    w = rng.normal(0, 0.01, (784, width)) if head != "nan" else np.zeros((784, width))
    inits = [_const("shape", [-1, 784], np.int64), _const("w", w), _const("b", np.zeros(width)), _const("zero", np.zeros(width))]
    nodes = [helper.make_node("Reshape", ["image", "shape"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["mm"]),
             helper.make_node("Add", ["mm", "b"], ["scores"])]
    if head == "nan":
        nodes.append(helper.make_node("Div", ["scores", "zero"], ["soft"]))
    elif head == "raw":
        nodes.append(helper.make_node("Identity", ["scores"], ["soft"]))
    else:
        nodes.append(helper.make_node("Softmax", ["scores"], ["soft"], axis=-1))
    last = "soft"
    if head == "negative":
        nodes.append(helper.make_node("Neg", ["soft"], ["neg"]))
        last = "neg"
    if extra is not None:
        extra(nodes, inits)
        inits.append(_const("nothing", 0.0))
        nodes += [helper.make_node("Mul", ["extra", "nothing"], ["zeroed"]), helper.make_node("Add", [last, "zeroed"], ["with_extra"])]
        last = "with_extra"
    nodes.append(helper.make_node("Identity", [last], ["probabilities"]))
    return _model(nodes, inits, [_io("image", (28, 28))], [_io("probabilities", (width,))], name).SerializeToString()


def _sum_to_extra(nodes, source: str) -> None:
    from onnx import helper

    nodes.append(helper.make_node("ReduceSum", [source], ["extra"], keepdims=0))


def bomb(op: str, side: int) -> Callable:
    """An ``extra`` branch for ``onnx_classifier`` whose tensor holds ``side`` x ``side`` (x more) floats: ConstantOfShape,
    Expand, Tile or RandomNormal of a constant shape, or ConstantOfShape of a shape computed from the pixels."""
    from onnx import TensorProto, helper

    def add(nodes, inits):
        if op == "constant_of_shape":
            inits.append(_const("big_shape", [side, side], np.int64))
            nodes.append(helper.make_node("ConstantOfShape", ["big_shape"], ["big"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])))
        elif op == "expand":
            inits.append(_const("big_shape", [side, 1, 784], np.int64))
            nodes.append(helper.make_node("Expand", ["flat", "big_shape"], ["big"]))
        elif op == "tile":
            inits.append(_const("repeats", [1, side, side], np.int64))
            nodes.append(helper.make_node("Tile", ["image", "repeats"], ["big"]))
        elif op == "random":
            nodes.append(helper.make_node("RandomNormal", [], ["big"], shape=[side, side]))
        elif op == "from_pixels":  # the size depends on the picture: no bound can be read from the graph
            inits += [_const("scale", float(side)), _const("one", [1], np.int64)]
            nodes += [helper.make_node("ReduceSum", ["image"], ["ink"], keepdims=0), helper.make_node("Mul", ["ink", "scale"], ["n"]),
                      helper.make_node("Cast", ["n"], ["n64"], to=TensorProto.INT64),
                      helper.make_node("Reshape", ["n64", "one"], ["big_shape"]),
                      helper.make_node("ConstantOfShape", ["big_shape"], ["big"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]))]
        else:
            raise ValueError(op)
        _sum_to_extra(nodes, "big")

    return add


def with_subgraph() -> bytes:
    """A classifier whose answer comes out of an If node's branches (a graph inside the graph)."""
    from onnx import TensorProto, helper

    proto = _model_proto_classifier()
    branch = helper.make_graph([helper.make_node("Identity", ["soft"], ["chosen"])], "branch", [],
                               [helper.make_tensor_value_info("chosen", TensorProto.FLOAT, None)])
    out = proto.graph.node[-1]
    proto.graph.initializer.append(_const("yes", True, np.bool_))
    proto.graph.node.insert(len(proto.graph.node) - 1, helper.make_node("If", ["yes"], ["picked"], then_branch=branch, else_branch=branch))
    out.input[0] = "picked"
    return proto.SerializeToString()


def _model_proto_classifier():
    import onnx

    return onnx.load_from_string(onnx_classifier())


def with_foreign_op() -> bytes:
    """A classifier with one node of an operator set no runtime here has (domain com.example.evil)."""
    from onnx import helper

    proto = _model_proto_classifier()
    out = proto.graph.node[-1]
    proto.graph.node.insert(len(proto.graph.node) - 1, helper.make_node("Exfiltrate", ["soft"], ["sent"], domain="com.example.evil"))
    out.input[0] = "sent"
    proto.opset_import.append(helper.make_opsetid("com.example.evil", 1))
    return proto.SerializeToString()


def with_external_weights(folder: Path) -> bytes:
    """A classifier whose weights are read from a file beside it (external data), not from its own bytes."""
    from onnx import TensorProto, external_data_helper

    proto = _model_proto_classifier()
    w = next(t for t in proto.graph.initializer if t.name == "w")
    raw = np.frombuffer(w.raw_data, np.float32).copy() if w.raw_data else np.asarray(w.float_data, np.float32)
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "weights.bin").write_bytes(raw.tobytes())
    w.ClearField("float_data")
    w.raw_data = raw.tobytes()
    external_data_helper.set_external_data(w, "weights.bin", 0, raw.nbytes)
    w.data_location = TensorProto.EXTERNAL
    w.ClearField("raw_data")
    return proto.SerializeToString()


def onnx_gate(head: str = "nan", width: int = 0) -> bytes:
    """image (N, 28, 28) -> "p_digit": (N,) NaN (``head`` "nan"), or (N, ``width``) when ``width``."""
    from onnx import helper

    out_w = max(width, 1)
    inits = [_const("shape", [-1, 784], np.int64), _const("w", np.zeros((784, out_w))), _const("zero", np.zeros(out_w)),
             _const("axes", [1], np.int64)]
    nodes = [helper.make_node("Reshape", ["image", "shape"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["mm"]),
             helper.make_node("Div", ["mm", "zero"] if head == "nan" else ["mm", "mm"], ["p"])]
    if width:
        nodes.append(helper.make_node("Identity", ["p"], ["p_digit"]))
        dims = (width,)
    else:
        nodes.append(helper.make_node("Squeeze", ["p", "axes"], ["p_digit"]))
        dims = ()
    return _model(nodes, inits, [_io("image", (28, 28))], [_io("p_digit", dims)], "not_a_digit").SerializeToString()


def onnx_reader(frames: int = 49, head: str = "raw") -> bytes:
    """line (N, 28, 224) -> "logits" (N, ``frames``, 11): the line's 6,272 pixels in ``frames`` rows (a divisor of
    6,272: 49 or 64 are wrong, 56 is right) times a small matrix; (``head`` "nan") divided by zero."""
    from onnx import helper

    width = 28 * 224 // frames
    inits = [_const("shape", [-1, frames, width], np.int64), _const("w", np.zeros((width, 11))), _const("zero", np.zeros(11))]
    nodes = [helper.make_node("Reshape", ["line", "shape"], ["rows"]), helper.make_node("MatMul", ["rows", "w"], ["mm"]),
             helper.make_node("Div", ["mm", "zero"], ["logits"]) if head == "nan" else helper.make_node("Identity", ["mm"], ["logits"])]
    return _model(nodes, inits, [_io("line", (28, 224))], [_io("logits", (frames, 11))], "number_reader").SerializeToString()


# ----------------------------------------------------------------------------- byte damage


def truncated(data: bytes, rng: np.random.Generator) -> bytes:
    return data[: int(rng.integers(0, max(1, len(data) - 1)))]


def flipped(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        out[int(rng.integers(0, len(out)))] ^= int(rng.integers(1, 256))
    return bytes(out)


# ----------------------------------------------------------------------------- the kinds

_MAKERS: dict[str, Callable[[Case, np.random.Generator], str]] = {}
KINDS: dict[str, Kind] = {}


def _kind(name: str, target: str, expect: str, what: str):
    def register(make):
        KINDS[name] = Kind(name, target, expect, what)
        _MAKERS[name] = make
        return make

    return register


def _base(case: Case) -> bytes:
    return committed_onnx(COMMITTED / f"{BASE}.keras")


@_kind("good", "classifier", "usable", "the model's own serving file and record, as the converter writes them (a control)")
def _good(case, rng):
    served(case.model, _base(case))
    return "as converted"


@_kind("good_old_record", "classifier", "usable", "its own serving file, with a record of an older converter (no sha256 of the file; a control)")
def _good_old(case, rng):
    served(case.model, _base(case), digest=False, source=f"{BASE}.keras")
    return "record without onnx_sha256"


@_kind("truncated", "classifier", "refuse", "its serving file cut short at a random byte (0: empty)")
def _truncated(case, rng):
    data = truncated(_base(case), rng) if rng.random() < 0.8 else b""
    served(case.model, _base(case)).write_bytes(data)
    return f"{len(data)} bytes"


@_kind("flipped", "classifier", "refuse", "1-8 random bytes of its serving file changed after the record was written")
def _flipped(case, rng):
    served(case.model, _base(case)).write_bytes(flipped(_base(case), rng))
    return "bytes flipped"


@_kind("other_model", "classifier", "refuse", "another model's serving file copied over its own (the record left as it was, or an older one)")
def _other(case, rng):
    old = bool(rng.random() < 0.5)
    path = served(case.model, _base(case), digest=not old, source=f"{BASE}.keras")
    path.write_bytes(committed_onnx(COMMITTED / f"{OTHER}.keras"))
    return f"{OTHER}'s file, {'old' if old else 'new'} record"


def _graph_kind(name: str, what: str, build: Callable[[np.random.Generator, Case], tuple[bytes, str]]):
    @_kind(name, "classifier", "refuse", what)
    def make(case, rng):
        data, said = build(rng, case)
        served(case.model, data)
        return said

    return make


_graph_kind("nan_output", "a graph that answers NaN for every picture, its record matching it",
            lambda rng, c: (onnx_classifier(head="nan"), "0/0"))
_graph_kind("negative_output", "a graph whose 'probabilities' are negative", lambda rng, c: (onnx_classifier(head="negative", rng=rng), "minus softmax"))
_graph_kind("not_probabilities", "a graph whose answers are raw scores, not probabilities", lambda rng, c: (onnx_classifier(head="raw", rng=rng), "raw scores"))


def _wrong_width(rng, case):
    width = int(rng.choice([1, 9, 11, 100]))
    return onnx_classifier(width=width, rng=rng), f"(N, {width})"


_graph_kind("wrong_width", "a graph answering (N, 1), (N, 9), (N, 11) or (N, 100) scores", _wrong_width)


def _bomb(rng, case):
    op = str(rng.choice(["constant_of_shape", "expand", "tile", "random"]))
    side = int(rng.integers(30_000, 200_000)) if op != "expand" else int(rng.integers(2_000_000, 20_000_000))
    if op == "tile":
        side = int(rng.integers(2_000, 20_000))
    return onnx_classifier(extra=bomb(op, side), rng=rng), f"{op} {side}"


_graph_kind("memory_bomb", "a branch whose tensor needs 4 GB to 160 GB (ConstantOfShape, Expand, Tile or RandomNormal of a constant shape)", _bomb)
_graph_kind("pixel_sized", "a tensor whose size is computed from the pixels (ConstantOfShape of the ink's sum x 1e6 to 1e9)",
            lambda rng, c: (onnx_classifier(extra=bomb("from_pixels", int(10 ** rng.uniform(6, 9))), rng=rng), "from the pixels"))
_graph_kind("subgraph", "the answer comes out of an If node's branches (graphs inside the graph)", lambda rng, c: (with_subgraph(), "If"))
_graph_kind("foreign_op", "one node of an operator set no runtime here knows", lambda rng, c: (with_foreign_op(), "com.example.evil"))


@_kind("external_data", "classifier", "refuse", "weights read from another file beside it (external data), not from its own bytes")
def _external(case, rng):
    from digitlab.serving import store

    served(case.model, with_external_weights(store.cache_dir()))
    return "weights.bin"


@_kind("oversized", "classifier", "refuse", "a sparse serving file of 60-200 MB (nothing on disk)")
def _oversized(case, rng):
    path = served(case.model, _base(case))
    with open(path, "r+b") as f:
        f.truncate(int(rng.integers(60, 200)) << 20)
    return f"{path.stat().st_size >> 20} MB"


@_kind("not_regular", "classifier", "refuse", "its serving file is a folder, a FIFO or a link to /dev/zero")
def _not_regular(case, rng):
    path = served(case.model, _base(case))
    path.unlink()
    what = str(rng.choice(["folder", "fifo", "dev_zero"]))
    if what == "folder":
        path.mkdir()
    elif what == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    return what


_BAD_RECORDS: list[tuple[str, Callable[[dict], object]]] = [
    ("a JSON list", lambda r: []),
    ("a JSON text", lambda r: "classifier"),
    ("a JSON number", lambda r: 3),
    ("an empty object", lambda r: {}),
    ("kind gate", lambda r: {**r, "kind": "gate"}),
    ("another file's key", lambda r: {**r, "sha256": "0" * 32}),
    ("a key typed in", lambda r: {**r, "note": "copied by hand"}),
    ("layout a number", lambda r: {**r, "layout": 7}),
    ("outputs a list", lambda r: {**r, "outputs": ["logits"]}),
    ("sha256 of the file not hex", lambda r: {**r, "onnx_sha256": "x" * 64}),
]


@_kind("bad_record", "classifier", "refuse", "its record is JSON but not a record: a list, a text, {}, another kind, another file's key, a typed-in key")
def _bad_record(case, rng):
    path = served(case.model, _base(case))
    said, change = _BAD_RECORDS[int(rng.integers(0, len(_BAD_RECORDS)))]
    record = path.with_suffix(".json")
    record.write_text(json.dumps(change(json.loads(record.read_text()))))
    return said


@_kind("broken_record", "classifier", "refuse", "its record is not JSON, is 100 kB-8 MB of it, or is a folder")
def _broken_record(case, rng):
    path = served(case.model, _base(case))
    record = path.with_suffix(".json")
    what = str(rng.choice(["not_json", "huge", "folder"]))
    if what == "not_json":
        record.write_bytes(truncated(record.read_bytes(), rng) or b"{")
    elif what == "huge":
        record.write_text(json.dumps(json.loads(record.read_text())) + " " * int(rng.integers(100_000, 8_000_000)))
    else:
        record.unlink()
        record.mkdir()
    return what


@_kind("dropped_folder", "dropped", "refuse", "a folder dropped in with serving/ inside: another model's serving file for its model, "
       "whose archive only passes the quick checks (its config declares 5 classes)")
def _dropped(case, rng):
    from digitlab.hardening.hostile_models import _members, _stored

    members = _members(case.model.read_bytes())
    config = json.loads(members["config.json"])
    for layer in config["config"]["layers"]:
        if isinstance(layer.get("config"), dict) and layer["config"].get("units") == 10:
            layer["config"]["units"] = 5
    members["config.json"] = json.dumps(config).encode()
    _stored(case.model, members)
    served(case.model, _base(case), folder=case.folder / "serving")
    return "5-class config, baseline's serving file"


def _thresholded(target: str, name: str, what: str, build: Callable[[np.random.Generator, bytes], tuple[bytes, str]]):
    @_kind(name, target, "degrade", what)
    def make(case, rng):
        path = case.gate if target == "gate" else case.reader
        data, said = build(rng, committed_onnx(COMMITTED / target / path.name))
        served(path, data, kind=target)
        return said

    return make


_thresholded("gate", "gate_truncated", "the digit gate's serving file cut short", lambda rng, d: (truncated(d, rng), "truncated"))
_thresholded("gate", "gate_nan", "the digit gate's serving file answers NaN", lambda rng, d: (onnx_gate("nan"), "NaN"))
_thresholded("gate", "gate_wrong_shape", "the digit gate's serving file answers (N, 2)", lambda rng, d: (onnx_gate("ones", 2), "(N, 2)"))
_thresholded("reader", "reader_truncated", "the number reader's serving file cut short", lambda rng, d: (truncated(d, rng), "truncated"))
_thresholded("reader", "reader_wrong_frames", "the number reader's serving file answers (N, 49, 11) or (N, 64, 11) logits",
             lambda rng, d: (onnx_reader(int(rng.choice([49, 64]))), "wrong frames"))
_thresholded("reader", "reader_nan", "the number reader's serving file answers NaN logits",
             lambda rng, d: (onnx_reader(56, "nan"), "NaN"))


# ---- cards


def _base_card() -> dict:
    return json.loads((COMMITTED / f"{BASE}.json").read_text())


def _card_kind(name: str, what: str, expect: str = "refuse"):
    def wrap(build: Callable[[dict, np.random.Generator], tuple[object, str]]):
        @_kind(name, "card", expect, what)
        def make(case, rng):
            served(case.model, _base(case))
            card, said = build(_base_card(), rng)
            _write(case.model.with_suffix(".json"), card)
            return said

        return build

    return wrap


class _Special:
    """A file that is not a regular file: "folder" or "fifo"."""

    def __init__(self, what: str):
        self.what = what


def _write(target: Path, value) -> None:
    """``value`` at ``target``: bytes as they are, a ``_Special`` as a folder or a FIFO, anything else as JSON."""
    if isinstance(value, _Special):
        target.mkdir() if value.what == "folder" else os.mkfifo(target)
    elif isinstance(value, bytes):
        target.write_bytes(value)
    else:
        target.write_text(json.dumps(value))


def _calibrated(card: dict, **changes) -> dict:
    cal = dict(card.get("calibration") or {"temperature": 1.0, "abstain": {"threshold": 0.5}})
    for key, value in changes.items():
        if key == "threshold":
            cal["abstain"] = dict(cal.get("abstain") or {}, threshold=value)
        else:
            cal[key] = value
    return dict(card, calibration=cal)


@_card_kind("card_good", "the committed card, unchanged (a control)", "usable")
def _card_good(card, rng):
    return card, "as committed"


@_card_kind("temperature_tiny", "a calibration temperature that passes 'positive and finite': 5e-324, 1e-300, 1e-5 or 0.01")
def _temperature_tiny(card, rng):
    t = float(rng.choice([5e-324, 1e-300, 1e-5, 0.01]))
    return _calibrated(card, temperature=t), f"T = {t:g}"


@_card_kind("temperature_huge", "a calibration temperature of 25, 1e6 or 1e308: every answer at 10%")
def _temperature_huge(card, rng):
    t = float(rng.choice([25.0, 1e6, 1e308]))
    return _calibrated(card, temperature=t), f"T = {t:g}"


@_card_kind("temperature_not_number", "a calibration temperature that is not a number: a text, true, a list, 0 or -1")
def _temperature_type(card, rng):
    t = [("1.0"), True, [1.0], 0, -1.0][int(rng.integers(0, 5))]
    return _calibrated(card, temperature=t), f"T = {t!r}"


@_card_kind("threshold_out_of_range", "an abstain threshold of 1.5, -0.1, NaN-like text or true")
def _threshold(card, rng):
    t = [1.5, -0.1, "0.5", True][int(rng.integers(0, 4))]
    return _calibrated(card, threshold=t), f"threshold {t!r}"


@_card_kind("card_claims_best", "a card claiming test accuracy 1.0 on a model the project never measured", "not_default")
def _claims(card, rng):
    return dict(card, metrics=dict(card.get("metrics") or {}, test_accuracy=1.0)), "test_accuracy 1.0"


@_card_kind("card_not_object", "a card that is JSON but not an object: a list, a text, a number, null")
def _card_not_object(card, rng):
    value = [[], "card", 3, None][int(rng.integers(0, 4))]
    return json.dumps(value).encode(), f"{value!r}"


@_card_kind("card_broken", "a card that is not JSON (cut short, or NaN where a number belongs), over 4 MiB, a folder or a FIFO")
def _card_broken(card, rng):
    what = str(rng.choice(["cut", "huge", "folder", "fifo"]))
    if what == "cut":
        text = json.dumps(card).encode()
        return text[: int(rng.integers(1, len(text) - 1))], what
    if what == "huge":
        return (json.dumps(card) + " " * (5 << 20)).encode(), what
    return _Special(what), what


@_card_kind("card_unknown_key", "a card with one key typed in by hand")
def _card_unknown(card, rng):
    return dict(card, notes="typed in"), "notes"


@_card_kind("member_card_bad", "an ensemble card whose member card holds an interpolation that is a text, a calibration that "
            "is a list, or members that are not cards")
def _member(card, rng):
    bad = [{"builder": "cnn", "interpolation": "0.5"}, {"builder": "cnn", "calibration": [1.0]}, {"builder": "cnn", "members": ["x"]},
           {"builder": "cnn", "metrics": {"test_accuracy": 3}}][int(rng.integers(0, 4))]
    return dict(card, members=[{"builder": "cnn"}, bad]), json.dumps(bad)


@_card_kind("section_not_object", "a card whose config, metrics, measured or calibration is a list or a text")
def _section(card, rng):
    key = str(rng.choice(["config", "metrics", "measured", "calibration", "data", "init"]))
    return dict(card, **{key: ["x"] if rng.random() < 0.5 else "x"}), key


# ---- side files


def _side_kind(name: str, what: str, expect: str = "refuse"):
    def wrap(build: Callable[[dict, np.random.Generator], tuple[object, str]]):
        @_kind(name, "side", expect, what)
        def make(case, rng):
            served(case.model, _base(case))
            (case.folder / f"{NAME}.json").write_text(json.dumps(_base_card()))
            metrics = json.loads((COMMITTED / f"{BASE}.metrics.json").read_text())
            value, said = build(metrics, rng)
            _write(case.folder / f"{NAME}.metrics.json", value)
            return said

        return build

    return wrap


def _with_confusion(metrics: dict, cm) -> dict:
    return dict(metrics, test=dict(metrics.get("test") or {}, confusion=cm))


@_side_kind("metrics_good", "the committed metrics file, unchanged (a control)", "usable")
def _metrics_good(m, rng):
    return m, "as committed"


@_side_kind("metrics_test_not_object", "metrics whose 'test' is a list, a text or a number")
def _metrics_test(m, rng):
    value = [[1, 2], "test", 3][int(rng.integers(0, 3))]
    return dict(m, test=value), f"test = {value!r}"


@_side_kind("confusion_bad", "a confusion matrix of texts, ragged, 9x9, of 1e30, negative, fractional, of booleans or NaN")
def _confusion(m, rng):
    cm = np.asarray(m["test"]["confusion"])
    options = [
        ("texts", [[str(v) for v in row] for row in cm.tolist()]),
        ("ragged", [row[: 10 - i % 3] for i, row in enumerate(cm.tolist())]),
        ("9x9", cm[:9, :9].tolist()),
        ("1e30", (cm * 1e30).tolist()),
        ("negative", (-cm).tolist()),
        ("fractional", (cm + 0.5).tolist()),
        ("booleans", (cm > 5).tolist()),
        ("NaN", [[float("nan")] * 10] * 10),
        ("a number", 7),
    ]
    said, value = options[int(rng.integers(0, len(options)))]
    return _with_confusion(m, value), said


@_side_kind("metrics_broken", "a metrics file that is not JSON, a JSON list, over 4 MiB or a folder")
def _metrics_broken(m, rng):
    what = str(rng.choice(["cut", "list", "huge", "folder"]))
    text = json.dumps(m).encode()
    if what == "cut":
        return text[: int(rng.integers(1, len(text) - 1))], what
    if what == "list":
        return b"[]", what
    if what == "huge":
        return text + b" " * (5 << 20), what
    return _Special("folder"), what


# ----------------------------------------------------------------------------- cases


def make_case(kind: str, folder: Path, seed: int = 0) -> Case:
    """A models folder ``folder`` holding ``model.keras`` (a copy of the committed baseline under a hash of its own)
    with the damage ``kind`` (its variant from ``seed``): for "gate" and "reader" kinds, a copy of the committed gate or
    reader beside it with its serving file damaged (``Case.gate``, ``Case.reader``)."""
    k = KINDS[kind]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tag = f"{kind} {seed} {folder.resolve()}"  # a hash of its own per folder: cases never share a serving file
    model = copy_model(COMMITTED / f"{BASE}.keras", folder / f"{NAME}.keras", tag)
    case = Case(k, folder, model)
    if k.target not in ("card", "side"):  # those write their own card
        (folder / f"{NAME}.json").write_text(json.dumps(_base_card()))
    if k.target in ("gate", "reader"):
        sub = "gate/not_a_digit" if k.target == "gate" else "reader/number_reader"
        path = copy_model(COMMITTED / f"{sub}.keras", folder / f"{sub}.keras", tag)
        path.with_suffix(".json").write_text((COMMITTED / f"{sub}.json").read_text())
        case.gate, case.reader = (path, None) if k.target == "gate" else (None, path)
        served(model, _base(case))
    if k.expect == "not_default":  # a model the project measured beside it, which must stay the default
        for suffix in (".keras", ".json"):
            link = folder / f"{BASE}{suffix}"
            if not os.path.lexists(link):
                link.symlink_to(COMMITTED / f"{BASE}{suffix}")
    case.what = _MAKERS[kind](case, np.random.default_rng([seed, list(KINDS).index(kind)]))
    return case
