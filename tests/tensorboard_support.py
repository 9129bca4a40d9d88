"""Reading TensorBoard logs back in the tests with the tensorboard package's own reader."""

from __future__ import annotations

from pathlib import Path


def accumulator(path: str | Path):
    """The loaded EventAccumulator of an event file or a log folder (everything kept, no sampling)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def board_scalars(path: str | Path) -> list[tuple[int, dict[str, float]]]:
    """[(step, {tag: value})] in step order, as the old dlae reader returned them."""
    events = accumulator(path)
    steps: dict[int, dict[str, float]] = {}
    for tag in events.Tags()["scalars"]:
        for event in events.Scalars(tag):
            steps.setdefault(event.step, {})[tag] = event.value
    return sorted(steps.items())
