"""Hostile ``.keras`` files, made from seeds: what an attacker or a careless user drops into ``models/``
or uploads on the Models page.

    generate(seed, n, folder) -> [paths]   n files in ``folder``: the kinds in turn, each one's variant from the seed
    make(kind, path, seed)                 one file of one kind
    KINDS                                  every kind: what it is, and what validation must say about it
    kind_of(path)                          the Kind a generated file was made as (from its name)

``evaluation/fuzz.py`` runs them through the code the CLI and the app use (``artifacts.list_models``,
``install_model_file``); ``tests/test_hostile_models.py`` checks every kind.  A file named
``s<seed>-<i>-<kind>.keras`` is the same bytes on every machine for the same seed and index
(symlinks and FIFOs are made in place; their targets live in ``<folder>/_targets``).

Most files are small on disk and large to process: bombs are written as raw deflate streams whose
blocks repeat (a full flush resets the compressor, so one block can be repeated: 1 GiB of padding
costs its CRC, ~0.3 s, and ~1 MB of disk).  Kinds whose expectation is "usable" are the controls a
validator must not refuse (a fuzz run counts those refusals as wrong); "either" kinds (byte flips)
may go both ways but must never crash or hang.

    python -m digitlab.hardening.hostile_models OUT [--seed 0] [--n 40] [--measure]

writes the files and, with ``--measure``, validates each one in a fresh process (``artifacts.inspect``)
and prints its wall time, peak memory above the process's warm baseline and the bytes its temp folder
reached.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import marshal
import os
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MiB = 1 << 20


@dataclass(frozen=True)
class Kind:
    name: str
    expect: str  # "refuse", "usable" or "either"
    what: str  # what the file is
    reason: str | None = None  # a word (regex) the refusal's reason must contain; None: any reason
    outputs: str | None = None  # for usable kinds: "probabilities" or "logits"


# ----------------------------------------------------------------------------- zip writing


def _deflate(parts: list[tuple[bytes, int]]) -> tuple[bytes, int, int]:
    """Raw deflate of ``chunk * repeat`` for each (chunk, repeat), without ever holding the whole
    text: (compressed bytes, crc32, uncompressed size)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out, crc, size = [], 0, 0
    for chunk, repeat in parts:
        if repeat <= 0:
            continue
        block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
        again = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH) if repeat > 1 else b""
        # After a full flush the compressor starts afresh: every later block equals the second one.
        out.append(block + again * (repeat - 1))
        for _ in range(repeat):
            crc = zlib.crc32(chunk, crc)
        size += len(chunk) * repeat
    out.append(c.flush(zlib.Z_FINISH))
    return b"".join(out), crc, size


@dataclass
class _Member:
    name: str
    stored: bytes  # the bytes as written (deflated or not)
    method: int  # zipfile.ZIP_STORED or ZIP_DEFLATED
    crc: int
    size: int  # true uncompressed size
    declared: int | None = None  # the size written in the headers, when it lies

    @classmethod
    def plain(cls, name: str, data: bytes) -> _Member:
        return cls(name, data, zipfile.ZIP_STORED, zlib.crc32(data), len(data))

    @classmethod
    def packed(cls, name: str, parts: list[tuple[bytes, int]]) -> _Member:
        stored, crc, size = _deflate(parts)
        return cls(name, stored, zipfile.ZIP_DEFLATED, crc, size)


def _write_zip(path: Path, members: list[_Member]) -> Path:
    """A zip file with exactly these members, in this order, duplicates and odd names included (zipfile
    would refuse or warn); zip64 end records when there are more than 65,535 (every size is < 4 GiB)."""
    out = io.BytesIO()
    central = []
    for m in members:
        name = m.name.encode()
        size = m.size if m.declared is None else m.declared
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, m.method, 0, 0x21, m.crc, len(m.stored), size, len(name), 0))
        out.write(name)
        out.write(m.stored)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, m.method, 0, 0x21, m.crc, len(m.stored), size,
                                   len(name), 0, 0, 0, 0, 0o644 << 16, offset) + name)
    start = out.tell()
    for entry in central:
        out.write(entry)
    size, n = out.tell() - start, len(central)
    if n > 0xFFFF:
        record = out.tell()
        out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, size, start))
        out.write(struct.pack("<IIQI", 0x07064B50, 0, record, 1))
        n = 0xFFFF
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, size, start, 0))
    path.write_bytes(out.getvalue())
    return path


# ----------------------------------------------------------------------------- small real models


def _save(model) -> bytes:
    """The model as Keras saves it, with a fixed date in metadata.json (the same bytes on every run)."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.keras"
        model.save(p)
        members = _members(p.read_bytes())
    meta = json.loads(members["metadata.json"])
    members["metadata.json"] = json.dumps(dict(meta, date_saved="2026-01-01@00:00:00")).encode()
    ids: dict[str, str] = {}  # shared_object_id is an id() of this process: numbered in order instead
    members["config.json"] = re.sub(rb'"shared_object_id": (\d+)', lambda m: b'"shared_object_id": %d' % (
        ids.setdefault(m.group(1), len(ids) + 1)), members["config.json"])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:  # stored, in Keras's order, with a fixed timestamp
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


@functools.lru_cache(maxsize=32)
def _model(head: str = "logits", layout: str = "28x28x1", seed: int = 0) -> bytes:
    """A small real 28x28 -> 10 model (Flatten, Dense 32 relu, Dense 10, head), saved as Keras does.

    head: "logits" (nothing), "activation_softmax", "dense_softmax", "softmax_layer", "double_softmax",
    "sigmoid", "softmax_axis0", "overflow" (finite on a blank input, inf - inf = NaN on any ink),
    "nan_weights", "lambda", "five_classes", "two_outputs", "column_output" (10 x 1).
    layout: "28x28x1", "28x28", "784", "rgb" (28x28x3), "32x32x3", "two_inputs".
    """
    import keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    shapes = {"28x28x1": (28, 28, 1), "28x28": (28, 28), "784": (784,), "rgb": (28, 28, 3), "32x32x3": (32, 32, 3)}
    if layout == "two_inputs":
        inputs = [keras.Input((28, 28, 1), name="a"), keras.Input((28, 28, 1), name="b")]
        x = L.Add(name="add")(inputs)
    else:
        inputs = keras.Input(shapes[layout], name="image")
        x = inputs
    if head == "lambda":
        x = L.Lambda(lambda t: t * 2.0, name="lambda")(x)
    x = L.Flatten(name="flatten")(x)
    hidden = L.Dense(32, activation="relu", name="hidden")
    x = hidden(x)
    units = 5 if head == "five_classes" else 10
    act = {"dense_softmax": "softmax", "double_softmax": "softmax", "sigmoid": "sigmoid"}.get(head)
    logits = L.Dense(units, activation=act, name="head")
    y = logits(x)
    if head == "activation_softmax":
        y = L.Activation("softmax", name="probs")(y)
    elif head in ("softmax_layer", "double_softmax"):
        y = L.Softmax(name="probs")(y)
    elif head == "softmax_axis0":
        y = L.Softmax(axis=0, name="probs")(y)
    elif head == "column_output":
        y = L.Reshape((10, 1), name="column")(y)
    outputs = [y, L.Dense(10, name="second")(x)] if head == "two_outputs" else y
    model = keras.Model(inputs, outputs, name=f"hostile_{head}")
    if head == "overflow":
        # hidden = relu(W x): 0 on a blank input; every inked digit makes it huge and the head's
        # +/-3e38 weights turn it into +inf and -inf, whose sum is NaN
        w, b = hidden.get_weights()
        hidden.set_weights([np.abs(w) * 1e3, b])
        k, c = logits.get_weights()
        k[:, ::2], k[:, 1::2] = 3e38, -3e38
        logits.set_weights([k, c])
    elif head == "nan_weights":
        k, c = logits.get_weights()
        c[3] = np.nan
        logits.set_weights([k, c])
    return _save(model)


@functools.lru_cache(maxsize=8)
def _sequential(layers: int = 2) -> bytes:
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((28, 28), name="image"), keras.layers.Flatten(name="flatten"),
                              *[keras.layers.Dense(10, name=f"d{i}") for i in range(layers)],
                              keras.layers.Activation("softmax", name="probs")], name="hostile_sequential")
    return _save(model)


@functools.lru_cache(maxsize=4)
def _upsampling(size: int) -> bytes:
    import keras

    keras.utils.set_random_seed(2)
    inp = keras.Input((28, 28, 1), name="image")
    x = keras.layers.UpSampling2D(size, name="upsample")(inp)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return _save(keras.Model(inp, keras.layers.Dense(10, activation="softmax", name="head")(x), name="hostile_upsample"))


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _stored(path: Path, members: dict[str, bytes]) -> Path:
    """Members written the way Keras writes them (stored, in order)."""
    return _write_zip(path, [_Member.plain(n, d) for n, d in members.items()])


def _with_config(data: bytes, change: Callable[[dict], None]) -> dict[str, bytes]:
    members = _members(data)
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    return members


def _layers(config: dict) -> list[dict]:
    return config["config"]["layers"]


def _layer(config: dict, name: str) -> dict:
    return next(layer for layer in _layers(config) if layer["config"].get("name") == name)


# ----------------------------------------------------------------------------- the kinds

_MAKERS: dict[str, Callable[[Path, np.random.Generator], None]] = {}
KINDS: dict[str, Kind] = {}


def _kind(name: str, expect: str, what: str, reason: str | None = None, outputs: str | None = None):
    def register(make):
        KINDS[name] = Kind(name, expect, what, reason, outputs)
        _MAKERS[name] = make
        return make

    return register


@_kind("not_zip", "refuse", "empty, text, PNG-looking or random bytes under a .keras name", r"empty|not a Keras 3 \.keras archive")
def _not_zip(path, rng):
    variant = int(rng.integers(4))
    n = int(rng.integers(1, 4096))
    data = [b"", b"this is not a model\n" * (n // 20 + 1), b"\x89PNG\r\n\x1a\n" + rng.bytes(n), rng.bytes(n)][variant]
    path.write_bytes(data)


@_kind("truncated", "refuse", "a real model cut short at a random byte", r"not a Keras 3 \.keras archive|corrupt|truncated")
def _truncated(path, rng):
    data = _model()
    path.write_bytes(data[: int(rng.integers(1, len(data) - 1))])


@_kind("bitflip", "either", "a real model with 1-8 random bytes changed (may still be a usable model)")
def _bitflip(path, rng):
    data = bytearray(_model(["logits", "softmax_layer", "activation_softmax"][int(rng.integers(3))]))
    for i in rng.integers(0, len(data), int(rng.integers(1, 9))):
        data[i] ^= int(rng.integers(1, 256))
    path.write_bytes(bytes(data))


@_kind("padded_config", "refuse", "config.json padded with whitespace to 64 MiB - 1 GiB (valid JSON, ~1 MB on disk)", "config.json")
def _padded_config(path, rng):
    members = _members(_model("activation_softmax"))
    pad = int(rng.choice([64, 256, 1024])) * MiB
    text = members.pop("config.json")
    out = [_Member.plain(n, d) for n, d in members.items() if n == "metadata.json"]
    out.append(_Member.packed("config.json", [(text, 1), (b" " * (4 * MiB), pad // (4 * MiB))]))
    out += [_Member.plain(n, d) for n, d in members.items() if n != "metadata.json"]
    _write_zip(path, out)


@_kind("many_members", "refuse", "a real model plus 2-8 extra members of 255 MiB of zeros each (Keras extracts them all)",
       r"member|uncompressed")
def _many_members(path, rng):
    members = [_Member.plain(n, d) for n, d in _members(_model()).items()]
    k = int(rng.integers(2, 9))
    members += [_Member.packed(f"assets/pad{i}.bin", [(bytes(MiB), 255)]) for i in range(k)]
    _write_zip(path, members)


@_kind("many_entries", "refuse", "a zip of 70,000-250,000 empty members (6-23 MB): costly to list, before any is read",
       r"members")
def _many_entries(path, rng):
    n = int(rng.integers(70_000, 250_000))
    empty = zlib.crc32(b"")
    _write_zip(path, [_Member(f"assets/{i:07d}", b"", zipfile.ZIP_STORED, empty, 0) for i in range(n)])


@_kind("big_weights", "refuse", "model.weights.h5 declared 300-900 MiB (deflated zeros)", r"model\.weights\.h5|uncompressed")
def _big_weights(path, rng):
    members = _members(_model())
    members.pop("model.weights.h5")
    out = [_Member.plain(n, d) for n, d in members.items()]
    out.append(_Member.packed("model.weights.h5", [(bytes(MiB), int(rng.integers(300, 900)))]))
    _write_zip(path, out)


@_kind("lying_sizes", "refuse", "a zip whose headers declare other sizes than its members hold", r"corrupt|declares|size|CRC|config")
def _lying_sizes(path, rng):
    members = _members(_model())
    text = members.pop("config.json")
    config = _Member.packed("config.json", [(text, 1), (b" " * MiB, int(rng.integers(16, 256)))])
    config.declared = len(text) if rng.integers(2) else config.size * 2  # too small (a bomb in disguise) or too large
    _write_zip(path, [_Member.plain("metadata.json", members["metadata.json"]), config,
                      _Member.plain("model.weights.h5", members["model.weights.h5"])])


@_kind("h5_bomb", "refuse", "a real config whose weights file holds a gzip dataset declared 1-3.9 GB (stores ~nothing)",
       r"weights|dataset|declares")
def _h5_bomb(path, rng):
    import h5py

    members = _members(_model())
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f, h5py.File(io.BytesIO(members["model.weights.h5"]), "r") as real:
        for key in real:
            real.copy(real[key], f, name=key)
        kernels = []
        f.visititems(lambda name, obj: kernels.append(name) if getattr(obj, "shape", None) == (784, 32) else None)
        group = f[kernels[0].rsplit("/", 1)[0]]
        del group["0"]  # the hidden layer's kernel, (784, 32), becomes (784, n) of fill values
        n = int(rng.integers(300_000, 1_250_000))
        group.create_dataset("0", shape=(784, n), dtype="float32", chunks=(784, 1024), compression="gzip", fillvalue=0.0)
    members["model.weights.h5"] = buf.getvalue()
    _stored(path, members)


@_kind("missing_member", "refuse", "a zip without config.json or without weights", r"config\.json|weights|member")
def _missing_member(path, rng):
    members = _members(_model())
    drop = [["config.json"], ["model.weights.h5"], ["config.json", "model.weights.h5"]][int(rng.integers(3))]
    _stored(path, {n: d for n, d in members.items() if n not in drop})


@_kind("extra_member", "refuse", "a real model plus a member named ../../, /absolute or a stray file", r"member")
def _extra_member(path, rng):
    members = _members(_model())
    name = ["../../escaped.txt", "/tmp/absolute.txt", "assets/../../up.txt", "notes.txt", "config.json/x"][int(rng.integers(5))]
    members[name] = b"hello"
    _stored(path, members)


@_kind("duplicate_member", "refuse", "two config.json members: a harmless one first, a Lambda second", r"twice|duplicate")
def _duplicate_member(path, rng):
    members = _members(_model())
    evil = _members(_model("lambda"))["config.json"]
    out = [_Member.plain(n, d) for n, d in members.items()]
    out.insert(int(rng.integers(0, 2)) + 1, _Member.plain("config.json", evil))
    _write_zip(path, out)


@_kind("bad_json", "refuse", "config.json that is not JSON, not an object, deeply nested or not UTF-8", r"config\.json")
def _bad_json(path, rng):
    members = _members(_model())
    depth = int(rng.integers(2_000, 200_000))
    members["config.json"] = [b"{not json", b"[1, 2, 3]", b"[" * depth + b"]" * depth, b"\xff\xfe{}", b"null",
                              b'{"class_name": "Functional", "config": NaN}'][int(rng.integers(6))]
    _stored(path, members)


@_kind("deep_stack", "refuse", "a Sequential config of 1,500-5,000 Dense layers", r"layers")
def _deep_stack(path, rng):
    n = int(rng.integers(1_500, 5_000))

    def change(config):
        dense = next(layer for layer in _layers(config) if layer["class_name"] == "Dense")
        config["config"]["layers"] = [_layers(config)[0], _layers(config)[1]] + [
            {**dense, "config": {**dense["config"], "name": f"d{i}"}} for i in range(n)] + [_layers(config)[-1]]

    members = _with_config(_sequential(), change)
    _write_zip(path, [_Member.packed(n, [(d, 1)]) if n == "config.json" else _Member.plain(n, d) for n, d in members.items()])


@_kind("upsample", "refuse", "19 kB: UpSampling2D(150-1000) before a global pooling (GBs in one forward pass)", r"activation|memory")
def _upsample(path, rng):
    path.write_bytes(_upsampling(int(rng.choice([150, 300, 1000]))))


def _weightless_config(build: Callable) -> dict:
    """The config of the model ``build()`` makes, built in a Keras StatelessScope: shapes only, so a
    model of billions of parameters costs nothing to describe."""
    import keras
    from keras.src.backend.common import global_state

    pending = list(global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True))
    try:
        with keras.StatelessScope(initialize_variables=False):
            return json.loads(json.dumps(keras.saving.serialize_keras_object(build())))
    finally:
        global_state.set_global_attribute("uninitialized_variables", pending)  # never allocate them


def _config_only(path: Path, config: dict) -> None:
    """A small real model's archive with another config: only the config is ever read (the weights do not fit it)."""
    members = _members(_model())
    members["config.json"] = json.dumps(config).encode()
    _stored(path, members)


@_kind("huge_params", "refuse", "a small file whose config declares a hidden Dense of 200k-20M units (0.2-16 billion parameters)",
       r"parameters")
def _huge_params(path, rng):
    import keras

    units = int(rng.choice([200_000, 2_000_000, 20_000_000]))

    def build():
        inp = keras.Input((28, 28, 1), name="image")
        x = keras.layers.Dense(units, activation="relu", name="hidden")(keras.layers.Flatten(name="flatten")(inp))
        return keras.Model(inp, keras.layers.Dense(10, name="head")(x), name="hostile_huge")

    _config_only(path, _weightless_config(build))


@_kind("heavy_compute", "refuse", "a config of 12-40 wide 3x3 convolutions on 28x28 (billions of operations a digit)", r"operations")
def _heavy_compute(path, rng):
    import keras

    n, width = int(rng.integers(12, 40)), int(rng.choice([96, 128]))

    def build():
        inp = keras.Input((28, 28, 1), name="image")
        x = inp
        for i in range(n):
            x = keras.layers.Conv2D(width, 3, padding="same", name=f"c{i}")(x)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        return keras.Model(inp, keras.layers.Dense(10, name="head")(x), name="hostile_heavy")

    _config_only(path, _weightless_config(build))


@_kind("lambda_layer", "refuse", "a real model with a Lambda layer (Python code in the file)", r"Lambda|safe mode")
def _lambda_layer(path, rng):
    path.write_bytes(_model("lambda"))


def _activation(config: dict, value) -> None:
    _layer(config, "hidden")["config"]["activation"] = value


@_kind("lambda_code", "refuse", "a Dense whose activation is a serialised Python function (__lambda__ with code)", r"Python|code")
def _lambda_code(path, rng):
    code = base64.b64encode(marshal.dumps((lambda x: x).__code__)).decode()
    fn = {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}}
    _stored(path, _with_config(_model(), lambda c: _activation(c, fn)))


@_kind("foreign_module", "refuse", "a layer or function from os, subprocess, builtins.eval or a package that is not Keras",
       r"not part of Keras|module")
def _foreign_module(path, rng):
    variant = int(rng.integers(4))
    if variant < 3:
        fn = [{"module": "posix", "class_name": "function", "config": "system", "registered_name": "function"},
              {"module": "builtins", "class_name": "function", "config": "eval", "registered_name": "function"},
              {"module": "subprocess", "class_name": "function", "config": "call", "registered_name": None}][variant]
        _stored(path, _with_config(_model(), lambda c: _activation(c, fn)))
    else:
        def change(config):
            layer = _layer(config, "hidden")
            layer.update(module="os", class_name="system", registered_name=None)

        _stored(path, _with_config(_model(), change))


@_kind("non_modeling", "refuse", "an activation that is a Keras utility (keras.utils.get_file: a download)", r"modeling|not a")
def _non_modeling(path, rng):
    name = ["get_file", "plot_model"][int(rng.integers(2))]
    fn = {"module": "keras.utils", "class_name": "function", "config": name, "registered_name": "function"}
    _stored(path, _with_config(_model(), lambda c: _activation(c, fn)))


@_kind("unknown_class", "refuse", "a layer class Keras does not have (keras.layers.FancyDense, keras.src.utils.file_utils.rmtree)",
       r"no class|not a Keras|unknown|does not have")
def _unknown_class(path, rng):
    module, cls = [("keras.layers", "FancyDense"), ("keras.src.utils.file_utils", "rmtree"), ("keras.nonexistent", "Dense")][int(rng.integers(3))]
    _stored(path, _with_config(_model(), lambda c: _layer(c, "hidden").update(module=module, class_name=cls)))


@_kind("custom_class", "refuse", "a layer registered as a custom class (my_package>MyDense)", r"custom")
def _custom_class(path, rng):
    def change(config):
        _layer(config, "hidden").update(module="my_package.layers", class_name="MyDense", registered_name="my_package>MyDense")

    _stored(path, _with_config(_model(), change))


@_kind("wrong_input", "refuse", "input 28x28x3, 32x32x3 or two inputs", r"input")
def _wrong_input(path, rng):
    path.write_bytes(_model("dense_softmax", ["rgb", "32x32x3", "two_inputs"][int(rng.integers(3))]))


@_kind("wrong_output", "refuse", "5 classes, a (10, 1) output or two outputs", r"output|classes")
def _wrong_output(path, rng):
    path.write_bytes(_model(["five_classes", "column_output", "two_outputs"][int(rng.integers(3))]))


@_kind("nan_output", "refuse", "finite on a blank input, NaN on real digits (overflow), or a NaN bias", r"non-finite|NaN")
def _nan_output(path, rng):
    path.write_bytes(_model(["overflow", "nan_weights"][int(rng.integers(2))]))


@_kind("sigmoid_head", "refuse", "ten independent sigmoids: neither logits nor probabilities", r"sigmoid")
def _sigmoid_head(path, rng):
    path.write_bytes(_model("sigmoid"))


@_kind("softmax_axis0", "refuse", "a Softmax over the batch axis: outputs that do not sum to 1 per digit", r"sum to 1|probabilit")
def _softmax_axis0(path, rng):
    path.write_bytes(_model("softmax_axis0"))


@_kind("double_softmax", "refuse", "Dense(softmax) then a Softmax layer: confidence can never pass 23%", r"softmax twice")
def _double_softmax(path, rng):
    path.write_bytes(_model("double_softmax"))


@_kind("oversized", "refuse", "a sparse 60-200 MB file (nothing on disk): refused by its size, never read", r"limit")
def _oversized(path, rng):
    with open(path, "wb") as f:
        f.truncate(int(rng.integers(60, 200)) * MiB)


@_kind("not_regular", "refuse", "a FIFO, a folder, /dev/zero, a dangling link or a link loop named .keras",
       r"not a regular file|cannot be read|folder")
def _not_regular(path, rng):
    variant = int(rng.integers(5))
    if variant == 0:
        os.mkfifo(path)  # opening it for reading would wait for a writer forever
    elif variant == 1:
        path.mkdir()
    elif variant == 2:
        path.symlink_to("/dev/zero")
    elif variant == 3:
        path.symlink_to(path.parent / "_targets" / f"missing-{path.name}")
    else:
        path.symlink_to(path)  # a loop: ELOOP


@_kind("symlink_model", "usable", "a symlink to a real model elsewhere (how the tests' scratch folders are made)", None, "logits")
def _symlink_model(path, rng):
    target = path.parent / "_targets" / f"{path.stem}.real"
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(_model())
    path.symlink_to(target)


@_kind("valid_logits", "usable", "a real model with a linear head, as 28x28x1, 28x28 or 784", None, "logits")
def _valid_logits(path, rng):
    path.write_bytes(_model("logits", ["28x28x1", "28x28", "784"][int(rng.integers(3))], int(rng.integers(3))))


@_kind("softmax_layer", "usable", "a real model ending in a keras.layers.Softmax layer", None, "probabilities")
def _softmax_layer(path, rng):
    path.write_bytes(_model("softmax_layer", "28x28x1", int(rng.integers(3))))


@_kind("activation_softmax", "usable", "a real model ending in Activation('softmax') or Dense(activation='softmax')", None,
       "probabilities")
def _activation_softmax(path, rng):
    path.write_bytes(_model(["activation_softmax", "dense_softmax"][int(rng.integers(2))]))


@_kind("sequential", "usable", "a Sequential model (28x28 in, softmax out)", None, "probabilities")
def _valid_sequential(path, rng):
    path.write_bytes(_sequential(int(rng.integers(1, 4))))


# ----------------------------------------------------------------------------- the interface

_NAME = re.compile(r"^s(\d+)-(\d+)-([a-z0-9_]+)\.keras$")


def generate(seed: int, n: int, folder: Path) -> list[Path]:
    """Write ``n`` hostile files into ``folder`` (made if missing) and return their paths.

    File ``i`` is of kind ``list(KINDS)[(seed + i) % len(KINDS)]`` (so any ``len(KINDS)`` consecutive
    files hold every kind once), its variant drawn from ``(seed, i)``.  Existing files of the same
    name are replaced.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(KINDS)
    paths = []
    for i in range(n):
        kind = names[(seed + i) % len(names)]
        path = folder / f"s{seed}-{i:04d}-{kind}.keras"
        _remove(path)
        _MAKERS[kind](path, np.random.default_rng([seed, i]))
        paths.append(path)
    return paths


def make(kind: str, path: Path, seed: int = 0) -> Path:
    """One file of ``kind`` at ``path`` (replaced), its variant drawn from ``seed``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove(path)
    _MAKERS[kind](path, np.random.default_rng(seed))
    return path


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        path.rmdir()


def kind_of(path: Path) -> Kind:
    """The Kind of a file ``generate`` made, from its name; KeyError for any other name."""
    m = _NAME.match(Path(path).name)
    if not m or m.group(3) not in KINDS:
        raise KeyError(f"{Path(path).name}: not a file made by hostile_models.generate")
    return KINDS[m.group(3)]


# ----------------------------------------------------------------------------- measuring (python -m ...)

_MEASURE = r"""
import json, os, sys, threading, time
from pathlib import Path
from digitlab.memory import reset_peak, status_mb
from digitlab.models import archive, artifacts

def peak_mb():
    return status_mb("VmHWM")

def tmp_bytes(root):
    total = 0
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "verdicts"]
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total

archive.INSPECTION_CACHE = Path(os.environ["TMPDIR"]) / "verdicts"  # validate for real: no verdict cached before
artifacts.inspect(Path(sys.argv[2]))  # warm: TensorFlow, Keras and one real validation
reset_peak()  # VmHWM from here on
base = peak_mb()
tmp, top = os.environ["TMPDIR"], [0]
done = threading.Event()
def watch():
    while not done.wait(0.05):
        top[0] = max(top[0], tmp_bytes(tmp))
threading.Thread(target=watch, daemon=True).start()
t0 = time.perf_counter()
entry = artifacts.inspect(Path(sys.argv[1]))
seconds = time.perf_counter() - t0
done.set()
print(json.dumps({"seconds": round(seconds, 3), "peak_mb_above_warm": round(peak_mb() - base, 1), "tmp_mb": round(top[0] / 2**20, 1),
                  "usable": entry.usable, "reason": entry.reason}))
"""


def measure(path: Path, warm: Path, timeout: float = 300) -> dict:
    """Validate ``path`` (``artifacts.inspect``) in a fresh process after one warm-up validation of ``warm``:
    wall seconds, peak RSS above the warm process (MB), peak size of its temp folder (MB), the verdict."""
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TMPDIR": tmp}
        try:
            proc = subprocess.run([sys.executable, "-c", _MEASURE, str(path), str(warm)], capture_output=True, text=True,
                                  timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return {"seconds": None, "error": f"no verdict after {timeout:.0f} s (killed)"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"seconds": None, "error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] or ['no output']}"}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="folder for the files (made if missing)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--n", type=int, default=len(KINDS), help=f"how many files (default {len(KINDS)}: every kind once)")
    p.add_argument("--measure", action="store_true", help="validate each file in a fresh process: time, peak memory, temp bytes")
    p.add_argument("--timeout", type=float, default=300, help="seconds before a validation counts as hung (default 300)")
    a = p.parse_args(argv)
    paths = generate(a.seed, a.n, a.out)
    if not a.measure:
        print("\n".join(map(str, paths)))
        return
    warm = a.out / "_targets" / "warm.keras"
    warm.parent.mkdir(exist_ok=True)
    warm.write_bytes(_model())
    print("| file | kind | expected | s | peak MB above warm | temp MB | verdict |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in paths:
        kind = kind_of(path)
        r = measure(path, warm, a.timeout)
        verdict = r.get("error") or ("usable" if r["usable"] else f"refused: {r['reason']}")
        print(f"| {path.name} | {kind.name} | {kind.expect} | {r.get('seconds')} | {r.get('peak_mb_above_warm', '')} | "
              f"{r.get('tmp_mb', '')} | {verdict[:160]} |", flush=True)


if __name__ == "__main__":
    main()
