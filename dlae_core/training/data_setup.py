"""The data side of a training session, shared by every backend (framework-free).

Both backends read the same samples through these objects, so one config and one seed give the
same (augmented) batches on torch and on TensorFlow.
"""

from __future__ import annotations

import attrs
import numpy as np

from dlae_core.data.datasets import EvaluationSamples, TrainingSamples, class_weights, feature_stats
from dlae_core.data.preprocess import Preprocessor
from dlae_core.data.splits import make_splits
from dlae_core.running.run import Run
from dlae_core.training.loss_context import LossContext


@attrs.define
class DataSetup:
    """The preprocessor, training and validation samples of a session (and what they derived from
    the training data: featurewise statistics, class weights)."""

    preprocessor: Preprocessor
    train: TrainingSamples
    on_device: bool
    validation: EvaluationSamples | None
    stats: object = None
    weights: np.ndarray | None = None

    def stats_dict(self) -> dict | None:
        """The featurewise statistics as saved in model files (None without featurewise options)."""
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


def loss_context(run: Run, data: DataSetup | None) -> LossContext:
    """What the configured loss's builder needs: its parameters, classes, class weights and the
    spatial rank of the model output."""
    config = run.config
    graph = run.plan.graphs["model"]
    return LossContext(parameter1=config.loss_function.parameter1, parameter2=config.loss_function.parameter2,
                       categories=config.preprocessing.categories,
                       class_weights=data.weights if data is not None else None,
                       spatial_rank=len(graph.output_shape) - 1)
