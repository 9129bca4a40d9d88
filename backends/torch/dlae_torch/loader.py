"""torch DataLoaders over the core's map-style datasets (multi-worker, streamed from disk)."""

from __future__ import annotations

import json
import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate, get_worker_info

from dlae_core.data.memory import batch_slices
from dlae_core.errors import DlaeError

_MARK = "dlae-error-lines:"


class WorkerDataError(DlaeError):
    """A user error (bad sample, out-of-range label, ...) raised in a loader worker process.

    torch re-raises a worker's exception in the main process as ``type(exc)(message)`` with the
    worker's formatted traceback as the only argument, so the error's one-line messages travel
    JSON-encoded at the end of that text and are recovered here; the CLI then prints them as
    usual instead of a RuntimeError traceback."""

    def __init__(self, text_or_lines):
        if isinstance(text_or_lines, str):
            payload = text_or_lines.rsplit(_MARK, 1)[-1].strip()
            try:
                lines = json.loads(payload)
            except ValueError:
                lines = [" ".join(text_or_lines.split())]
        else:
            lines = list(text_or_lines)
        self._lines = [str(line) for line in lines]
        super().__init__(_MARK + json.dumps(self._lines))

    def lines(self) -> list[str]:
        return list(self._lines)

    def __reduce__(self):
        return (WorkerDataError, (self._lines,))


class _Relaying(Dataset):
    """``base`` whose DlaeErrors survive the trip from a worker process (see WorkerDataError)."""

    def __init__(self, base):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index):
        try:
            return self.base[index]
        except DlaeError as exc:
            if get_worker_info() is None:
                raise
            raise WorkerDataError(exc.lines()) from None


class EpochIndexed(Dataset):
    """Wraps a core dataset with ``set_epoch``: index ``epoch * len + i`` means sample i of that
    epoch, so worker processes (which hold copies) always agree with the main process."""

    def __init__(self, base):
        self.base, self.length, self.epoch = base, len(base), None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        epoch, i = divmod(index, self.length)
        if epoch != self.epoch:
            self.base.set_epoch(epoch)
            self.epoch = epoch
        return self.base[i]


class EpochSampler(Sampler):
    def __init__(self, length: int):
        self.length, self.epoch = length, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        start = self.epoch * self.length
        return iter(range(start, start + self.length))

    def __len__(self) -> int:
        return self.length


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) // 2))


# Batches up to this size leave a worker as pickled numpy arrays through its pipe and are collated in the
# main process. torch's default sends each tensor as shared memory whose file descriptor the main process
# fetches over a socket from the worker: ~1 ms of main-process time and a round trip to the worker per
# batch, several % of a small model's step (measured on 64x64 batches of 4 on 2 cores). Larger batches
# keep the shared-memory path, which avoids copying them through the pipe.
PIPE_BATCH_BYTES = 2 * 1024 * 1024


class _Samples(list):
    """Uncollated values from a worker, collated in the main process with ``default_collate``."""


class _Batch(dict):
    """A worker's batch of dict samples: numpy arrays stacked already, other values as ``_Samples``."""


def _nbytes(value) -> int:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.nbytes
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return 0


def _stackable(values: list) -> bool:
    """Arrays that default_collate would turn into one tensor equal to np.stack of them."""
    first = values[0]
    return (all(isinstance(v, np.ndarray) for v in values) and first.dtype.isnative
            and first.dtype.kind in "biuf" and all(v.dtype == first.dtype and v.shape == first.shape for v in values))


def _collate_or_pass(samples: list):
    """collate_fn of the workers: small batches travel as numpy (see PIPE_BATCH_BYTES)."""
    if sum(_nbytes(s) for s in samples) > PIPE_BATCH_BYTES:
        return default_collate(samples)
    if not all(isinstance(s, dict) for s in samples) or any(s.keys() != samples[0].keys() for s in samples):
        return _Samples(samples)
    batch = _Batch()
    for key in samples[0]:
        values = [s[key] for s in samples]
        batch[key] = np.stack(values) if _stackable(values) else _Samples(values)
    return batch


def _finish(batch):
    """The main-process half of ``_collate_or_pass``: the batch default_collate would have made."""
    if isinstance(batch, _Batch):
        return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else default_collate(v) for k, v in batch.items()}
    if isinstance(batch, _Samples):
        return default_collate(batch)
    return batch


class _MainCollated:
    """A worker DataLoader whose small batches are collated here (see PIPE_BATCH_BYTES); yields the same
    batches as ``default_collate`` in the workers would. Other attributes are the DataLoader's."""

    def __init__(self, loader: DataLoader):
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            yield _finish(batch)

    def __getattr__(self, name):
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)


def die_with_parent(worker_id: int | None = None) -> None:
    """Ask Linux to kill this worker when the process that started it dies (a SIGKILLed run must not
    leave workers holding memory and the HDF5 files); where prctl is missing, torch's own watchdog
    (which polls the parent) is all there is."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def make_loader(dataset, batch_size: int, *, workers: int | None, pin: bool, sampler=None,
                persistent: bool = True, batch_sampler=None):
    """A DataLoader (or, with workers and without pinned memory, ``_MainCollated`` around one).
    ``batch_sampler`` (lists of indices, e.g. one process's parts of the global batches) replaces
    ``batch_size`` and ``sampler``."""
    workers = default_workers() if workers is None else workers
    # A final training batch of one sample breaks batch normalization on vectors; drop just that case
    # (training only: validation and predictions read every sample, in inference mode)
    drop_last = (sampler is not None and batch_size > 1 and len(dataset) > batch_size
                 and len(dataset) % batch_size == 1)
    via_pipe = workers > 0 and not pin  # pinning needs the collated tensors in the pin-memory thread
    loader = DataLoader(
        _Relaying(dataset), batch_size=1 if batch_sampler is not None else batch_size, sampler=sampler,
        batch_sampler=batch_sampler, shuffle=False, num_workers=workers, pin_memory=pin, drop_last=drop_last, persistent_workers=persistent and workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        multiprocessing_context="fork" if workers > 0 and hasattr(os, "fork") else None,
        collate_fn=_collate_or_pass if via_pipe else None,
        worker_init_fn=die_with_parent if workers > 0 else None,
        # the loader's own generator: starting its workers never draws from the global one, so a
        # resumed run's dropout masks follow the same sequence as an uninterrupted run's (the data
        # are seeded per epoch and sample by the core, not by the worker seeds)
        generator=torch.Generator().manual_seed(0),
    )
    return _MainCollated(loader) if via_pipe else loader


def to_device(batch: dict, device: torch.device, channels_last: bool) -> dict:
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if key == "x" and channels_last and value.dim() == 4:
                value = value.contiguous()
        out[key] = value
    return out


class ArrayBatches:
    """Batches of data kept in memory (dlae_core.data.memory.InMemorySamples) made by indexing its
    arrays: no workers, no collation. The same batches as a DataLoader over the same samples."""

    def __init__(self, samples, batch_size: int, *, training: bool, pin: bool):
        self.samples, self.pin = samples, pin
        self.slices = batch_slices(len(samples), batch_size, training=training)

    def set_epoch(self, epoch: int) -> None:
        self.samples.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.slices)

    def __iter__(self):
        for items in self.slices:
            batch = {key: torch.from_numpy(value) for key, value in self.samples.batch(items).items()}
            yield {key: value.pin_memory() for key, value in batch.items()} if self.pin else batch
