"""TensorBoard from the page, as the original's Tools menu opened it: ``tensorboard --logdir`` on the
config's ``save_configurations.save_tensorboard_path``, one process per folder, on 127.0.0.1 and a
free port, stopped when the server stops (it is a viewer; runs go on without it).

TensorBoard has no access token, so it listens on 127.0.0.1 whatever ``dlae gui --host`` says
(what it shows is read-only). Started as ``python -m dlae_core.gui.tensorboard ARGS``: see
:func:`main` for why not as ``tensorboard ARGS``.
"""

from __future__ import annotations

import atexit
import importlib.util
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from dlae_core.errors import UsageError

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 120
LOG_TAIL = 800  # characters of TensorBoard's output an error carries


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "data/runs", timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def log_folder(config) -> Path:
    """The TensorBoard folder of a resolved config; UsageError when it has none yet."""
    save = config.save_configurations
    if not save.save_tensorboard_switch or not save.save_tensorboard_path:
        raise UsageError("save_configurations: this config writes no TensorBoard log. Expected "
                         "save_tensorboard_switch on and a save_tensorboard_path, then a run. "
                         f"Received: switch {save.save_tensorboard_switch}, path {save.save_tensorboard_path!r}")
    folder = Path(save.save_tensorboard_path).resolve()
    if not folder.is_dir():
        raise UsageError(f"save_configurations.save_tensorboard_path: no TensorBoard log in {str(folder)!r} yet. "
                         "Expected the folder a run writes (start a run first). "
                         f"Received: {save.save_tensorboard_path!r}")
    return folder


class TensorBoards:
    """The TensorBoard processes this server started, one per log folder (kept in ``state_dir``'s
    ``tensorboard/`` with their output)."""

    def __init__(self, state_dir: Path):
        self.folder = Path(state_dir) / "tensorboard"
        self._running: dict[Path, tuple[subprocess.Popen, str]] = {}
        self._lock = threading.Lock()
        atexit.register(self.close)

    def open(self, logdir: Path) -> str:
        """The address of a TensorBoard showing ``logdir``, started (and waited for) when needed."""
        if importlib.util.find_spec("tensorboard") is None:
            raise UsageError("TensorBoard is not installed. Expected the tensorboard package: pip install tensorboard")
        with self._lock:
            known = self._running.get(logdir)
            if known and known[0].poll() is None:
                return known[1]
            process, url = self._start(logdir)
            self._running[logdir] = (process, url)
        return url

    def _start(self, logdir: Path) -> tuple[subprocess.Popen, str]:
        self.folder.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        url = f"http://{HOST}:{port}/"
        output = self.folder / f"tensorboard-{port}.log"
        command = [sys.executable, "-m", "dlae_core.gui.tensorboard", "--logdir", str(logdir), "--host", HOST,
                   "--port", str(port)]
        with open(output, "wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + STARTUP_TIMEOUT_S
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > end:
                process.kill()
                process.wait()
                tail = " ".join(output.read_text(errors="replace")[-LOG_TAIL:].split())
                raise UsageError(f"TensorBoard for {str(logdir)!r} did not start. Expected it to answer at {url}. "
                                 f"Received: {tail or 'no output'}")
            time.sleep(0.2)
        return process, url

    def close(self) -> None:
        """Stop every TensorBoard this server started."""
        with self._lock:
            running, self._running = list(self._running.values()), {}
        for process, _ in running:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def main(argv: list[str]) -> None:
    """TensorBoard's own command line. TensorBoard imports TensorFlow whenever it is installed,
    which here is most of its start (about three times as long) and reads nothing an event file
    needs; its build-time switch ``tensorboard.compat.notf`` makes it use its own reader instead."""
    import types

    sys.modules["tensorboard.compat.notf"] = types.ModuleType("tensorboard.compat.notf")
    from tensorboard import main as tensorboard_main

    sys.argv = ["tensorboard", *argv]
    tensorboard_main.run_main()


if __name__ == "__main__":  # pragma: no cover - run as a process by TensorBoards
    main(sys.argv[1:])
