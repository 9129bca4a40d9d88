"""The model graph of the run's TensorBoard log (Backend.model_graph): the Keras model's forward
pass traced by ``tf.function`` on a batch of one (inference mode), as TensorFlow's own GraphDef, the
graph TensorBoard's Graphs tab draws for Keras models. Mirrors dlae_torch.tensorboard_graph."""

from __future__ import annotations

import contextlib

import tensorflow as tf


def model_graph(model, input_shapes: list[tuple[int, ...]], placement=None) -> bytes:
    """The serialized GraphDef of ``model`` on inputs of ``input_shapes`` (no batch axis), traced in
    ``placement``'s scope (its device and distribution strategy) when given."""
    specs = [tf.TensorSpec((1, *shape), tf.float32, name=f"input_{i}") for i, shape in enumerate(input_shapes)]

    @tf.function
    def forward(*inputs):
        return model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    with placement.scope() if placement is not None else contextlib.nullcontext():
        return forward.get_concrete_function(*specs).graph.as_graph_def().SerializeToString()
