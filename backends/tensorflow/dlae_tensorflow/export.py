"""Exporting a Keras model (:meth:`TensorflowBackend.export_model`): ONNX through tf2onnx (a
``tf.function`` over the model in inference mode with a dynamic batch axis) and a TensorFlow
SavedModel through ``keras.Model.export``. The model keeps dlae's boundary: channels-last float32
input, channels-last output."""

from __future__ import annotations

import contextlib
import logging
import warnings

import tensorflow as tf

from dlae_core.medical import require

OPSET = 18


def export_model(model, input_shape: tuple[int, ...], fmt: str, path: str) -> dict:
    """Write ``model`` to ``path`` (see Backend.export_model)."""
    spec = (tf.TensorSpec((None, *input_shape), tf.float32, name="input"),)

    @tf.function(input_signature=spec)
    def forward(x):
        return tf.cast(model(x, training=False), tf.float32)

    if fmt == "savedmodel":
        module = tf.Module()
        module.model = model  # tracked: the function's variables are saved with it
        module.serve = forward
        tf.saved_model.save(module, path, signatures={"serving_default": forward})
        return {"input_name": "input", "output_name": "output_0", "batch": None}
    tf2onnx = require("tf2onnx")
    with _quiet():
        proto, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=OPSET, output_path=path)
    return {"input_name": proto.graph.input[0].name, "output_name": proto.graph.output[0].name, "batch": None}


@contextlib.contextmanager
def _quiet():
    """tf2onnx logs every conversion step; only its errors matter here."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
