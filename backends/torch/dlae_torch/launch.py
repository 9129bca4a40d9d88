"""Starting the processes of a data-parallel run on this machine with torch's own elastic launcher
(what ``torchrun --standalone --nproc-per-node N`` does): one worker per GPU (or N CPU workers
with gloo), each running the same ``dlae`` command, which then joins the process group
(:mod:`dlae_torch.distributed`). When one worker fails, the launcher stops the others at once.

GPU workers are fresh interpreters (``python -m dlae_core.cli.main``: CUDA cannot be used in a
forked copy of a process that asked it how many GPUs there are); CPU workers are forked from the
launcher, which has loaded dlae and torch already (several seconds less per worker to start).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid


def launch(processes: int, arguments: list[str], *, fork: bool = False) -> dict[int, int]:
    """Run ``dlae ARGUMENTS`` in ``processes`` workers and wait (``fork``: forked from this process,
    for CPU workers); returns {rank: exit code} of the workers that failed ({} when all finished; a
    negative code is the signal that killed one). Ctrl-C stops them all and raises KeyboardInterrupt."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=processes, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.1,
                          start_method="fork" if fork else "spawn", shutdown_timeout=5)
    # each worker takes its share of the cores (torch would use all of them in every process)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    try:
        with _quiet_launcher():
            if fork:
                elastic_launch(config, forked_worker)(list(arguments))
            else:
                elastic_launch(config, sys.executable)("-m", "dlae_core.cli.main", *arguments)
    except ChildFailedError as exc:
        return {int(rank): int(failure.exitcode) for rank, failure in exc.failures.items()}
    except SignalException:
        raise KeyboardInterrupt from None
    return {}


def forked_worker(arguments: list[str]) -> None:
    """A forked worker: the dlae command again, in this copy of the launcher (the launcher's
    environment variables name its rank). A failure exits with the command's exit code."""
    import torch

    from dlae_core.cli.main import cli

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))  # set before the fork: torch read it at start-up
    try:
        cli.main(arguments, prog_name="dlae", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code:
            sys.stdout.flush()
            raise SystemExit(code) from None


#: the launcher's loggers (elastic agent; torch.multiprocessing, which starts forked workers)
LOGGERS = ("torch.distributed.elastic", "torch.multiprocessing")


@contextlib.contextmanager
def _quiet_launcher():
    """The launcher's own log lines (closing signals, the failure table) are dlae's to say, in one line."""
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
