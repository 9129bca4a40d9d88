"""The epoch gate: a run watched by another process (a ``dlae sweep`` deciding from each epoch's values
whether to prune the trial) waits after each epoch until the watcher has looked at that epoch, so the
verdict on epoch k always comes before epoch k+1 starts, however fast the epochs are.

Switched on by the environment variable ``DLAE_EPOCH_GATE`` naming a file. The watcher creates it
holding ``-1`` before the run starts and, after reading epoch k's row of the CSV history, replaces it
(atomically) by ``k``: the run goes on. To stop the run it interrupts it (SIGINT) instead. A gate file
that is gone means the watcher is gone: the run does not wait.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["ENV", "EpochGate", "epoch_gate", "released_epoch", "release"]

ENV = "DLAE_EPOCH_GATE"
POLL_SECONDS = 0.01


def released_epoch(path: Path) -> int | None:
    """The last epoch the watcher released (-1: none yet); None when there is no gate file."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    try:
        return int(text)
    except ValueError:  # not written by a watcher: never released
        return -1


def release(path: Path, epoch: int) -> None:
    """Let the run behind ``path`` go on after ``epoch`` (the watcher's side)."""
    from dlae_core.running.outputs import write_text_atomic

    write_text_atomic(path, f"{epoch}\n", overwrite=True)


class EpochGate:
    """A TrainingLoop observer that blocks after each epoch but the last until it is released."""

    def __init__(self, path: Path, epochs: int):
        self.path, self.epochs = path, epochs

    def epoch_end(self, loop, epoch: int, logs: dict, checkpoint: bool) -> None:
        if epoch >= self.epochs - 1:
            return  # nothing is left to decide after the last epoch
        while True:
            released = released_epoch(self.path)
            if released is None or released >= epoch:
                return
            time.sleep(POLL_SECONDS)

    def end(self, loop, history: list, completed: bool) -> None:
        """Nothing to do at the end (the observer protocol's second call)."""


def epoch_gate(config) -> list[EpochGate]:
    """[the gate of this process's run] when ``DLAE_EPOCH_GATE`` is set, else []."""
    where = os.environ.get(ENV)
    return [EpochGate(Path(where), config.training_configurations.epochs)] if where else []
