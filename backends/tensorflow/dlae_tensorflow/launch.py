"""Starting the workers of a TensorFlow data-parallel run on this machine (``dlae run --processes N``):
N processes running the same ``dlae`` command, each with the ``TF_CONFIG`` of a local cluster
(ports on 127.0.0.1), which makes it join a MultiWorkerMirroredStrategy
(:mod:`dlae_tensorflow.distributed`). TensorFlow has no launcher of its own; this one waits for
them and, when one fails, stops the others at once (its peers' collectives would wait for it)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

POLL_S = 0.1
STOP_S = 5.0  # a stopped worker that ignores SIGTERM this long is killed


def free_ports(count: int) -> list[int]:
    """``count`` ports free on 127.0.0.1 right now."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]


def worker_environment(rank: int, addresses: list[str], gpus: int, use_gpus: bool) -> dict[str, str]:
    """The environment of worker ``rank``: its TF_CONFIG, its GPU (one each when there are enough;
    none when the run is on the CPU) and its share of the CPU threads."""
    env = dict(os.environ)
    env["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": rank}})
    if not use_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif gpus >= len(addresses):
        env["CUDA_VISIBLE_DEVICES"] = str(rank)
    threads = str(max(1, (os.cpu_count() or 1) // len(addresses)))
    for name in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        env.setdefault(name, threads)
    return env


def launch(processes: int, arguments: list[str], *, gpus: int = 0, use_gpus: bool = False) -> dict[int, int]:
    """Run ``python -m dlae_core.cli.main ARGUMENTS`` in ``processes`` local workers and wait;
    {rank: exit code} of the workers that failed ({} when all finished; negative: killed by that
    signal). Ctrl-C stops them all and raises KeyboardInterrupt."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(processes)]
    command = [sys.executable, "-m", "dlae_core.cli.main", *arguments]
    workers = [subprocess.Popen(command, env=worker_environment(rank, addresses, gpus, use_gpus))
               for rank in range(processes)]
    try:
        while True:
            codes = [worker.poll() for worker in workers]
            if any(code not in (None, 0) for code in codes) or all(code == 0 for code in codes):
                break
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        _stop(workers)
        raise
    _stop(workers)
    return {rank: worker.returncode for rank, worker in enumerate(workers) if worker.returncode}


def _stop(workers: list[subprocess.Popen]) -> None:
    """SIGTERM to the workers still running, SIGKILL to those still there after STOP_S."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_S
    for worker in workers:
        try:
            worker.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
