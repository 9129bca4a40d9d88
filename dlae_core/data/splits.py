"""Which samples each data split holds.

Unlike the original, the validation split is reproducible: the name shuffle is
seeded with ``augmentation.random_seed``.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from dlae_core.errors import DataError, problem
from dlae_core.data.hdf5 import sample_names

TRAIN_SESSIONS = ("Train", "Train from Checkpoint")


@attrs.frozen
class DataSplit:
    """The samples ``names`` (in pipeline order) of the X file ``x_path`` and the y file
    ``y_path`` (None for a test split, which has no targets)."""

    x_path: str
    y_path: str | None
    names: tuple[str, ...] = attrs.field(converter=tuple)

    def __len__(self) -> int:
        return len(self.names)


def seed_word(seed: int) -> int:
    """A random seed as the non-negative integer numpy's SeedSequence accepts."""
    return int(seed) % 2**64


def validation_count(count: int, split: float) -> int:
    """ceil(count * split), robust to float noise (10 * 0.3 gives 3, not 4)."""
    return math.ceil(round(count * split, 9)) if split > 0 else 0


def _required(path: str | None, where: str, why: str) -> str:
    if not path:
        raise DataError([problem(where, why, expected="a path to an HDF5 file", received="")])
    return path


def make_splits(config, session: str | None = None) -> dict[str, DataSplit]:
    """The data splits of a session (default: ``config_file.type_signal``).

    Train / Train from Checkpoint: ``"train"`` and, when there is validation
    data, ``"validation"``. With ``validation_split`` > 0 the names of
    ``train_X`` (integer order) are shuffled with
    ``numpy.random.default_rng(random_seed)`` when ``shuffle_data_switch`` is on;
    the first ceil(N * split) become the validation split, the rest the training
    split; ``validation_X/y`` are ignored. Otherwise ``validation_X`` and
    ``validation_y`` (both set) form the validation split, in integer order.
    Inference: ``"test"`` from ``test_X``, without targets.
    Raises DataError when a needed path is unset or a file is unreadable.
    """
    session = session or config.config_file.type_signal
    paths = config.paths
    if session not in TRAIN_SESSIONS:
        test_x = _required(paths.test_X, "paths.test_X", f"an {session} session needs the inputs to predict on")
        return {"test": DataSplit(test_x, None, sample_names(test_x))}
    train_x = _required(paths.train_X, "paths.train_X", f"a {session} session needs training inputs")
    train_y = _required(paths.train_y, "paths.train_y", f"a {session} session needs training targets")
    names = sample_names(train_x)
    options = config.training_configurations
    if options.validation_split > 0:
        if options.shuffle_data_switch:
            rng = np.random.default_rng(seed_word(config.augmentation.random_seed))
            names = [names[i] for i in rng.permutation(len(names))]
        held = validation_count(len(names), options.validation_split)
        if held >= len(names):
            raise DataError([problem("training_configurations.validation_split",
                                     f"splitting {len(names)} training sample(s) leaves none for training",
                                     expected=f"a smaller split or more than {len(names)} samples",
                                     received=options.validation_split)])
        return {"train": DataSplit(train_x, train_y, names[held:]),
                "validation": DataSplit(train_x, train_y, names[:held])}
    splits = {"train": DataSplit(train_x, train_y, names)}
    if paths.validation_X and paths.validation_y:
        splits["validation"] = DataSplit(paths.validation_X, paths.validation_y, sample_names(paths.validation_X))
    return splits
