"""Weight exchange in the canonical layout (``dlae_core.running.weights``): the Keras layout, so the
variables of each layer are exported and imported as they are, keyed by their Keras names."""

from __future__ import annotations

import numpy as np

from dlae_core.errors import WeightExchangeError
from dlae_core.running.weights import check_compatible

from dlae_tensorflow import require_tensorflow_keras

keras = require_tensorflow_keras()


def _inner_path(layer, variable) -> str:
    path = getattr(variable, "path", variable.name)
    return path[len(layer.name) + 1:] if path.startswith(layer.name + "/") else path


def _layer_variables(model, node) -> dict:
    """The node's variables keyed by their Keras names (``kernel``, ``gamma``, ...); a layer that nests
    sublayers with the same variable names (a plugin block of two Dense layers, say) is keyed by the
    variables' paths inside the layer instead (``reduce/kernel``, ``expand/kernel``)."""
    try:
        layer = model.get_layer(node.name)
    except ValueError as exc:
        raise WeightExchangeError(f"node {node.name} has no layer in the tensorflow model") from exc
    names = [v.name.rsplit("/", 1)[-1] for v in layer.weights]
    if len(set(names)) < len(names):
        names = [_inner_path(layer, v) for v in layer.weights]
    if len(set(names)) < len(names):
        raise WeightExchangeError(f"node {node.name}: the tensorflow layer has several weights named alike "
                           f"({', '.join(sorted(names))}); its weights cannot be exchanged by name")
    return dict(zip(names, layer.weights))


def _weighted_nodes(model, graph):
    for node in graph.nodes:
        if node.op in ("layer", "merge"):
            variables = _layer_variables(model, node)
            if variables:
                yield node, variables


def export_weights(model, graph) -> dict[str, dict[str, np.ndarray]]:
    """``{node name: {weight name: array}}`` of every node with weights (copies, Keras layout)."""
    return {node.name: {name: np.array(v.numpy()) for name, v in variables.items()}
            for node, variables in _weighted_nodes(model, graph)}


def import_weights(model, graph, weights: dict) -> None:
    """Assign canonical-layout ``weights`` to ``model``; WeightExchangeError (listing every difference)
    unless the nodes, names and shapes match exactly."""
    targets = {node.name: variables for node, variables in _weighted_nodes(model, graph)}
    check_compatible(weights, targets, ("the weights to import", "the tensorflow model"))
    for node_name, variables in targets.items():
        for name, v in variables.items():
            v.assign(np.asarray(weights[node_name][name]).astype(v.dtype))
