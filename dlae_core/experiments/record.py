"""The run record of a training run lives in :mod:`dlae_core.running.record` (one record per run,
``<first output>.run.json``, written by ``dlae run``: config hash, status, best value, versions, the
typed config, the device, the history); re-exported here for experiments and sweeps."""

from __future__ import annotations

from dlae_core.running.record import (RECORD_SUFFIX, best_of, read_record, record_path, recording, versions,
                                      write_record)

__all__ = ["RECORD_SUFFIX", "record_path", "read_record", "write_record", "recording", "best_of", "versions"]
