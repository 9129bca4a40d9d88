"""The data of an AE session: the target of every sample is its own (preprocessed) input.

Nothing is read from a y file. Each item is built from X alone:

* training (:class:`ReconstructionTrainingSamples`): X is read and standardized (channel axis,
  float32, repeated channels, featurewise/samplewise centering and scaling), whitened (ZCA, when
  augmenting with ``zca_epsilon``), then the **target is a copy of that input**. Augmentation
  then runs exactly as for any map target (FCN): the same geometric resampling (affine, flips)
  is applied to input and target, bilinear for both; brightness and channel shift change only
  the input, so the network learns to undo them. Finally both are normalized with the *input's*
  intensity normalization (``y_norm = x_norm``). With ``on_device`` the item carries the
  unaugmented pair plus the augmentation parameters, and the backend's batched augmentation
  (the one every map target uses) gives the same result.
* validation (:class:`ReconstructionEvaluationSamples`): the finished input and a copy of it.

The splits are the core's (:func:`dlae_core.data.splits.make_splits`) with ``train_y`` /
``validation_y`` pointing at the X files, so the validation split (``validation_split`` with the
seeded shuffle, or ``validation_X``) holds the same names as it would for an FCN.
"""

from __future__ import annotations

import numpy as np

# dlae_core.api does not (yet) export the data layer a technique needs to build its own samples;
# these are the internal modules it would re-export (see the plugin README, "Core changes").
from dlae_core.api import (DataSetup, EvaluationSamples, Preprocessor, TrainingSamples, apply_params, feature_stats,
                           make_splits)

__all__ = ["reconstruction_preprocessor", "autoencoder_splits", "ReconstructionTrainingSamples",
           "ReconstructionEvaluationSamples", "prepare_reconstruction_data"]


def reconstruction_preprocessor(config, plan, registry, stats=None) -> Preprocessor:
    """The config's preprocessing with the target normalized like the input (the target *is* the
    input): ``y_norm = x_norm``, so ``inverse_target`` maps outputs back to X's units."""
    pre = Preprocessor(config, plan, registry, stats=stats)
    pre.y_norm = pre.x_norm
    return pre


def autoencoder_splits(config, session: str = "Train") -> dict:
    """The core's training/validation splits of ``paths.train_X`` / ``paths.validation_X``; each
    split's ``y_path`` is its X file (the targets are the inputs)."""
    paths = config.paths
    as_targets = config.evolve(paths={"train_y": paths.train_X, "validation_y": paths.validation_X})
    return make_splits(as_targets, session)


def _input(preprocessor: Preprocessor, split, name: str) -> np.ndarray:
    """Stage 1 for X only (what ``Preprocessor.load`` does, without reading a y file)."""
    return preprocessor.standardize(preprocessor.read_x(split, name))


class ReconstructionTrainingSamples(TrainingSamples):
    """:class:`~dlae_core.data.datasets.TrainingSamples` whose target is the item's own input
    (same order, seeds, augmentation parameters and item layout as the base class)."""

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        pre, name = self.preprocessor, self.name(index)
        x = _input(pre, self.split, name)
        if self.augment:
            x = pre.zca(x)
        y = x.copy()
        params = self.params(index)
        if self.on_device:
            return {"x": x, "y": y, **params.as_arrays()}
        if self.augment:
            x, y = apply_params(x, y, params, pre.fill_mode, pre.cval, pre.target_kind)
        x, y = pre.finish(x, y, name)
        return {"x": x, "y": y}


class ReconstructionEvaluationSamples(EvaluationSamples):
    """Validation samples: the finished input as ``x`` and as ``y``."""

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        name = self.split.names[int(index)]  # a tuple: negative indices and IndexError as usual
        x = _input(self.preprocessor, self.split, name)
        x, y = self.preprocessor.finish(x, x.copy(), name)
        return {"x": x, "y": y}


def prepare_reconstruction_data(run, *, on_device: bool = False) -> DataSetup:
    """The DataSetup of an AE training session (what ``prepare_data`` does for (x, y) pairs)."""
    config = run.config
    splits = autoencoder_splits(config, "Train")
    aug = config.augmentation
    stats = None
    if aug.featurewise_centering_switch or aug.featurewise_normalization_switch:
        stats = feature_stats(reconstruction_preprocessor(config, run.plan, run.registry), splits["train"])
    pre = reconstruction_preprocessor(config, run.plan, run.registry, stats=stats)
    train = ReconstructionTrainingSamples(pre, splits["train"], aug, aug.random_seed, aug.rounds,
                                          augment=aug.apply_augmentation_switch, on_device=on_device)
    validation = ReconstructionEvaluationSamples(pre, splits["validation"]) if "validation" in splits else None
    return DataSetup(pre, train, on_device, validation, stats, None)
