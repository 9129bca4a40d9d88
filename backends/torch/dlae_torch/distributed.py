"""Data-parallel training on PyTorch's own engine: the process group, DistributedDataParallel,
each rank's share of the batches, reductions, synchronized batch normalization and peer failures.

The rules (global batch, who writes, what is reduced) are the core's
(:mod:`dlae_core.running.distributed`). Nothing here runs in a single process: with world size 1
there is no process group, :func:`parallel` returns the model itself, the loaders are the usual
ones and :func:`collective` is None, so one GPU pays nothing.

Processes are started by torch's elastic launcher, by dlae itself (:mod:`dlae_torch.launch`), by
``torchrun`` or by SLURM's ``srun``; each joins with :func:`data_parallel`: NCCL with one GPU per
process (``cuda:LOCAL_RANK``), or gloo on the CPU when ``hardware`` is ``cpu`` or no GPU is seen.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import warnings

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, Sampler

from dlae_core.errors import DistributedError, UnsupportedSettingError
from dlae_core.running.distributed import World, evaluation_part, global_batches, rendezvous_environment, rank_batches

from dlae_torch.layers import BatchNorm

#: the batch key carrying the weight of this rank's mean loss (see dlae_core.running.distributed.rank_batches)
WEIGHT = "rank_weight"
#: how long a collective waits for a silent peer (a peer that died is noticed at once: its connection closes)
TIMEOUT = datetime.timedelta(minutes=30)
#: what torch's errors say when another process of the group is gone
PEER_MARKERS = ("gloo", "NCCL", "Connection closed", "Connection reset", "Broken pipe", "ProcessGroup")


def joined() -> bool:
    """Whether this process is in a process group (a data-parallel run of several processes)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def uses_gpus(config) -> bool:
    return config.training_configurations.hardware != "cpu" and torch.cuda.is_available()


@contextlib.contextmanager
def data_parallel(world: World, config):
    """Join the run's process group for the block (yields how: "gloo on the CPU" or "NCCL, one GPU
    each"); torch's errors about a lost peer become one DistributedError line."""
    if world.launcher == "tf_config":
        raise UnsupportedSettingError("TF_CONFIG describes a TensorFlow cluster; the torch backend's processes are "
                                      "started by torchrun, srun or dlae run --processes (unset TF_CONFIG)")
    os.environ.update(rendezvous_environment(world))
    gpus = uses_gpus(config)
    if gpus:
        torch.cuda.set_device(world.local_rank % torch.cuda.device_count())
    if not dist.is_initialized():
        dist.init_process_group("nccl" if gpus else "gloo", timeout=TIMEOUT)
    try:
        yield "NCCL, one GPU each" if gpus else "gloo on the CPU"
    except RuntimeError as exc:
        if not is_peer_failure(exc):
            raise
        raise lost_peer() from None
    dist.destroy_process_group()  # a failed run leaves it to the exit: a lost peer cannot say goodbye


def is_peer_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is torch telling that a collective failed because a peer is gone."""
    error_class = getattr(dist, "DistError", ())
    return bool(error_class and isinstance(exc, error_class)) or any(marker in str(exc) for marker in PEER_MARKERS)


def lost_peer() -> DistributedError:
    return DistributedError(f"rank {dist.get_rank()} of {dist.get_world_size()}: another process of this run "
                            f"stopped (its own error says why), so this one stops too")


def peer_safe(function):
    """``function`` whose collectives failing because another process is gone (it failed, or was
    killed) raise one DistributedError line instead of torch's RuntimeError (which the run record
    and the CLI would take for a bug). Costs one call in a single process."""

    @functools.wraps(function)
    def call(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except RuntimeError as exc:
            if not (joined() and is_peer_failure(exc)):
                raise
            raise lost_peer() from None

    return call


# -- the model ----------------------------------------------------------------------------------
@peer_safe
def parallel(model: torch.nn.Module, placement, *, synchronized: bool = False, unused: bool = False):
    """What a training step calls: ``model`` itself in one process, else ``model`` in
    DistributedDataParallel (gradients averaged over the processes during the backward; rank 0's
    weights broadcast once, at the start). ``synchronized``: batch normalization over the global
    batch; ``unused``: the model has parameters some steps do not use (a detector's unused main path)."""
    if not joined():
        return model
    if synchronized:
        synchronize_batch_norm(model)
    # a size-1 axis (one input channel) gets another stride in a gradient than in DDP's bucket: harmless
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    devices = [placement.device.index or 0] if placement.device.type == "cuda" else None
    # a static graph finds the parameters it never uses in its first step (find_unused_parameters would
    # search the autograd graph every step)
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=devices, static_graph=unused)


def rank_generators() -> None:
    """Give each rank its own dropout and noise draws (reproducible: drawn from the common
    generator, offset by the rank); rank 0 keeps the single-process sequence."""
    if joined() and dist.get_rank() > 0:
        base = int(torch.randint(0, 2**62, ()).item())
        torch.manual_seed(base + dist.get_rank())


class SynchronizedBatchNorm(BatchNorm):
    """Batch normalization whose training statistics are those of the global batch: per-channel
    sums are all-reduced over the processes (differentiably), so the processes normalize (and
    update the moving statistics, Keras' way with the biased variance) as one process would on the
    whole batch. Inference, frozen layers and a single process use :class:`BatchNorm` unchanged."""

    def forward(self, x):
        if not self.training or self.frozen or not joined():
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        xf = x if x.dtype == torch.float32 else x.float()
        axes = [0, *range(2, xf.dim())]
        shape = [1, -1] + [1] * (xf.dim() - 2)
        count = torch.full((1,), xf.numel() / max(xf.shape[1], 1), dtype=torch.float32, device=xf.device)
        totals = all_reduce(torch.cat([xf.sum(axes), count]))
        n = totals[-1]
        mean = totals[:-1] / n
        centered = xf - mean.view(shape)
        var = all_reduce((centered * centered).sum(axes)) / n  # biased, as Keras normalizes
        out = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.weight is not None:
            out = out * self.weight.float().view(shape)
        out = out + self.bias.float().view(shape)
        with torch.no_grad():
            self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
            self.running_var.lerp_(var.detach().to(self.running_var.dtype), self.momentum)
        return out if out.dtype == x.dtype else out.to(x.dtype)


def synchronize_batch_norm(model: torch.nn.Module) -> int:
    """Turn every batch normalization of ``model`` into :class:`SynchronizedBatchNorm` (same
    parameters, buffers and state-dict keys); returns how many."""
    count = 0
    for module in model.modules():
        if type(module) is BatchNorm:
            module.__class__ = SynchronizedBatchNorm
            count += 1
    return count


# -- the data ----------------------------------------------------------------------------------
class RankBatches(Sampler):
    """Batch sampler of one rank: its part of each global batch of the epoch, as ``(index, weight)``
    keys of an epoch-indexed dataset (index ``epoch * length + i``)."""

    def __init__(self, length: int, batch_size: int, world: World):
        self.length, self.batch_size, self.world, self.epoch = length, batch_size, world, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        start = self.epoch * self.length
        for part, weight in rank_batches(self.length, self.batch_size, self.world):
            yield [(start + i, weight) for i in part]

    def __len__(self) -> int:
        return len(global_batches(self.length, self.batch_size, self.world.size))


class Weighted(Dataset):
    """Items of ``base`` read by ``(index, weight)`` keys, with the weight as :data:`WEIGHT`."""

    def __init__(self, base):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key):
        index, weight = key
        return {**self.base[index], WEIGHT: np.asarray(weight, dtype=np.float32)}


class Part(Dataset):
    """The items ``indices`` of ``base``, in order."""

    def __init__(self, base, indices):
        self.base, self.indices = base, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.base[self.indices[index]]


def training_loader(indexed, batch_size: int, workers, pin: bool, world: World):
    """(batches, set_epoch) of one rank over an epoch-indexed dataset (dlae_torch.loader.EpochIndexed)."""
    from dlae_torch.loader import make_loader

    sampler = RankBatches(len(indexed), batch_size, world)
    loader = make_loader(Weighted(indexed), batch_size, workers=workers, pin=pin, batch_sampler=sampler)
    return loader, sampler.set_epoch


def evaluation_loader(samples, batch_size: int, workers, pin: bool, world: World):
    """One rank's contiguous part of the validation samples, in batches of ``batch_size / W``."""
    from dlae_torch.loader import make_loader

    part = Part(samples, evaluation_part(len(samples), world))
    return make_loader(part, max(1, batch_size // world.size), workers=workers, pin=pin)


def batch_weight(batch: dict) -> float | None:
    """The weight of this rank's mean loss in a training batch (None in a single process)."""
    weight = batch.get(WEIGHT)
    return None if weight is None else float(weight.reshape(-1)[0])


# -- reductions ----------------------------------------------------------------------------------
class TorchCollective:
    """The core's Collective over torch.distributed (any picklable value)."""

    def __init__(self, world: World):
        self.world = world

    @peer_safe
    def gather(self, value: object) -> list:
        out = [None] * dist.get_world_size()
        dist.all_gather_object(out, value)
        return out

    @peer_safe
    def gather_to_primary(self, value: object) -> list | None:
        out = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
        dist.gather_object(value, out, dst=0)
        return out


def collective(world: World) -> TorchCollective | None:
    return TorchCollective(world) if joined() else None
