"""The torch side of ``dlae check`` (dlae_core.running.parity): build a graph, exchange weights in the
canonical layout, run a forward pass and a loss on numpy arrays (fp32, CPU, inference mode)."""

from __future__ import annotations

import numpy as np
import torch

from dlae_torch import weights as _weights
from dlae_torch.model import GraphModel
from dlae_torch.model import count_params as _count_params

NAME = "torch"


def build(graph, registry):
    """The graph's torch module in inference mode (seeded initialization)."""
    torch.manual_seed(0)
    return GraphModel(graph, registry.builders(NAME)).eval()


def count_params(model) -> tuple[int, int]:
    return _count_params(model)


def export_weights(model, graph) -> dict:
    return _weights.export_weights(model, graph)


def import_weights(model, graph, weights: dict) -> None:
    _weights.import_weights(model, graph, weights)


@torch.no_grad()
def forward(model, inputs: list[np.ndarray]) -> np.ndarray:
    """The graph output (channels-last float32) for channels-last ``inputs`` (one per graph input)."""
    model.eval()
    out = model(*[torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32) for x in inputs])
    return out.detach().float().cpu().numpy()


@torch.no_grad()
def loss_value(registry, loss: str, context, outputs: np.ndarray, targets: np.ndarray) -> float:
    """Loss ``loss`` (built with the LossContext ``context``) of ``outputs`` against ``targets``."""
    builder = registry.builders(NAME)["loss"].get(loss)
    if builder is None:
        from dlae_core.errors import BackendError
        from dlae_core.training.data_setup import missing_loss_message

        raise BackendError(missing_loss_message(loss, NAME, NAME))
    fn = builder(context)
    return float(fn(torch.as_tensor(outputs, dtype=torch.float32), torch.as_tensor(targets, dtype=torch.float32)))
