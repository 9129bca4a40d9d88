"""What a run's log says: the epochs' metrics (for the curves), where the current epoch is, and
the error lines. The log is ``dlae run``'s output when it is not a terminal: one line per epoch
(``epoch 3/12: loss 0.41 acc 0.83 val_loss 0.45 | 410.2 samples/s, data wait 2%``) and a progress
line every 30 s inside an epoch (``epoch 3/12, step 40/96 (42%), ETA 0:00:31: loss 0.43 | ...``)."""

from __future__ import annotations

import math
import re

_EPOCH = re.compile(r"^epoch (\d+)/(\d+): (.*)$")
_STEP = re.compile(r"^epoch (\d+)/(\d+), step (\d+)/(\d+) \((\d+)%\), ETA ([-\d:]+): (.*)$")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None  # JSON has no NaN; a curve shows a gap


def _metrics(text: str) -> tuple[dict[str, float | None], list[str]]:
    """``loss 0.41 acc 0.83 | notes | notes`` -> ({loss: 0.41, acc: 0.83}, [notes])."""
    head, *notes = text.split(" | ")
    tokens = head.split()
    metrics = {tokens[i]: _number(tokens[i + 1]) for i in range(0, len(tokens) - 1, 2)}
    return metrics, [note.strip() for note in notes]


def read_progress(text: str) -> dict:
    """``{"epochs": [{"epoch", "of", "metrics", "notes"}], "step": {...} or None, "errors": [...]}``
    from a log's text. ``step`` is the last progress line after the last epoch line."""
    epochs, step, errors = [], None, []
    for line in text.splitlines():
        line = line.strip()
        found = _EPOCH.match(line)
        if found:
            metrics, notes = _metrics(found.group(3))
            epochs.append({"epoch": int(found.group(1)), "of": int(found.group(2)), "metrics": metrics,
                           "notes": notes})
            step = None
            continue
        found = _STEP.match(line)
        if found:
            metrics, _ = _metrics(found.group(7))
            step = {"epoch": int(found.group(1)), "of": int(found.group(2)), "step": int(found.group(3)),
                    "steps": int(found.group(4)), "eta": found.group(6), "metrics": metrics}
        elif line.startswith(("error:", "Traceback", "warning:", "interrupted")):
            errors.append(line)
    return {"epochs": _latest(epochs), "step": step, "errors": errors}


def _latest(epochs: list[dict]) -> list[dict]:
    """One entry per epoch number, the last one written (a resumed run repeats epochs)."""
    by_epoch = {}
    for entry in epochs:
        by_epoch[entry["epoch"]] = entry
    return [by_epoch[k] for k in sorted(by_epoch)]
