"""Map-style sample datasets shared by the backends (numpy only, no framework import).

A framework data loader wraps these (``torch.utils.data.DataLoader(dataset,
batch_size, shuffle=False, ...)``): each item is a dict of numpy arrays, and
every random choice is seeded from ``(seed, epoch, index)`` so a sample does
not depend on the number of loader workers or on the backend.

Typical use for a training session::

    splits = make_splits(config)
    pre = Preprocessor(config, plan, registry)
    if pre.needs_stats:
        pre = pre.with_stats(feature_stats(pre, splits["train"]))
    train = TrainingSamples(pre, splits["train"], config.augmentation, config.augmentation.random_seed,
                            config.augmentation.rounds, config.augmentation.apply_augmentation_switch)
    for epoch in range(epochs):
        train.set_epoch(epoch)  # before the epoch's iterator is made (not with persistent workers)
        ...
"""

from __future__ import annotations

import numpy as np

from dlae_core.errors import DataError, problem
from dlae_core.data.augment import AugmentParams, apply_params, sample_params
from dlae_core.data.preprocess import FeatureStats, Preprocessor
from dlae_core.data.splits import DataSplit, seed_word

__all__ = ["TrainingSamples", "EvaluationSamples", "PredictionSamples", "FeatureStats", "feature_stats",
           "class_weights"]

_SHUFFLE_STREAM, _AUGMENT_STREAM = 1, 2


def _position(index: int, length: int) -> int:
    index = int(index)
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"sample index {index} out of range for {length} samples")
    return index


class TrainingSamples:
    """Training samples: ``rounds`` passes over the split per epoch, freshly augmented.

    ``len`` is ``rounds * N``. :meth:`set_epoch` fixes the epoch's order: with
    shuffling (``shuffle``, default the config's shuffle_data_switch) each round
    is a permutation drawn from ``default_rng([seed, 1, epoch])``; without, the
    names in split order, ``rounds`` times. Item ``i`` of the epoch draws its
    augmentation from ``default_rng([seed, 2, epoch, i])`` (see
    :func:`~dlae_core.data.augment.sample_params`) when ``augment`` is on.

    Items (dicts of numpy arrays):

    * ``on_device=False``: ``x``, ``y`` finished on the CPU: load, ZCA (when
      ``zca_epsilon`` is set and ``augment`` on), augmentation, normalization,
      one-hot.
    * ``on_device=True``: ``x``, ``y`` after load and ZCA only, plus the packed
      parameters ``matrix`` (3, 3) float32, ``hflip``, ``vflip`` (bool),
      ``brightness``, ``channel_shift`` (float32; identity values when
      ``augment`` is off). The backend augments the batch (``affine_grid_matrix``
      in augment.py, with ``preprocessor.target_kind``, ``fill_mode``, ``cval``),
      then applies ``preprocessor.x_norm``/``y_norm`` per sample and one-hot with
      ``preprocessor.categories`` (formulas in preprocess.py). The result equals
      the ``on_device=False`` item up to resampling round-off.
    """

    def __init__(self, preprocessor: Preprocessor, split: DataSplit, aug_config, seed: int, rounds: int = 1,
                 augment: bool = True, on_device: bool = False, shuffle: bool | None = None):
        if split.y_path is None:
            raise ValueError("training samples need a split with targets")
        self.preprocessor, self.split, self.aug_config = preprocessor, split, aug_config
        self.seed, self.rounds = seed_word(seed), int(rounds)
        self.augment, self.on_device = bool(augment), bool(on_device)
        self.shuffle = preprocessor.shuffle if shuffle is None else bool(shuffle)
        self.epoch = 0
        self.order = self.epoch_order(0)

    def __len__(self) -> int:
        return self.rounds * len(self.split.names)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Positions in ``split.names`` of the epoch's items, in item order."""
        count = len(self.split.names)
        if not self.shuffle:
            return np.tile(np.arange(count), self.rounds)
        rng = np.random.default_rng([self.seed, _SHUFFLE_STREAM, int(epoch)])
        return np.concatenate([rng.permutation(count) for _ in range(self.rounds)])

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s order and augmentation streams."""
        self.epoch = int(epoch)
        self.order = self.epoch_order(self.epoch)

    def name(self, index: int) -> str:
        """Sample name of item ``index`` in the current epoch."""
        return self.split.names[int(self.order[_position(index, len(self))])]

    def params(self, index: int) -> AugmentParams:
        """Augmentation of item ``index`` in the current epoch (identity when augment is off)."""
        if not self.augment:
            return AugmentParams.identity()
        rng = np.random.default_rng([self.seed, _AUGMENT_STREAM, self.epoch, _position(index, len(self))])
        return sample_params(rng, self.aug_config, self.preprocessor.input_shape[:-1])

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        pre, name = self.preprocessor, self.name(index)
        x, y = pre.load(self.split, name)
        if self.augment:
            x = pre.zca(x)
        params = self.params(index)
        if self.on_device:
            return {"x": x, "y": y, **params.as_arrays()}
        if self.augment:
            x, y = apply_params(x, y, params, pre.fill_mode, pre.cval, pre.target_kind)
        x, y = pre.finish(x, y, name, self.split.y_path)
        return {"x": x, "y": y}


class EvaluationSamples:
    """Validation samples: ``x``, ``y`` finished, no augmentation, in split order."""

    def __init__(self, preprocessor: Preprocessor, split: DataSplit):
        if split.y_path is None:
            raise ValueError("evaluation samples need a split with targets")
        self.preprocessor, self.split = preprocessor, split

    def __len__(self) -> int:
        return len(self.split.names)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        name = self.split.names[_position(index, len(self))]
        x, y = self.preprocessor.load(self.split, name)
        x, y = self.preprocessor.finish(x, y, name, self.split.y_path)
        return {"x": x, "y": y}


class PredictionSamples:
    """Inference samples: ``x`` finished and the sample ``name`` (a str), in split order."""

    def __init__(self, preprocessor: Preprocessor, split: DataSplit):
        self.preprocessor, self.split = preprocessor, split

    def __len__(self) -> int:
        return len(self.split.names)

    def __getitem__(self, index: int) -> dict[str, object]:
        name = self.split.names[_position(index, len(self))]
        x = self.preprocessor.standardize(self.preprocessor.read_x(self.split, name))
        x, _ = self.preprocessor.finish(x, None, name)
        return {"x": x, "name": name}


def feature_stats(preprocessor: Preprocessor, split: DataSplit) -> FeatureStats:
    """Per-channel mean and std of the inputs of ``split`` (after channel repetition, before
    centering), streamed one sample at a time (Chan et al. pairwise merge, float64)."""
    count, mean, m2 = 0, None, None
    for name in split.names:
        x = preprocessor.read_x(split, name).astype(np.float64)
        values = x.reshape(-1, x.shape[-1])
        n, sample_mean = values.shape[0], values.mean(axis=0)
        sample_m2 = ((values - sample_mean) ** 2).sum(axis=0)
        if mean is None:
            count, mean, m2 = n, sample_mean, sample_m2
            continue
        if sample_mean.shape != mean.shape:
            raise DataError([problem(split.x_path, f"sample {name!r} has {values.shape[1]} channels, earlier "
                                     f"samples {mean.shape[0]}", expected="the same channel count in every sample",
                                     received=values.shape[1])])
        delta, total = sample_mean - mean, count + n
        mean = mean + delta * (n / total)
        m2 = m2 + sample_m2 + delta ** 2 * (count * n / total)
        count = total
    if mean is None:
        raise DataError([problem(split.x_path, "no samples to compute featurewise statistics from",
                                 expected="at least one training sample", received=0)])
    return FeatureStats(mean, np.sqrt(m2 / count))


def class_weights(preprocessor: Preprocessor, split: DataSplit, categories: int) -> np.ndarray:
    """w_c = T / (C * n_c) over the targets of ``split`` (truncated to integers, before one-hot,
    no augmentation): T target elements, C = ``categories``, n_c elements equal to c.
    Returns float32 (C,). Raises DataError for a label outside 0..C-1 or a class that
    never occurs (the original gave it an infinite weight)."""
    counts = np.zeros(categories, dtype=np.int64)
    for name in split.names:
        labels = preprocessor.read_y(split, name).astype(np.int64).ravel()
        bad = labels[(labels < 0) | (labels >= categories)]
        if bad.size:
            raise DataError([problem("preprocessing.categories", f"{split.y_path}, sample {name!r}: class label "
                                     f"{int(bad[0])} is outside 0..{categories - 1}",
                                     expected=f"integers 0..{categories - 1}", received=int(bad[0]))])
        counts += np.bincount(labels, minlength=categories)
    missing = [c for c in range(categories) if counts[c] == 0]
    if missing:
        raise DataError([problem("loss_function.loss", f"class {missing[0]} never occurs in the training targets "
                                 f"of {split.y_path} ({len(missing)} absent class(es): {missing[:5]}), so "
                                 "weighted_categorical_crossentropy cannot weight it",
                                 expected=f"every class 0..{categories - 1} present, or fewer categories",
                                 received=missing[:5])])
    total = counts.sum()
    return (total / (categories * counts)).astype(np.float32)
