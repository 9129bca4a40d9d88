"""Rich progress for training: an epoch bar and a step bar with loss, metrics, ETA,
samples/s and the share of step time spent waiting for data."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def format_logs(logs: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in logs.items())


class TrainingProgress:
    """Use as a context manager; ``quiet`` prints one line per epoch instead of bars."""

    def __init__(self, epochs: int, *, quiet: bool = False, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.quiet, self.epochs = quiet, epochs
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"), console=self.console, transient=False,
            # bars only on a terminal: in a log file the per-epoch lines say it all, unsquashed
            disable=quiet or not self.console.is_terminal,
        )
        self.epoch_task = self.step_task = None
        self.samples = self.wait = self.busy = 0.0
        self.epoch_start = 0.0

    def __enter__(self) -> "TrainingProgress":
        self.progress.__enter__()
        self.epoch_task = self.progress.add_task("epochs", total=self.epochs, info="")
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def start_epoch(self, epoch: int, steps: int, first: int = 0) -> None:
        self.samples = self.wait = self.busy = 0.0
        self.epoch_start = time.perf_counter()
        if self.step_task is not None:
            self.progress.remove_task(self.step_task)
        self.step_task = self.progress.add_task(f"epoch {epoch + 1}", total=steps, info="")
        self.progress.update(self.epoch_task, completed=first)

    def step(self, batch_size: int, wait_s: float, step_s: float, logs: dict[str, float]) -> None:
        self.samples += batch_size
        self.wait += wait_s
        self.busy += step_s
        self.progress.update(self.step_task, advance=1, info=f"{format_logs(logs)} | {self.rates()}")

    def rates(self) -> str:
        elapsed = max(time.perf_counter() - self.epoch_start, 1e-9)
        share = self.wait / max(self.wait + self.busy, 1e-9)
        return f"{self.samples / elapsed:.1f} samples/s, data wait {100 * share:.0f}%"

    def end_epoch(self, epoch: int, logs: dict[str, float], note: str = "") -> None:
        self.progress.update(self.epoch_task, completed=epoch + 1, info=format_logs(logs))
        line = f"epoch {epoch + 1}/{self.epochs}: {format_logs(logs)} | {self.rates()}" + (f" | {note}" if note else "")
        # soft_wrap: one line per epoch even when stderr is a file or pipe (rich assumes 80 columns there)
        console = self.progress.console if self.progress.live.is_started else self.console
        console.print(line, highlight=False, soft_wrap=True)

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)
