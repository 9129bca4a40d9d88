"""Progress a person can read: on a terminal of any width the live display and the epoch lines fit
(whole columns dropped, never a word cut), the final state stays on screen after the last epoch; in a
log file a progress line comes every ``interval`` seconds inside an epoch."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from dlae_core.training.progress import Part, TrainingProgress, fit_line, format_logs, pack

TRAIN = {"loss": 0.123456, "accuracy": 0.5, "mean_squared_error": 0.0123, "mean_absolute_error": 0.0456}
EPOCH = {**TRAIN, "val_loss": 0.25, "val_accuracy": 0.75, "val_mean_squared_error": 0.01,
         "val_mean_absolute_error": 0.02, "lr": 0.001}
GAN = {"g_loss": 1.2345, "g_adv": 0.7, "g_l1": 0.05, "d_loss": 0.6931, "d_real": 0.3, "d_fake": 0.4, "d_acc": 0.5}
NOTE = "saved checkpoint /runs/unet2d_experiment/checkpoints/model_epoch_0001.pt"

SGR = re.compile(r"\x1b\[[0-9;]*m")
CONTROL = re.compile(r"\x1b\[(\?25[lh]|2K|(\d*)A)")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def terminal_screen(raw: str, width: int) -> list[str]:
    """What a terminal of ``width`` columns shows after ``raw`` (rich's cursor moves and line erases
    applied); a character written past the last column fails the test (the terminal would wrap it)."""
    screen: list[list[str]] = [[]]
    row = col = 0
    text = SGR.sub("", raw)
    i = 0
    while i < len(text):
        match = CONTROL.match(text, i)
        if match:
            code = match.group(1)
            if code == "2K":
                screen[row] = []
            elif code.endswith("A"):
                row = max(0, row - int(match.group(2) or 1))
            i = match.end()
            continue
        char = text[i]
        i += 1
        if char == "\r":
            col = 0
        elif char == "\n":
            row, col = row + 1, 0
            while len(screen) <= row:
                screen.append([])
        else:
            assert col < width, f"a line wider than {width} columns: {''.join(screen[row])!r}"
            line = screen[row]
            line.extend(" " * (col - len(line) + 1))
            line[col] = char
            col += 1
    return ["".join(line).rstrip() for line in screen]


def run(console: Console, logs: dict, epochs: int = 2, steps: int = 3, clock: Clock | None = None,
        quiet: bool = False, interval: float = 30.0, step_s: float = 0.0) -> None:
    clock = clock or Clock()
    train = {k: v for k, v in logs.items() if not k.startswith("val_") and k != "lr"}
    with TrainingProgress(epochs, quiet=quiet, console=console, interval=interval, clock=clock) as progress:
        progress.message(f"note: resuming from {NOTE}")
        for epoch in range(epochs):
            progress.start_epoch(epoch, steps, first=epoch)
            for _ in range(steps):
                clock.now += step_s
                progress.step(4, wait_s=0.001, step_s=0.003, logs=train)
            progress.end_epoch(epoch, logs, note=NOTE)


def words_are_whole(lines: list[str], logs: dict) -> None:
    """Every metric on screen is followed by its whole value; every other word is a known one."""
    known = set(logs) | set(" ".join([NOTE, "note: resuming from", "epochs epoch ETA in samples/s, data wait |",
                                      "epoch"]).split())
    values = {k: f"{v:.4g}" for k, v in logs.items()}
    for line in lines:
        words = line.split()
        for index, word in enumerate(words):
            if word in values:
                assert index + 1 < len(words) and words[index + 1] == values[word], line
            elif not re.fullmatch(r"━+|[\d.:/%,-]+:?|\d+/\d+:", word):
                assert word in known, f"cut or unknown word {word!r} in {line!r}"


@pytest.mark.parametrize("width", [60, 80, 100, 200])
@pytest.mark.parametrize("logs", [EPOCH, GAN], ids=["cnn", "gan"])
def test_the_terminal_display_fits_and_keeps_its_final_state(width, logs):
    console = Console(file=io.StringIO(), width=width, force_terminal=True, record=True, color_system="truecolor")
    run(console, logs, step_s=0.5)
    raw = console.file.getvalue()
    assert "…" not in raw
    screen = [line for line in terminal_screen(raw, width) if line]
    assert all(len(line) <= width for line in screen)
    words_are_whole(screen, logs)
    # the live display left no stale frames behind, and its final state stays after the last epoch
    assert sum(line.startswith("epochs ") for line in screen) == 1
    assert sum(line.startswith("epoch 2 ") for line in screen) == 1
    epochs_line, steps_line = screen[-2:]
    assert epochs_line.startswith("epochs ") and " 2/2 in 0:00:03" in epochs_line
    assert steps_line.startswith("epoch 2 ") and " 3/3 " in steps_line
    kept = ("g_loss 1.234", "d_loss 0.6931") if logs is GAN else ("loss 0.1235",)
    assert all(metric in steps_line for metric in kept)
    if width >= 80:
        assert "━" in epochs_line  # a bar, not "epochs ━━━━ 0… -:-…"
    # every epoch line is on screen, broken between its items when it is too wide
    text = "\n".join(screen)
    for epoch in (1, 2):
        assert f"epoch {epoch}/2: " in text
    assert text.count("model_epoch_0001.pt") == 3  # the note and both epoch lines


def test_columns_drop_in_order_eta_rates_bar_then_metrics_and_the_loss_stays():
    parts = [Part("epoch 1"), Part(bar=True, drop=998), Part("3/10"), Part("ETA 0:00:05", 1000),
             Part("loss 0.5"), Part("accuracy 0.75", 102), Part("mean_squared_error 0.01", 103),
             Part("| 120.0 samples/s, data wait 3%", 999)]
    full = fit_line(parts, 200).plain
    assert full.startswith("epoch 1 " + "━" * 40 + " 3/10 ETA 0:00:05 loss 0.5 accuracy 0.75")
    seen = []
    for width in range(len(full), 10, -1):
        plain = fit_line(parts, width).plain
        assert len(plain) <= width or plain == "epoch 1 3/10 loss 0.5"
        seen.append(tuple(p for p in ("ETA", "samples/s", "━", "mean_squared_error", "accuracy") if p in plain))
    order = [p for p in ("ETA", "samples/s", "━", "mean_squared_error", "accuracy")
             if any(p not in kept for kept in seen)]
    firsts = {p: next(i for i, kept in enumerate(seen) if p not in kept) for p in order}
    assert sorted(order, key=firsts.get) == ["ETA", "samples/s", "━", "mean_squared_error", "accuracy"]
    assert fit_line(parts, 20).plain == "epoch 1 3/10 loss 0.5"


def test_pack_breaks_between_items_only():
    items = ["epoch 1/2:", *(f"{k} {v:.4g}" for k, v in EPOCH.items()), "| 12.5 samples/s, data wait 3%", f"| {NOTE}"]
    for width in (60, 80, 100):
        lines = pack(items, width)
        assert all(len(line) <= width for line in lines)
        assert " ".join(line.strip() for line in lines) == " ".join(items)
        for item in items[:-1]:  # each item whole on one line (the note is longer than 60)
            assert any(item in line for line in lines), (width, item)


def test_a_log_file_gets_a_progress_line_every_interval_and_one_line_per_epoch():
    console = Console(file=io.StringIO(), width=80, force_terminal=False)
    clock = Clock()
    run(console, EPOCH, steps=10, clock=clock, interval=1.0, step_s=0.4)
    lines = console.file.getvalue().splitlines()
    progress = [line for line in lines if ", step " in line]
    epochs = [line for line in lines if re.match(r"epoch \d/2: ", line)]
    # 0.4 s a step, a line once a second has passed since the last line (of either kind)
    assert [line.split(":")[0] for line in progress] == [
        "epoch 1/2, step 3/10 (30%), ETA 0", "epoch 1/2, step 6/10 (60%), ETA 0",
        "epoch 1/2, step 9/10 (90%), ETA 0",
        "epoch 2/2, step 3/10 (30%), ETA 0", "epoch 2/2, step 6/10 (60%), ETA 0",
        "epoch 2/2, step 9/10 (90%), ETA 0"]
    assert progress[0] == ("epoch 1/2, step 3/10 (30%), ETA 0:00:03: " + format_logs(
        {k: v for k, v in TRAIN.items()}) + " | 10.0 samples/s, data wait 25%")
    assert len(epochs) == 2 and all(line.endswith(f"| {NOTE}") and len(line) > 80 for line in epochs)
    assert lines[0] == f"note: resuming from {NOTE}"
    assert len(lines) == 1 + 6 + 2  # nothing wrapped
    assert "━" not in console.file.getvalue()


def test_a_log_file_with_short_epochs_gets_only_the_epoch_lines():
    console = Console(file=io.StringIO(), width=80, force_terminal=False)
    run(console, EPOCH, steps=10, step_s=0.01)  # the default interval: 30 s
    assert [line[:10] for line in console.file.getvalue().splitlines()[1:]] == ["epoch 1/2:", "epoch 2/2:"]


def test_quiet_prints_no_progress_lines_in_a_log_file():
    console = Console(file=io.StringIO(), width=80, force_terminal=False)
    run(console, EPOCH, steps=10, interval=1.0, step_s=0.4, quiet=True)
    assert [line[:10] for line in console.file.getvalue().splitlines()[1:]] == ["epoch 1/2:", "epoch 2/2:"]


def test_an_early_stop_shows_where_it_stopped():
    console = Console(file=io.StringIO(), width=80, force_terminal=True)
    clock = Clock()
    with TrainingProgress(10, console=console, clock=clock) as progress:
        for epoch in range(3):
            progress.start_epoch(epoch, 2, first=epoch)
            for _ in range(2):
                clock.now += 30
                progress.step(4, 0.0, 1.0, {"loss": 0.5})
            progress.end_epoch(epoch, {"loss": 0.5})
    screen = [line for line in terminal_screen(console.file.getvalue(), 80) if line]
    assert re.fullmatch(r"epochs +━+ 3/10 stopped after 0:03:00", screen[-2])
    assert re.fullmatch(r"epoch 3 +━+ 2/2 loss 0.5 \| 0.1 samples/s, data wait 0%", screen[-1])
