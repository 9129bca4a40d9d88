"""Per-epoch history: CSV rows written as the epochs end (the file is complete after each row)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from dlae_core.errors import DataError, problem
from dlae_core.running.outputs import write_atomic

WHERE = "save_configurations.save_csv_path"


def _unreadable(path: Path, exc: Exception) -> DataError:
    """The one-line error of a history file that cannot be read back (to continue it, or to read it)."""
    if isinstance(exc, UnicodeDecodeError):
        why = f"is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    elif isinstance(exc, csv.Error):
        why = f"is not a CSV file ({exc})"
    else:
        why = f"cannot be read ({exc.strerror or exc})" if isinstance(exc, OSError) else f"cannot be read ({exc})"
    return DataError([problem(WHERE, f"{path}: the CSV history {why}",
                              expected="the UTF-8 CSV history dlae wrote (move the file away, or set another "
                                       "save_csv_path)")])


class CsvHistory:
    """CSV with columns fixed by the first row: epoch, then the logged names in order (UTF-8).

    Continuing (``append``) an existing file reads its header and drops the rows of epochs from
    ``from_epoch`` on (written after the checkpoint the run continues from, they are trained again);
    a file that is not dlae's CSV history (not UTF-8, not CSV, unreadable) raises DataError naming it."""

    def __init__(self, path: str | Path, *, append: bool = False, from_epoch: int | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.columns: list[str] | None = None
        if append and self.path.exists():
            try:
                with open(self.path, newline="", encoding="utf-8") as handle:
                    rows = list(csv.reader(handle))
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                raise _unreadable(self.path, exc) from None
            header = rows[0] if rows else None
            self.columns = header[1:] if header else None
            if header and from_epoch is not None:
                self._keep_before(rows, from_epoch)
        elif self.path.exists():
            self.path.unlink()

    def _keep_before(self, rows: list[list[str]], epoch: int) -> None:
        kept = [rows[0]] + [row for row in rows[1:] if row and _epoch_of(row) < epoch]
        if len(kept) == len(rows):
            return

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerows(kept)

        write_atomic(self.path, write)

    def write(self, epoch: int, logs: dict[str, float]) -> None:
        new_file = self.columns is None
        if new_file:
            self.columns = list(logs)
        with open(self.path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if new_file:
                writer.writerow(["epoch", *self.columns])
            writer.writerow([epoch, *(_fmt(logs.get(c)) for c in self.columns)])


def _epoch_of(row: list[str]) -> float:
    try:
        return float(row[0])
    except ValueError:
        return math.inf  # not a row of ours: dropped with the rows after the checkpoint


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value))


def read_history(path: str | Path) -> list[dict[str, float]]:
    """The rows of a CSV history (empty cells as NaN); DataError naming a file that is not one."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return [{k: float(v) if v else math.nan for k, v in row.items()} for row in csv.DictReader(handle)]
    except (OSError, UnicodeDecodeError, csv.Error, ValueError, TypeError) as exc:
        raise _unreadable(Path(path), exc) from None


def read_history_leniently(path: str | Path | None) -> list[dict]:
    """The rows of a CSV history for readers that must not fail (reports, run results, sweeps):
    numbers as floats, ``epoch`` as int, empty or unreadable cells as None; [] when there is no
    readable file."""
    if path is None or not Path(path).is_file():
        return []
    try:
        return parse_history(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def parse_history(text: str) -> list[dict]:
    """The rows of CSV history ``text`` as :func:`read_history_leniently` gives them."""
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        parsed = {key: _number_or_none(value) for key, value in row.items()}
        epoch = parsed.get("epoch")
        parsed["epoch"] = int(epoch) if epoch is not None and epoch.is_integer() else None
        out.append(parsed)
    return out


def _number_or_none(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
