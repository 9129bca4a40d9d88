"""``dlae run`` / ``dlae predict`` in several processes (data-parallel): start them, or join the run
this process is part of.

* A plain start whose config asks for several GPUs (``hardware: multi-gpu``, ``number_of_gpus`` >
  1) on a backend with one process per GPU, or any start with ``--processes N`` (N CPU processes
  with ``hardware: cpu``), starts the workers through the backend (torch: its elastic launcher),
  each running the same command, and waits. A worker that fails leaves its error lines in a
  folder the launcher names (:data:`FAILURES`); the launcher prints the first failure's lines
  (the others were stopped because of it) and exits with its code.
* A process started by a launcher (``torchrun``, ``srun``, dlae's own start: WORLD_SIZE > 1)
  joins the run (:func:`data_parallel`); ranks other than 0 write nothing and print nothing but
  their errors (dlae_core.running.distributed).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
import warnings
from pathlib import Path

import attrs
import click

from dlae_core.errors import DistributedError, DlaeError
from dlae_core.running.distributed import (World, current_world, per_process_batch, plan_line, processes_to_launch,
                                           secondary_config)

#: the folder where workers started by dlae leave their error lines for the launcher
FAILURES = "DLAE_DISTRIBUTED_FAILURES"
FOLLOWER_GRACE_S = 1.0  # ten times the launcher's monitor interval


# -- in a worker ------------------------------------------------------------------------------------
@contextlib.contextmanager
def data_parallel(engine, config):
    """Around a session: yields (world, how it is joined: "" for one process). In a run of several
    processes the backend joins its process group for the block; a rank other than 0 is silent
    (no stdout, no warnings: rank 0 says everything once)."""
    world = current_world()
    if not world.distributed:
        yield world, ""
        return
    with engine.data_parallel(world, config) as where, contextlib.ExitStack() as stack:
        if not world.primary:
            warnings.simplefilter("ignore")
            stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
        yield world, where


def report_failure(exc: DlaeError) -> bool:
    """Whether the CLI prints ``exc`` here: not in a worker started by dlae's launcher, which leaves
    it (its lines, and whether it only followed another process's failure) for the launcher to print."""
    folder, world = os.environ.get(FAILURES), current_world()
    if not folder or not world.distributed or not Path(folder).is_dir():
        return True
    failure = {"rank": world.rank, "lines": exc.lines(), "exit_code": exc.exit_code, "time": time.time(),
               "follows": isinstance(exc, DistributedError)}
    (Path(folder) / f"rank{world.rank}.json").write_text(json.dumps(failure), encoding="utf-8")
    if failure["follows"]:
        # a process that only lost its peer exits a moment later, so that the launcher, which reports the
        # first worker it sees end, sees the one that caused it (killed workers leave no lines to tell)
        time.sleep(FOLLOWER_GRACE_S)
    return False


# -- the launcher -------------------------------------------------------------------------------------
def launched(engine, config, requested: int | None, *, training: bool) -> bool:
    """Start the workers and wait when this plain start asks for several processes (True: the run is
    over); False when this process runs the session itself (one process, or joining a launch)."""
    if current_world().distributed:
        return False
    gpus = engine.gpu_count()
    count = processes_to_launch(config, requested, gpus, process_per_gpu=engine.process_per_gpu)
    if count <= 1:
        return False
    if training:  # said once, here, rather than by every worker
        per_process_batch(config.training_configurations.batch_size, count)
    folder = tempfile.mkdtemp(prefix="dlae-failures-")
    os.environ[FAILURES] = folder
    try:
        failed = engine.launch(count, worker_arguments(click.get_current_context()), config)
        if failed:
            raise launch_failure(failed, Path(folder), count)
    except KeyboardInterrupt:  # Ctrl-C: the workers were stopped; rank 0 said how to resume
        raise click.exceptions.Exit(130) from None
    finally:
        os.environ.pop(FAILURES, None)
        shutil.rmtree(folder, ignore_errors=True)
    return True


def worker_arguments(ctx: click.Context) -> list[str]:
    """The command line of ``ctx`` again (what each worker runs): the command name, its arguments
    and the options given (the parent's argv is not the command when dlae runs in-process)."""
    out = [ctx.info_name]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            out.append(str(value))
        elif getattr(param, "is_flag", False):
            out += [param.opts[0]] if value else []
        elif value is not None:
            out += [param.opts[0], str(value)]
    return out


def launch_failure(failed: dict[int, int], folder: Path, size: int) -> DistributedError:
    """The launcher's error: the lines of the worker whose failure stopped the run (the first that
    did not merely follow another's), or how a worker died that could not say (killed, crashed)."""
    reports = []
    for path in folder.glob("rank*.json"):
        with contextlib.suppress(OSError, ValueError):
            reports.append(json.loads(path.read_text(encoding="utf-8")))
    causes = sorted((r for r in reports if not r.get("follows")), key=lambda r: r["time"])
    if causes:
        cause = causes[0]
        lines, code, rank = list(cause["lines"]), int(cause["exit_code"]), int(cause["rank"])
    else:
        reported = {r["rank"] for r in reports}
        # the launcher stops the others with SIGTERM: the cause is a worker that died otherwise
        silent = sorted(failed, key=lambda r: (r in reported, failed[r] == -signal.SIGTERM, r))
        rank, code = silent[0], failed[silent[0]]
        lines = [_death(rank, size, code)]
    return LaunchError([*lines, f"rank {rank} of {size} failed, so the other processes of the run were stopped"],
                       code if code > 0 else 1)


class LaunchError(DistributedError):
    """What the launcher prints: the failing worker's lines, then what became of the others."""

    def __init__(self, lines: list[str], exit_code: int):
        super().__init__("; ".join(lines))
        self._lines, self.exit_code = list(lines), exit_code

    def lines(self) -> list[str]:
        return list(self._lines)


def _death(rank: int, size: int, code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"rank {rank} of {size} was killed by {signal.Signals(-code).name}"
        return f"rank {rank} of {size} was killed by signal {-code}"
    return f"rank {rank} of {size} stopped with exit code {code} (its output above says why)"


def secondary_session(technique, run, engine, *, training: bool) -> None:
    """The session of a rank other than 0: the same training with every output switched off, or
    its part of the predictions (handed to rank 0)."""
    if not training:
        technique.predict(run, engine)
        return
    first_line(engine, current_world(), "", run.config)  # the batch's check, said by rank 0
    technique.train(attrs.evolve(run, config=secondary_config(run.config)), engine)


def first_line(engine, world: World, where: str, config) -> str | None:
    """The line a data-parallel training starts with: its processes or replicas, the global batch and
    the learning-rate rule (None for one process on one device); UnsupportedSettingError when the
    batch does not split evenly."""
    replicas, how = engine.replicas(config)
    if replicas > 1:
        parts, noun, how = replicas, "replicas", how or where
    elif world.distributed:
        parts, noun, how = world.size, "processes", where
    else:
        return None
    batch = config.training_configurations.batch_size
    per_process_batch(batch, parts)
    return plan_line(parts, noun, batch, how)
