"""Serving files: every ``.keras`` model (and the digit gate, the number reader) converted once to ONNX, kept under
its hash, and checked before it is served.

    models/serving/<key>.onnx + <key>.json    for the committed models, gate and reader (``runtime.write_folder``)
    runs/cache/serving/<key>.onnx + .json     for anything else (a model dropped into models/, an upload)
    runs/cache/serving/<key>.refused.json     a file the converter refused, with the reason (not retried)
    runs/cache/serving/checked/<sha256>.<kind>.json   a serving file judged once by its bytes (``check_file``)

``served_file`` finds a file's ONNX by the first 32 hex digits of its SHA-256 (``file_key``: type and size are
checked before a byte is hashed) in the folders this code writes (``folders``: never the serving/ a dropped models
folder brings along), checks it (``check``), or converts it in a subprocess (``digitlab.serving.convert``, the one
step of serving that needs TensorFlow, so the server that asks never imports it).  A serving file that fails its
checks is converted again from its ``.keras`` file, or its model refused with the reason; ``runner`` answers through
the checked file's session and checks every answer.  ``served_entry`` judges a model file for a listing from its card
and its serving file (no model is loaded); ``convert_in_background`` converts new files in a server's spare time.

What is checked before a serving file is served (every step bounded, each refusal with its cause):

    the record    (``record``) a JSON object of at most MAX_RECORD_BYTES with the converter's keys only (RECORD_KEYS),
                  each value of its type; the kind asked for and the key of the file asked for
    the file      a regular file (a FIFO or a device is never opened) of at most artifacts.MAX_MODEL_BYTES, read
                  once, whose sha256 is the one its converter recorded ("onnx_sha256"; a record of an older converter
                  has none: then the file's own metadata must name the model its record names)
    the graph     (``check_graph``) one float input of the kind's shape, no data in other files, no graph inside a
                  node (If, Loop, Scan), standard operators only, and every tensor's size known for one input (a
                  batch of 1) from the graph alone: none whose size depends on the pixels, all of them together
                  within MAX_ACTIVATION_BYTES (a ConstantOfShape, Expand or Tile of gigabytes is refused before a
                  session exists)
    the answers   an ONNX Runtime session on the very bytes checked, run on a probe (``answers_problem``): the kind's
                  output shape, finite values; a classifier's rows probabilities, the gate's P(digit) in [0, 1].  Every
                  answer ``runner`` gives is checked the same way.

The graph and the answers are judged once per file version (``check_file``, remembered by the file's sha256: ~0.3 s
for ``import onnx`` the first time); a listing checks the record and the bytes' sha256 and reads that verdict back.
None of it needs TensorFlow or Keras.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import math
import os
import re
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab import files, memory, paths
from digitlab.models import archive, artifacts
from digitlab.models.artifacts import ModelEntry, ModelError
from digitlab.serving import backends

REFUSED = 3  # the converter's exit code for a file that is not a usable model: cache the reason, do not retry it
SERVING_SUBDIR = "serving"
CONVERT_TIMEOUT_S = 900  # a TensorFlow start, a safe-mode load, tf2onnx and the probe; ~10-20 s here
# convert.convert's keys + source, sha256 (the .keras file's key) and onnx_sha256 (the serving file's own, which records
# of converters before it lack)
RECORD_KEYS = {"kind", "layout", "outputs", "probe_max_abs_dp", "probe_n", "seconds", "source", "sha256", "onnx_sha256"}
REQUIRED_KEYS = {"kind", "layout", "outputs", "source", "sha256"}
MAX_RECORD_BYTES = 64 * 1024  # a record is ~250 bytes
MAX_ACTIVATION_BYTES = 64 * artifacts.MiB  # every tensor of one input's forward pass together: mnist_advanced 4.2 MiB,
# the number reader (a line of 28x224) 3.1 MiB; a ConstantOfShape of 30,000 x 30,000 floats would be 3.4 GiB
MAX_NODES = 10_000  # mnist_advanced's graph: 126
CHECK_VERSION = 2  # bump when a rule of the checks changes: verdicts and refusals of older rules are not read back
CHECKED_SUBDIR = "checked"
_STANDARD_DOMAINS = {"", "ai.onnx"}  # what a node may be from
_DECLARED_DOMAINS = _STANDARD_DOMAINS | {"ai.onnx.ml"}  # what a file may declare: tf2onnx declares ai.onnx.ml, unused


@dataclass(frozen=True)
class Spec:
    """What a serving file of one kind takes and answers (the numbers are serving.reader's and export's, written
    here so that checking a file imports neither)."""

    input_name: str
    input_dims: tuple[int, ...]  # per input, after the batch
    output_dims: tuple[int, ...]  # per input, after the batch
    layouts: tuple[str, ...]  # what its record may say
    outputs: tuple[str, ...]


SPECS = {
    "classifier": Spec("image", (28, 28), (10,), ("28x28x1", "28x28", "784"), ("probabilities", "logits")),
    "gate": Spec("image", (28, 28), (), ("28x28x1",), ("p_digit",)),
    "reader": Spec("line", (28, 224), (56, 11), ("28x224x1",), ("logits",)),  # reader.FRAMES, reader.CLASSES
}
_LOCK = threading.Lock()  # one conversion at a time per process: each one starts TensorFlow


def cache_dir() -> Path:
    """Where conversions of files that are not committed go ($DIGITLAB_SERVING_CACHE: tests point it at a scratch folder)."""
    env = os.environ.get("DIGITLAB_SERVING_CACHE")
    return Path(env) if env else paths.RUNS_DIR / "cache" / SERVING_SUBDIR


def folders(models_dir: Path = paths.MODELS_DIR) -> list[Path]:
    """Where a converted file may be: the serving folders this code writes, beside the configured models folder
    (``paths.MODELS_DIR``), beside the repository's, and the cache.  ``models_dir``'s own serving/ only when it is one
    of those: a models folder dropped in may bring a serving/ along, whose files were not made from its models here."""
    out: list[Path] = []
    for d in (paths.MODELS_DIR / SERVING_SUBDIR, paths.ROOT / "models" / SERVING_SUBDIR, cache_dir()):
        if d not in out:
            out.append(d)
    return out


def file_key(path: Path) -> str:
    """The first 32 hex digits of the file's SHA-256 (hashed once per file version, ``artifacts.file_sha256``: the
    listing's ranking reads the same hash).  Raises ModelError for what is not a model file by its type or size (a
    FIFO, a link to /dev/zero, a sparse 8 GB file): both are checked before a byte is read."""
    return artifacts.file_sha256(Path(path))[len("sha256:"):][:32]


class DamagedFile(ModelError):
    """A serving file or record that cannot be served as it is: converted again from its .keras file where possible."""


def _read_small(path: Path, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit`` of them; DamagedFile (saying why, without the name) for a folder, a
    FIFO, a device, a larger file or one that cannot be read.  Opened without blocking: a FIFO is refused, not waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise DamagedFile(f"cannot be read ({e.strerror})") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DamagedFile("is not a regular file (a folder, a FIFO or a device)")
        if st.st_size > limit:
            raise DamagedFile(f"is {st.st_size:,} bytes, over the {limit:,}-byte limit")
        chunks, left = [], limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as e:
        raise DamagedFile(f"cannot be read ({e.strerror})") from e
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise DamagedFile(f"grew over the {limit:,}-byte limit while read")
    return data


_HEX = re.compile(r"^[0-9a-f]+$")


def _hex(v, n: int) -> bool:
    return isinstance(v, str) and len(v) == n and bool(_HEX.match(v))


def _record_problem(info) -> str | None:
    """Why ``info`` is not a record the converter writes, or None."""
    if not isinstance(info, dict):
        return f"is a JSON {type(info).__name__}, not an object"
    if unknown := sorted(set(info) - RECORD_KEYS):
        return f"holds keys {unknown} no converter writes"
    if missing := sorted(REQUIRED_KEYS - set(info)):
        return f"lacks {missing}"
    spec = SPECS.get(info["kind"]) if isinstance(info["kind"], str) else None
    if spec is None:
        return f"names the kind {info['kind']!r}, not one of {sorted(SPECS)}"
    if info["layout"] not in spec.layouts or not isinstance(info["layout"], str):
        return f"says layout {info['layout']!r}, not one of {list(spec.layouts)}"
    if info["outputs"] not in spec.outputs or not isinstance(info["outputs"], str):
        return f"says outputs {info['outputs']!r}, not one of {list(spec.outputs)}"
    if not isinstance(info["source"], str):
        return f"says source {info['source']!r}, not a file name"
    if not _hex(info["sha256"], 32):
        return f"says sha256 {info['sha256']!r}, not 32 hex digits"
    if "onnx_sha256" in info and not _hex(info["onnx_sha256"], 64):
        return f"says onnx_sha256 {info['onnx_sha256']!r}, not 64 hex digits"
    for key in ("probe_max_abs_dp", "seconds"):
        v = info.get(key)
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0):
            return f"says {key} {v!r}, not a finite number >= 0"
    n = info.get("probe_n")
    if n is not None and not (isinstance(n, int) and not isinstance(n, bool) and n >= 0):
        return f"says probe_n {n!r}, not a count"
    return None


def record(onnx: Path) -> dict:
    """What the converter recorded beside an ONNX file (kind, layout, outputs, probe parity, source, the hashes),
    checked: DamagedFile saying why when it is not a record the converter writes (a JSON list, a key typed in, ...)."""
    path = Path(onnx).with_suffix(".json")
    try:
        info = json.loads(_read_small(path, MAX_RECORD_BYTES))
    except DamagedFile as e:
        raise DamagedFile(f"its serving record {path.name} {e}") from e
    except (ValueError, RecursionError) as e:
        raise DamagedFile(f"its serving record {path.name} is not JSON ({str(e)[:100]})") from e
    if (why := _record_problem(info)) is not None:
        raise DamagedFile(f"its serving record {path.name} {why}")
    return info


def record_with_digest(onnx: Path, info: dict) -> dict:
    """``info`` with the serving file's own sha256 ("onnx_sha256"): what the converter records beside a file it wrote."""
    return {**info, "onnx_sha256": files.sha256(onnx)[len("sha256:"):]}


# ----------------------------------------------------------------------------- the graph


_ITEM_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}  # TensorProto types
# Operators whose output holds as many values as their first input, whatever its shape: a tensor of one of these whose
# shape the graph alone does not give (a Reshape to a shape computed at run time) is as large as its input.
_SAME_SIZE = {"Identity", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Relu", "LeakyRelu", "Sigmoid",
              "Tanh", "Softmax", "LogSoftmax", "Neg", "Abs", "Exp", "Log", "Sqrt", "Dropout", "Elu", "Selu", "Softplus", "Erf",
              "Clip", "HardSigmoid", "Sign", "Floor", "Ceil", "Round", "Reciprocal"}


def check_graph(data: bytes, inputs: dict[str, tuple[int, ...]] | None = None) -> dict:
    """Check an ONNX file's graph from its bytes, before any session is made; returns {"model": the model its metadata
    names (digitlab.model) or None, "activation_bytes": every tensor of one input together, "largest": that tensor}.
    ``inputs``: {input name: per-input dims} the graph must take (None: any one float input of fixed dims, an export
    made elsewhere).  Raises ModelError with the cause (no file name)."""
    import onnx
    from onnx import AttributeProto, TensorProto

    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as e:  # DecodeError and the like: truncated, flipped, not ONNX
        raise ModelError(f"not an ONNX model ({type(e).__name__}: {str(e)[:100]})") from e
    g = proto.graph
    if not g.node or not g.output:
        raise ModelError("its graph has no nodes or no output (cut short, or not a model)")
    if len(g.node) > MAX_NODES:
        raise ModelError(f"its graph has {len(g.node):,} nodes, over the limit of {MAX_NODES:,}")
    if odd := sorted({o.domain for o in proto.opset_import} - _DECLARED_DOMAINS):
        raise ModelError(f"it uses operator sets {odd} beside the standard one")
    if proto.functions:
        raise ModelError(f"it defines functions of its own ({', '.join(f.name for f in proto.functions)[:100]})")
    for t in [*g.initializer, *(s.values for s in g.sparse_initializer)]:
        if t.data_location == TensorProto.EXTERNAL or t.external_data:
            raise ModelError(f"its weights {t.name!r} are read from another file, not from its own bytes")
    for n in g.node:
        where = f"node {n.name or n.op_type!r} ({n.op_type})"
        if n.domain not in _STANDARD_DOMAINS:
            raise ModelError(f"{where} is from the operator set {n.domain!r}, not a standard operator")
        for a in n.attribute:
            if a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
                raise ModelError(f"{where} holds a graph of its own: a digit model needs none")
            if a.type == AttributeProto.TENSOR and (a.t.data_location == TensorProto.EXTERNAL or a.t.external_data):
                raise ModelError(f"{where} reads its value from another file")
    initialized = {t.name for t in g.initializer}
    given = [i for i in g.input if i.name not in initialized]
    if len(given) != 1:
        raise ModelError(f"it takes {len(given)} inputs, not one")
    inp = given[0]
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim)
    if inp.type.tensor_type.elem_type != TensorProto.FLOAT or not dims:
        raise ModelError(f"its input {inp.name!r} is not a batch of float32 pixels")
    if inputs is not None:
        [(name, want)] = inputs.items()
        if inp.name != name or dims[1:] != tuple(want):
            raise ModelError(f"its input is {inp.name!r} {('N', *dims[1:])}, not {name!r} {('N', *want)}")
    elif None in dims[1:]:
        raise ModelError(f"its input {inp.name!r} has dimensions {dims} of no fixed size")
    total, largest = _activation_bytes(proto, inp.name)
    if total > MAX_ACTIVATION_BYTES:
        raise ModelError(f"one input needs {total / artifacts.MiB:,.1f} MiB of tensors (largest: {largest}), over the "
                         f"{MAX_ACTIVATION_BYTES / artifacts.MiB:.0f} MiB limit: refused before it runs")
    meta = {p.key: p.value for p in proto.metadata_props}
    return {"model": meta.get("digitlab.model"), "activation_bytes": total, "largest": largest}


def _activation_bytes(proto, input_name: str) -> tuple[int, str]:
    """(bytes of every node's outputs together for one input, the largest one) from the graph's shapes with the batch
    set to 1: ONNX's shape inference, then, where it leaves a size open, the size of the input of an operator that keeps
    it (``_SAME_SIZE``) or of a MatMul by a matrix of known shape.  ModelError for a size the graph does not give."""
    import onnx
    from onnx import shape_inference

    fixed = onnx.ModelProto()
    fixed.CopyFrom(proto)
    for i in fixed.graph.input:
        if i.name == input_name:
            i.type.tensor_type.shape.dim[0].Clear()
            i.type.tensor_type.shape.dim[0].dim_value = 1
    try:
        inferred = shape_inference.infer_shapes(fixed, strict_mode=True, data_prop=True)
    except Exception as e:  # InferenceError, ValidationError: shapes that contradict each other
        raise ModelError(f"its tensors' shapes contradict each other ({str(e).splitlines()[0][:160]})") from e
    shapes: dict[str, tuple[list[int | None], int]] = {}
    for v in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        t = v.type.tensor_type
        if t.HasField("shape"):
            shapes[v.name] = ([d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim], t.elem_type)
    for t in inferred.graph.initializer:
        shapes.setdefault(t.name, (list(t.dims), t.data_type))
    sizes: dict[str, int] = {t.name: math.prod(t.dims) for t in inferred.graph.initializer}
    sizes[input_name] = math.prod(d for d in shapes[input_name][0])
    total, largest = 0, (0, "")
    for n in inferred.graph.node:
        for out in n.output:
            if not out:
                continue
            dims, elem = shapes.get(out, (None, 0))
            if dims is not None and None not in dims:
                size = math.prod(dims)
            elif n.op_type in _SAME_SIZE and n.input and n.input[0] in sizes:
                size = sizes[n.input[0]]
            elif n.op_type == "MatMul" and len(n.input) == 2 and n.input[0] in sizes and _matrix(shapes, sizes, n.input[1]):
                k, m = _matrix(shapes, sizes, n.input[1])
                size = -(-sizes[n.input[0]] // k) * m
            else:
                raise ModelError(f"the size of {out!r} ({n.op_type}) cannot be told from the graph: it may depend on the "
                                 "pixels, so no bound on its memory can be given")
            sizes[out] = size
            nbytes = size * _ITEM_BYTES.get(elem, 8)
            total += nbytes
            if nbytes > largest[0]:
                shown = [d if d is not None else "?" for d in dims] if dims is not None else "?"
                largest = (nbytes, f"{n.op_type} {out!r} {shown}")
    return total, largest[1]


def _matrix(shapes: dict, sizes: dict, name: str) -> tuple[int, int] | None:
    """(rows, columns) of a 2-D tensor whose shape is known."""
    dims = shapes.get(name, (None, 0))[0]
    return (dims[0], dims[1]) if dims is not None and len(dims) == 2 and None not in dims and dims[0] > 0 else None


# ----------------------------------------------------------------------------- the answers


def _probe(kind: str) -> np.ndarray:
    """(4, *input dims) float32 inputs in [0, 1]: blank, a vertical stroke, a ring, noise (no MNIST: this must work
    offline and at once)."""
    h, w = SPECS[kind].input_dims
    x = np.zeros((4, h, w), np.float32)
    x[1, 4:24, w // 2 - 2 : w // 2 + 2] = 1.0
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - h / 2, (xx - w / 2) * (h / w if w > h else 1))
    x[2] = np.clip(1 - np.abs(r - 8) / 2, 0, 1)
    x[3] = np.random.default_rng(0).random((h, w), dtype=np.float32)
    return x


def answers_problem(kind: str, y: np.ndarray, n: int) -> str | None:
    """Why ``y`` is not what a serving file of ``kind`` answers for ``n`` inputs, or None: the kind's shape, finite
    values; a classifier's rows probabilities (each in [0, 1], summing to 1), the gate's P(digit) in [0, 1]."""
    want = (n, *SPECS[kind].output_dims)
    if y.shape != want:
        return f"answered an array of shape {y.shape}, not {want}"
    if not np.isfinite(y).all():
        return "answered NaN or infinity"
    if kind in ("classifier", "gate") and ((y < -1e-6).any() or (y > 1 + 1e-6).any()):
        return "answered values outside [0, 1], not probabilities"
    if kind == "classifier" and (np.abs(y.astype(np.float64).sum(axis=1) - 1) > 1e-3).any():
        return "answered rows that do not sum to 1, not probabilities"
    return None


_CHECKED: dict[tuple[str, str], dict | str] = {}
_FRESH: dict[tuple[str, str], object] = {}  # the session a verdict made in this process, until ``check`` takes it


def check_file(data: bytes, digest: str, kind: str) -> dict:
    """A serving file's bytes judged as a file of ``kind``: ``check_graph``, then a session on them and its answers on
    the probe (``answers_problem``); remembered by the bytes' sha256, in this process and in ``cache_dir()/checked``
    (written only here), so a file version is judged once and a listing reads the verdict back.  Raises DamagedFile
    with the cause (no file name)."""
    key = (digest, kind)
    if key not in _CHECKED:
        saved_at = cache_dir() / CHECKED_SUBDIR / f"{digest}.{kind}.json"
        with contextlib.suppress(ValueError, RecursionError, DamagedFile):
            saved = json.loads(_read_small(saved_at, MAX_RECORD_BYTES))
            if isinstance(saved, dict) and saved.get("rules") == CHECK_VERSION and isinstance(saved.get("verdict"), (dict, str)):
                _CHECKED[key] = saved["verdict"]
        if key not in _CHECKED:
            _CHECKED[key] = _check_file_now(data, kind, key)
            with contextlib.suppress(OSError):  # a read-only checkout: the verdict stays in memory
                files.atomic_write_json(saved_at, {"rules": CHECK_VERSION, "verdict": _CHECKED[key]})
    judged = _CHECKED[key]
    if isinstance(judged, str):
        raise DamagedFile(judged)
    return judged


def _check_file_now(data: bytes, kind: str, key: tuple[str, str]) -> dict | str:
    spec = SPECS[kind]
    try:
        judged = check_graph(data, {spec.input_name: spec.input_dims})
    except ModelError as e:
        return f"is refused: {e}"
    try:
        session = backends.session(data)
        x = _probe(kind)
        y = np.asarray(session.run(None, {spec.input_name: x})[0])
    except Exception as e:  # onnxruntime's own Fail, InvalidGraph, NotImplemented, RuntimeException
        return f"cannot be run ({type(e).__name__}: {str(e)[:160]})"
    if (why := answers_problem(kind, y, len(x))) is not None:
        return f"{why} on the probe"
    _FRESH[key] = session
    return judged


# ----------------------------------------------------------------------------- checking a serving file


@dataclass
class Checked:
    """A serving file that passed its checks: its record, its bytes' sha256 and (a full check) a session on them."""

    path: Path
    info: dict
    sha256: str
    session: object = None


_CHECKED: collections.OrderedDict = collections.OrderedDict()  # (file version, kind, full) -> Checked | reason
_CHECKED_MAX = 16  # sessions kept for reuse (a Classifier keeps its own as long as it lives)
_CHECK_LOCK = threading.RLock()


def check(onnx: Path, kind: str, key: str | None = None, full: bool = True) -> Checked:
    """The serving file ``onnx`` checked as a file of ``kind`` made from the model file whose key is ``key`` (None: not
    asked): its record, its bytes and (``full``) its graph and answers (module docstring), once per file version (a
    full check answers a light one too).  Raises DamagedFile saying what is wrong (the file's and record's names in it)."""
    onnx = Path(onnx)
    try:
        st, rst = os.stat(onnx), os.stat(onnx.with_suffix(".json"))
    except OSError as e:
        raise DamagedFile(f"its serving file {onnx.name} or its record cannot be read ({e.strerror})") from e
    version = (str(onnx), kind, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, rst.st_ino, rst.st_mtime_ns, rst.st_size)
    with _CHECK_LOCK:
        candidates = [(*version, True)] if full else [(*version, True), (*version, False)]  # a full check answers a light one
        memo = next((m for m in candidates if m in _CHECKED), candidates[-1])
        if memo not in _CHECKED:
            try:
                _CHECKED[memo] = _check(onnx, kind, full)
            except DamagedFile as e:
                _CHECKED[memo] = str(e)
            while len(_CHECKED) > _CHECKED_MAX:
                _CHECKED.popitem(last=False)
        _CHECKED.move_to_end(memo)
        result = _CHECKED[memo]
    if isinstance(result, str):
        raise DamagedFile(result)
    if key is not None and result.info["sha256"] != key:
        raise DamagedFile(f"its serving record {onnx.with_suffix('.json').name} names another model file "
                          f"({result.info['sha256']}, not {key})")
    return result


def _check(onnx: Path, kind: str, full: bool) -> Checked:
    info = record(onnx)
    rec = onnx.with_suffix(".json").name
    if info["kind"] != kind:
        raise DamagedFile(f"its serving record {rec} is a {info['kind']}'s, not a {kind}'s")
    try:
        data = _read_small(onnx, artifacts.MAX_MODEL_BYTES)
    except DamagedFile as e:
        raise DamagedFile(f"its serving file {onnx.name} {e}") from e
    digest = hashlib.sha256(data).hexdigest()
    recorded = info.get("onnx_sha256")
    if recorded is not None and recorded != digest:
        raise DamagedFile(f"its serving file {onnx.name} is not the file its converter wrote (sha256 {digest[:16]}..., "
                          f"recorded {recorded[:16]}...): damaged or replaced")
    try:
        judged = check_file(data, digest, kind)
    except DamagedFile as e:
        raise DamagedFile(f"its serving file {onnx.name} {e}") from e
    source = info["source"][: -len(artifacts.MODEL_SUFFIX)] if info["source"].endswith(artifacts.MODEL_SUFFIX) else info["source"]
    if recorded is None and judged["model"] != source:
        raise DamagedFile(f"its serving file {onnx.name} is {judged['model']!r}'s, and its record (of an older converter, "
                          f"without the file's sha256) names {info['source']}")
    session = _FRESH.pop((digest, kind), None)  # made by the verdict just now: a listing drops it, a use keeps it
    if not full:
        return Checked(onnx, info, digest)
    if session is None:
        try:
            session = backends.session(data)
        except Exception as e:  # judged sound by an earlier process, yet onnxruntime here cannot load it
            raise DamagedFile(f"its serving file {onnx.name} cannot be run ({type(e).__name__}: {str(e)[:160]})") from e
    return Checked(onnx, info, digest, session)


def runner(onnx: Path, kind: str = "classifier", key: str | None = None) -> backends.Runner:
    """The checked serving file's session (``check``) as a runner whose every answer is checked too
    (``answers_problem``): ModelError, never NaN or a wrong shape handed on.  Raises DamagedFile for a file that fails
    its checks."""
    checked = check(onnx, kind, key)
    run = backends.onnx(checked.session, SPECS[kind].input_name)
    name = checked.info["source"]

    def checked_run(x: np.ndarray) -> np.ndarray:
        y = np.asarray(run(x))
        if (why := answers_problem(kind, y, len(x))) is not None:
            raise ModelError(f"{name}: its serving file {Path(onnx).name} {why} for these inputs")
        return y

    return checked_run


class NotConverted(ModelError):
    """A file with no serving file yet (or only a damaged one), asked for with ``convert`` off."""


def served_file(path: Path, kind: str = "classifier", models_dir: Path = paths.MODELS_DIR, out_dir: Path | None = None,
                convert: bool = True, full: bool = True) -> Path:
    """The ONNX file serving ``path`` (a .keras model, the digit gate with ``kind="gate"``, the number reader with
    "reader"): found by the file's hash in ``folders`` and checked (``check``; ``full`` off: its record and bytes
    only, as a listing judges), or converted now into ``out_dir`` (default: the cache), again when the one found fails
    its checks.  ``out_dir`` given: only that folder counts, and a record of an older converter is converted again.
    Raises ModelError with the reason when the file is refused (remembered by hash) or cannot be converted,
    NotConverted when ``convert`` is off and there is no sound file yet."""
    path = Path(path)
    key = file_key(path)
    candidates = [Path(out_dir) / f"{key}.onnx"] if out_dir is not None else [d / f"{key}.onnx" for d in folders(models_dir)]
    problems = []
    for onnx in candidates:
        if not (os.path.lexists(onnx) or os.path.lexists(onnx.with_suffix(".json"))):
            continue
        try:
            checked = check(onnx, kind, key, full)
        except DamagedFile as e:
            problems.append(f"{e} ({paths.shown(onnx.parent, follow_links=False)})")
            continue
        if out_dir is not None and "onnx_sha256" not in checked.info:
            problems.append(f"its serving record {onnx.with_suffix('.json').name} is an older converter's, without the file's sha256")
            continue
        return onnx
    if (refused := _refused_reason(key)) is not None:
        raise ModelError(refused)
    if not convert:
        raise NotConverted(f"{path.name}: {problems[0]}; converted again on first use" if problems else
                           f"{path.name} is not converted for serving yet")
    try:
        return _convert(path, kind, key, Path(out_dir) if out_dir is not None else cache_dir())
    except ModelError as e:
        if not problems:
            raise
        raise ModelError(f"{path.name}: {problems[0]}, and converting it again failed: {e}") from e


def _refused_file(key: str) -> Path:
    return cache_dir() / f"{key}.refused.json"


def _refused_reason(key: str) -> str | None:
    """The reason remembered for a refused file, or None (no such file, one this code did not write, or a refusal by
    the serving file's checks under rules older than CHECK_VERSION: those are tried again)."""
    with contextlib.suppress(DamagedFile, ValueError, RecursionError):
        saved = json.loads(_read_small(_refused_file(key), MAX_RECORD_BYTES))
        if isinstance(saved, dict) and isinstance(saved.get("reason"), str) and saved.get("rules", CHECK_VERSION) == CHECK_VERSION:
            return saved["reason"]
    return None


def _refuse(path: Path, key: str, reason: str, by_checks: bool = False) -> None:
    """Remember that the file with this hash is refused, and why: it is never tried again (``by_checks``: refused by
    the checks of its serving file, tried again when their rules change)."""
    files.atomic_write_json(_refused_file(key), {"source": Path(path).name, "reason": reason,
                                                 **({"rules": CHECK_VERSION} if by_checks else {})})


def _convert(path: Path, kind: str, key: str, out_dir: Path) -> Path:
    with _LOCK:
        out = out_dir / f"{key}.onnx"
        with contextlib.suppress(DamagedFile):
            if os.path.lexists(out) and "onnx_sha256" in check(out, kind, key).info:
                return out  # converted by another session while this one waited
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / f".{key}.{os.getpid()}.{threading.get_ident()}.onnx"  # hidden: never taken for a result
        command = [sys.executable, "-m", "digitlab.serving.convert", kind, str(path), str(tmp)]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S, stdin=subprocess.DEVNULL,
                                  env=memory.environment())
        except subprocess.TimeoutExpired as e:
            tmp.unlink(missing_ok=True)
            raise ModelError(f"{path.name}: converting it for serving took longer than {CONVERT_TIMEOUT_S} s") from e
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        if proc.returncode == REFUSED:
            reason = lines[-1] if lines else f"{path.name}: refused"
            _refuse(path, key, reason)
            raise ModelError(reason)
        if proc.returncode != 0 or not tmp.is_file():
            tmp.unlink(missing_ok=True)
            raise ModelError(f"{path.name}: converting it for serving failed (exit {proc.returncode}): {' | '.join(lines[-3:])[:500]}")
        info = record_with_digest(tmp, {**json.loads(proc.stdout.strip().splitlines()[-1]), "source": path.name, "sha256": key})
        for stale in (out, out.with_suffix(".json")):  # a damaged file in its place: a folder or a FIFO is not replaced by a rename
            if stale.is_dir() and not stale.is_symlink():
                stale.rmdir()
            elif os.path.lexists(stale) and not stale.is_file():
                stale.unlink()
        files.atomic_write_json(out.with_suffix(".json"), info)  # the record first: a file without one is not taken
        os.replace(tmp, out)
        try:
            check(out, kind, key)
        except DamagedFile as e:  # the converter's own file fails the checks: this model cannot be served
            reason = f"{path.name}: its conversion for serving is refused: {e}"
            for made in (out, out.with_suffix(".json")):
                made.unlink(missing_ok=True)
            _refuse(path, key, reason, by_checks=True)
            raise ModelError(reason) from e
        return out


def served_entry(path: Path, models_dir: Path = paths.MODELS_DIR, now: bool = False) -> ModelEntry:
    """A model file judged for serving, for ``artifacts.list_models`` and ``artifacts.resolve``; never
    raises, never loads a model.  Its card first (``artifacts.card_refusal``, before the file is read),
    then its serving file (``check``: its record and bytes, and the verdict on its graph and answers, made
    once per file version; ``now``: in full, a session included): usable as recorded, or refused as
    remembered.  A file never converted (or whose serving file fails its checks) is converted ``now``
    (resolving a model to use it), else given the checks that need no TensorFlow (``archive.quick_check``,
    milliseconds) and listed ``pending``: a listing of 44 new files is immediate instead of 44 TensorFlow
    starts; the conversion runs on first use (``served_file``) or in the background (``convert_in_background``)."""
    path = Path(path)
    card = artifacts.read_card(path)
    if (refused := artifacts.card_refusal(path, card)) is not None:
        return artifacts.make_entry(path, card, False, refused)
    try:
        info = record(served_file(path, "classifier", models_dir, convert=now, full=now))
    except NotConverted:
        try:
            archive.quick_check(archive.read_model_file(path))
        except ModelError as e:
            reason = f"{path.name}: {e}"
            _refuse(path, file_key(path), reason)
            return artifacts.make_entry(path, card, False, reason)
        return artifacts.make_entry(path, card, True, pending=True)
    except OSError as e:  # a dangling symlink, a file deleted meanwhile, no permission
        return artifacts.make_entry(path, card, False, f"{path.name}: cannot be read ({e.strerror or e})")
    except (ModelError, ValueError, KeyError) as e:
        return artifacts.make_entry(path, card, False, str(e))
    return artifacts.make_entry(path, card, True, None, info.get("layout"), info.get("outputs"))


BACKGROUND_MAX_BYTES = 20 * artifacts.MiB  # larger files wait for their first use (mnist_robust, the largest committed: 13 MB)
BACKGROUND_BUDGET_S = 600  # conversion time the background may spend per process (~10-20 s a model; one took 252 s)
_background: dict = {"thread": None, "spent": 0.0}


def convert_in_background(entries: list[ModelEntry], models_dir: Path = paths.MODELS_DIR) -> threading.Thread | None:
    """Convert the ``pending`` entries one after another in a daemon thread (smallest file first), within
    BACKGROUND_MAX_BYTES a file and BACKGROUND_BUDGET_S in all: a server lists new models at once and
    has most of them ready before anyone picks one.  One such thread per process; returns it (None when
    there is nothing to do, one is running or the budget is spent).  Not for a short-lived CLI, whose
    exit would abandon a conversion half done: there the first use converts."""
    todo = []
    for e in entries:
        if e.pending:
            with contextlib.suppress(OSError):
                if e.path.stat().st_size <= BACKGROUND_MAX_BYTES:
                    todo.append((e.path.stat().st_size, e.path))
    running = _background["thread"]
    if not todo or (running is not None and running.is_alive()) or _background["spent"] >= BACKGROUND_BUDGET_S:
        return None

    def work() -> None:
        for _, path in sorted(todo):
            if _background["spent"] >= BACKGROUND_BUDGET_S:
                return
            t0 = time.perf_counter()
            with contextlib.suppress(ModelError, OSError):  # a refusal is remembered by hash; listing shows it
                served_file(path, "classifier", models_dir)
            _background["spent"] += time.perf_counter() - t0

    thread = threading.Thread(target=work, name="digitlab-convert", daemon=True)
    _background["thread"] = thread
    thread.start()
    return thread
