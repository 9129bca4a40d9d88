"""A training run never silently replaces a better model.

A resumed run needs no ``--overwrite`` to supersede its final model and checkpoint, and a run with
``--overwrite`` replaces an earlier run's files; when the new model is worse than the one it would
replace (a resumed run that diverged, a retraining that went badly), the better file is kept:

* the final model: the earlier one stays at ``save_model_path``; this run's goes beside it,
  ``<name>.new<ext>`` (outputs.sibling), and the run's last lines say so.
* the checkpoint: it is what ``--resume`` continues from, so it must be this run's; a better earlier
  checkpoint is moved aside to ``<name>.previous<ext>`` (or ``.previous-2`` ... when that is taken)
  the first time this run writes one, and the progress says so at once.

"Better" compares the monitored value saved with each model (``val_loss``, else ``loss``: see
:func:`monitored`); for a file written before dlae saved it, the CSV history row of the file's epoch.
A file without either (or unreadable, or written by another backend) is replaced as before: there is
nothing to compare with.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import attrs

from dlae_core.running.outputs import sibling

#: what a model's quality is judged by, in order of preference (all lower-is-better)
MONITORS = ("val_loss", "loss")


def monitored(logs: dict | None) -> list | None:
    """``[name, value]`` of the epoch ``logs`` that a model saved after that epoch is judged by."""
    for name in MONITORS:
        value = (logs or {}).get(name)
        if value is not None and math.isfinite(value):
            return [name, float(value)]
    return None


def new_model_path(config) -> Path | None:
    """Where a run writes its final model when the earlier one is better (None: no final model)."""
    save = config.save_configurations
    return sibling(save.save_model_path, "new") if save.save_model_switch and save.save_model_path else None


@attrs.frozen
class Earlier:
    """The model a path held when the run started, and its monitored value."""

    path: Path
    monitor: str
    value: float

    def better_than(self, current: list | None) -> bool:
        return current is not None and current[0] == self.monitor and self.value < current[1]

    def describe(self) -> str:
        return f"{self.monitor} {self.value:.4g}"


@attrs.define
class KeepBetter:
    """The earlier final model and checkpoint of a session's paths; consulted before each save."""

    model: Earlier | None = None
    checkpoint: Earlier | None = None
    notes: list[str] = attrs.field(factory=list)  # said at the end of the run (the final model's fate)

    @classmethod
    def read(cls, config, read_model_file: Callable[[str], dict]) -> "KeepBetter":
        """What the save paths hold now (before the run writes anything); ``read_model_file`` is the
        backend's (it raises on a file it cannot read)."""
        save = config.save_configurations
        history = _history(save)
        found = {}
        for role, switch, key in (("model", "save_model_switch", "save_model_path"),
                                  ("checkpoint", "save_checkpoints_switch", "save_checkpoints_path")):
            path = getattr(save, key)
            if getattr(save, switch) and path and Path(path).is_file():
                found[role] = _earlier(Path(path), read_model_file, history)
        return cls(**found)

    def final_model_path(self, path: str, current: list | None) -> str:
        """Where this run's final model (judged by ``current``) goes: ``path``, or beside it when the
        model there is better."""
        earlier, self.model = self.model, None
        if earlier is None or not earlier.better_than(current):
            return path
        new = sibling(path, "new")
        self.notes.append(f"kept the better final model of an earlier run at {str(path)!r} ({earlier.describe()}); "
                          f"this run ended worse ({current[0]} {current[1]:.4g}), its final model is at {str(new)!r}")
        return str(new)

    def before_checkpoint(self, path: str, current: list | None) -> str | None:
        """Move a better earlier checkpoint at ``path`` aside before this run's first one replaces it;
        returns the line that says so (None when nothing was moved)."""
        earlier, self.checkpoint = self.checkpoint, None
        if earlier is None or not earlier.better_than(current) or not Path(path).is_file():
            return None
        aside = _free_sibling(Path(path), "previous")
        os.replace(path, aside)  # a rename: atomic, and the earlier file is never copied half-way
        return (f"the checkpoint at {str(path)!r} from an earlier run ({earlier.describe()}) is better than this "
                f"run's first ({current[0]} {current[1]:.4g}); it was moved to {str(aside)!r}")


def _earlier(path: Path, read_model_file, history: dict[int, dict]) -> Earlier | None:
    try:
        state = read_model_file(str(path)).get("training_state") or {}
    except Exception:  # noqa: BLE001 - an unreadable or foreign file holds no value to protect
        return None
    record = state.get("monitored") or monitored(history.get(state.get("epoch")))
    return Earlier(path, record[0], float(record[1])) if record else None


def _history(save) -> dict[int, dict]:
    """epoch -> row of the CSV history the run will replace (empty when there is none or it is unreadable)."""
    from dlae_core.errors import DataError
    from dlae_core.training.history import read_history

    if not (save.save_csv_switch and save.save_csv_path and Path(save.save_csv_path).is_file()):
        return {}
    try:
        rows = read_history(save.save_csv_path)
    except DataError:
        return {}
    return {int(row["epoch"]): row for row in rows if math.isfinite(row.get("epoch", math.nan))}


def _free_sibling(path: Path, tag: str) -> Path:
    """``<name>.<tag><ext>``, or ``<name>.<tag>-2<ext>``, ... : the first that does not exist."""
    candidate, number = sibling(path, tag), 2
    while candidate.exists():
        candidate, number = sibling(path, f"{tag}-{number}"), number + 1
    return candidate
