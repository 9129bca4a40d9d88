"""Data-parallel training in several processes: the rules every backend follows (framework-free).

A run is one *world* of processes. Its size and each process's rank come from the launcher's
environment: ``torchrun`` (and dlae's own start, which uses torch's elastic launcher) sets
``WORLD_SIZE``/``RANK``/``LOCAL_RANK``; a SLURM job step started with ``srun`` sets
``SLURM_STEP_NUM_TASKS``/``SLURM_PROCID``/``SLURM_LOCALID``; a TensorFlow cluster is described by
``TF_CONFIG``. Without them a run is one process (world size 1), which pays for none of this: no
process group, no wrapper, no reduction. (One TensorFlow process may still mirror its model over
several devices of its machine: dlae_tensorflow.distributed.)

The rules:

* ``training_configurations.batch_size`` is the *global* batch of one optimizer step; each of the
  W processes reads ``batch_size / W`` samples of it (W must divide it). Global batch k is samples
  ``k*B .. (k+1)*B - 1`` of the epoch's order, cut into W contiguous parts, part r for rank r
  (:func:`global_batches`, :func:`shard`), so the processes together see exactly the batches of
  one process and the gradient (averaged over the global batch) is the same; the learning rate
  therefore needs no scaling. The augmentation of a sample is seeded by the sample's place in
  the epoch (dlae_core.data.datasets), so it is the same whichever rank reads it.
* Epoch metrics and validation results are sums over every rank's samples (:class:`Collective`),
  so the history equals a single process's.
* Only rank 0 (:attr:`World.primary`) writes: models, checkpoints, CSV, TensorBoard, pictures,
  the run record and the progress display; the others run with every output switched off
  (:func:`secondary_config`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

import attrs

from dlae_core.errors import UnsupportedSettingError, problem

#: the SLURM variables of a job step with several tasks (srun); the batch script itself has no step
SLURM_STEP_TASKS, SLURM_RANK, SLURM_LOCAL_RANK = "SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_LOCALID"
DEFAULT_PORT = 29500


@attrs.frozen
class World:
    """The processes of one run: ``size`` of them, this one ``rank`` (``local_rank`` on its machine,
    of ``local_size`` there); ``launcher``: "torchrun" (torch's launcher, dlae's own start included),
    "slurm", "tf_config" or "" (one process)."""

    size: int = 1
    rank: int = 0
    local_rank: int = 0
    local_size: int = 1
    launcher: str = ""

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def primary(self) -> bool:
        """Whether this process writes the run's outputs (rank 0)."""
        return self.rank == 0

    def describe(self) -> dict:
        """What the run record keeps of the world."""
        return {"processes": self.size, "rank": self.rank, "local_rank": self.local_rank,
                "processes_per_node": self.local_size, "launcher": self.launcher or None}


SINGLE = World()


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "")
    try:
        return int(value)
    except ValueError:
        return default


def world_from_environment(env: Mapping[str, str] | None = None) -> World:
    """The world this process belongs to, from the launcher's variables (torchrun's first, then a
    SLURM job step's); one process when neither says more."""
    env = os.environ if env is None else env
    size = _int(env, "WORLD_SIZE", 1)
    if size > 1:
        local_size = _int(env, "LOCAL_WORLD_SIZE", size)
        return World(size, _int(env, "RANK", 0), _int(env, "LOCAL_RANK", 0), local_size, "torchrun")
    size = _int(env, SLURM_STEP_TASKS, 1)
    if size > 1:
        nodes = max(1, _int(env, "SLURM_STEP_NUM_NODES", _int(env, "SLURM_NNODES", 1)))
        return World(size, _int(env, SLURM_RANK, 0), _int(env, SLURM_LOCAL_RANK, 0), max(1, size // nodes), "slurm")
    return tf_config_world(env.get("TF_CONFIG", ""))


def tf_config_world(text: str) -> World:
    """The world of a TensorFlow cluster (``TF_CONFIG``: its chief, then its workers, are ranks 0, 1, ...;
    one process per machine); one process when it names none or is not JSON."""
    try:
        spec = json.loads(text) if text else {}
        cluster, task = spec.get("cluster", {}), spec.get("task", {})
        chiefs, workers = len(cluster.get("chief", [])), len(cluster.get("worker", []))
        rank = int(task.get("index", 0)) + (chiefs if task.get("type") == "worker" else 0)
    except (ValueError, AttributeError, TypeError):
        return SINGLE
    if chiefs + workers < 2 or task.get("type") not in ("chief", "worker"):
        return SINGLE
    return World(chiefs + workers, rank, 0, 1, "tf_config")


def current_world() -> World:
    """The world of this process (read from the environment each time: it is a few lookups)."""
    return world_from_environment()


def first_host(nodelist: str) -> str:
    """The first host name of a SLURM node list: ``"gpu[03-05,9],cpu1"`` -> ``"gpu03"``."""
    match = re.match(r"\s*([^,\[]+)(\[([^\]]*)\])?", nodelist or "")
    if not match:
        return "127.0.0.1"
    prefix, ranges = match.group(1), match.group(3)
    if not ranges:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def rendezvous_environment(world: World, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a process group's ``env://`` start reads, completed for a SLURM step (which
    sets none of them): the first host of the step's nodes and a port derived from the job id,
    unless MASTER_ADDR / MASTER_PORT are set already (a torchrun start sets them all)."""
    env = os.environ if env is None else env
    out = {"WORLD_SIZE": str(world.size), "RANK": str(world.rank), "LOCAL_RANK": str(world.local_rank)}
    if "MASTER_ADDR" not in env:
        out["MASTER_ADDR"] = first_host(env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST", ""))
    if "MASTER_PORT" not in env:
        out["MASTER_PORT"] = str(DEFAULT_PORT + _int(env, "SLURM_JOB_ID", 0) % 1000)
    return out


# -- how many processes a plain start launches -------------------------------------------------------
def wants_several_gpus(config) -> bool:
    train = config.training_configurations
    return train.hardware == "multi-gpu" or (train.hardware != "cpu" and train.number_of_gpus > 1)


def processes_to_launch(config, requested: int | None, gpus: int, *, process_per_gpu: bool = True) -> int:
    """How many processes a plain ``dlae run`` (not under a launcher) starts: ``--processes``
    when given; else, for ``hardware: multi-gpu`` (or ``number_of_gpus`` > 1) on a backend that
    runs one process per GPU, ``number_of_gpus`` (all visible GPUs when it is 1); else 1. No GPU
    visible: 1 (the placement says it trains on the CPU)."""
    train = config.training_configurations
    if requested is not None:
        if train.hardware != "cpu" and gpus and requested > gpus:
            raise UnsupportedSettingError(f"--processes {requested}: each process trains on its own GPU and "
                                          f"{gpus} are visible; ask for at most {gpus}, or set "
                                          f"training_configurations.hardware to 'cpu'")
        return max(1, requested)
    if not (process_per_gpu and wants_several_gpus(config)) or gpus == 0:
        return 1
    count = train.number_of_gpus if train.number_of_gpus > 1 else gpus
    if count > gpus:
        raise UnsupportedSettingError(problem(
            "training_configurations.number_of_gpus", f"more GPUs asked for than the {gpus} visible here",
            expected=f"at most {gpus}", received=count).line())
    return count


# -- batches --------------------------------------------------------------------------------------
def per_process_batch(batch_size: int, parts: int) -> int:
    """The samples each of ``parts`` processes (or devices) reads of a global batch;
    UnsupportedSettingError unless ``parts`` divides ``batch_size``."""
    if batch_size % parts:
        raise UnsupportedSettingError(problem(
            "training_configurations.batch_size", f"the global batch is split evenly among the {parts} processes "
            f"(or devices) of this run", expected=f"a multiple of {parts}", received=batch_size).line())
    return batch_size // parts


def shard(start: int, stop: int, parts: int, index: int) -> tuple[int, int]:
    """Part ``index`` of ``parts`` contiguous, near-equal parts of ``range(start, stop)`` (the
    first ``(stop - start) % parts`` parts one longer)."""
    size, extra = divmod(stop - start, parts)
    lo = start + index * size + min(index, extra)
    return lo, lo + size + (1 if index < extra else 0)


def global_batches(length: int, batch_size: int, world_size: int, *, training: bool = True) -> list[tuple[int, int]]:
    """(start, stop) of each global batch over ``length`` items. In training a final batch with
    fewer items than processes is left out (every process needs at least one sample per step;
    the single-process loader likewise drops a final batch of one)."""
    bounds = [(start, min(start + batch_size, length)) for start in range(0, length, batch_size)]
    if training and bounds and bounds[-1][1] - bounds[-1][0] < world_size:
        bounds.pop()
    return bounds


def rank_batches(length: int, batch_size: int, world: World, *, training: bool = True
                 ) -> Iterator[tuple[range, float]]:
    """This rank's items of each global batch and the weight of its mean loss: ``local * W /
    global``, so that averaging the processes' gradients (what data-parallel engines do) gives the
    gradient of the global batch's mean loss even when its parts are unequal (1.0 when equal)."""
    for start, stop in global_batches(length, batch_size, world.size, training=training):
        lo, hi = shard(start, stop, world.size, world.rank)
        yield range(lo, hi), (hi - lo) * world.size / (stop - start)


def evaluation_part(length: int, world: World) -> range:
    """The validation items this rank evaluates: a contiguous part, in order (so what the ranks
    gather in rank order is in the data's order)."""
    return range(*shard(0, length, world.size, world.rank))


# -- reductions -----------------------------------------------------------------------------------
class Collective(Protocol):
    """What a backend offers the core when several processes train together."""

    world: World

    def gather(self, value: object) -> list:
        """Every rank's ``value`` (any picklable object), in rank order, on every rank."""

    def gather_to_primary(self, value: object) -> list | None:
        """Every rank's ``value`` in rank order on rank 0; None on the others."""


COUNT = "__count__"


def merge_sums(parts: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Key-wise sums of the ranks' sums (a key absent from a rank counts 0), in rank order."""
    out: dict[str, float] = {}
    for part in parts:
        for key, value in part.items():
            out[key] = out.get(key, 0.0) + float(value)
    return out


def reduced_means(collective: Collective | None, totals: Mapping[str, float], count: int) -> dict[str, float]:
    """Means over every rank's samples of sample-weighted ``totals`` (sum of value x samples) over
    ``count`` samples; one process (``collective`` None): this process's means."""
    if collective is not None:
        merged = merge_sums(collective.gather({**totals, COUNT: count}))
        count = int(merged.pop(COUNT))
        totals = merged
    return {key: value / max(count, 1) for key, value in totals.items()}


class RankShare:
    """This rank's items of ``samples`` for predictions: its parts of the global batches, in order.
    ``batches`` lists the positions (in this view) of each non-empty part: a backend's loader
    batches by them, so each batch is one global batch's part; ``steps`` counts the global batches."""

    def __init__(self, samples, batch_size: int, world: World):
        parts = [list(part) for part, _ in rank_batches(len(samples), batch_size, world, training=False)]
        self.samples, self.steps = samples, len(parts)
        self.indices = [index for part in parts for index in part]
        self.batches, start = [], 0
        for part in (part for part in parts if part):
            self.batches.append(list(range(start, start + len(part))))
            start += len(part)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.samples[self.indices[index]]


def ordered_outputs(batches: Iterable[tuple[list, list]], steps: int, collective: Collective
                    ) -> Iterator[tuple[str, object]]:
    """(name, output) of every sample in the data's order, on rank 0 (nothing on the others), from
    each rank's ``batches`` (names, outputs) of its parts of ``steps`` global batches (a rank whose
    part of the last batch is empty has one batch fewer)."""
    iterator = iter(batches)
    for _ in range(steps):
        names, outputs = next(iterator, ([], []))
        parts = collective.gather_to_primary((list(names), list(outputs)))
        for part_names, part_outputs in parts or ():
            yield from zip(part_names, part_outputs)


# -- outputs of the other ranks -------------------------------------------------------------------
SAVE_SWITCHES = ("save_model_switch", "save_csv_switch", "save_checkpoints_switch", "save_tensorboard_switch")


def secondary_config(config):
    """``config`` as a rank other than 0 runs it: every output switched off (rank 0 writes them)."""
    return config.evolve(save_configurations=dict.fromkeys(SAVE_SWITCHES, False))


def plan_line(parts: int, noun: str, batch_size: int, where: str) -> str:
    """The first line of a data-parallel training: ``parts`` processes (or replicas), the global
    batch and the learning-rate rule."""
    return (f"data-parallel: {parts} {noun} ({where}), {batch_size // parts} samples each = global batch "
            f"{batch_size} per step (training_configurations.batch_size); learning rates as configured: each "
            f"step's gradient is the global batch's mean, as in one process (when you raise batch_size, raise the "
            f"learning rate yourself, e.g. in proportion)")
