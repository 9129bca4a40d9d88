"""Data-parallel training on TensorFlow's own engine, tf.distribute: a MirroredStrategy over the GPUs
of one machine (one process drives them all), or a MultiWorkerMirroredStrategy over the processes
of a cluster described by ``TF_CONFIG`` (one per machine, or several on one started by
``dlae run --processes N``: dlae_tensorflow.launch). ``$DLAE_CPU_DEVICES=N`` splits the CPU into N
logical devices and mirrors over them (to try data-parallel training without GPUs).

The rules are the core's (dlae_core.running.distributed): ``batch_size`` is the global batch; each
worker reads its part of every global batch (:class:`WorkerBatches`), its replicas split that part
in order, each replica's mean loss is weighted by its share of the global batch (Keras' optimizer
sums the replicas' gradients: the sum is the global batch's mean gradient), and the step values are
summed over all replicas, so every worker logs the global batch's means. Without a strategy (one
device) none of this runs.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf

from dlae_core.errors import DistributedError, UnsupportedSettingError, problem
from dlae_core.running.distributed import World, current_world, global_batches, shard, wants_several_gpus

#: the batch key holding the size of the global batch a worker's part belongs to
GLOBAL = "global_size"
CPU_DEVICES = "DLAE_CPU_DEVICES"
#: the process's strategies: "cluster" (joined through TF_CONFIG) and "local" (this machine's devices;
#: TensorFlow lays its devices out once per process)
_STRATEGY: dict = {}


def describe() -> str:
    return _STRATEGY.get("where", "")


def session_strategy(config):
    """The strategy a session of ``config`` trains under: the cluster's when this process joined one,
    else :func:`local_strategy` (None: one device)."""
    return _STRATEGY.get("cluster") or local_strategy(config)


def _local_devices(config) -> list[str]:
    """The devices ``config`` mirrors over on this machine ([]: one device)."""
    from dlae_tensorflow.device import gpus

    found = gpus() if config.training_configurations.hardware != "cpu" else []
    if wants_several_gpus(config) and len(found) > 1:
        wanted = config.training_configurations.number_of_gpus
        wanted = len(found) if wanted == 1 else wanted
        if wanted > len(found):
            raise UnsupportedSettingError(problem("training_configurations.number_of_gpus", f"more GPUs asked for than "
                                                  f"the {len(found)} visible here", expected=f"at most {len(found)}",
                                                  received=wanted).line())
        return [f"/gpu:{i}" for i in range(wanted)]
    count = int(os.environ.get(CPU_DEVICES, "0") or 0)
    return [f"/cpu:{i}" for i in range(count)] if count > 1 and not found else []


def local_strategy(config):
    """A MirroredStrategy over this machine's devices when ``config`` asks for several GPUs and
    more than one is visible (``number_of_gpus`` of them; 1: all), or over the logical CPU devices
    of ``$DLAE_CPU_DEVICES``; else None. Made once per process, before TensorFlow runs anything."""
    devices = _local_devices(config)
    if not devices:
        return None
    if "local" not in _STRATEGY:
        if devices[0].startswith("/cpu"):
            _split_cpu(len(devices))
            strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
            where = f"MirroredStrategy over {len(devices)} logical CPU devices"
        else:
            strategy, where = tf.distribute.MirroredStrategy(devices), f"MirroredStrategy over {len(devices)} GPUs"
        _STRATEGY.update(local=strategy, where=where)
    return _STRATEGY["local"]


def _split_cpu(count: int) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        raise UnsupportedSettingError(f"${CPU_DEVICES} splits the CPU into devices before TensorFlow starts, but it "
                                      f"had started in this process (set it for a fresh dlae run)") from None


@contextlib.contextmanager
def data_parallel(world: World, config):
    """Join the cluster of ``TF_CONFIG`` for the block (a MultiWorkerMirroredStrategy over every
    worker's devices); yields how."""
    if world.launcher != "tf_config":
        raise UnsupportedSettingError(f"the tensorflow backend joins a cluster described by TF_CONFIG (this process "
                                      f"was started by {world.launcher} as rank {world.rank} of {world.size}); "
                                      f"start its workers with dlae run --processes N or set TF_CONFIG")
    from dlae_tensorflow.device import gpus

    on_gpus = config.training_configurations.hardware != "cpu" and bool(gpus())
    implementation = (tf.distribute.experimental.CommunicationImplementation.NCCL if on_gpus
                      else tf.distribute.experimental.CommunicationImplementation.RING)
    if "cluster" not in _STRATEGY:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(implementation=implementation))
        _STRATEGY.update(cluster=strategy, where=f"MultiWorkerMirroredStrategy, {'GPUs' if on_gpus else 'CPU'}")
    yield _STRATEGY["where"]




# -- the data ----------------------------------------------------------------------------------
class WorkerBatches:
    """This worker's parts of the global batches of ``samples`` (dicts of tensors with the global
    batch's size as :data:`GLOBAL`); in training (``epochs``: an epoch-indexed dataset) a last
    batch smaller than the replicas is left out. Read by ``workers`` threads, a few batches ahead."""

    def __init__(self, samples, batch_size: int, workers: int | None, strategy, *, training: bool,
                 epochs: bool = False):
        self.samples, self.epochs, self.epoch, self.world = samples, epochs, 0, current_world()
        self.bounds = global_batches(len(samples), batch_size, strategy.num_replicas_in_sync, training=training)
        self.threads = max(1, workers or 1)
        first = samples[0]
        self.specs = {key: (np.asarray(value).dtype, np.asarray(value).shape) for key, value in first.items()}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.bounds)

    def _read(self, bounds: tuple[int, int]) -> dict:
        start, stop = bounds
        lo, hi = shard(start, stop, self.world.size, self.world.rank)
        offset = self.epoch * len(self.samples) if self.epochs else 0
        items = [self.samples[offset + index] for index in range(lo, hi)]
        batch = {key: tf.constant(np.stack([np.asarray(item[key], dtype) for item in items]) if items
                                  else np.zeros((0, *shape), dtype))
                 for key, (dtype, shape) in self.specs.items()}
        batch[GLOBAL] = tf.constant([stop - start], tf.float32)
        return batch

    def __iter__(self):
        with ThreadPoolExecutor(self.threads) as pool:
            pending = [pool.submit(self._read, bounds) for bounds in self.bounds[:self.threads + 1]]
            for index in range(len(self.bounds)):
                batch = pending[index].result()
                ahead = index + self.threads + 1
                if ahead < len(self.bounds):
                    pending.append(pool.submit(self._read, self.bounds[ahead]))
                pending[index] = None
                yield batch


# -- the steps ------------------------------------------------------------------------------------
def batch_size(batch: dict) -> int:
    """The global batch's size (a worker's part carries it), else the batch's own."""
    return int(batch[GLOBAL][0]) if GLOBAL in batch else int(next(iter(batch.values())).shape[0])


class Mirrored:
    """Runs a step ``fn(batch, scale) -> (means, flags)`` (dicts of scalars and of flag vectors) on
    every replica with its part of this worker's batch and ``scale`` its share of the global batch;
    :meth:`run` returns the global batch's size, means (summed over the replicas weighted by their
    samples) and flags (maximum). Compiled once per step function."""

    def __init__(self, strategy):
        self.strategy, self.workers = strategy, max(1, current_world().size)
        self.local = strategy.num_replicas_in_sync // self.workers
        self._compiled: dict = {}

    def parts(self, batch: dict):
        """Each replica's slice of the worker's batch and its share of the global batch."""
        size = float(batch[GLOBAL][0])
        data = {key: value for key, value in batch.items() if key != GLOBAL}
        count = int(next(iter(data.values())).shape[0])

        def part(context):
            lo, hi = shard(0, count, self.local, context.replica_id_in_sync_group % self.local)
            return {key: value[lo:hi] for key, value in data.items()}, tf.constant((hi - lo) / size, tf.float32)

        return self.strategy.experimental_distribute_values_from_function(part)

    def run(self, fn, batch: dict):
        if fn not in self._compiled:
            self._compiled[fn] = tf.function(lambda parts, scales: self._step(fn, parts, scales),
                                             reduce_retracing=True)
        with self.strategy.scope(), peer_failures():
            size, sums, flags = self._compiled[fn](*self.parts(batch))
        total = float(size)
        return total, {key: float(value) / max(total, 1.0) for key, value in sums.items()}, flags

    def _step(self, fn, parts, scales):
        def replica(part, scale):
            means, flags = fn(part, scale)
            count = tf.cast(tf.shape(next(iter(part.values())))[0], tf.float32)
            # an empty part (evaluation of the last batch) counts nothing: its NaN means times 0
            return count, {key: tf.math.multiply_no_nan(tf.cast(value, tf.float32), count)
                           for key, value in means.items()}, {key: value[None] for key, value in flags.items()}

        count, sums, flags = self.strategy.run(replica, args=(parts, scales))
        reduce = self.strategy.reduce
        total = reduce(tf.distribute.ReduceOp.SUM, count, axis=None)
        return (total, {key: reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for key, value in sums.items()},
                {key: self._maximum(value) for key, value in flags.items()})

    def _maximum(self, value):
        """The replicas' element-wise maximum of a value each gave with a leading axis of 1
        (tf.distribute reduces by sum or mean only)."""
        return tf.reduce_max(self.strategy.gather(value, axis=0), axis=0)

    def gather(self, fn, batch: dict):
        """``fn(part) -> (loss, outputs, extra tensors...)`` on every replica: the global batch's mean
        loss and every replica's outputs and extras concatenated in order (all workers' included)."""
        key = ("gather", fn)
        if key not in self._compiled:
            self._compiled[key] = tf.function(lambda parts: self._gathered(fn, parts), reduce_retracing=True)
        with self.strategy.scope(), peer_failures():
            size, loss, gathered = self._compiled[key](self.parts(batch)[0])
        return float(size), float(loss) / max(float(size), 1.0), [value.numpy() for value in gathered]

    def _gathered(self, fn, parts):
        def replica(part):
            loss, *tensors = fn(part)
            count = tf.cast(tf.shape(tensors[0])[0], tf.float32)
            return count, tf.math.multiply_no_nan(loss, count), tensors

        count, loss, tensors = self.strategy.run(replica, args=(parts,))
        reduce = self.strategy.reduce
        total = tf.distribute.ReduceOp.SUM
        return (reduce(total, count, axis=None), reduce(total, loss, axis=None),
                [self.strategy.gather(tensor, axis=0) for tensor in tensors])


#: what TensorFlow's collectives raise when a worker of the cluster is gone
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
               tf.errors.DeadlineExceededError)


@contextlib.contextmanager
def peer_failures():
    """A collective failing because another worker is gone (it failed, or was killed) raises one
    DistributedError line, not TensorFlow's error (which the run record and the CLI take for a bug)."""
    try:
        yield
    except PEER_ERRORS:
        world = current_world()
        if not world.distributed:
            raise
        raise DistributedError(f"rank {world.rank} of {world.size}: another worker of this run stopped (its own "
                               f"error says why), so this one stops too") from None


def mirrored(placement) -> Mirrored | None:
    """The replicas' runner of a placement with a strategy (None: one device)."""
    return Mirrored(placement.strategy) if getattr(placement, "strategy", None) is not None else None


def synchronize_batch_norm(model) -> int:
    """Batch normalization over the global batch (Keras' synchronized statistics) for every batch
    normalization layer of ``model``; returns how many."""
    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if layer.__class__.__name__ == "BatchNormalization":
            layer.synchronized = True
            count += 1
    return count
