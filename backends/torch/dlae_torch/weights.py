"""Weight exchange in the canonical layout (``dlae_core.running.weights``): the Keras layout. Each module
kind converts between its torch parameters/buffers and the Keras names and shapes; a plugin module
provides ``export_keras_weights() -> dict`` and ``import_keras_weights(dict)`` itself."""

from __future__ import annotations

import numpy as np
import torch

from dlae_core.errors import WeightExchangeError
from dlae_core.running.weights import check_compatible

from dlae_torch.initializers import conv_to_torch, depthwise_to_torch, dense_to_torch
from dlae_torch.layers import BatchNorm, Dense, PReLU
from dlae_torch.layers_conv import Conv, DepthwiseConv, SeparableConv, TransposeConv


# -- torch layout -> Keras layout (the inverses of the initializers' converters) ----------------------
def conv_from_torch(weight: torch.Tensor) -> torch.Tensor:
    """torch (out, in, k1, ..., kd) -> Keras (k1, ..., kd, in, out); also transposed convs: torch
    (in, out, k..) -> Keras (k.., out, in)."""
    d = weight.dim() - 2
    return weight.permute(*range(2, d + 2), 1, 0)


def depthwise_from_torch(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """torch grouped (in * mult, 1, kh, kw) -> Keras depthwise (kh, kw, in, mult)."""
    out, _, kh, kw = weight.shape
    return weight.reshape(channels, out // channels, kh, kw).permute(2, 3, 0, 1)


def dense_from_torch(weight: torch.Tensor) -> torch.Tensor:
    """torch (out, in) -> Keras (in, out)."""
    return weight.T


# name -> (torch attribute, torch -> Keras, Keras -> torch); ``channels``: the node's input channels
def _table(module, channels: int) -> dict[str, tuple]:
    same = (lambda w: w, lambda k: k)
    if isinstance(module, (Conv, TransposeConv)):
        return {"kernel": ("weight", conv_from_torch, conv_to_torch), "bias": ("bias", *same)}
    if isinstance(module, SeparableConv):
        return {"depthwise_kernel": ("depthwise_weight", lambda w: depthwise_from_torch(w, channels),
                                     depthwise_to_torch),
                "pointwise_kernel": ("pointwise_weight", conv_from_torch, conv_to_torch),
                "bias": ("bias", *same)}
    if isinstance(module, DepthwiseConv):
        return {"kernel": ("weight", lambda w: depthwise_from_torch(w, channels), depthwise_to_torch),
                "bias": ("bias", *same)}
    if isinstance(module, Dense):
        return {"kernel": ("weight", dense_from_torch, dense_to_torch), "bias": ("bias", *same)}
    if isinstance(module, BatchNorm):
        return {"gamma": ("weight", *same), "beta": ("bias", *same), "moving_mean": ("running_mean", *same),
                "moving_variance": ("running_var", *same)}
    if isinstance(module, PReLU):
        return {"alpha": ("alpha", *same)}
    return {}


def _has_state(module) -> bool:
    if next(module.parameters(), None) is not None:
        return True
    return any(b.is_floating_point() for name, b in module.named_buffers() if name != "num_batches_tracked")


def _module(model, node):
    module = model._modules.get(node.name)
    if module is None:
        raise WeightExchangeError(f"node {node.name} has no module in the torch model")
    return module


def _channels(graph, node) -> int:
    return int(graph.nodes[node.inputs[0]].output_shape[-1])


def _export_module(module, graph, node) -> dict[str, np.ndarray]:
    if callable(getattr(module, "export_keras_weights", None)):
        return {k: np.array(v, copy=True) for k, v in module.export_keras_weights().items()}
    table = _table(module, _channels(graph, node))
    if not table:
        if _has_state(module):
            raise WeightExchangeError(f"node {node.name}: the torch module {type(module).__name__} has weights but no "
                               f"canonical layout (give it export_keras_weights/import_keras_weights)")
        return {}
    with torch.no_grad():
        return {name: to_keras(getattr(module, attr).detach().float().cpu()).contiguous().numpy().copy()
                for name, (attr, to_keras, _) in table.items() if getattr(module, attr) is not None}


def export_weights(model, graph) -> dict[str, dict[str, np.ndarray]]:
    """``{node name: {weight name: float32 array}}`` of every node with weights, in the Keras layout."""
    out = {}
    for node in graph.nodes:
        if node.op in ("layer", "merge"):
            values = _export_module(_module(model, node), graph, node)
            if values:
                out[node.name] = values
    return out


def import_weights(model, graph, weights: dict) -> None:
    """Copy canonical-layout ``weights`` into ``model``; BackendError (listing every difference)
    unless the nodes, names and shapes match exactly."""
    check_compatible(weights, export_weights(model, graph), ("the weights to import", "the torch model"))
    for node in graph.nodes:
        if node.name not in weights:
            continue
        module, values = _module(model, node), weights[node.name]
        if callable(getattr(module, "import_keras_weights", None)):
            module.import_keras_weights(values)
            continue
        with torch.no_grad():
            for name, (attr, _, to_torch) in _table(module, _channels(graph, node)).items():
                target = getattr(module, attr)
                if target is None:  # an option left this weight out (no bias, no BatchNorm scale)
                    continue
                value = to_torch(torch.as_tensor(np.asarray(values[name]), dtype=torch.float32))
                target.copy_(value.reshape(target.shape).to(device=target.device, dtype=target.dtype))
