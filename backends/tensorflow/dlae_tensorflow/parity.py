"""The tensorflow side of ``dlae check`` (dlae_core.running.parity): build a graph, exchange weights in the
canonical layout, run a forward pass and a loss on numpy arrays (fp32, inference mode)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from dlae_tensorflow import require_tensorflow_keras
from dlae_tensorflow import weights as _weights
from dlae_tensorflow.model import build_model
from dlae_tensorflow.model import count_params as _count_params

keras = require_tensorflow_keras()
NAME = "tensorflow"


def build(graph, registry):
    """The graph's Keras model (seeded initialization, float32 policy)."""
    keras.utils.set_random_seed(0)
    return build_model(graph, registry.builders(NAME))


def count_params(model) -> tuple[int, int]:
    return _count_params(model)


def export_weights(model, graph) -> dict:
    return _weights.export_weights(model, graph)


def import_weights(model, graph, weights: dict) -> None:
    _weights.import_weights(model, graph, weights)


def forward(model, inputs: list[np.ndarray]) -> np.ndarray:
    """The graph output (channels-last float32) for channels-last ``inputs`` (one per graph input)."""
    tensors = [tf.constant(np.asarray(x, np.float32)) for x in inputs]
    out = model(tensors if len(tensors) > 1 else tensors[0], training=False)
    return np.asarray(tf.cast(out, tf.float32).numpy())


def loss_value(registry, loss: str, context, outputs: np.ndarray, targets: np.ndarray) -> float:
    """Loss ``loss`` (built with the LossContext ``context``) of ``outputs`` against ``targets``."""
    builder = registry.builders(NAME)["loss"].get(loss)
    if builder is None:
        from dlae_core.errors import MissingImplementationError
        from dlae_core.training.data_setup import missing_loss_message

        raise MissingImplementationError(missing_loss_message(loss, NAME, NAME))
    fn = builder(context)
    return float(fn(tf.constant(outputs, tf.float32), tf.constant(targets, tf.float32)))
