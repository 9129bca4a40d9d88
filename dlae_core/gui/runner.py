"""The process that carries one page-started run: ``python -m dlae_core.gui.runner RUN_DIR``.

It starts ``dlae run`` (the command in ``RUN_DIR/run.json``) as its child with the output going to
``RUN_DIR/log.txt``, records both process ids in ``RUN_DIR/status.json``, waits, and records the exit
code. A training run that ended well is followed by its prediction samples (``samples`` in
``run.json``: :mod:`dlae_core.gui.samples`), drawn while the state is ``samples``. It runs in a session of its own, so closing the page or stopping the server does not stop the
run, and a reopened page finds it by its folder. An interrupt (SIGINT or SIGTERM) is passed on to
``dlae run`` as SIGINT: the run ends as Ctrl-C ends it, keeping its last checkpoint (exit 130).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def write_status(folder: Path, **status) -> None:
    """Replace ``status.json`` atomically (the server reads it at any moment)."""
    tmp = folder / "status.json.tmp"
    tmp.write_text(json.dumps(status), encoding="utf-8")
    os.replace(tmp, folder / "status.json")


def _child(folder: Path, spec: dict, command: list[str], state: str) -> int:
    """Run ``command`` with its output appended to the log, interruptible from the page; its exit code."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")  # one unwrapped line per epoch
    with open(folder / "log.txt", "ab") as log:
        child = subprocess.Popen(command, cwd=spec["cwd"], stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env)

        def interrupt(signum, frame):  # a stop from the page: end dlae run as Ctrl-C does
            child.send_signal(signal.SIGINT)

        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, interrupt)
        write_status(folder, state=state, runner_pid=os.getpid(), pid=child.pid, started=spec["started"])
        return child.wait()


def carry(folder: Path) -> int:
    """Run the command of ``folder/run.json`` (and then its samples) to its end; returns its exit code."""
    spec = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    code = _child(folder, spec, spec["command"], "running")
    if code == 0 and spec.get("samples"):
        _child(folder, spec, spec["samples"], "samples")
    write_status(folder, state="finished", runner_pid=os.getpid(), started=spec["started"], ended=time.time(),
                 exit_code=code)
    return code


if __name__ == "__main__":  # pragma: no cover - run as a process by dlae_core.gui.runs
    sys.exit(carry(Path(sys.argv[1])))
