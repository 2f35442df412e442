"""Export a model to deployable formats, and check each export against the Keras original.

Every graph format (SavedModel, TFLite, ONNX) gets the same interface whatever the
model's own layout (28x28x1, 28x28 or 784) or head (softmax or logits):

    input  "image"          float32 (N, 28, 28) in [0, 1], light ink on black, from digitlab.preprocess
    output "probabilities"  float32 (N, 10)

so a consumer (a browser page, a phone, a server) only has to reproduce the
preprocessing, never the model's quirks.  ``.h5`` is the Keras model itself in the
legacy HDF5 format (for tools that still want it); it keeps the model's own layout.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from digitlab import artifacts, preprocess

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
ONNX_OPSET = 17  # onnxruntime 1.31 and onnxruntime-web 1.30 both run it
_RESHAPE = {"28x28x1": (-1, 28, 28, 1), "28x28": (-1, 28, 28), "784": (-1, 784)}


def _source(model_or_entry) -> tuple[object, str, str, str]:
    """(keras model, layout, outputs, name) from a ModelEntry, a keras.Model, or a model name / file."""
    if isinstance(model_or_entry, (str, Path)):
        model_or_entry = artifacts.resolve(str(model_or_entry))
    if isinstance(model_or_entry, artifacts.ModelEntry):
        e = model_or_entry
        if not e.usable:
            raise artifacts.ModelError(f"model {e.name} is unusable: {e.reason}")
        model = e.model if e.model is not None else artifacts.load_model(e.path)
        return model, e.layout, e.outputs, e.name
    layout, outputs = artifacts.check_classifier(model_or_entry)  # raises ModelError for a non-classifier
    return model_or_entry, layout, outputs, getattr(model_or_entry, "name", "model")


def serving_function(model, layout: str, outputs: str):
    """The one exported interface as a traced function: image (N, 28, 28) -> {"probabilities": (N, 10)}."""
    shape = _RESHAPE[layout]
    softmax = outputs == "logits"

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name=INPUT_NAME)])
    def serve(image):
        y = model(tf.reshape(image, shape), training=False)
        y = tf.nn.softmax(y) if softmax else y
        return {OUTPUT_NAME: tf.identity(y, name=OUTPUT_NAME)}

    return serve


def _metadata(name: str) -> dict[str, str]:
    """What a consumer needs to know, stored inside the exported file where the format allows."""
    return {
        "digitlab.model": name,
        "digitlab.preprocess_version": preprocess.PREPROCESS_VERSION,
        "digitlab.input": f"{INPUT_NAME}: float32 (N, 28, 28) in [0, 1], light ink on black, centred as in MNIST (digitlab.preprocess)",
        "digitlab.output": f"{OUTPUT_NAME}: float32 (N, 10), softmax over digits 0-9",
    }


def to_onnx(model_or_entry, path) -> Path:
    """Write an ONNX file (opset ONNX_OPSET) with input "image" (N, 28, 28) and output "probabilities" (N, 10).

    Goes through tf2onnx ``from_function`` on the serving function: ``from_keras`` fails on
    Sequential models, and the traced function also hides the model's layout and head.
    The write is atomic.
    """
    import tf2onnx

    model, layout, outputs, name = _source(model_or_entry)
    serve = serving_function(model, layout, outputs)
    proto, _ = tf2onnx.convert.from_function(serve, input_signature=serve.input_signature, opset=ONNX_OPSET)
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"  # tf2onnx names it "unk__NN"
    for key, value in _metadata(name).items():
        proto.metadata_props.add(key=key, value=value)
    path = Path(path)
    artifacts.atomic_write_bytes(path, proto.SerializeToString())
    return path
