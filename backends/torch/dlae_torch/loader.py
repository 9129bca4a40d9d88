"""torch DataLoaders over the core's map-style datasets (multi-worker, streamed from disk)."""

from __future__ import annotations

import json
import os

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

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


def make_loader(dataset, batch_size: int, *, workers: int | None, pin: bool, sampler=None,
                persistent: bool = True) -> DataLoader:
    workers = default_workers() if workers is None else workers
    # A final batch of one sample breaks batch normalization on vectors; drop just that case.
    drop_last = batch_size > 1 and len(dataset) > batch_size and len(dataset) % batch_size == 1
    return DataLoader(
        _Relaying(dataset), batch_size=batch_size, sampler=sampler, shuffle=False, num_workers=workers,
        pin_memory=pin, drop_last=drop_last, persistent_workers=persistent and workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        multiprocessing_context="fork" if workers > 0 and hasattr(os, "fork") else None,
    )


def to_device(batch: dict, device: torch.device, channels_last: bool) -> dict:
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device, non_blocking=True)
            if key == "x" and channels_last and value.dim() == 4:
                value = value.contiguous()
        out[key] = value
    return out
