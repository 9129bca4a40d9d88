"""Runs found under a folder (``dlae runs``): every run record (``*.run.json``) with its status and best value."""

from __future__ import annotations

import os
from pathlib import Path

from dlae_core.experiments.record import RECORD_SUFFIX, read_record

__all__ = ["find_runs", "is_alive"]


def is_alive(record: dict) -> bool:
    """Whether a 'running' record's process still runs (same host only; elsewhere assumed so)."""
    import socket

    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return True
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_runs(folder: str | Path) -> list[dict]:
    """One dict per run record under ``folder`` (hash, status, technique, best, epochs, folder, record),
    newest first. A 'running' record whose process is gone reads 'interrupted'."""
    runs = []
    for path in Path(folder).rglob(f"*{RECORD_SUFFIX}"):
        record = read_record(path)
        if not record or "hash" not in record:
            continue
        status = record.get("status", "unknown")
        if status == "running" and not is_alive(record):
            status = "interrupted"
        runs.append({"hash": record["hash"], "status": status, "technique": record.get("technique", ""),
                     "backend": record.get("backend", ""), "best": record.get("best"),
                     "epochs": record.get("epochs_run"), "started": record.get("started", ""),
                     "folder": str(path.parent), "record": str(path)})
    runs.sort(key=lambda r: r["started"], reverse=True)
    return runs
