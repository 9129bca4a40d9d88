"""torch DataLoaders over the core's map-style datasets (multi-worker, streamed from disk)."""

from __future__ import annotations

import os

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


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
        dataset, batch_size=batch_size, sampler=sampler, shuffle=False, num_workers=workers,
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
