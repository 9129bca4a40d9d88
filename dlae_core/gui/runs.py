"""Runs started from the page: each is ``dlae run`` carried by :mod:`dlae_core.gui.runner` in a
process session of its own, with a folder under the state directory (``runs/<id>/``: ``run.json``
what was started, ``status.json`` its processes and exit code, ``log.txt`` its output). The folder
is the run's memory: a reopened page, or a restarted server, finds every run there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dlae_core.errors import DlaeError, UsageError
from dlae_core.gui.progress import read_progress

LOG_CHUNK = 256 * 1024  # bytes of log one status answer carries at most


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process took the number: not ours
        return False
    return True


def _trains(config_path: Path) -> bool:
    """Whether the config is a training session (its run is followed by prediction samples)."""
    from dlae_core.config.parser import read_json

    try:
        session = read_json(config_path).get("config_file", {}).get("type_signal")
    except (DlaeError, AttributeError):
        return False
    return session in ("Train", "Train from Checkpoint")


class RunStore:
    """The runs under ``state_dir/runs``; starts, reads and stops them."""

    def __init__(self, state_dir: str | Path):
        self.folder = Path(state_dir) / "runs"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._children: dict[str, subprocess.Popen] = {}  # runners this server started (reaped on poll)

    def start(self, config_path: str | Path, backend: str, *, overwrite: bool = False, resume: bool = False) -> dict:
        """Start ``dlae run --backend BACKEND CONFIG`` and return its record."""
        config_path = Path(config_path).resolve()
        if not config_path.is_file():
            raise UsageError(f"cannot run {str(config_path)!r}: the config file does not exist (save it first)")
        run_id = time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()
        folder = self.folder / run_id
        folder.mkdir()
        command = [sys.executable, "-m", "dlae_core.cli.main", "run", "--backend", backend, str(config_path)]
        command += ["--overwrite"] * overwrite + ["--resume"] * resume
        samples = [sys.executable, "-m", "dlae_core.gui.samples", str(config_path), backend]
        record = {"id": run_id, "config": str(config_path), "backend": backend, "command": command,
                  "samples": samples if _trains(config_path) else None, "cwd": str(config_path.parent),
                  "started": time.time()}
        (folder / "run.json").write_text(json.dumps(record), encoding="utf-8")
        (folder / "log.txt").write_bytes(b"$ dlae " + " ".join(command[3:]).encode() + b"\n")
        with open(folder / "runner.txt", "wb") as runner_errors:  # a runner that cannot start says why here
            self._children[run_id] = subprocess.Popen(
                [sys.executable, "-m", "dlae_core.gui.runner", str(folder)], start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=runner_errors)
        return self.summary(run_id)

    def _folder(self, run_id: str) -> Path:
        folder = self.folder / run_id
        if "/" in run_id or run_id.startswith(".") or not (folder / "run.json").is_file():
            raise KeyError(run_id)
        return folder

    def _status(self, folder: Path) -> dict:
        child = self._children.get(folder.name)
        if child is not None:
            child.poll()  # reap the runner when it has ended
        try:
            status = json.loads((folder / "status.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"state": "starting"}
        if status["state"] in ("running", "samples") and not _alive(status.get("runner_pid")):
            status["state"] = "lost"  # the runner was killed: its run may still write, but ends unrecorded
        return status

    def summary(self, run_id: str) -> dict:
        """The record of one run with its state (starting, running, finished, lost) and exit code."""
        folder = self._folder(run_id)
        record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        status = self._status(folder)
        return {"id": run_id, "config": record["config"], "backend": record["backend"],
                "started": record["started"], "state": status["state"], "exit_code": status.get("exit_code"),
                "ended": status.get("ended")}

    def list(self) -> list[dict]:
        """Every run, newest first."""
        ids = sorted((p.name for p in self.folder.iterdir() if (p / "run.json").is_file()), reverse=True)
        return [self.summary(run_id) for run_id in ids]

    def read(self, run_id: str, offset: int = 0) -> dict:
        """The run's state, its log from byte ``offset`` (``next_offset`` says where to go on) and what
        the whole log says so far (epochs and their metrics, the current step, error lines)."""
        folder = self._folder(run_id)
        data = (folder / "log.txt").read_bytes()
        chunk = data[offset:offset + LOG_CHUNK]
        out = self.summary(run_id)
        out.update(read_progress(data.decode("utf-8", "replace")), log=chunk.decode("utf-8", "replace"),
                   next_offset=offset + len(chunk), log_size=len(data))
        return out

    def stop(self, run_id: str) -> dict:
        """Interrupt the run as Ctrl-C does (it ends at once, keeping its last checkpoint)."""
        folder = self._folder(run_id)
        status = self._status(folder)
        if status["state"] not in ("running", "samples"):
            raise UsageError(f"run {run_id} is not running (it is {status['state']})")
        os.kill(status["pid"], signal.SIGINT)
        return self.summary(run_id)
