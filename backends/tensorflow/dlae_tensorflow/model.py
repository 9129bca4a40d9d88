"""``build_model``: a Keras functional model built node by node from a :class:`dlae_core.planning.graph.Graph`.

Tensors are channels-last (N, rows, cols[, slices], C) inside and at the boundary, as in the IR.
Every layer/merge node becomes one Keras layer named ``node.name`` (weights read
``convolution_2d_1/kernel``); input nodes become ``keras.Input`` named ``node.name``.
"""

from __future__ import annotations

from dlae_core.errors import BackendError, MissingImplementationError

from dlae_tensorflow import require_tensorflow_keras
from dlae_tensorflow.layers import merge_layer

keras = require_tensorflow_keras()
ops = keras.ops


def _split_builders(builders: dict, activations: dict | None) -> tuple[dict, dict | None]:
    """``builders``: ``registry.builders("tensorflow")`` (kind -> name -> builder), or just its
    ``"layer"`` dict with the ``"activation"`` dict passed as ``activations``."""
    if isinstance(builders.get("layer"), dict):
        return builders["layer"], activations if activations is not None else builders.get("activation")
    return builders, activations or None


def build_layer(node, graph, layer_builders: dict, activation_builders: dict | None = None):
    """The Keras layer of one ``layer`` node (named ``node.name``)."""
    spec = node.spec
    builder = layer_builders.get(spec.type)
    if builder is None:
        raise MissingImplementationError(f"layer type {spec.type!r} (node {node.name}) has no tensorflow implementation; "
                           f"the plugin that registers it must register a tensorflow builder")
    input_shape = tuple(graph.nodes[node.inputs[0]].output_shape)
    if spec.type == "Activation" and activation_builders is not None:
        name = spec["activation"]
        if name not in activation_builders:
            raise MissingImplementationError(f"activation {name!r} (node {node.name}) has no tensorflow implementation")
        layer = activation_builders[name]()
    else:
        layer = builder(spec, input_shape)
    if not isinstance(layer, keras.layers.Layer):
        raise BackendError(f"the tensorflow builder of {spec.type!r} (node {node.name}) returned "
                           f"{type(layer).__name__}, not a keras.layers.Layer")
    layer.name = node.name
    if node.frozen:  # freeze_pretrained: Keras then also runs BatchNormalization in inference mode
        layer.trainable = False
    return layer


def build_model(graph, builders: dict, activations: dict | None = None, *,
                outputs: tuple[int, ...] | None = None) -> keras.Model:
    """The graph as a ``keras.Model`` named after its layer list. Its inputs are the graph inputs in
    order; its output is the graph output, or the nodes listed in ``outputs`` (e.g. the output and
    the BBD hooks) as a list."""
    layer_builders, activation_builders = _split_builders(builders, activations)
    tensors: dict[int, object] = {}
    for node in graph.nodes:
        if node.op == "input":
            tensors[node.id] = keras.Input(shape=tuple(node.output_shape), name=node.name)
            continue
        if node.op == "merge":
            merge = merge_layer(node.mode, node.scales)
            merge.name = node.name
            tensors[node.id] = merge([tensors[i] for i in node.inputs])
        elif node.op == "layer":
            tensors[node.id] = build_layer(node, graph, layer_builders, activation_builders)(tensors[node.inputs[0]])
        else:
            raise BackendError(f"node {node.name}: unknown graph op {node.op!r}")
        got = tuple(tensors[node.id].shape[1:])
        if None not in got and got != tuple(node.output_shape):
            raise BackendError(f"node {node.name} ({node.spec.type if node.spec else node.mode}): the tensorflow "
                               f"layer gives the shape {got}, the graph expects {tuple(node.output_shape)}")
    inputs = [tensors[i] for i in graph.inputs]
    wanted = [tensors[i] for i in outputs] if outputs is not None else tensors[graph.output]
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], wanted, name=graph.list_name)


def regularization_loss(model: keras.Model):
    """Sum of the kernel penalties plus the activity penalties of the latest forward (float32 scalar)."""
    losses = model.losses
    if not losses:
        return ops.zeros((), dtype="float32")
    total = ops.cast(losses[0], "float32")
    for term in losses[1:]:
        total = total + ops.cast(term, "float32")
    return total


def count_params(model: keras.layers.Layer) -> tuple[int, int]:
    """(trainable, non-trainable) weight counts as Keras counts them (seed states excluded)."""
    def size(variables) -> int:
        total = 0
        for v in variables:
            n = 1
            for d in v.shape:
                n *= int(d)
            total += n
        return total

    return size(model.trainable_weights), size(model.non_trainable_weights)
