"""Session setup on torch: the model and loss from the run's config; the data side is the core's
(:mod:`dlae_core.training.data_setup`, re-exported here for the trainer)."""

from __future__ import annotations

import torch

from dlae_core.errors import BackendError
from dlae_core.running.run import Run
from dlae_core.training.data_setup import DataSetup, loss_context, missing_loss_message, prepare_data

from dlae_torch.device import Placement
from dlae_torch.model import GraphModel

__all__ = ["DataSetup", "prepare_data", "build_model", "make_loss"]


def build_model(graph, builders: dict, placement: Placement) -> torch.nn.Module:
    model = GraphModel(graph, builders["layer"], builders["activation"]).to(placement.device)
    if placement.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def make_loss(run: Run, builders: dict, data: DataSetup | None):
    """The configured loss as a callable ``(pred, target) -> scalar``."""
    name = run.config.loss_function.loss
    builder = builders["loss"].get(name)
    if builder is None:
        raise BackendError(missing_loss_message(name, "PyTorch", "torch"))
    return builder(loss_context(run, data))
