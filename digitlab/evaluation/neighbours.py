"""What the model thinks a digit looks like: the training digits closest to it in the model's own
feature space, and a 2-D map of the MNIST test set in that space.

    feature_extractor(model)   the input of the model's classification layer(s), found in any Keras classifier
    onnx_feature_extractor(f)  the same features from the model's served ONNX file, without TensorFlow (the app's)
    training_bank(model, key)  those features of BANK_SIZE training digits, computed once per model file
                               hash and kept on disk (float16 unit vectors, memory-mapped when read)
    nearest(bank, feature, k)  the k training digits closest to one input (cosine distance), with pictures: the
                               bank's sketch picks CANDIDATES, their full features choose the k
    digit_map(model, key)      the MNIST test set's features projected to 2-D by PCA, once per model file hash
    place(digit_map, feature)  one input on that map, through the same fitted projection

"Penultimate features" are what the last Dense layer (the one that makes the class scores) reads: for
one ``mnist_cnn`` network the flattened last feature map (6272 numbers at its width of 64), for an ensemble built by
``digitlab.models.ensemble`` each member's (the members' parts are scaled to unit length and
concatenated, so a cosine similarity is the mean of the members' cosines), for a softmax regression
the pixels themselves.  The layer is found by walking back from the model's output through layers
without weights (softmax, averaging, dropout...) to the Dense layer(s); a model whose output is made
any other way gets ``NeighbourError`` saying why.

Memory: the host of the app has about 1 GB, most of it TensorFlow's once Explain is open.  Features
are written chunk by chunk into a memory-mapped file and read back with plain reads (the pages stay in the
page cache, which the kernel can drop): a search holds the bank's sketch (see Search) and the CANDIDATES rows it
reads; an exhaustive one, a chunk of SEARCH_CHUNK rows at a time (~49 MB for 6272 features).  BANK_SIZE = 20,000 of the 55,000 training digits (see
docs/app.md for the measured build time, disk size and how often the 12 neighbours' majority agrees
with the label, against the whole training split).

Search: an ensemble's features are wide (mnist_cnn's three compact networks 18,816, mnist_advanced's three networks
12,736), and reading all 20,000 rows for each search took 0.4-1.5 s.  So a bank keeps a sketch beside its features:
the rows projected on the bank's own top SKETCH_DIM principal axes (not centred: the projection that best keeps dot
products, fitted on SKETCH_FIT_ROWS of its rows).  A search ranks the bank by the sketch, then reads the full features of
its best CANDIDATES and ranks those exactly: the k returned and their distances are the full features' own.  On 300
MNIST test digits the exact 12 nearest were all among the candidates for both ensembles;
``evaluation/neighbours.py --agreement N`` counts how often the search returns the exhaustive search's 12.

Time: preparing the 30,000 digits (bank and map) through digitlab.preprocess is most of a build (~3 ms
a digit on 2 busy cores against ~0.1-1.5 ms for the features), and it is the same for every model: the
prepared digits are kept once, as uint8 pictures, and every model's features are computed from those
pictures, so the second model's build is its forward passes alone (``build_estimate`` says how long).
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab import paths, preprocess

ENV_VAR = "DIGITLAB_FEATURES_CACHE"  # tests point it at a scratch folder
SUBDIR = "features"
BANK_SIZE = 20_000  # training digits searched; drawn with BANK_SEED by digitlab.data.Mnist.indices
BANK_SEED = 0
NEIGHBOURS = 12
CHUNK = 256  # digits per preparation + forward pass while building (mnist_advanced: ~2.6 MiB of activations each)
FORWARD = 64  # digits per forward pass while building: the server is at its fullest then (TensorFlow loaded for
# Explain's gradients); at 256 the build raised its peak by ~220 MB, over 1 GiB (evaluation/app_benchmark.py)
OVERHEAD_S = 15  # seconds a build spends besides preparing digits and forward passes (loading MNIST, the PCA, writing
# and syncing the files): mnist_baseline's, whose forward passes are nearly free, took 15 s on 2 busy cores
SEARCH_CHUNK = 2048  # feature rows converted to float32 at a time while searching (~49 MB for 6272 features)
SKETCH_DIM = 256  # principal axes a bank's sketch keeps (banks with no more features than this are searched whole)
SKETCH_FIT_ROWS = 5000  # bank rows the axes are fitted on (drawn with BANK_SEED): all 20,000 found the same neighbours
SKETCH_ITERATIONS = 2  # subspace iterations fitting them: 4 found the same neighbours (both at CANDIDATES rows)
SKETCH_CHUNK_BYTES = 8 << 20  # float32 rows read at a time while fitting and projecting: the build's peak is the features'
CANDIDATES = 500  # bank rows the sketch hands to the exact ranking (200 missed 2 of 3,600 neighbours, 500 none)
VERSION = 3  # of what a bank's cached files hold; a new version builds them again (2: features of the stored uint8
# pictures, so they do not depend on which model prepared the digits first; 3: with the sketch)
MAP_VERSION = 2  # of the map's cached file (the bank's version 3 left it as it was)
MAP_SIZE = 10_000  # the MNIST test split

Progress = Callable[[int, int], None]  # (done, total)


class NeighbourError(ValueError):
    """Neighbours or a map cannot be made for this model; the message says why."""


def cache_dir() -> Path:
    """``$DIGITLAB_FEATURES_CACHE`` (read on every call), else ``runs/cache/features``."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else paths.RUNS_DIR / "cache" / SUBDIR


# ----------------------------------------------------------------------------- features


@dataclass(frozen=True)
class Extractor:
    """The model's penultimate features and its outputs for prepared digits."""

    heads: tuple[str, ...]  # the Dense layer(s) whose input the features are
    dim: int  # features per digit
    run: Callable  # (N, 28, 28) float32 -> ((N, dim) float32 unit rows, (N,) predicted digit)

    def __call__(self, x: np.ndarray, batch: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, np.float32).reshape(-1, 28, 28)
        parts = [self.run(x[i : i + batch]) for i in range(0, len(x), batch)]
        if not parts:
            return np.zeros((0, self.dim), np.float32), np.zeros(0, np.int64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def describe(self) -> str:
        layers = ", ".join(f"`{h}`" for h in self.heads)
        return f"{self.dim} features per digit: the input of {layers}"


def _functional(model):
    """``model`` as a functional graph whose tensors can be followed: a Sequential loaded from a file
    keeps stale layer outputs in Keras 3 (gradients come back None), so its layers are called again on a fresh input."""
    import keras

    if not isinstance(model, keras.Sequential):
        return model
    inp = keras.Input(tuple(model.inputs[0].shape[1:]), name="features_image")
    x = inp
    for layer in model.layers:
        x = layer(x)
    return keras.Model(inp, x, name=f"{model.name}_graph")


def _heads(graph) -> list[tuple[object, object]]:
    """(Dense layer, its input tensor) for every Dense layer reached from the output through layers without weights."""
    import keras

    if len(graph.outputs) != 1:
        raise NeighbourError(f"expected one output, found {len(graph.outputs)}")
    found, seen = [], set()
    stack = [graph.outputs[0]]
    while stack:
        tensor = stack.pop()
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            raise NeighbourError("cannot follow the model's graph back from its output")
        op, node_index = history[0], history[1]
        if id(op) in seen:
            continue
        seen.add(id(op))
        node = op._inbound_nodes[node_index]
        if isinstance(op, keras.layers.InputLayer):
            raise NeighbourError("no Dense layer makes its class scores (the output is reached from the input through layers "
                                 "without weights), so it has no penultimate features to compare digits by")
        if isinstance(op, keras.layers.Dense):
            found.append((op, node.input_tensors[0]))
            continue
        if isinstance(op, keras.Model):
            raise NeighbourError(f"its output comes from the nested model {op.name!r}, whose inner layers cannot be reached; "
                                 "the neighbours need the input of the last Dense layer")
        if op.weights:
            raise NeighbourError(f"its class scores are not made by a Dense layer: {type(op).__name__} layer {op.name!r} "
                                 "(with weights) sits between the last Dense layer and the output")
        stack.extend(node.input_tensors)
    order = {id(layer): i for i, layer in enumerate(graph.layers)}
    return sorted(found, key=lambda pair: order.get(id(pair[0]), 0))


def feature_extractor(model) -> Extractor:
    """The penultimate features of any Keras 28x28 -> 10 classifier (see the module docstring).

    Raises NeighbourError with the reason for a model without a Dense classification layer."""
    import keras
    import tensorflow as tf

    from digitlab.models import adapter

    try:
        layout = adapter.check_signature(model)
    except adapter.ModelError as e:
        raise NeighbourError(str(e)) from e
    graph = _functional(model)
    heads = _heads(graph)
    probe = keras.Model(graph.inputs, [t for _, t in heads] + [graph.outputs[0]], name="features_probe")
    shape = adapter.batch_shape(layout)

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32)], reduce_retracing=True)
    def forward(x):
        out = probe(tf.reshape(x, shape), training=False)
        parts = [tf.math.l2_normalize(tf.reshape(t, [tf.shape(x)[0], -1]), axis=1) for t in out[:-1]]
        feats = tf.concat(parts, axis=1) / tf.sqrt(float(len(parts)))  # unit rows: cosine similarity is a dot product
        return feats, tf.argmax(out[-1], axis=1)

    def run(x):
        f, p = forward(x)
        return f.numpy(), p.numpy().astype(np.int64)

    dim = int(run(np.zeros((1, 28, 28), np.float32))[0].shape[1])
    return Extractor(tuple(layer.name for layer, _ in heads), dim, run)


_ONNX_WEIGHTED = ("Conv", "ConvTranspose", "BatchNormalization", "InstanceNormalization", "LayerNormalization", "LSTM", "GRU", "RNN",
                  "Gather", "Einsum")  # nodes with learned weights other than a Dense layer's MatMul / Gemm


def _onnx_heads(graph) -> list[str]:
    """Names of the tensors the MatMul / Gemm node(s) making the class scores read, walking back from the output
    through nodes without learned weights (softmax, scaling by a constant, a bias, an activation, the sum of an
    ensemble's members), as ``_heads`` walks a Keras graph."""
    constants = {t.name for t in graph.initializer} | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    made_by = {o: n for n in graph.node for o in n.output}
    order = {id(n): i for i, n in enumerate(graph.node)}
    if len(graph.output) != 1:
        raise NeighbourError(f"expected one output, found {len(graph.output)}")
    found, seen, stack = [], set(), [graph.output[0].name]
    while stack:
        name = stack.pop()
        node = made_by.get(name)
        if node is None:
            raise NeighbourError("no Dense layer makes its class scores (the output is reached from the input through layers "
                                 "without weights), so it has no penultimate features to compare digits by")
        if id(node) in seen:
            continue
        seen.add(id(node))
        inputs = [i for i in node.input if i]
        if node.op_type in ("MatMul", "Gemm") and len(inputs) >= 2 and inputs[1] in constants:
            found.append((order[id(node)], inputs[0]))
            continue
        if node.op_type in _ONNX_WEIGHTED:
            raise NeighbourError(f"its class scores are not made by a Dense layer: ONNX {node.op_type} node {node.name!r} "
                                 "sits between the last Dense layer and the output")
        stack.extend(i for i in inputs if i not in constants)
    return [name for _, name in sorted(found)]


def onnx_feature_extractor(onnx_path: Path) -> Extractor:
    """``feature_extractor`` for the model's served ONNX file (digitlab.serving.runtime.served_file): the same unit
    features and answers, computed by ONNX Runtime, so the app's neighbours and map need no TensorFlow and build
    several times faster.  The heads' input tensors become extra outputs of an in-memory copy of the graph.
    Raises NeighbourError for a graph whose scores are not made by a Dense layer (or a file ONNX cannot read)."""
    import onnx
    import onnxruntime as ort

    from digitlab.serving import backends

    try:
        proto = onnx.load(str(onnx_path))
    except Exception as e:  # a damaged or foreign file: onnx raises its own DecodeError, OSError, ...
        raise NeighbourError(f"cannot read {Path(onnx_path).name}: {e}") from e
    heads = _onnx_heads(proto.graph)
    output = proto.graph.output[0].name
    proto.graph.output.extend(onnx.helper.make_empty_tensor_value_info(h) for h in heads if h != output)
    try:
        session = ort.InferenceSession(proto.SerializeToString(), backends.session_options(), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail / InvalidGraph for a graph it cannot run
        raise NeighbourError(f"ONNX Runtime cannot run {Path(onnx_path).name} with its features as outputs: {e}") from e
    del proto
    names = [*heads, output]

    def run(x):
        out = session.run(names, {"image": np.ascontiguousarray(x, np.float32)})
        parts = []
        for f in out[:-1]:
            f = f.reshape(len(x), -1).astype(np.float32)
            parts.append(f / np.sqrt(np.maximum(np.square(f).sum(axis=1, keepdims=True), 1e-12)))  # as tf.math.l2_normalize
        feats = np.concatenate(parts, axis=1) / np.float32(np.sqrt(len(parts)))
        return feats.astype(np.float32), out[-1].argmax(axis=1).astype(np.int64)

    dim = int(run(np.zeros((1, 28, 28), np.float32))[0].shape[1])
    return Extractor(tuple(heads), dim, run)


def _extractor(model) -> Extractor:
    """``model`` when it is an Extractor already (the app passes its ONNX one), else the Keras model's."""
    return model if isinstance(model, Extractor) else feature_extractor(model)


# ----------------------------------------------------------------------------- the training digits


@dataclass
class Bank:
    """Penultimate features of training digits for one model file, read from the cache.

    features: (N, D) float16 unit rows (memory-mapped); labels: (N,) int; pictures: (N, 28, 28) uint8 model
    inputs (memory-mapped); indices: (N,) positions in digitlab's training split (``data.load().x_train``);
    sketch: the rows on the bank's top principal axes, or None for a bank searched whole."""

    features: np.ndarray
    labels: np.ndarray
    pictures: np.ndarray
    indices: np.ndarray
    meta: dict
    sketch: Sketch | None = None

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Sketch:
    """A bank's rows projected on its top principal axes: axes (D, K) float32 orthonormal columns, rows (N, K) float32."""

    axes: np.ndarray
    rows: np.ndarray

    def candidates(self, feature: np.ndarray, n: int) -> np.ndarray:
        """The ``n`` rows whose sketch is most similar to ``feature``'s (D,), in ascending order."""
        approx = self.rows @ (feature @ self.axes)
        return np.sort(np.argpartition(-approx, n - 1)[:n])


def _digits_stem(size: int, seed: int) -> str:
    return f"train-n{size}-s{seed}-p{preprocess.PREPROCESS_VERSION}"


def _bank_files(key: str, size: int, seed: int, folder: Path) -> dict[str, Path]:
    digits = _digits_stem(size, seed)
    stem = f"{key}-{digits}-v{VERSION}"
    return {
        "features": folder / f"{stem}.features.npy",
        "meta": folder / f"{stem}.json",  # written last: the bank is complete when it exists
        "sketch": folder / f"{stem}.sketch.npz",  # when the meta names one
        "pictures": folder / f"{digits}.pictures.npy",  # the same digits for every model
        "labels": folder / f"{digits}.labels.npz",
    }


def _open_bank(files: dict[str, Path]) -> Bank | None:
    if not all(files[k].is_file() for k in ("meta", "features", "pictures", "labels")):
        return None
    try:
        meta = json.loads(files["meta"].read_text())
        features = np.load(files["features"], mmap_mode="r")
        pictures = np.load(files["pictures"], mmap_mode="r")
        with np.load(files["labels"]) as f:
            labels, indices = f["labels"].astype(np.int64), f["indices"].astype(np.int64)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # (a JSONDecodeError is a ValueError)
        return None  # a damaged cache is built again, never trusted
    n = meta.get("size")
    if features.shape != (n, meta.get("dim")) or pictures.shape != (n, 28, 28) or len(labels) != n:
        return None
    sketch = None
    if meta.get("sketch"):
        try:
            with np.load(files["sketch"]) as f:
                sketch = Sketch(f["axes"], f["rows"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None
        k = meta["sketch"].get("dim")
        if sketch.axes.shape != (meta["dim"], k) or sketch.rows.shape != (n, k):
            return None
    return Bank(features, labels, pictures, indices, meta, sketch)


def _new_npy(target: Path, dtype, shape) -> tuple[Path, np.memmap]:
    """A memory-mapped .npy temp file beside ``target`` (filled chunk by chunk, then ``_commit``ted)."""
    from digitlab.files import temp_file

    tmp = temp_file(target, suffix=".tmp.npy")
    return tmp, np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)


def _commit(tmp: Path, array: np.memmap, target: Path) -> None:
    from digitlab.files import replace_durably

    array.flush()
    del array
    replace_durably(tmp, target)


def training_bank(model, key: str, *, size: int = BANK_SIZE, seed: int = BANK_SEED, folder: Path | None = None,
                  progress: Progress | None = None, build: bool = True) -> Bank | None:
    """The features of ``size`` training digits for the model file whose sha256 is ``key``.

    Read from the cache when it is there; else (``build``) computed now, chunk by chunk (``progress``
    is told (done, size)), and written atomically: a crash leaves no half bank behind.  The digits
    are ``data.load().indices("train", size, seed)`` of digitlab's training split, prepared by
    ``Mnist.inputs`` like training prepares them; their pictures are stored once for all
    models.  ``build=False``: None when it is not cached yet.  Raises NeighbourError for a model
    without a Dense classification layer, ``data.DataError`` when MNIST cannot be found.
    """
    folder = Path(folder) if folder is not None else cache_dir()
    files = _bank_files(key, size, seed, folder)
    bank = _open_bank(files)
    if bank is not None or not build:
        return bank
    from digitlab import data
    from digitlab.files import atomic_write_bytes, atomic_write_json

    t0 = time.perf_counter()
    extractor = _extractor(model)  # a model without a Dense head is refused before any work
    raw = data.load()  # memory maps: the digits read, not 55 MB of MNIST and its split copies
    idx = raw.indices("train", size, seed)
    n = len(idx)
    # the digits' pictures and labels are shared by every model's bank: prepared once, by the first model's build
    stages = 1 if _pictures_ok(files, n) else 2
    if stages == 2:
        _prepare_pictures(files["pictures"], lambda i: raw.inputs("train", indices=idx[i : i + CHUNK])[0], n,
                          progress and (lambda d, total: progress(d, 2 * total)))
        buf = io.BytesIO()
        np.savez(buf, labels=raw.y_train[idx].astype(np.uint8), indices=idx.astype(np.int32))
        atomic_write_bytes(files["labels"], buf.getvalue())
    pictures = np.load(files["pictures"], mmap_mode="r")
    ftmp, feats = _new_npy(files["features"], np.float16, (n, extractor.dim))
    try:
        for i in range(0, n, CHUNK):
            feats[i : i + CHUNK] = extractor(pictures[i : i + CHUNK].astype(np.float32) / 255, FORWARD)[0]
            if progress:
                progress((stages - 1) * n + min(i + CHUNK, n), stages * n)
        _commit(ftmp, feats, files["features"])
    finally:
        ftmp.unlink(missing_ok=True)
    t1 = time.perf_counter()
    sketch = _write_sketch(np.load(files["features"], mmap_mode="r"), files["sketch"], seed)
    atomic_write_json(files["meta"], {
        "model_sha256": key, "size": n, "seed": seed, "dim": extractor.dim, "heads": list(extractor.heads),
        "split": "train", "mnist": raw.fingerprint, "preprocess": preprocess.PREPROCESS_VERSION, "version": VERSION,
        "sketch": sketch and {**sketch, "seconds": round(time.perf_counter() - t1, 2)},
        "build_seconds": round(time.perf_counter() - t0, 2),
    })
    _remove_older_versions(files)
    bank = _open_bank(files)
    if bank is None:  # another process removed the files meanwhile
        raise NeighbourError(f"the features just written to {folder} cannot be read back")
    return bank


def _write_sketch(features: np.ndarray, target: Path, seed: int) -> dict | None:
    """The sketch of (N, D) bank rows (see the module docstring), written atomically to ``target``; what the bank's meta
    says of it, or None for a bank small enough to search whole (no more than SKETCH_DIM features or CANDIDATES rows)."""
    from digitlab.files import replace_durably, temp_file

    n, d = features.shape
    if d <= SKETCH_DIM or n <= CANDIDATES:
        target.unlink(missing_ok=True)
        return None
    fit = np.sort(np.random.default_rng(seed).choice(n, min(n, SKETCH_FIT_ROWS), replace=False))
    chunk = max(64, SKETCH_CHUNK_BYTES // (4 * d))
    _, components, _ = top_axes(features, SKETCH_DIM, centre=False, rows=fit, iterations=SKETCH_ITERATIONS, chunk=chunk)
    axes = np.ascontiguousarray(components.T)
    rows = np.empty((n, SKETCH_DIM), np.float32)
    for i, part in _rows(features, chunk):
        rows[i : i + len(part)] = part.astype(np.float32) @ axes
    tmp = temp_file(target, suffix=".tmp.npz")
    try:
        with open(tmp, "wb") as fh:  # straight to the file: a buffer in memory would add its size twice to the build's peak
            np.savez(fh, axes=axes, rows=rows)
        replace_durably(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return {"dim": SKETCH_DIM, "fit_rows": len(fit), "iterations": SKETCH_ITERATIONS, "candidates": CANDIDATES}


def _remove_older_versions(files: dict[str, Path]) -> None:
    """Delete the files of this model's bank cached by an older VERSION (hundreds of MB each, never read again)."""
    stem = files["meta"].name.removesuffix(".json")
    prefix = stem[: stem.rindex("-v") + 2]
    for old in files["meta"].parent.glob(f"{prefix}*"):
        version = old.name[len(prefix) :].split(".", 1)[0]
        if version.isdigit() and int(version) < VERSION:
            old.unlink(missing_ok=True)


def _pictures_ok(files: dict[str, Path], n: int) -> bool:
    try:
        with np.load(files["labels"]) as f:
            ok = len(f["labels"]) == n
        return ok and np.load(files["pictures"], mmap_mode="r").shape == (n, 28, 28)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return False


def _prepare_pictures(target: Path, chunk: Callable[[int], np.ndarray], n: int, progress: Progress | None) -> None:
    """Digits prepared a CHUNK at a time (``chunk(i)``: float32 (<= CHUNK, 28, 28) from digit i) into ``target``,
    (n, 28, 28) uint8, written atomically: the model inputs every model's features are computed from."""
    tmp, pics = _new_npy(target, np.uint8, (n, 28, 28))
    try:
        for i in range(0, n, CHUNK):
            x = chunk(i)
            pics[i : i + len(x)] = np.round(x * 255).astype(np.uint8)
            if progress:
                progress(min(i + CHUNK, n), n)
        _commit(tmp, pics, target)
    finally:
        tmp.unlink(missing_ok=True)


def _test_pictures_file(folder: Path) -> Path:
    return folder / f"test-n{MAP_SIZE}-p{preprocess.PREPROCESS_VERSION}.pictures.npy"


def _test_pictures_ok(folder: Path) -> bool:
    try:
        return np.load(_test_pictures_file(folder), mmap_mode="r").shape == (MAP_SIZE, 28, 28)
    except (OSError, ValueError):
        return False


def build_estimate(model, key: str, folder: Path | None = None, sample: int = 256) -> float:
    """Seconds a build of the bank and the map for the model file ``key`` would take now, roughly: ``sample`` test
    digits prepared and their features computed, scaled to the digits still to prepare (none once any model has
    built: they are shared) and the 30,000 to compute features of, plus OVERHEAD_S.  0 when both are cached.  Hints
    quote this instead of a figure measured on another machine or under another load, which still moves it while the
    build runs (evaluation/app_benchmark.py sets the app's estimate against the build it times)."""
    from digitlab import data

    folder = Path(folder) if folder is not None else cache_dir()
    files = _bank_files(key, BANK_SIZE, BANK_SEED, folder)
    bank_done, map_done = _open_bank(files) is not None, _open_map(_map_file(key, folder)) is not None
    if bank_done and map_done:
        return 0.0
    extractor = _extractor(model)
    raw = data.load()
    extractor(preprocess.prepare_batch(raw.x_test[:8]))  # MNIST loaded and the first run's set-up done, not timed
    t0 = time.perf_counter()
    x = preprocess.prepare_batch(raw.x_test[8 : 8 + sample])  # prepared here, never read from a cache: the build prepares
    t1 = time.perf_counter()
    feats, _ = extractor(x, FORWARD)
    t2 = time.perf_counter()
    to_prepare = BANK_SIZE * (not _pictures_ok(files, BANK_SIZE)) * (not bank_done) + MAP_SIZE * (not _test_pictures_ok(folder)) * (not map_done)
    to_run = BANK_SIZE * (not bank_done) + MAP_SIZE * (not map_done)
    return OVERHEAD_S + (to_prepare * (t1 - t0) + to_run * (t2 - t1)) / sample + (0.0 if bank_done else _sketch_estimate(feats))


def _sketch_estimate(feats: np.ndarray) -> float:
    """Seconds the bank's sketch would take now: its work is products of feature rows with SKETCH_DIM + 10 columns (each
    subspace iteration reads the fitted rows twice; then one pass for the axes, one for the variance, one projecting the
    whole bank), so it is timed on these rows (the best of three) and scaled; 0 for a bank searched whole."""
    d = feats.shape[1]
    if d <= SKETCH_DIM or BANK_SIZE <= CANDIDATES:
        return 0.0
    rows = np.tile(np.asarray(feats, np.float16), (max(1, 1024 // len(feats)), 1))  # ~1,000 rows: a product long enough to time
    probe = np.random.default_rng(0).standard_normal((d, SKETCH_DIM + 10)).astype(np.float32)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        rows.astype(np.float32) @ probe
        best = min(best, time.perf_counter() - t0)
    passes = min(BANK_SIZE, SKETCH_FIT_ROWS) * (2 * SKETCH_ITERATIONS + 2) + BANK_SIZE
    return best * passes / len(rows)


@dataclass(frozen=True)
class Neighbour:
    label: int
    distance: float  # cosine distance, 1 - cos: 0 = the same direction, 1 = unrelated, 2 = opposite
    picture: np.ndarray  # (28, 28) uint8, the training digit as the model saw it
    index: int  # position in digitlab's training split


def similarities(bank: Bank, feature: np.ndarray) -> np.ndarray:
    """(N,) cosine similarity of every bank digit to one unit feature vector (D,), read in chunks."""
    f = _query(bank, feature)
    out = np.empty(len(bank), np.float32)
    for i, rows in _rows(bank.features):
        out[i : i + len(rows)] = rows.astype(np.float32) @ f
    return out


def _query(bank: Bank, feature: np.ndarray) -> np.ndarray:
    """One input's features as a float32 vector the bank's rows can be compared with (NeighbourError otherwise)."""
    f = np.asarray(feature, np.float32).reshape(-1)
    if f.shape[0] != bank.features.shape[1]:
        raise NeighbourError(f"a feature vector of {f.shape[0]} numbers does not match the bank's {bank.features.shape[1]}")
    return f


def _file(features: np.ndarray) -> tuple[str, int] | None:
    """(file name, byte offset) of a C-ordered memory-mapped bank, read with plain file reads; None for other arrays."""
    name, offset = getattr(features, "filename", None), getattr(features, "offset", None)
    return None if name is None or offset is None or not features.flags.c_contiguous else (name, offset)


def _rows(features: np.ndarray, chunk: int = SEARCH_CHUNK):
    """(start, float16 rows) a ``chunk`` at a time.  A memory-mapped bank is read with plain file reads: pages
    touched through the map count in the server's resident memory (125 MB for mnist_cnn's bank after one search),
    pages read stay in the kernel's page cache, outside it."""
    n, d = features.shape
    if (found := _file(features)) is None:
        for i in range(0, n, chunk):
            yield i, np.asarray(features[i : i + chunk])
        return
    name, offset = found
    size = features.dtype.itemsize * d
    with open(name, "rb") as fh:
        fh.seek(offset)
        for i in range(0, n, chunk):
            rows = min(chunk, n - i)
            yield i, np.frombuffer(fh.read(rows * size), features.dtype).reshape(rows, d)


def _read_rows(features: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """float16 rows ``idx`` (ascending) of the bank's features, read with plain file reads (see ``_rows``)."""
    if (found := _file(features)) is None:
        return np.asarray(features[idx])
    name, offset = found
    size = features.dtype.itemsize * features.shape[1]
    out = np.empty((len(idx), features.shape[1]), features.dtype)
    fd = os.open(name, os.O_RDONLY)
    try:
        for j, i in enumerate(idx.tolist()):
            out[j] = np.frombuffer(os.pread(fd, size, offset + i * size), features.dtype)
    finally:
        os.close(fd)
    return out


def nearest(bank: Bank, feature: np.ndarray, k: int = NEIGHBOURS, *, exhaustive: bool = False) -> list[Neighbour]:
    """The ``k`` bank digits closest to ``feature`` (one input's unit features), closest first: among the CANDIDATES
    its sketch ranks first, by their full features (``exhaustive`` or a bank without a sketch: among all rows)."""
    f = _query(bank, feature)
    if bank.sketch is None or exhaustive:
        rows, sims = np.arange(len(bank)), similarities(bank, f)
    else:
        rows = bank.sketch.candidates(f, min(CANDIDATES, len(bank)))
        sims = _read_rows(bank.features, rows).astype(np.float32) @ f
    k = min(k, len(sims))
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top], kind="stable")]
    return [Neighbour(int(bank.labels[rows[i]]), float(1.0 - sims[i]), np.array(bank.pictures[rows[i]]), int(bank.indices[rows[i]]))
            for i in top]


def majority(neighbours: list[Neighbour]) -> tuple[int, int]:
    """(the most common label among ``neighbours``, how many have it); ties go to the closer digit's label."""
    votes = Counter(n.label for n in neighbours)  # insertion order = closest first, which most_common keeps for ties
    return votes.most_common(1)[0]


def agreement_sentence(neighbours: list[Neighbour], predicted: int) -> str:
    """One sentence comparing the neighbours' labels with the model's answer."""
    if not neighbours:
        return "No training digits to compare with."
    top, count = majority(neighbours)
    votes = Counter(n.label for n in neighbours)
    k = len(neighbours)
    others = ", ".join(f"{c}× {d}" for d, c in votes.most_common() if d != top)
    mix = f" (the rest: {others})" if others else ""
    if top == predicted:
        return f"{count} of the {k} closest training digits are {top}s{mix}: they agree with the model's answer, {predicted}."
    same = votes.get(predicted, 0)
    return (f"{count} of the {k} closest training digits are {top}s{mix}, {same} {'is a' if same == 1 else 'are'} {predicted}: "
            f"the model reads {predicted}, but in its own feature space your digit sits among {top}s.")


# ----------------------------------------------------------------------------- the map


@dataclass
class DigitMap:
    """The MNIST test set in the model's feature space, projected to 2-D by PCA.

    xy: (N, 2) float32; labels, predicted: (N,) int (the true digit, the model's answer);
    mean: (D,) and components: (2, D) float32, the fitted projection; explained: (2,) variance ratios."""

    xy: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    mean: np.ndarray
    components: np.ndarray
    explained: np.ndarray
    meta: dict


def _map_file(key: str, folder: Path) -> Path:
    return folder / f"{key}-map-test-p{preprocess.PREPROCESS_VERSION}-v{MAP_VERSION}.npz"


def _open_map(path: Path) -> DigitMap | None:
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in ("xy", "labels", "predicted", "mean", "components", "explained", "meta")}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # (a JSONDecodeError is a ValueError)
        return None
    return DigitMap(**arrays, meta=meta)


def pca2(features: np.ndarray, seed: int = 0, iterations: int = 7, block: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top two principal axes of (N, D) rows (any float dtype, e.g. float16 or a memory map):
    (mean (D,), components (2, D), explained variance ratio (2,)), all float32 (``top_axes``, centred).
    ``tests/test_neighbours.py`` checks it finds scikit-learn's axes."""
    return top_axes(features, 2, seed=seed, iterations=iterations, oversample=block - 2)


def top_axes(features: np.ndarray, k: int, *, centre: bool = True, rows: np.ndarray | None = None, seed: int = 0,
             iterations: int = 7, oversample: int = 10, chunk: int = SEARCH_CHUNK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top ``k`` principal axes of (N, D) rows (any float dtype, e.g. float16 or a memory map), or of the ``rows``
    (ascending indices) among them: (mean (D,), zeros when not ``centre``d; components (k, D); explained variance
    ratio (k,)), all float32.  ``chunk``: rows read at a time (each costs a few float32 copies of itself).

    The randomised subspace iteration scikit-learn's ``PCA(svd_solver="randomized")`` runs
    (Halko et al. 2011), but reading the rows a chunk at a time: scikit-learn's needed ~450 MB more
    for 10,000 x 3136 features (``mnist_cnn`` at width 32: a float32 copy, a centred copy and more), this
    ~30 MB.
    """
    d = features.shape[1]
    n = features.shape[0] if rows is None else len(rows)
    block = k + oversample

    def chunks():  # float32 rows, a chunk at a time, read with plain file reads from a memory-mapped bank (``_rows``)
        if rows is None:
            for i, part in _rows(features, chunk):
                yield i, part.astype(np.float32)
        else:
            for i in range(0, n, chunk):
                yield i, _read_rows(features, rows[i : i + chunk]).astype(np.float32)

    mean64 = np.zeros(d)
    if centre:
        for _, c in chunks():
            mean64 += c.sum(axis=0, dtype=np.float64)
    mean = (mean64 / n).astype(np.float32)
    total = sum(float(np.square(c - mean).sum(dtype=np.float64)) for _, c in chunks())

    def centred(c):
        return c - mean if centre else c

    def times(q):  # X_c @ q: (n, k)
        out = np.empty((n, q.shape[1]), np.float32)
        for i, c in chunks():
            out[i : i + len(c)] = centred(c) @ q
        return out

    def times_t(z):  # X_cᵀ @ z: (d, k)
        out = np.zeros((d, z.shape[1]), np.float32)
        for i, c in chunks():
            out += centred(c).T @ z[i : i + len(c)]
        return out

    q = _orth(np.random.default_rng(seed).standard_normal((d, block)).astype(np.float32))
    for _ in range(iterations):
        q = _orth(times_t(_orth(times(q))))
    _, s, vt = np.linalg.svd(times(q), full_matrices=False)
    components = (q @ vt.T)[:, :k].T
    # the sign of an axis is arbitrary: make each one's largest entry positive, so maps do not flip between builds
    components *= np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])[:, None]
    explained = s[:k] ** 2 / total if total > 0 else np.zeros(k)
    return mean.astype(np.float32), components.astype(np.float32), explained.astype(np.float32)


def _orth(a: np.ndarray) -> np.ndarray:
    """An orthonormal basis of a tall, thin matrix's columns.  One BLAS thread: OpenBLAS's threads made each
    (10000, 12) QR take ~110 ms instead of ~2 ms on a busy 2-core machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        return np.linalg.qr(a)[0]


def digit_map(model, key: str, *, folder: Path | None = None, progress: Progress | None = None, build: bool = True) -> DigitMap | None:
    """The 2-D map of the 10,000 MNIST test digits for the model file whose sha256 is ``key``: cached,
    or (``build``) computed now (~10 s for ``mnist_cnn``; ``progress`` is told (done, 10000)) and
    written atomically.  ``build=False``: None when it is not cached yet.  Raises like ``training_bank``."""
    folder = Path(folder) if folder is not None else cache_dir()
    path = _map_file(key, folder)
    found = _open_map(path)
    if found is not None or not build:
        return found
    from digitlab import data
    from digitlab.files import atomic_write_bytes

    t0 = time.perf_counter()
    extractor = _extractor(model)
    raw = data.load()  # memory maps: the digits read, not 55 MB of MNIST and its split copies
    n = len(raw.x_test)
    if n != MAP_SIZE:
        raise NeighbourError(f"the MNIST test split has {n:,} digits, not {MAP_SIZE:,}")
    stages = 1 if _test_pictures_ok(folder) else 2
    if stages == 2:  # the test digits' pictures, shared by every model's map
        _prepare_pictures(_test_pictures_file(folder), lambda i: raw.inputs("test", indices=np.arange(i, min(i + CHUNK, n)))[0],
                          n, progress and (lambda d, total: progress(d, 2 * total)))
    pictures = np.load(_test_pictures_file(folder), mmap_mode="r")
    feats = np.empty((n, extractor.dim), np.float16)  # 2 bytes x 10,000 x D (125 MB for mnist_cnn's 6272); gone when the map is made
    predicted = np.empty(n, np.int64)
    for i in range(0, n, CHUNK):
        feats[i : i + CHUNK], predicted[i : i + CHUNK] = extractor(pictures[i : i + CHUNK].astype(np.float32) / 255, FORWARD)
        if progress:
            progress((stages - 1) * n + min(i + CHUNK, n), stages * n)
    mean, components, explained = pca2(feats)
    xy = project(feats, mean, components)
    del feats
    meta = {"model_sha256": key, "size": n, "dim": extractor.dim, "heads": list(extractor.heads), "split": "test",
            "mnist": raw.fingerprint, "preprocess": preprocess.PREPROCESS_VERSION, "version": MAP_VERSION,
            "build_seconds": round(time.perf_counter() - t0, 2)}
    buf = io.BytesIO()
    np.savez(buf, xy=xy, labels=raw.y_test.astype(np.int64), predicted=predicted, mean=mean, components=components,
             explained=explained, meta=np.array(json.dumps(meta)))
    atomic_write_bytes(path, buf.getvalue())
    return DigitMap(xy, raw.y_test.astype(np.int64), predicted, mean, components, explained, meta)


def project(features: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """(N, D) features -> (N, 2) map coordinates, in chunks (float32)."""
    features = np.asarray(features) if not isinstance(features, np.ndarray) else features
    flat = features.reshape(-1, features.shape[-1])
    out = np.empty((len(flat), 2), np.float32)
    for i in range(0, len(flat), SEARCH_CHUNK):
        out[i : i + SEARCH_CHUNK] = (flat[i : i + SEARCH_CHUNK].astype(np.float32) - mean) @ components.T
    return out


def place(digit_map: DigitMap, feature: np.ndarray) -> tuple[float, float]:
    """Where one input's unit features (D,) fall on the map."""
    f = np.asarray(feature, np.float32).reshape(1, -1)
    if f.shape[1] != digit_map.mean.shape[0]:
        raise NeighbourError(f"a feature vector of {f.shape[1]} numbers does not match the map's {digit_map.mean.shape[0]}")
    x, y = project(f, digit_map.mean, digit_map.components)[0]
    return float(x), float(y)
