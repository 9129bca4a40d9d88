"""Session setup on TensorFlow: the model and loss from the run's config; the data side is the core's
(:mod:`dlae_core.training.data_setup`, re-exported here for the trainer)."""

from __future__ import annotations

from dlae_core.errors import MissingImplementationError
from dlae_core.running.run import Run
from dlae_core.training.data_setup import DataSetup, loss_context, missing_loss_message, prepare_data

from dlae_tensorflow.device import Placement
from dlae_tensorflow.model import build_model as build_keras_model

__all__ = ["DataSetup", "prepare_data", "build_model", "make_loss"]


def build_model(graph, builders: dict, placement: Placement):
    """The Keras model of ``graph`` on the placement's device, with its precision policy."""
    with placement.scope(), placement.policy_scope():
        return build_keras_model(graph, builders)


def make_loss(run: Run, builders: dict, data: DataSetup | None):
    """The configured loss as a callable ``(pred, target) -> scalar``."""
    name = run.config.loss_function.loss
    builder = builders["loss"].get(name)
    if builder is None:
        raise MissingImplementationError(missing_loss_message(name, "TensorFlow", "tensorflow"))
    return builder(loss_context(run, data))
