"""Vet a dropped model file before Keras sees it: every step bounded, each refusal with its cause.

    read_model_file    a regular file (never a FIFO, a device or a folder) of at most MAX_MODEL_BYTES, read once
    check_archive      the zip's members and their uncompressed sizes (MEMBER_LIMITS) from its directory,
                       no duplicates, no stray names; config.json read (bounded) and parsed; the weights'
                       HDF5 datasets' declared sizes
    check_config       Lambda layers and serialised Python code, classes outside Keras, custom classes,
                       too many layers or too deep a config: refused with what and where
    estimate_cost      the model built from its config in a Keras StatelessScope (shapes only, no weight is
                       allocated): parameters, activation bytes and multiply-adds per digit, against MAX_*
    load_checked       then Keras (safe mode) on the very bytes that were checked
    adapter.check_classifier   the signature and one forward pass on real digits (finite; probabilities
                       that sum to 1 when the head is a softmax)

``validation_record`` runs them all on a file's bytes and keeps the record in memory and in
``runs/cache/models/<sha256>.json`` (keyed by the file's content, the rules' version and the Keras
version), so an unchanged file is validated once.  Saving, listing and resolving models is
``digitlab.models.artifacts``, which calls this module.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from digitlab.files import atomic_write_json
from digitlab.models.adapter import ModelError, check_classifier, check_signature
from digitlab.paths import RUNS_DIR

MODEL_SUFFIX = ".keras"
MiB = 1 << 20
# Larger files are refused by their size before a byte is read or hashed (uploads: before Keras sees them).  Generous on
# purpose: the largest committed model (mnist_robust, 3.3 M parameters) is 13 MB, and a model at MAX_PARAMS (10 M
# float32 weights, 40 MB) still fits; a sparse 8 GB file named x.keras must never be read (hashing it first cost
# 92 s and 709 MB).
MAX_MODEL_BYTES = 50 * MiB
# What a .keras archive may unpack to.  The committed models: config.json 2.6-107 kB, weights 47 kB-13 MB.
MEMBER_LIMITS = {"metadata.json": 64 * 1024, "config.json": 8 * MiB, "model.weights.h5": 160 * MiB, "model.weights.npz": 160 * MiB}
MAX_ASSET_BYTES = 16 * MiB  # assets/ (lookup vocabularies and the like), all together
MAX_MEMBERS = 64
MAX_DIRECTORY_BYTES = 256 * 1024  # the zip's central directory: 64 members with long names fit in a few kB
MAX_WEIGHT_BYTES = 160 * MiB  # the declared sizes of every weight array together (weights + optimizer slots)
MAX_LAYERS = 1_000  # mnist_advanced: 126
MAX_CONFIG_DEPTH = 100  # nesting of config.json; mnist_advanced: 12
MAX_PARAMS = 10_000_000  # mnist_advanced: 865,480
MAX_ACTIVATION_BYTES = 16 * MiB  # every layer's output for one digit, together; mnist_advanced: 5.0 MiB
MAX_MULTIPLY_ADDS = 500_000_000  # per digit; mnist_advanced: 57 million
VALIDATION_VERSION = 3  # bump when a rule changes: cached records of older rules are not trusted
INSPECTION_CACHE = RUNS_DIR / "cache" / "models"  # <sha256>.json per validated file (git-ignored)


def _open_model_file(path: Path) -> tuple[int, os.stat_result]:
    """An open descriptor on a model file and its stat, after the checks that need no byte of it: a
    regular file (links followed) of 1 to MAX_MODEL_BYTES bytes.  Opened without blocking, so a FIFO
    named ``x.keras`` is refused instead of waiting for a writer; a folder, a device (a link to
    ``/dev/zero``) or a socket is refused by what it is, a larger (or sparse) file by its size."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise ModelError(f"{path.name}: cannot be read ({e.strerror})") from e
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ModelError(f"{path.name}: is a folder, not a model file")
        if not stat.S_ISREG(st.st_mode):
            raise ModelError(f"{path.name}: not a regular file (a FIFO, device or socket), not read")
        if st.st_size == 0:
            raise ModelError(f"{path.name}: empty file")
        if st.st_size > MAX_MODEL_BYTES:
            raise ModelError(f"{path.name}: {size_text(st.st_size)} is over the {size_text(MAX_MODEL_BYTES)} limit for a model file")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _read_bounded(fd: int, path: Path, chunk_size: int = MiB):
    """The bytes of an open model file in chunks, at most MAX_MODEL_BYTES of them (a file may grow while read)."""
    left = MAX_MODEL_BYTES + 1
    try:
        while left > 0:
            chunk = os.read(fd, min(left, chunk_size))
            if not chunk:
                return
            left -= len(chunk)
            if left <= 0:
                raise ModelError(f"{path.name}: over the {size_text(MAX_MODEL_BYTES)} limit for a model file (it grew while read)")
            yield chunk
    except OSError as e:
        raise ModelError(f"{path.name}: cannot be read ({e.strerror})") from e


def read_model_file(path: Path) -> bytes:
    """A model file's bytes, read once: only a regular file (links followed) of at most MAX_MODEL_BYTES
    (``_open_model_file``: type and size are checked before any byte is read)."""
    path = Path(path)
    fd, _ = _open_model_file(path)
    try:
        data = b"".join(_read_bounded(fd, path))
    finally:
        os.close(fd)
    if not data:
        raise ModelError(f"{path.name}: empty file")
    return data


def model_file_sha256(path: Path) -> str:
    """"sha256:<hex>" of a model file, streamed, after the same type and size checks as ``read_model_file``:
    a FIFO, a link to a device or a sparse 8 GB file is refused (ModelError) before it is hashed."""
    path = Path(path)
    fd, _ = _open_model_file(path)
    h = hashlib.sha256()
    try:
        for chunk in _read_bounded(fd, path):
            h.update(chunk)
    finally:
        os.close(fd)
    return "sha256:" + h.hexdigest()


_ASSET_NAME = re.compile(r"^assets/(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]*$")


def check_archive(data: bytes) -> dict:
    """Check a ``.keras`` archive from its zip directory, before anything is unpacked; returns its
    parsed config.json.  Raises ModelError with the cause (no file name) for anything else.

    Members: config.json, metadata.json, model.weights.h5 (or .npz) and assets/, each once, each
    within MEMBER_LIMITS uncompressed (the sizes the directory declares; a member whose data does not
    match its declared size or CRC is refused when read).  The weights' arrays are checked from the
    HDF5 file's own directory: declared sizes (a chunked, compressed array of fill values stores
    nothing and unpacks to gigabytes), no external or virtual datasets."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelError("not a Keras 3 .keras archive (not a zip file; truncated or another format)")
    entries, directory = _directory_size(data)
    if entries > MAX_MEMBERS or directory > MAX_DIRECTORY_BYTES:
        # before zipfile parses it: 500,000 empty entries fit in 45 MB and cost ~10 s and ~200 MB to list
        raise ModelError(f"the archive declares {entries:,} members in a {size_text(directory)} directory "
                         f"(a .keras file holds 3, plus assets; limit {MAX_MEMBERS})")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            if len(infos) > MAX_MEMBERS:
                raise ModelError(f"the archive holds {len(infos)} members (a .keras file holds 3, plus assets; limit {MAX_MEMBERS})")
            seen: set[str] = set()
            assets = 0
            for info in infos:
                name = info.filename
                if name in seen:
                    raise ModelError(f"the archive holds {name!r} twice (which copy counts would depend on the reader)")
                seen.add(name)
                if info.flag_bits & 0x1:
                    raise ModelError(f"member {name!r} is encrypted")
                if name in MEMBER_LIMITS:
                    if info.file_size > MEMBER_LIMITS[name]:
                        raise ModelError(f"member {name} unpacks to {size_text(info.file_size)} (stored in {size_text(info.compress_size)}), "
                                         f"over the {size_text(MEMBER_LIMITS[name])} limit for it")
                elif _ASSET_NAME.match(name) and ".." not in name.split("/"):
                    assets += info.file_size
                else:
                    raise ModelError(f"unexpected member {name!r}: a .keras file holds only config.json, metadata.json, "
                                     "model.weights.h5 and assets/")
            if assets > MAX_ASSET_BYTES:
                raise ModelError(f"its assets/ unpack to {size_text(assets)} uncompressed, over the {size_text(MAX_ASSET_BYTES)} limit")
            if "config.json" not in seen:
                raise ModelError("no config.json in the archive: not a Keras 3 model")
            weights = [n for n in ("model.weights.h5", "model.weights.npz") if n in seen]
            if len(weights) != 1:
                raise ModelError("no model.weights.h5 in the archive: it holds no weights" if not weights
                                 else "both model.weights.h5 and model.weights.npz: which weights count is unclear")
            read = {info.filename: _read_member(z, info) for info in infos}  # bounded reads that check every CRC
            config = _parse_config(read["config.json"])
            _check_weights(read[weights[0]], weights[0])
    except ModelError:
        raise
    except zipfile.BadZipFile as e:
        raise ModelError(f"corrupt archive ({e})") from e
    except Exception as e:  # EOFError, zlib.error, NotImplementedError (a compression method), OSError...: a damaged archive
        raise ModelError(f"corrupt archive ({type(e).__name__}: {str(e)[:200]})") from e
    return config


def _directory_size(data: bytes) -> tuple[int, int]:
    """(entries, bytes) of the zip's central directory, from its end records (zip64 included), without
    parsing the entries; (0, 0) when the records cannot be read (zipfile then says what is wrong)."""
    import struct

    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end < 0 or len(data) < end + 22:
        return 0, 0
    _, _, _, _, entries, size, _, _ = struct.unpack("<IHHHHIIH", data[end : end + 22])
    if entries == 0xFFFF or size == 0xFFFFFFFF:  # zip64: the real figures are in the zip64 end record
        locator = end - 20
        if locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
            (offset,) = struct.unpack("<Q", data[locator + 8 : locator + 16])
            if data[offset : offset + 4] == b"PK\x06\x06" and len(data) >= offset + 56:
                entries, size = struct.unpack("<QQ", data[offset + 32 : offset + 48])
    return entries, size


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes in 1 MiB reads: ``read()`` in one call would inflate everything the stream holds
    before cutting it to the declared size (a header that lies costs up to ~1000x the stored bytes);
    chunked, a lying member ends at its declared size and fails its CRC check."""
    out = bytearray()
    with z.open(info) as f:
        while chunk := f.read(MiB):
            out += chunk
            if len(out) > info.file_size:
                raise ModelError(f"member {info.filename} holds more than the {size_text(info.file_size)} its header declares")
    return bytes(out)


def size_text(n: int) -> str:
    return f"{n / MiB:,.1f} MiB" if n >= MiB else f"{n / 1024:,.1f} kiB"


def _parse_config(raw: bytes) -> dict:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelError(f"config.json is not UTF-8 text ({e.reason} at byte {e.start})") from e
    try:
        config = json.loads(text)
    except RecursionError as e:
        raise ModelError("config.json is nested too deeply to be a model description") from e
    except ValueError as e:
        raise ModelError(f"config.json is not JSON ({str(e)[:120]})") from e
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ModelError(f"config.json does not describe a Keras model (a JSON {type(config).__name__}, no class_name)")
    if not isinstance(config.get("config"), dict):
        raise ModelError(f"config.json does not describe a Keras model (its config is a JSON {type(config.get('config')).__name__})")
    return config


def _check_weights(raw: bytes, member: str) -> None:
    """Declared sizes of the weight arrays, read from the file's own directory (nothing is unpacked)."""
    total = 0
    if member.endswith(".npz"):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as inner:
                total = sum(i.file_size for i in inner.infolist())
        except zipfile.BadZipFile as e:
            raise ModelError(f"{member} is not an .npz archive ({e})") from e
    else:
        import h5py

        problems: list[str] = []
        sizes: list[int] = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                if obj.external or obj.is_virtual:
                    problems.append(f"dataset {name!r} points at other files (external or virtual)")
                sizes.append(math.prod(obj.shape or ()) * obj.dtype.itemsize)

        try:
            with h5py.File(io.BytesIO(raw), "r") as f:
                f.visititems(visit)
        except (OSError, ValueError, KeyError, RuntimeError, TypeError) as e:
            raise ModelError(f"{member} is not a readable HDF5 weights file ({type(e).__name__}: {str(e)[:160]})") from e
        if problems:
            raise ModelError(f"{member}: {problems[0]}")
        total = sum(sizes)
        if sizes and max(sizes) > MAX_WEIGHT_BYTES:
            raise ModelError(f"{member}: one weight array declares {size_text(max(sizes))}, over the {size_text(MAX_WEIGHT_BYTES)} "
                             "limit for all weights together")
    if total > MAX_WEIGHT_BYTES:
        raise ModelError(f"{member}: its weight arrays declare {size_text(total)} together, over the {size_text(MAX_WEIGHT_BYTES)} limit")


_KERAS_PACKAGE = "keras"
# Keras parts a model's config may name functions from (activations, losses...): anything else a
# Keras module exports (keras.utils.plot_model, keras.config.*, keras.models.load_model) is not modeling code.
_FUNCTION_PARTS = {"activations", "losses", "metrics", "initializers", "regularizers", "constraints", "ops", "random"}
# Keras parts whose classes do things a model file must not ask for (files, downloads, settings, training)
_FORBIDDEN_PARTS = {"utils", "config", "saving", "callbacks", "datasets", "applications", "backend", "export", "visualization",
                    "distribution", "trainers", "wrappers", "preprocessing", "legacy", "testing"}
# Layers that load code or graphs from elsewhere: a SavedModel from a path, a pickled torch module, a JAX function
_FORBIDDEN_LAYERS = {"TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"}
_PATH_KEYS = {"vocabulary", "filepath", "idf_weights", "path"}  # a string here is a file read at load time (/dev/zero: forever)


def _keras_part(module: str) -> str:
    """"keras.src.utils.file_utils" -> "utils", "keras.layers" -> "layers", "keras" -> ""."""
    parts = module.split(".")[1:]
    if parts[:1] == ["src"]:
        parts = parts[1:]
    return parts[0] if parts else ""


def check_config(config: dict) -> None:
    """Refuse, with what and where, what safe mode would refuse or cannot know: serialised Python code
    (``__lambda__``), Lambda layers, classes from modules outside Keras, custom registered classes,
    more than MAX_LAYERS layers, config nesting deeper than MAX_CONFIG_DEPTH.  Walks iteratively (a
    hostile config may be as deep as json.loads allows)."""
    layers = 0
    stack: list[tuple[object, int, str]] = [(config, 1, "the model")]
    while stack:
        obj, depth, where = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ModelError(f"config.json is nested {MAX_CONFIG_DEPTH}+ levels deep (a digit classifier needs ~12)")
        if isinstance(obj, list):
            stack.extend((v, depth + 1, where) for v in obj)
            continue
        if not isinstance(obj, dict):
            continue
        if isinstance(obj.get("layers"), list):
            layers += len(obj["layers"])
            if layers > MAX_LAYERS:
                raise ModelError(f"it has more than {MAX_LAYERS:,} layers (mnist_advanced has 126)")
        cls = obj.get("class_name")
        if isinstance(cls, str):
            name = (obj.get("config") or {}).get("name") if isinstance(obj.get("config"), dict) else None
            here = f"layer {name!r}" if isinstance(name, str) and obj.get("module") == "keras.layers" else where
            module, registered = obj.get("module"), obj.get("registered_name")
            if cls == "__lambda__":
                raise ModelError(f"{here} holds serialised Python code (a lambda function): a model file's code is never run "
                                 "(Keras safe mode: arbitrary code execution)")
            if cls == "Lambda" and isinstance(module, str) and module.startswith(_KERAS_PACKAGE):
                raise ModelError(f"{here} is a Lambda layer: Python code stored in the file, which is never run "
                                 "(refused by Keras safe mode: arbitrary code execution)")
            if isinstance(registered, str) and ">" in registered:
                raise ModelError(f"{here} uses the custom class {registered!r}: its code is not part of Keras and is never "
                                 "loaded from a model file (only Keras's own layers are)")
            what = f"function {obj.get('config')!r}" if cls == "function" else f"class {cls!r}"
            if isinstance(module, str) and module.split(".")[0] != _KERAS_PACKAGE and not (module == "builtins" and cls == "function"):
                raise ModelError(f"{here} uses {what} from module {module!r}, which is not part of Keras: only Keras's own "
                                 "layers and functions are loaded (a model file never imports other code)")
            if isinstance(module, str) and module != "builtins":
                part = _keras_part(module)
                if (cls == "function" and part not in _FUNCTION_PARTS) or part in _FORBIDDEN_PARTS:
                    raise ModelError(f"{here} uses {what} from {module}, which is not a modeling part of Keras "
                                     "(refused: loading a model must not run utilities, read files or change settings)")
            if cls in _FORBIDDEN_LAYERS:
                raise ModelError(f"{here} is a {cls}: it loads code or a graph from outside the model file, never done here")
            if isinstance(obj.get("config"), dict):
                for key in _PATH_KEYS & obj["config"].keys():
                    if isinstance(obj["config"][key], str):
                        raise ModelError(f"{here} reads its {key} from the file {obj['config'][key][:100]!r} outside the model "
                                         "file (a model is read from its own file only)")
            if isinstance(name, str) and obj.get("module") == "keras.layers":
                where = here
        stack.extend((v, depth + 1, where) for k, v in obj.items() if k not in ("module", "class_name", "registered_name"))


def explain_keras_error(e: BaseException, config: dict | None = None, doing: str = "cannot be loaded") -> str:
    """Keras's refusal, as its cause: which class or function it could not find, and why that is refused."""
    text = str(e)
    first = text.splitlines()[0] if text else type(e).__name__
    m = re.search(r"Could not locate (class|function) '([^']+)'", text)
    if m:
        kind, name = m.groups()
        module = _module_of(config, name) if config else None
        from_module = f" (module {module!r})" if module else ""
        import keras

        return (f"uses the {kind} {name!r}{from_module}, which Keras {keras.__version__} does not have: a custom {kind}, "
                f"or one from another Keras version (code is never loaded from a model file)")
    m = re.search(r"Cannot deserialize `([^`]+)` because it is not a modeling function", text)
    if m:
        return f"uses {m.group(1)}, a Keras utility, not a modeling function (refused: loading a model must not run utilities)"
    m = re.search(r"Could not deserialize '([^']+)' because it is not a KerasSaveable", text)
    if m:
        return f"uses {m.group(1)}, which is not a Keras layer or model part (unknown class)"
    m = re.search(r"Could not deserialize (class|function) '([^']+)' because its parent module (\S+) cannot be imported", text)
    if m:
        return f"uses the {m.group(1)} {m.group(2)!r} from module {m.group(3)!r}, which does not exist in Keras (unknown module)"
    if "safe_mode" in text or "arbitrary code" in text:
        return "refused by Keras safe mode (it contains a Lambda or custom code)"
    if isinstance(e, RecursionError):
        return "its config is nested too deeply to build"
    return f"{doing} ({type(e).__name__}: {first[:200]})"


def _module_of(config: dict, name: str) -> str | None:
    stack = [config]
    while stack:
        obj = stack.pop()
        if isinstance(obj, dict):
            if obj.get("class_name") == name and isinstance(obj.get("module"), str):
                return obj["module"]
            if obj.get("class_name") == "function" and obj.get("config") == name and isinstance(obj.get("module"), str):
                return obj["module"]
            stack.extend(obj.values())
        elif isinstance(obj, list):
            stack.extend(obj)
    return None


@dataclass(frozen=True)
class Cost:
    """What running one digit through a model costs, from its config alone."""

    params: int
    activation_bytes: int  # every layer's output for one digit, together
    multiply_adds: int  # per digit: each layer's weights times the positions it is applied at
    largest: str  # the layer with the largest output, and its size


def estimate_cost(config: dict) -> tuple[Cost, object]:
    """Build the model from ``config`` (safe mode) in a Keras StatelessScope, where variables keep their
    shape and never get a value, and measure it: (Cost, the weightless model, for ``check_signature``).

    Nothing runs and nothing the size of a weight is allocated, so a 19 kB file declaring 20 million
    units, or an UpSampling2D(1000), costs milliseconds here.  The deferred variables are dropped from
    Keras's to-initialise list afterwards (the next StatelessScope to close would allocate them)."""
    import keras
    import numpy as np
    from keras.src.backend.common import global_state

    config = dict(config, compile_config=None)  # load_model(compile=False) does the same
    pending = list(global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True))
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = keras.saving.deserialize_keras_object(copy.deepcopy(config), safe_mode=True)  # Keras pops keys
    except ModelError:
        raise
    except Exception as e:
        raise ModelError(explain_keras_error(e, config, "config.json does not build a model")) from e
    finally:
        global_state.set_global_attribute("uninitialized_variables", pending)
    if not isinstance(model, keras.Model):
        raise ModelError(f"config.json describes a {type(model).__name__}, not a Keras model")

    def itemsize(dtype) -> int:
        try:
            return np.dtype(str(dtype)).itemsize
        except TypeError:
            return 2 if "16" in str(dtype) else 4

    seen_vars: set[int] = set()
    params = activation = adds = 0
    largest = (0, "")

    def walk(m) -> None:
        nonlocal params, activation, adds, largest
        for layer in m.layers:
            if isinstance(layer, keras.Model):
                walk(layer)
                continue
            own = 0
            for v in layer.weights:
                if id(v) not in seen_vars:
                    seen_vars.add(id(v))
                    n = math.prod(v.shape)
                    params += n
                    own += n
            for node in getattr(layer, "_inbound_nodes", []):
                for t in node.output_tensors:
                    shape = tuple(t.shape)
                    if any(d is None for d in shape[1:]):
                        raise ModelError(f"layer {layer.name!r} has an output of unknown size {shape}: its cost cannot be bounded")
                    n = math.prod(shape[1:])
                    b = n * itemsize(t.dtype)
                    activation += b
                    adds += own * math.prod(shape[1:-1])
                    largest = max(largest, (b, layer.name))

    walk(model)
    return Cost(params, activation, adds, f"{largest[1]!r}, {size_text(largest[0])}"), model


def check_cost(cost: Cost) -> None:
    if cost.params > MAX_PARAMS:
        raise ModelError(f"{cost.params:,} parameters, over the limit of {MAX_PARAMS:,} (refused before any weight was allocated)")
    if cost.activation_bytes > MAX_ACTIVATION_BYTES:
        raise ModelError(f"one digit would need {size_text(cost.activation_bytes)} of activations (largest: layer {cost.largest}), "
                         f"over the {size_text(MAX_ACTIVATION_BYTES)} limit: too much memory, refused before running it")
    if cost.multiply_adds > MAX_MULTIPLY_ADDS:
        raise ModelError(f"{cost.multiply_adds / 1e9:.1f} billion multiply-add operations per digit, over the limit of "
                         f"{MAX_MULTIPLY_ADDS / 1e9:.1f} billion: refused before running it")


def _checked(data: bytes, suffix: str) -> tuple[Cost | None, object | None]:
    """Every check that runs before Keras loads ``data``; raises ModelError with the cause (no file name)."""
    if suffix != MODEL_SUFFIX:
        _check_h5_file(data)
        return None, None
    config = check_archive(data)
    check_config(config)
    cost, dry = estimate_cost(config)
    check_cost(cost)
    return cost, dry


def quick_check(data: bytes) -> None:
    """The checks of a ``.keras`` file's bytes that need no Keras and no TensorFlow (milliseconds): the
    archive (``check_archive``) and its config (``check_config``).  Raises ModelError with the cause."""
    check_config(check_archive(data))


def _check_h5_file(data: bytes) -> None:
    """A legacy ``.h5`` model (given by path to the CLI; never listed or uploaded): its config and arrays."""
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            raw = f.attrs.get("model_config")
    except (OSError, ValueError, RuntimeError) as e:
        raise ModelError(f"not a readable HDF5 model file ({type(e).__name__}: {str(e)[:160]})") from e
    if raw is None:
        raise ModelError("an HDF5 file without a model_config: weights only, not a model")
    check_config(_parse_config(raw.encode() if isinstance(raw, str) else bytes(raw)))
    _check_weights(data, "the HDF5 file")


def _keras_load(data: bytes, suffix: str):
    """Keras (safe mode, not compiled) on a private copy of the checked bytes."""
    import keras

    with tempfile.TemporaryDirectory(prefix="digitlab-load-") as d:
        copy = Path(d) / f"model{suffix}"
        copy.write_bytes(data)
        try:
            return keras.saving.load_model(copy, safe_mode=True, compile=False)
        except Exception as e:  # BadZipFile, KeyError, ValueError, OSError, TypeError...: Keras raises each for another kind of broken file
            if isinstance(e, zipfile.BadZipFile):
                raise ModelError(f"corrupt archive ({str(e)[:200]})") from e
            raise ModelError(explain_keras_error(e)) from e


def load_checked(data: bytes, suffix: str, name: str):
    """Every check, then Keras, on a file's bytes; a refusal's reason starts with the file's ``name``."""
    try:
        _checked(data, suffix)
        return _keras_load(data, suffix)
    except ModelError as e:
        raise ModelError(f"{name}: {e}") from e


def bytes_sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _cache_key(sha: str) -> dict:
    from importlib.metadata import version

    # the installed version, read without importing Keras: a listing from cached records needs no TensorFlow
    return {"sha256": sha, "rules": VALIDATION_VERSION, "keras": version("keras")}


RECORDS: dict[str, dict] = {}  # sha256 -> validation record, this process


def validation_record(data: bytes, suffix: str = MODEL_SUFFIX) -> tuple[dict, object | None]:
    """(record, the loaded model when this call validated it) for a file's bytes.

    record: {"usable", "reason" (no file name), "layout", "outputs", "params", "probe", "sha256"}; from
    memory, else from INSPECTION_CACHE, else validated here and stored in both."""
    sha = bytes_sha256(data)
    key = _cache_key(sha)
    if suffix == MODEL_SUFFIX:
        if sha in RECORDS:
            return RECORDS[sha], None
        cached = _read_cached(sha, key)
        if cached is not None:
            RECORDS[sha] = cached
            return cached, None
    model = None
    record = {"sha256": sha, "usable": False, "reason": None, "layout": None, "outputs": None, "params": None, "probe": None}
    try:
        cost, dry = _checked(data, suffix)
        if dry is not None:
            check_signature(dry)  # a non-classifier is refused before its weights are loaded
        model = _keras_load(data, suffix)
        layout, outputs = check_classifier(model)
        from digitlab.models.adapter import probe_digits

        record.update(usable=True, layout=layout, outputs=outputs, params=cost.params if cost else int(model.count_params()),
                       probe=probe_digits()[1])
    except ModelError as e:
        record["reason"] = str(e)
        model = None
    except Exception as e:  # a check that failed in a way no rule foresaw: unusable now, but not remembered
        record["reason"] = f"could not be validated ({type(e).__name__}: {str(e)[:200]})"
        return record, None
    if suffix == MODEL_SUFFIX:
        RECORDS[sha] = record
        _write_cached(sha, key, record)
    return record, model


def _cache_file(sha: str) -> Path:
    return Path(INSPECTION_CACHE) / f"{sha.split(':', 1)[1]}.json"


def _read_cached(sha: str, key: dict) -> dict | None:
    try:
        cached = json.loads(_cache_file(sha).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("key") != key or not isinstance(cached.get("verdict"), dict):
        return None
    return cached["verdict"]


def _write_cached(sha: str, key: dict, record: dict) -> None:
    with contextlib.suppress(OSError):  # a read-only checkout: the record stays in memory
        atomic_write_json(_cache_file(sha), {"key": key, "verdict": record})


