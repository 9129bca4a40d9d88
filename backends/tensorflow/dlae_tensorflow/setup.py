"""Shared setup of a session: data sets, model and loss from the run's config (as dlae_torch.setup;
the data part is framework-free and identical, so both backends read the same samples)."""

from __future__ import annotations

import attrs
import numpy as np

from dlae_core.data.datasets import EvaluationSamples, TrainingSamples, class_weights, feature_stats
from dlae_core.data.preprocess import Preprocessor
from dlae_core.data.splits import make_splits
from dlae_core.errors import BackendError
from dlae_core.session import Run
from dlae_core.training.loss_context import LossContext

from .device import Placement
from .model import build_model as build_keras_model


@attrs.define
class DataSetup:
    preprocessor: Preprocessor
    train: TrainingSamples
    on_device: bool
    validation: EvaluationSamples | None
    stats: object = None
    weights: np.ndarray | None = None

    def stats_dict(self) -> dict | None:
        if self.stats is None:
            return None
        return {"mean": np.asarray(self.stats.mean), "std": np.asarray(self.stats.std)}


def _featurewise(config) -> bool:
    aug = config.augmentation
    return aug.featurewise_centering_switch or aug.featurewise_normalization_switch


def prepare_data(run: Run, *, on_device: bool = False) -> DataSetup:
    """Datasets of a training session; ``on_device``: augmentation and normalization of training
    batches happen on the training device (the loader returns unaugmented samples + parameters)."""
    config = run.config
    splits = make_splits(config, "Train")
    base = Preprocessor(config, run.plan, run.registry)
    stats = feature_stats(base, splits["train"]) if _featurewise(config) else None
    pre = Preprocessor(config, run.plan, run.registry, stats=stats)
    aug = config.augmentation
    train = TrainingSamples(pre, splits["train"], aug, aug.random_seed, aug.rounds,
                            augment=aug.apply_augmentation_switch, on_device=on_device)
    validation = EvaluationSamples(pre, splits["validation"]) if "validation" in splits else None
    weights = None
    if config.loss_function.loss == "weighted_categorical_crossentropy":
        weights = class_weights(pre, splits["train"], config.preprocessing.categories)
    return DataSetup(pre, train, on_device, validation, stats, weights)


def build_model(graph, builders: dict, placement: Placement):
    """The Keras model of ``graph`` on the placement's device, with its precision policy."""
    with placement.scope(), placement.policy_scope():
        return build_keras_model(graph, builders)


def make_loss(run: Run, builders: dict, data: DataSetup | None):
    config = run.config
    name = config.loss_function.loss
    builder = builders["loss"].get(name)
    if builder is None:
        raise BackendError(f"loss {name!r} has no TensorFlow implementation (is its plugin installed for "
                           f"tensorflow?)")
    graph = run.plan.graphs["model"]
    context = LossContext(parameter1=config.loss_function.parameter1, parameter2=config.loss_function.parameter2,
                          categories=config.preprocessing.categories,
                          class_weights=data.weights if data is not None else None,
                          spatial_rank=len(graph.output_shape) - 1)
    return builder(context)
