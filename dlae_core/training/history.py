"""Per-epoch history: CSV rows written as the epochs end (the file is complete after each row)."""

from __future__ import annotations

import csv
import math
from pathlib import Path


class CsvHistory:
    """CSV with columns fixed by the first row: epoch, then the logged names in order."""

    def __init__(self, path: str | Path, *, append: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.columns: list[str] | None = None
        if append and self.path.exists():
            with open(self.path, newline="") as handle:
                header = next(csv.reader(handle), None)
            self.columns = header[1:] if header else None
        elif self.path.exists():
            self.path.unlink()

    def write(self, epoch: int, logs: dict[str, float]) -> None:
        new_file = self.columns is None
        if new_file:
            self.columns = list(logs)
        with open(self.path, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new_file:
                writer.writerow(["epoch", *self.columns])
            writer.writerow([epoch, *(_fmt(logs.get(c)) for c in self.columns)])


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value))


def read_history(path: str | Path) -> list[dict[str, float]]:
    with open(path, newline="") as handle:
        return [{k: float(v) if v else math.nan for k, v in row.items()} for row in csv.DictReader(handle)]
