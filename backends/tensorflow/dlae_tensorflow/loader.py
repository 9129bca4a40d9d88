"""tf.data pipelines over the core's map-style datasets (streamed from disk, never loaded whole).

One epoch's pipeline: ``Dataset.range`` of item indices -> ``batch`` -> parallel ``map``
(``num_parallel_calls`` threads, order kept) reading the batch's samples with ``tf.numpy_function``
through the core dataset -> ``prefetch(AUTOTUNE)``. The items are exactly those the torch DataLoader yields, in the
same order and batches (same final-batch rule), so both backends train on identical batches.

Threads share one process: :class:`EpochIndexed` encodes the epoch in the index (as in
dlae_torch.loader) and reads through a per-epoch view of the dataset, so no thread ever changes
the epoch under another. A user error (DlaeError) raised while reading a sample is re-raised as
itself in the training loop, not as a TensorFlow error.
"""

from __future__ import annotations

import copy
import math
import os
import threading

import numpy as np
import tensorflow as tf

from dlae_core.data.memory import batch_slices
from dlae_core.errors import DataError, DlaeError, problem

AUTOTUNE = tf.data.AUTOTUNE


class EpochIndexed:
    """Wraps a core dataset with epochs: index ``epoch * len + i`` means sample i of that epoch,
    read through a shallow copy of ``base`` set to that epoch (thread-safe)."""

    def __init__(self, base):
        self.base, self.length = base, len(base)
        self._lock = threading.Lock()
        self._views: dict[int, object] = {}

    def __len__(self) -> int:
        return self.length

    def view(self, epoch: int):
        with self._lock:
            view = self._views.get(epoch)
            if view is None:
                view = copy.copy(self.base)
                view.set_epoch(epoch)
                self._views = {e: v for e, v in self._views.items() if e >= epoch - 1}
                self._views[epoch] = view
            return view

    def __getitem__(self, index: int):
        epoch, i = divmod(int(index), self.length)
        return self.view(epoch)[i]


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def _spec(value) -> tuple[tf.DType, tuple]:
    if isinstance(value, str):
        return tf.string, ()
    array = np.asarray(value)
    return tf.as_dtype(array.dtype), tuple(array.shape)


class Batches:
    """Batches of ``dataset`` (dicts of tensors, keys as the core's items) over one epoch per
    iteration; ``len`` is the number of batches. With ``epochs`` (an :class:`EpochIndexed`
    dataset), :meth:`set_epoch` chooses which epoch the next iteration reads."""

    def __init__(self, dataset, batch_size: int, *, workers: int | None, epochs: bool = False):
        self.dataset, self.batch_size, self.epochs = dataset, int(batch_size), epochs
        self.length = len(dataset)
        # A final training batch of one sample breaks batch normalization on vectors; drop just that case
        # (training only: validation and predictions read every sample, in inference mode)
        drop_last = epochs and batch_size > 1 and self.length > batch_size and self.length % batch_size == 1
        self.count = self.length - 1 if drop_last else self.length
        workers = default_workers() if workers is None else workers
        self.parallel = workers if workers > 0 else None
        self.epoch = 0
        first = dataset[0]  # the item layout (also opens the files in this thread)
        self.keys = sorted(first)
        self.specs = {key: _spec(first[key]) for key in self.keys}
        self._error: BaseException | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return math.ceil(self.count / self.batch_size)

    # -- reading -------------------------------------------------------------------------------
    def _read(self, indices) -> list:
        """The samples ``indices`` (one batch), stacked per key."""
        try:
            columns: dict[str, list] = {key: [] for key in self.keys}
            for index in indices:
                item = self.dataset[int(index)]
                for key in self.keys:
                    dtype, shape = self.specs[key]
                    value = item[key]
                    if dtype == tf.string:
                        columns[key].append(str(value).encode())
                        continue
                    value = np.asarray(value, dtype=dtype.as_numpy_dtype)
                    if value.shape != shape:
                        raise DataError([problem("data", f"a sample's {key} has the shape {value.shape}, the "
                                                 f"first sample's {shape}", expected=f"{shape} in every sample",
                                                 received=value.shape)])
                    columns[key].append(value)
            return [np.array(columns[key], dtype=object) if self.specs[key][0] == tf.string
                    else np.stack(columns[key]) for key in self.keys]
        except BaseException as exc:  # kept for __iter__, which re-raises it as itself
            self._error = exc
            raise

    def _map(self, indices):
        values = tf.numpy_function(self._read, [indices], [self.specs[k][0] for k in self.keys], stateful=False)
        out = {}
        for key, value in zip(self.keys, values):
            value.set_shape((None,) + self.specs[key][1])
            out[key] = value
        return out

    def pipeline(self) -> tf.data.Dataset:
        """Index batches -> parallel reads (``num_parallel_calls`` threads, order kept) -> prefetch.
        Reading a batch per call, not a sample, halves the per-sample overhead of numpy_function."""
        start = self.epoch * self.length if self.epochs else 0
        indices = tf.data.Dataset.range(start, start + self.count).batch(self.batch_size)
        read = tf.autograph.experimental.do_not_convert(self._map)
        if self.parallel is None:
            mapped = indices.map(read)
        else:
            mapped = indices.map(read, num_parallel_calls=self.parallel, deterministic=True)
        return mapped.prefetch(AUTOTUNE)

    @property
    def element_spec(self) -> dict:
        return {k: tf.TensorSpec((None,) + self.specs[k][1], self.specs[k][0]) for k in self.keys}

    def __iter__(self):
        self._error = None
        try:
            yield from self.pipeline()
        except tf.errors.OpError:
            error = self._error
            if isinstance(error, DlaeError):
                raise error from None
            if error is not None:
                raise error
            raise


def make_batches(dataset, batch_size: int, *, workers: int | None, epochs: bool = False) -> Batches:
    return Batches(dataset, batch_size, workers=workers, epochs=epochs)


class ArrayBatches:
    """Batches of data kept in memory (dlae_core.data.memory.InMemorySamples) made by indexing its
    arrays, handed to the step as tensors: no reading threads, no numpy_function. The same batches
    as :class:`Batches` over the same samples."""

    def __init__(self, samples, batch_size: int, *, training: bool):
        self.samples = samples
        self.slices = batch_slices(len(samples), batch_size, training=training)

    def set_epoch(self, epoch: int) -> None:
        self.samples.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.slices)

    @property
    def element_spec(self) -> dict:
        return {key: tf.TensorSpec((None,) + value.shape[1:], tf.as_dtype(value.dtype))
                for key, value in self.samples.arrays.items()}

    def __iter__(self):
        for items in self.slices:
            yield {key: tf.constant(value) for key, value in self.samples.batch(items).items()}
