"""The training progress display: one unwrapped line per epoch in logs, bars on a terminal."""

import io

from rich.console import Console

from dlae_core.training.progress import TrainingProgress, format_logs

LOGS = {"loss": 0.123456, "accuracy": 0.5, "val_loss": 0.25, "val_accuracy": 0.75, "learning_rate": 0.001,
        "mean_squared_error": 0.01, "mean_absolute_error": 0.02}


def _run(console: Console, quiet: bool = False) -> str:
    with TrainingProgress(2, quiet=quiet, console=console) as progress:
        for epoch in range(2):
            progress.start_epoch(epoch, steps=3)
            for _ in range(3):
                progress.step(4, wait_s=0.001, step_s=0.003, logs={"loss": 0.5})
            progress.end_epoch(epoch, LOGS, note="saved checkpoint")
    return console.file.getvalue()


def test_format_logs_uses_four_significant_digits():
    assert format_logs({"loss": 0.123456, "accuracy": 1.0}) == "loss 0.1235 accuracy 1"


def test_a_log_file_gets_one_unwrapped_line_per_epoch_and_no_bars():
    text = _run(Console(file=io.StringIO(), width=80, force_terminal=False))
    lines = text.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2: loss 0.1235 accuracy 0.5 val_loss 0.25")
    assert lines[1].startswith("epoch 2/2: ")
    assert all(len(line) > 80 and line.endswith("| saved checkpoint") for line in lines)
    assert "samples/s, data wait 25%" in lines[0]
    assert "━" not in text


def test_quiet_prints_only_the_epoch_lines_even_on_a_terminal():
    text = _run(Console(file=io.StringIO(), width=200, force_terminal=True), quiet=True)
    assert [line[:10] for line in text.splitlines()] == ["epoch 1/2:", "epoch 2/2:"]
    assert "━" not in text


def test_a_terminal_shows_the_epoch_and_step_bars():
    text = _run(Console(file=io.StringIO(), width=200, force_terminal=True))
    assert "━" in text and "epochs" in text and "2/2" in text
    assert "epoch 2/2: loss 0.1235" in text
