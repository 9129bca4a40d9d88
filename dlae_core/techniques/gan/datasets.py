"""GAN training samples (numpy only): paired for pix2pix, unpaired for cycleGAN.

Both read ``train_X`` (domain X, the generator's input) and ``train_y`` (domain y, the target)
through the core :class:`~dlae_core.data.preprocess.Preprocessor` of the plan, whose main graph is
the generator: X is standardized and normalized with the input normalization, y with the target
normalization (the ``*_xy`` types; ``*_x`` types leave y unchanged), exactly as for an FCN.

* :class:`PairedSamples` (pix2pix) -- item i is the pair (X[n], y[n]) of one sample name n; the
  augmentation draws one geometry per item and applies it to both (bilinear for y), as the FCN
  pipeline does (:class:`~dlae_core.data.datasets.TrainingSamples`).
* :class:`UnpairedSamples` (cycleGAN) -- item i is X[n] and y[m] of two *independently* ordered
  sample names: per epoch the X order is a permutation from ``default_rng([seed, 1, epoch])`` (the
  FCN/pix2pix order; split order when ``shuffle_data_switch`` is off) and the y order one from
  ``default_rng([seed, 3, epoch])`` (always shuffled, so the pairs never follow the files'
  pairing). X and y draw their own augmentation (``[seed, 2, epoch, i]`` and
  ``[seed, 4, epoch, i]``); y gets the geometry and flips only, never brightness or channel shift.

Both are map-style datasets with ``set_epoch``, wrapped by the backends' loaders like the FCN's.
"""

from __future__ import annotations

import attrs
import numpy as np

from dlae_core.data.augment import AugmentParams, apply_params, sample_params
from dlae_core.data.datasets import EvaluationSamples, TrainingSamples, _position, feature_stats
from dlae_core.data.preprocess import FeatureStats, Preprocessor
from dlae_core.data.splits import DataSplit, make_splits, seed_word

__all__ = ["PairedSamples", "UnpairedSamples", "GanData", "gan_data"]

_X_ORDER, _X_AUGMENT, _Y_ORDER, _Y_AUGMENT = 1, 2, 3, 4


class PairedSamples(TrainingSamples):
    """pix2pix training pairs: ``{"x": X[n], "y": y[n]}`` with one augmentation geometry for both
    (see :class:`~dlae_core.data.datasets.TrainingSamples`, which this is)."""


class UnpairedSamples:
    """cycleGAN training items ``{"x": X[n], "y": y[m]}``, n and m ordered independently (module
    docstring). ``len`` is ``rounds * N``; call :meth:`set_epoch` before each epoch."""

    def __init__(self, preprocessor: Preprocessor, split: DataSplit, aug_config, seed: int, rounds: int = 1,
                 augment: bool = True, shuffle: bool | None = None):
        if split.y_path is None:
            raise ValueError("training samples need a split with targets")
        self.preprocessor, self.split, self.aug_config = preprocessor, split, aug_config
        self.seed, self.rounds = seed_word(seed), int(rounds)
        self.augment = bool(augment)
        self.shuffle = preprocessor.shuffle if shuffle is None else bool(shuffle)
        self.epoch = 0
        self.x_order, self.y_order = self.epoch_orders(0)

    def __len__(self) -> int:
        return self.rounds * len(self.split.names)

    def _permutations(self, stream: int, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, stream, int(epoch)])
        count = len(self.split.names)
        return np.concatenate([rng.permutation(count) for _ in range(self.rounds)])

    def epoch_orders(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(X positions, y positions) in ``split.names`` of the epoch's items, in item order."""
        count = len(self.split.names)
        x = self._permutations(_X_ORDER, epoch) if self.shuffle else np.tile(np.arange(count), self.rounds)
        return x, self._permutations(_Y_ORDER, epoch)

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s orders and augmentation streams (new arrays: copies stay valid)."""
        self.epoch = int(epoch)
        self.x_order, self.y_order = self.epoch_orders(self.epoch)

    def names(self, index: int) -> tuple[str, str]:
        """(X sample name, y sample name) of item ``index`` in the current epoch."""
        i = _position(index, len(self))
        return self.split.names[int(self.x_order[i])], self.split.names[int(self.y_order[i])]

    def params(self, index: int) -> tuple[AugmentParams, AugmentParams]:
        """(X augmentation, y augmentation) of item ``index``; identities when augment is off."""
        if not self.augment:
            return AugmentParams.identity(), AugmentParams.identity()
        i, shape = _position(index, len(self)), self.preprocessor.input_shape[:-1]
        px = sample_params(np.random.default_rng([self.seed, _X_AUGMENT, self.epoch, i]), self.aug_config, shape)
        py = sample_params(np.random.default_rng([self.seed, _Y_AUGMENT, self.epoch, i]), self.aug_config, shape)
        return px, attrs.evolve(py, brightness=1.0, channel_shift=0.0)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        pre = self.preprocessor
        x_name, y_name = self.names(index)
        x = pre.standardize(pre.read_x(self.split, x_name))
        y = pre.read_y(self.split, y_name)
        if self.augment:
            px, py = self.params(index)
            x, _ = apply_params(pre.zca(x), None, px, pre.fill_mode, pre.cval)
            y, _ = apply_params(y, None, py, pre.fill_mode, pre.cval)
        x, y = pre.finish(x, y, y_name)
        return {"x": x, "y": y}


@attrs.define
class GanData:
    """The data of a GAN training session: the preprocessor (main graph = generator), the
    training items, the validation split (previews only; None without validation data) and the
    featurewise statistics of X (None unless featurewise centering/standardization is on)."""

    preprocessor: Preprocessor
    train: PairedSamples | UnpairedSamples
    validation: EvaluationSamples | None
    stats: FeatureStats | None = None

    def stats_dict(self) -> dict | None:
        if self.stats is None:
            return None
        return {"mean": np.asarray(self.stats.mean), "std": np.asarray(self.stats.std)}


def gan_data(config, plan, registry) -> GanData:
    """The splits, preprocessing and training items of a GAN config (paired for ``pix2pix``,
    unpaired for ``cyclegan``). Raises DataError for missing or unreadable files."""
    splits = make_splits(config, "Train")
    pre = Preprocessor(config, plan, registry)
    stats = feature_stats(pre, splits["train"]) if pre.needs_stats else None
    if stats is not None:
        pre = pre.with_stats(stats)
    aug = config.augmentation
    kind = UnpairedSamples if config.loss_function.loss == "cyclegan" else PairedSamples
    train = kind(pre, splits["train"], aug, aug.random_seed, aug.rounds, augment=aug.apply_augmentation_switch)
    validation = EvaluationSamples(pre, splits["validation"]) if "validation" in splits else None
    return GanData(pre, train, validation, stats)
