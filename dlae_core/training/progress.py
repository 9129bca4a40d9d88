"""Progress for training that a person can read, on a terminal of any width and in a log file.

On a terminal: a live display of two lines (the epochs and the current epoch's steps) that always
fits the terminal's width by dropping whole columns, never cutting words: first the ETA, then the
throughput (samples/s, data wait), then the bar, then metrics from the lowest priority (the last
ones) up; the losses (``loss``, the GAN's ``g_loss`` and ``d_loss``) stay. Its final state stays on
screen after the last epoch. Each epoch's line is printed above it, broken between its items (a
metric and its value stay together) when it is wider than the terminal.

Not on a terminal (a log file, a pipe): one unwrapped line per epoch, and a progress line every
``interval`` seconds (30 by default) inside an epoch, so a long epoch is never silent.

``quiet``: the epoch lines only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.text import Text

from dlae_core.running.distributed import current_world

INTERVAL_S = 30.0  # seconds between progress lines when not on a terminal
BAR_MIN, BAR_MAX = 10, 40  # columns of a bar; narrower than BAR_MIN it is dropped
KEPT = ("loss", "g_loss", "d_loss")  # the metrics a progress line never drops
INDENT = "  "  # continuation lines of an epoch line broken to fit a terminal

# drop ranks (higher is dropped first); metrics rank below these, the kept losses never drop
_ETA, _RATES, _BAR = 1000, 999, 998


def format_logs(logs: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in logs.items())


def format_duration(seconds: float | None) -> str:
    """``h:mm:ss``; ``-:--:--`` while unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-:--:--"
    total = int(round(seconds))
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


class Part:
    """One column of a fitted line: its text, style and drop rank (None: never dropped); ``bar``
    marks the bar, whose width is what the other columns leave (BAR_MIN to BAR_MAX)."""

    __slots__ = ("text", "drop", "style", "bar")

    def __init__(self, text: str = "", drop: int | None = None, style: str = "", *, bar: bool = False):
        self.text, self.drop, self.style, self.bar = text, drop, style, bar


def metric_parts(logs: dict[str, float], keep: Iterable[str] = KEPT) -> list[Part]:
    """``name value`` columns; later metrics drop first, ``val_<kept>`` last of the droppable ones."""
    keep = tuple(keep)
    parts = []
    for index, (key, value) in enumerate(logs.items()):
        if key in keep:
            drop = None
        elif key.startswith("val_") and key[4:] in keep:
            drop = 100
        else:
            drop = 101 + index
        parts.append(Part(f"{key} {value:.4g}", drop))
    return parts


def fit_line(parts: list[Part], width: int, fraction: float = 0.0, finished: bool = False) -> Text:
    """The columns of ``parts`` that fit ``width``, space-separated, dropping whole columns by rank
    (then taking back, most important first, those that fit in the room left). Where even the
    never-dropped ones do not fit, the line wraps between words."""
    kept = list(parts)

    def need(columns: list[Part]) -> int:
        return sum(BAR_MIN if p.bar else len(p.text) for p in columns) + max(len(columns) - 1, 0)

    dropped: list[Part] = []
    while need(kept) > width:
        droppable = [p for p in kept if p.drop is not None]
        if not droppable:
            break
        dropped.append(max(droppable, key=lambda p: p.drop))
        kept.remove(dropped[-1])
    for part in sorted(dropped, key=lambda p: p.drop):  # take back what fits in the room left (the bar first)
        trial = [p for p in parts if p in kept or p is part]
        if need(trial) <= width:
            kept = trial
    bar_width = min(BAR_MAX, BAR_MIN + width - need(kept))
    text = Text()
    for index, part in enumerate(kept):
        if index:
            text.append(" ")
        if part.bar:
            done = min(bar_width, max(0, int(round(fraction * bar_width))))
            text.append("━" * done, style="bar.finished" if finished else "bar.complete")
            text.append("━" * (bar_width - done), style="bar.back")
        else:
            text.append(part.text, style=part.style)
    return text


def pack(items: list[str], width: int, indent: str = INDENT) -> list[str]:
    """``items`` joined by spaces into lines of at most ``width`` columns, broken only between items
    (an item too long for a line of its own is broken between its words)."""
    atoms: list[str] = []
    for item in items:
        atoms.extend(item.split(" ") if len(indent) + len(item) > width else [item])
    lines: list[str] = []
    current = ""
    for atom in atoms:
        if not atom:
            continue
        if not current:
            current = atom
        elif len(current) + 1 + len(atom) <= width:
            current += " " + atom
        else:
            lines.append(current)
            current = indent + atom
    if current:
        lines.append(current)
    return lines


class _Display:
    """The live renderable: fitted to the width rich offers at each refresh."""

    def __init__(self, progress: "TrainingProgress"):
        self.progress = progress

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        yield self.progress.epochs_line(width)
        if self.progress.steps is not None:
            yield self.progress.steps_line(width)


class TrainingProgress:
    """Use as a context manager (see the module's docstring for what is shown where).

    ``interval``: seconds between progress lines when not on a terminal; ``clock``: the time source
    (seconds, monotonic), replaceable in tests."""

    def __init__(self, epochs: int, *, quiet: bool = False, console: Console | None = None,
                 interval: float = INTERVAL_S, clock: Callable[[], float] = time.perf_counter):
        silent = not current_world().primary  # a data-parallel run's progress is rank 0's to show
        self.console = console or Console(stderr=True, quiet=silent)
        quiet = quiet or silent
        self.quiet, self.epochs = quiet, epochs
        self.interval, self.clock = interval, clock
        self.terminal = self.console.is_terminal
        # the live bars only on a terminal: in a log file the per-epoch lines say it all, unsquashed
        self.live = None if quiet or not self.terminal else Live(
            _Display(self), console=self.console, refresh_per_second=4, transient=False)
        self.periodic = not quiet and not self.terminal
        self.epoch: int | None = None
        self.steps: int | None = None
        self.done_steps = 0
        self.completed = 0  # epochs done
        self.logs: dict[str, float] = {}
        self.samples = self.wait = self.busy = 0.0
        self.epoch_start = self.run_start = self.last_line = 0.0
        self.run_first: int | None = None
        self.finished_at: float | None = None

    def __enter__(self) -> "TrainingProgress":
        self.last_line = self.run_start = self.clock()
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.finished_at = self.clock()
            self.live.__exit__(*exc)  # the last refresh leaves the final state on screen

    # -- the training loop's calls --------------------------------------------------------
    def start_epoch(self, epoch: int, steps: int, first: int = 0) -> None:
        now = self.clock()
        if self.run_first is None:
            self.run_first, self.run_start = first, now
        self.samples = self.wait = self.busy = 0.0
        self.epoch_start = now
        self.epoch, self.steps, self.done_steps, self.logs = epoch, steps, 0, {}
        self.completed = first
        self._refresh()

    def step(self, batch_size: int, wait_s: float, step_s: float, logs: dict[str, float]) -> None:
        self.samples += batch_size
        self.wait += wait_s
        self.busy += step_s
        self.done_steps += 1
        self.logs = dict(logs)
        if self.periodic:
            now = self.clock()
            if now - self.last_line >= self.interval:
                self.last_line = now
                self._print_one_line(self.progress_line())

    def rates(self) -> str:
        elapsed = max(self.clock() - self.epoch_start, 1e-9)
        share = self.wait / max(self.wait + self.busy, 1e-9)
        return f"{self.samples / elapsed:.1f} samples/s, data wait {100 * share:.0f}%"

    def end_epoch(self, epoch: int, logs: dict[str, float], note: str = "") -> None:
        self.completed = epoch + 1
        items = [f"epoch {epoch + 1}/{self.epochs}:", *(f"{k} {v:.4g}" for k, v in logs.items()),
                 f"| {self.rates()}"] + ([f"| {note}"] if note else [])
        self.last_line = self.clock()
        if self.terminal:  # broken between items to fit the terminal, never inside one
            for line in pack(items, self.console.width):
                self.console.print(Text(line), highlight=False, soft_wrap=False, overflow="fold")
        else:  # one line per epoch even when stderr is a file or pipe (rich assumes 80 columns there)
            self._print_one_line(" ".join(items))
        self._refresh()

    def message(self, text: str) -> None:
        if self.terminal:  # wrapped between words on a terminal
            self.console.print(Text(text), highlight=False, soft_wrap=False)
        else:
            self._print_one_line(text)

    # -- the lines ------------------------------------------------------------------------
    def _print_one_line(self, line: str) -> None:
        self.console.print(line, highlight=False, soft_wrap=True, markup=False)

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.refresh()

    def _label_width(self) -> int:
        return max(len("epochs"), len(f"epoch {max(self.epochs, 1)}"))

    def step_eta(self) -> float | None:
        if self.steps is None or not self.done_steps:
            return None
        elapsed = self.clock() - self.epoch_start
        return elapsed / self.done_steps * max(self.steps - self.done_steps, 0)

    def run_eta(self) -> float | None:
        """Seconds left for all epochs, from the pace of this run (a resumed run counts from its start)."""
        if self.run_first is None:
            return None
        fraction = self.done_steps / self.steps if self.steps and self.completed == self.epoch else 0.0
        done = self.completed - self.run_first + fraction
        left = self.epochs - self.run_first - done
        if left <= 0:
            return 0.0
        return (self.clock() - self.run_start) / done * left if done > 0 else None

    def epochs_line(self, width: int) -> Text:
        total = max(self.epochs, 1)
        finished = self.completed >= self.epochs
        if self.finished_at is not None and self.run_first is not None:  # the final state
            took = format_duration(self.finished_at - self.run_start)
            timing = Part(f"in {took}" if finished else f"stopped after {took}", _ETA, "progress.elapsed")
        else:
            timing = Part(f"ETA {format_duration(self.run_eta())}", _ETA, "progress.remaining")
        parts = [Part("epochs".ljust(self._label_width())), Part(bar=True, drop=_BAR),
                 Part(f"{self.completed}/{self.epochs}", None, "progress.download"), timing]
        return fit_line(parts, width, self.completed / total, finished)

    def steps_line(self, width: int) -> Text:
        steps = self.steps or 0
        finished = self.done_steps >= steps
        eta = Part(f"ETA {format_duration(self.step_eta())}", _ETA, "progress.remaining")
        parts = [Part(f"epoch {(self.epoch or 0) + 1}".ljust(self._label_width())), Part(bar=True, drop=_BAR),
                 Part(f"{self.done_steps}/{steps}", None, "progress.download"),
                 *([] if finished else [eta]), *metric_parts(self.logs)]
        if self.done_steps:
            parts.append(Part(f"| {self.rates()}", _RATES))
        return fit_line(parts, width, self.done_steps / max(steps, 1), finished)

    def progress_line(self) -> str:
        """A log file's line inside an epoch: where it is, its ETA, the running metrics."""
        steps = self.steps or 0
        percent = 100 * self.done_steps / max(steps, 1)
        head = (f"epoch {(self.epoch or 0) + 1}/{self.epochs}, step {self.done_steps}/{steps} ({percent:.0f}%), "
                f"ETA {format_duration(self.step_eta())}:")
        return " ".join([head, format_logs(self.logs), f"| {self.rates()}"])
