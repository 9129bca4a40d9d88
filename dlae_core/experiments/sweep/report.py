"""The sweep's results as files and tables: trials.csv (kept up to date while the sweep runs), the
``--status`` table, results.csv and the PNG plots."""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path

from dlae_core.experiments.sweep.study import countable

__all__ = ["trial_rows", "write_trials_csv", "sorted_rows", "STATES"]

STATES = {"WAITING": "queued", "RUNNING": "running", "COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
_LOCK = threading.Lock()


def _objective(trial):
    if trial.value is not None:
        return trial.value
    if trial.intermediate_values:  # a pruned trial: its last reported value
        return trial.intermediate_values[max(trial.intermediate_values)]
    return None


def trial_rows(study, sweep) -> tuple[list[str], list[dict]]:
    """(columns, one row per trial of the plan): number, state, each parameter by config path, the
    objective, the run folder, the error."""
    columns = ["number", "state", *(p.path for p in sweep.parameters), sweep.metric, "run", "error"]
    rows = []
    for trial in sorted(countable(study.get_trials(deepcopy=False)), key=lambda t: t.number):
        params = dict(trial.system_attrs.get("fixed_params", {}), **trial.params)
        row = {"number": trial.number, "state": STATES.get(trial.state.name, trial.state.name.lower())}
        for p in sweep.parameters:
            row[p.path] = _text(p.decode(params[p.path])) if p.path in params else ""
        value = _objective(trial)
        row[sweep.metric] = "" if value is None else value
        row["run"] = trial.user_attrs.get("run", "")
        row["error"] = trial.user_attrs.get("error", "")
        rows.append(row)
    return columns, rows


def _text(value) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def _csv_text(columns: list[str], rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_trials_csv(study, sweep, folder: Path, name: str = "trials.csv", rows=None) -> Path:
    """Rewrite ``folder/name`` atomically from the storage (the sweep's own file, replaced each time)."""
    from dlae_core.running.outputs import write_atomic

    columns, all_rows = trial_rows(study, sweep) if rows is None else rows
    text = _csv_text(columns, all_rows)
    with _LOCK:
        return write_atomic(folder / name, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def sorted_rows(rows: list[dict], metric: str, direction: str) -> list[dict]:
    """Trials with an objective first, best first; then the others by number."""
    scored = [r for r in rows if r[metric] != ""]
    others = [r for r in rows if r[metric] == ""]
    scored.sort(key=lambda r: float(r[metric]), reverse=direction == "maximize")
    return scored + others
