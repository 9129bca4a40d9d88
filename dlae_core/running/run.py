"""What a run needs besides the model: options, planned outputs, predictions files.

Framework-free; the backends' ``train``/``predict`` receive a :class:`Run`.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from pathlib import Path

import attrs
import numpy as np

from dlae_core.config.schema import Config
from dlae_core.errors import OutputExistsError
from dlae_core.planning.plan import ModelPlan
from dlae_core.running.outputs import write_atomic

@attrs.frozen
class RunOptions:
    backend: str
    overwrite: bool = False
    predictions: str | None = None
    quiet: bool = False
    workers: int | None = None  # data-loader worker processes (None: chosen from the CPU count)
    processes: int | None = None  # data-parallel processes to start (None: from the config; dlae_core.cli.processes)
    report_folder: str | None = None  # where pictures and report.html go (None: none drawn; dlae run sets it)
    #: what else watches a supervised training loop (TrainingLoop observers; dlae run --mlflow adds its logger)
    watchers: tuple = ()
    mlflow: str | None = None  # an MLflow tracking URI to log the session to (dlae_core.report.mlflow_logger)


@attrs.frozen
class Run:
    config: Config
    plan: ModelPlan
    registry: object
    options: RunOptions

    @property
    def session(self) -> str:
        return self.config.config_file.type_signal


def training_outputs(config: Config) -> list[tuple[str, Path]]:
    """(what, path) of every file or folder a training session will write."""
    from dlae_core.running.paths import OUTPUTS

    save = config.save_configurations
    return [(what, Path(getattr(save, key))) for switch, key, what in OUTPUTS
            if getattr(save, switch) and getattr(save, key)]


def refuse_existing(outputs: Iterable[tuple[str, Path]], overwrite: bool, *, keep: Iterable[Path] = (),
                    hint: str = "or change save_configurations") -> None:
    """One-line error before any work when an output exists and ``overwrite`` is off."""
    keep = {Path(p).resolve() for p in keep}
    existing = [f"{what} {str(path)!r}" for what, path in outputs
                if path.exists() and path.resolve() not in keep and not _empty_dir(path)]
    if existing and not overwrite:
        raise OutputExistsError(f"{'; '.join(existing)} already exist(s); pass --overwrite to replace, {hint}")


def _empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def predictions_path(prefix: str, given: str | None, now: datetime.datetime | None = None) -> Path:
    """``--predictions`` as given, else the original's name in the working directory
    (``<prefix>_predictions_date_YYYY_MM_DD_time_HH_MM_SS.h5``; the prefix is the technique's)."""
    if given:
        return Path(given)
    now = now or datetime.datetime.now()
    return Path(f"{prefix}_predictions_date_{now:%Y_%m_%d}_time_{now:%H_%M_%S}.h5")


def write_predictions(path: Path, items: Iterable[tuple[str, np.ndarray]], attributes: dict) -> int:
    """One dataset per input sample, named as in test_X; returns the number written. Atomic."""
    import h5py

    count = 0

    def write(tmp: Path) -> None:
        nonlocal count
        with h5py.File(tmp, "w") as handle:
            for key, value in attributes.items():
                handle.attrs[key] = value
            for name, array in items:
                handle.create_dataset(name, data=np.asarray(array, dtype=np.float32))
                count += 1

    write_atomic(path, write)
    return count
