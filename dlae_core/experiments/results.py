"""What a run left: its history, best value, output paths and record, read from the files."""

from __future__ import annotations

from pathlib import Path

import attrs

from dlae_core.experiments.record import best_of, read_record, record_path
from dlae_core.training.history import read_history_leniently

__all__ = ["RunResult", "read_history", "result_of"]


def read_history(path: str | Path) -> list[dict]:
    """Rows of a CSV history (numbers as floats, ``epoch`` as int, empty cells None); [] when the file
    is absent."""
    return read_history_leniently(path)


@attrs.frozen
class RunResult:
    """A run's results. ``history``: one dict per epoch (``epoch``, ``loss``, ``val_loss``, ...);
    ``outputs``: what -> path of the files it wrote ("final model", "CSV history", "checkpoint",
    "TensorBoard log folder"); ``record``: the run record (hash, status, versions) or None;
    ``exit_code``: of a subprocess run (None in-process)."""

    config_path: Path
    hash: str
    history: list
    outputs: dict
    record: dict | None = None
    exit_code: int | None = None

    @property
    def status(self) -> str:
        """finished, failed, interrupted, running, or unknown (no record)."""
        return (self.record or {}).get("status", "unknown")

    def best(self, metric: str | None = None, direction: str | None = None) -> float | None:
        """The best epoch's ``metric`` (default val_loss, else loss; minimized unless ``direction`` is
        "maximize"), or None when no epoch logged it."""
        found = best_of(self.history, metric, direction)
        return None if found is None else found["value"]

    def column(self, name: str) -> list:
        """``name`` of every epoch (None where absent)."""
        return [row.get(name) for row in self.history]


def result_of(config, config_path: str | Path, registry, exit_code: int | None = None) -> RunResult:
    """The result of ``config`` (parsed, paths resolved) as its output files stand now."""
    from dlae_core.running.identity import config_hash
    from dlae_core.running.run import training_outputs

    outputs = {what: path for what, path in training_outputs(config) if path.exists()}
    save = config.save_configurations
    history = read_history(save.save_csv_path) if save.save_csv_switch and save.save_csv_path else []
    where = record_path(config)
    record = read_record(where) if where else None
    return RunResult(Path(config_path), config_hash(config, registry), history, outputs, record, exit_code)
