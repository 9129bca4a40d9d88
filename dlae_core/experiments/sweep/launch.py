"""Starting a trial's ``dlae run``: a child process per trial, so a crash, a leak or a kill stays in that trial.

``fork`` (the default for torch): children are forked from an Optuna-free fork server that imported the
framework once, so a trial does not pay the framework's import time (seconds) again; ``subprocess``: a new
``python -m dlae_core.cli.main run`` per trial (TensorFlow, which must not be forked after import). Either
child dies with the sweep process (Linux parent-death signal), so a killed sweep leaves no trial running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["launcher", "gpu_slots", "gpu_for_slot", "thread_env"]

#: modules the fork server imports once, per backend (a backend not listed is started by subprocess)
PRELOAD = {"torch": ["torch", "dlae_core.cli.main", "dlae_core.experiments.sweep.launch"]}


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (elsewhere: nothing)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child_main(arguments: list[str], log: str, env: dict) -> None:
    """The forked trial: output to ``log``, then dlae's own command line."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # stop with Ctrl-C semantics (exit 130)
    os.environ.update(env)
    torch = sys.modules.get("torch")
    if torch is not None and env.get("OMP_NUM_THREADS"):  # imported by the fork server: set it here
        torch.set_num_threads(int(env["OMP_NUM_THREADS"]))
    sys.argv = ["dlae", *arguments]  # what the run record says was run
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)
    from dlae_core.cli.main import cli

    code = cli.main(arguments, prog_name="dlae", standalone_mode=False)
    sys.stdout.flush()
    sys.exit(code if isinstance(code, int) else 0)


class _Forked:
    def __init__(self, process):
        self.process = process

    def poll(self) -> int | None:
        return None if self.process.is_alive() else self.process.exitcode

    def interrupt(self) -> None:
        if self.process.is_alive():
            os.kill(self.process.pid, signal.SIGINT)

    def wait(self, timeout: float) -> int | None:
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        return self.process.exitcode


class _Spawned:
    def __init__(self, popen):
        self.popen = popen

    def poll(self) -> int | None:
        return self.popen.poll()

    def interrupt(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()


def launcher(kind: str, backend: str):
    """``start(arguments, log_path, env) -> child`` (``poll``, ``interrupt``, ``wait``) for ``kind``
    (auto, fork, subprocess)."""
    if kind == "auto":
        kind = "fork" if backend in PRELOAD and sys.platform == "linux" else "subprocess"
    if kind == "fork":
        import multiprocessing

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD.get(backend, ["dlae_core.cli.main"]))

        def start_forked(arguments: list[str], log: Path, env: dict):
            process = context.Process(target=_child_main, args=(arguments, str(log), env), daemon=False)
            process.start()
            return _Forked(process)

        return start_forked

    def start_spawned(arguments: list[str], log: Path, env: dict):
        with open(log, "wb") as handle:
            popen = subprocess.Popen([sys.executable, "-m", "dlae_core.cli.main", *arguments], stdout=handle,
                                     stderr=subprocess.STDOUT, env={**os.environ, **env},
                                     preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        return _Spawned(popen)

    return start_spawned


def thread_env(jobs: int) -> dict:
    """Each of ``jobs`` concurrent trials gets its share of the CPU cores (one trial: the framework's
    default), so trials side by side do not oversubscribe the cores."""
    if jobs <= 1:
        return {}
    share = str(max(1, (os.cpu_count() or 1) // jobs))
    return {"OMP_NUM_THREADS": share, "MKL_NUM_THREADS": share}


def gpu_slots() -> list[str]:
    """The GPUs the trials of this process are given, one each: the entries of CUDA_VISIBLE_DEVICES when it
    is set (so a sweep is limited to some GPUs, or a test pretends some are there), else the GPUs nvidia-smi
    lists; [] for none."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def gpu_for_slot(slot: int, gpus: list[str]) -> str | None:
    """The GPU of job ``slot`` (0-based) of a ``--jobs`` sweep: its own while jobs <= GPUs, round robin
    beyond (job 2 of three on two GPUs shares GPU 0 with job 0); None without GPUs."""
    return gpus[slot % len(gpus)] if gpus else None
