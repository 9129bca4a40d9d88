"""Keeping data that fit in memory in memory (numpy only, no framework import).

Small and medium data sets are read from their HDF5 files once, not once per epoch, as a
hand-written script that loads its arrays whole would. Two levels, chosen per dataset:

* **Whole items** (:class:`InMemorySamples`): when an item does not depend on the epoch (no random
  augmentation: validation samples, training samples with augmentation off), every item is made once
  -- read, decoded, preprocessed, normalized, encoded -- and stacked into one array per key. A backend
  then forms a batch by indexing those arrays (:meth:`InMemorySamples.batch`), with no loader
  workers, no per-sample Python and no collation: the batches equal those of the streamed path
  (same order, same final-batch rule).
* **Decoded samples** (:class:`ReadCache` on the preprocessor): with random augmentation, each
  sample is read and decoded once (X and y as float32 with their channel axes, before
  standardization and augmentation) and augmented freshly every epoch as before.

Data that do not fit the memory budget (:func:`memory_budget`) keep streaming from disk.
``training_configurations.cache_data: false`` (or ``dlae run --no-cache``) turns both off.
The cache is filled in the main process before any loader worker starts, so forked workers
share its pages instead of each reading the files again.
"""

from __future__ import annotations

import os

import numpy as np

from dlae_core.data.datasets import EvaluationSamples, TrainingSamples

#: share of the memory available at start-up the caches may take (the rest is the model's and the
#: framework's); ``$DLAE_CACHE_GIB`` sets the budget in GiB instead
BUDGET_SHARE = 0.4


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux MemAvailable; None where unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_budget() -> int:
    """Bytes the data caches of a session may hold: ``$DLAE_CACHE_GIB`` GiB when set, else
    :data:`BUDGET_SHARE` of the memory available now (1 GiB where that is unknown)."""
    given = os.environ.get("DLAE_CACHE_GIB")
    if given:
        try:
            return max(0, int(float(given) * 2 ** 30))
        except ValueError:
            pass
    available = available_memory()
    return int(available * BUDGET_SHARE) if available else 2 ** 30


def format_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def fixed_items(samples) -> bool:
    """Whether the items of ``samples`` are the same every epoch (only their order may change)."""
    if isinstance(samples, TrainingSamples):
        return not samples.augment
    return isinstance(samples, EvaluationSamples) or getattr(samples, "fixed_items", False)


class InMemorySamples:
    """Every item of ``base`` made once and stacked per key (see the module docstring).

    A map-style dataset like ``base`` (same length, same items, same epoch orders) with
    :meth:`batch` for whole batches. ``positions[i]`` is the position in the split of item ``i``
    in the current epoch; the arrays are indexed by split position."""

    def __init__(self, base, arrays: dict[str, np.ndarray]):
        self.base, self.arrays = base, arrays
        self.count = len(next(iter(arrays.values())))
        self.positions = self._order(getattr(base, "epoch", 0))

    @classmethod
    def fill(cls, base, budget: int) -> "InMemorySamples | None":
        """All items of ``base`` in memory, or None when they would take more than ``budget``
        bytes (found from the first item; nothing more is read then)."""
        count = _distinct_items(base)
        first = base[0]
        if not _stackable(first) or _nbytes(first) * count > budget:
            return None
        order = _current_order(base)
        arrays = {key: np.empty((count,) + np.shape(value), np.asarray(value).dtype) for key, value in first.items()}
        for index in range(count):
            item = first if index == 0 else base[index]
            for key, value in item.items():
                if np.shape(value) != arrays[key].shape[1:]:  # samples of different sizes: keep streaming
                    return None
                arrays[key][order[index]] = value
        return cls(base, arrays)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    def _order(self, epoch: int) -> np.ndarray:
        epoch_order = getattr(self.base, "epoch_order", None)
        return np.asarray(epoch_order(epoch)) if epoch_order is not None else np.arange(len(self.base))

    # -- the dataset interface of the base ----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.positions)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)
        self.positions = self._order(epoch)

    def epoch_order(self, epoch: int) -> np.ndarray:
        return self._order(epoch)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        position = self.positions[int(index)]
        return {key: array[position] for key, array in self.arrays.items()}

    def batch(self, items) -> dict[str, np.ndarray]:
        """The items ``items`` (a slice or index array) of the current epoch stacked per key (new arrays)."""
        positions = self.positions[items]
        return {key: array[positions] for key, array in self.arrays.items()}

    def __getattr__(self, name):  # preprocessor, split, augment, ...: the base's
        if name in ("base", "arrays", "positions", "count"):
            raise AttributeError(name)
        return getattr(self.base, name)


def batch_slices(length: int, batch_size: int, *, training: bool) -> list[slice]:
    """The item slices of an epoch's batches, by the rule every loader of dlae follows: a final
    training batch of one sample is dropped (it breaks batch normalization on vectors); validation
    and prediction read every sample."""
    count = length
    if training and batch_size > 1 and length > batch_size and length % batch_size == 1:
        count = length - 1
    return [slice(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


class ReadCache:
    """Decoded samples of a preprocessor, by (file, sample name): what ``read_x``/``read_y``
    return, kept so each sample is read from disk once. Filled by :func:`fill_read_cache`."""

    def __init__(self):
        self.values: dict[tuple[str, str, str], np.ndarray | None] = {}
        self.nbytes = 0

    def get(self, kind: str, path: str, name: str):
        return self.values.get((kind, path, name))

    def put(self, kind: str, path: str, name: str, value) -> None:
        if value is not None:
            value.flags.writeable = False  # shared by every epoch: an in-place change would be a bug, loudly
        self.values[(kind, path, name)] = value
        self.nbytes += 0 if value is None else value.nbytes


def fill_read_cache(preprocessor, split, budget: int) -> ReadCache | None:
    """A ReadCache holding every sample of ``split`` as ``preprocessor`` decodes it, or None when
    they would take more than ``budget`` bytes (nothing kept then)."""
    cache = ReadCache()
    for index, name in enumerate(split.names):
        x = preprocessor.read_x(split, name)
        y = preprocessor.read_y(split, name)
        cache.put("x", split.x_path, name, x)
        if split.y_path is not None:
            cache.put("y", split.y_path, name, y)
        if index == 0 and cache.nbytes * len(split.names) > budget or cache.nbytes > budget:
            return None
    return cache


def keep_in_memory(train, validation=None, *, enabled: bool = True, budget: int | None = None):
    """(training samples, validation samples, note) of a session: each kept in memory the way it
    allows (module docstring) within ``budget`` (default :func:`memory_budget`), or as given.
    The note is the line the run prints about it (the memory used, or why data stream)."""
    if not enabled:
        return train, validation, "data: read from disk every epoch (cache_data is off)"
    budget = memory_budget() if budget is None else budget
    parts, streamed = [], []
    if validation is not None:
        kept = InMemorySamples.fill(validation, budget)
        if kept is not None:
            validation, budget = kept, budget - kept.nbytes
            parts.append(f"validation {_count(kept)} samples {format_bytes(kept.nbytes)}")
        else:
            streamed.append("validation")
    if fixed_items(train):
        kept = InMemorySamples.fill(train, budget)
        if kept is not None:
            train = kept
            parts.insert(0, f"training {_count(kept)} samples {format_bytes(kept.nbytes)}")
        else:
            streamed.insert(0, "training")
    elif hasattr(train, "preprocessor") and hasattr(train, "split"):
        cache = fill_read_cache(train.preprocessor, train.split, budget)
        if cache is not None:
            train.preprocessor.read_cache = cache
            parts.insert(0, f"training {len(train.split.names)} samples {format_bytes(cache.nbytes)} "
                            f"(augmented every epoch)")
        else:
            streamed.insert(0, "training")
    else:
        streamed.insert(0, "training")
    note = f"data in memory: {', '.join(parts)}" if parts else ""
    if streamed:
        note += ("; " if note else "data: ") + (f"{' and '.join(streamed)} streamed from disk (more than the "
                                                 f"memory budget of {format_bytes(budget)} or samples of "
                                                 f"different shapes)")
    return train, validation, note


# -- helpers -------------------------------------------------------------------------------------------
def _distinct_items(base) -> int:
    """Items with distinct content: one per split sample (rounds repeat them)."""
    split = getattr(base, "split", None)
    return len(split.names) if split is not None else len(base)


def _count(samples) -> int:
    return samples.count if isinstance(samples, InMemorySamples) else len(samples)


def _current_order(base) -> np.ndarray:
    order = getattr(base, "order", None)
    return np.asarray(order) if order is not None else np.arange(len(base))


def _stackable(item) -> bool:
    return isinstance(item, dict) and all(isinstance(v, (np.ndarray, np.generic, int, float)) for v in item.values())


def _nbytes(item: dict) -> int:
    return sum(np.asarray(v).nbytes for v in item.values())
