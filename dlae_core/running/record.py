"""The run record: what a ``dlae run`` leaves beside its outputs so the run describes itself.

``<first output>.run.json`` (the final model, else the CSV history, else the checkpoint: e.g.
``out/model.pt.run.json``) holds the resolved config in the typed form, its canonical ``hash``
(:func:`dlae_core.running.identity.config_hash`), the command line, dlae's, Python's and the
framework's versions, the device, the seed, start and end time, the ``status`` (running, finished,
failed, interrupted) with the exit code, the epoch history and the best epoch. An Inference session's
record goes beside its predictions file (``<predictions>.run.json``, with ``predictions`` and
``predicted``, the number of samples). Pictures and
``report.html`` (dlae_core.report) go to the folder ``<first output>.report/`` beside it. A config
that saves no file has no record. Experiments and sweeps read the same file
(dlae_core.experiments.record re-exports this module's readers).

The record says "running" from the start of the session and is rewritten when it ends, however it
ends, except when the session was refused because an output exists or is in use: nothing ran then,
and the earlier run's record stays as it was. A resumed run (Train from Checkpoint) keeps the
records of the sessions before it under ``"previous"``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import shlex
import socket
import sys
import time
from pathlib import Path

from dlae_core.errors import (ConfigFileError, DlaeError, MissingExtraError, OutputExistsError,
                              UnsupportedSettingError, UsageError)
from dlae_core.running.outputs import write_atomic

__all__ = ["RECORD_SUFFIX", "RECORD_VERSION", "RunRecord", "record_path", "report_folder", "read_record",
           "load_record", "write_record", "best_of", "library_versions", "versions", "recording", "find_records"]

RECORD_SUFFIX = ".run.json"
RECORD_VERSION = 1
#: the outputs a record sits beside, in order of preference (switch, path key)
ANCHORS = (("save_model_switch", "save_model_path"), ("save_csv_switch", "save_csv_path"),
           ("save_checkpoints_switch", "save_checkpoints_path"))


def record_path(config) -> Path | None:
    """Where the record of a training run of ``config`` goes (None when it saves no file)."""
    save = config.save_configurations
    for switch, key in ANCHORS:
        if getattr(save, switch) and getattr(save, key):
            return Path(str(getattr(save, key)) + RECORD_SUFFIX)
    return None


def report_folder(record: str | Path) -> Path:
    """The folder of a record's pictures and report.html: ``out/model.pt.run.json`` -> ``out/model.pt.report``."""
    record = Path(record)
    return record.with_name(record.name[:-len(RECORD_SUFFIX)] + ".report")


def library_versions() -> dict:
    """dlae's, Python's and the core libraries' versions (no framework is imported here)."""
    from importlib import metadata

    import dlae_core

    out = {"dlae": dlae_core.__version__, "python": platform.python_version(),
           "platform": platform.platform()}
    for name in ("numpy", "h5py"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # an unusual install (vendored, frozen)
            out[name] = None
    return out


def versions(backend: str | None = None) -> dict:
    """:func:`library_versions`, with the backend's name when given."""
    return {**library_versions(), **({"backend": backend} if backend else {})}


@contextlib.contextmanager
def recording(run, config_path: str | Path, echo=None):
    """Record a training session of ``run`` from ``config_path`` (RunRecord.session); call
    ``.done(result)`` on what it yields with the session's result inside the block."""
    record = RunRecord.begin(run, config_path)
    with record.session(echo) as session:
        yield session


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")  # local time, as `dlae runs` lists it


class RunRecord:
    """The record of one training session. Use :meth:`begin`, then ``with record.session(echo):``
    around the work and set ``record.result`` to the technique's TrainResult inside it."""

    def __init__(self, path: Path | None, data: dict, *, resumed: bool = False, overwrite: bool = False):
        self.path, self.data, self.resumed = (Path(path) if path else None), data, resumed
        self.overwrite = overwrite
        self._wrote = False
        self.result = None
        self._started = time.monotonic()
        self.started_at = time.time() - 1.0  # files this session wrote are newer (1 s: coarse file times)
        self._earlier: dict | None = None
        #: called with this record when the session ended, before it is written (the report page, MLflow)
        self.at_end: list = []

    @property
    def report_folder(self) -> Path | None:
        return report_folder(self.path) if self.path else None

    @classmethod
    def begin(cls, run, config_path: str | Path, argv: list[str] | None = None) -> RunRecord:
        """The record of ``run`` (a dlae_core.running.run.Run) about to train."""
        from dlae_core.config.convert import config_to_dict
        from dlae_core.running.identity import config_hash

        config, argv = run.config, list(sys.argv if argv is None else argv)
        data = {
            "dlae_run_record": RECORD_VERSION,
            "hash": config_hash(config, run.registry),
            "status": "running",
            "config_path": str(Path(config_path).resolve()),
            "command": shlex.join(["dlae", *argv[1:]]) if argv else "",
            "cwd": str(Path.cwd()),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "session": config.config_file.type_signal,
            "technique": config.config_file.model_signal,
            "backend": run.options.backend,
            "seed": config.augmentation.random_seed,
            "versions": library_versions(),
            "device": {},
            "started": _now(),
            "config": config_to_dict(config, run.registry, legacy=False),
        }
        return cls(record_path(config), data, resumed=bool(config.paths.load_checkpoint),
                   overwrite=run.options.overwrite)

    @classmethod
    def begin_inference(cls, run, config_path: str | Path, argv: list[str] | None = None) -> RunRecord:
        """The record of an Inference session of ``run``: it goes beside the predictions file
        (``<predictions>.run.json``), known up front only when ``--predictions`` names it."""
        record = cls.begin(run, config_path, argv)
        given = run.options.predictions
        record.path = Path(str(given) + RECORD_SUFFIX) if given else None
        record.data["session"] = "Inference"
        return record

    def done(self, result) -> None:
        """Keep the session's result (its history and best epoch go into the record)."""
        self.result = result

    def describe_device(self, backend) -> None:
        """Add the backend's framework version and devices (Backend.device_info)."""
        info = dict(backend.device_info())
        hardware = self.data["config"].get("training_configurations", {}).get("hardware", "cpu")
        # what the session runs on: the placement takes a GPU only when one is asked for and visible
        info["used"] = "gpu" if hardware != "cpu" and info.get("gpus") else "cpu"
        # which of the machine's GPUs this run was given (dlae sweep --jobs hands out one per trial)
        info["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
        from dlae_core.running.distributed import current_world

        world = current_world()  # a data-parallel run: its processes (rank 0 writes this record)
        if world.distributed:
            info["data_parallel"] = world.describe()
        self.data["device"] = info
        self.data["versions"][info.get("framework", backend.name)] = info.get("version")

    def session(self, echo=None):
        """Context manager around the session's work: writes the record as "running" and prints where
        it is (first line); at the end writes how it ended and prints where it is again (last line)."""
        return _Session(self, echo or (lambda line: None))

    def inference_session(self, echo=None):
        """Context manager around an Inference session (a record of :meth:`begin_inference`): call
        ``.written(predictions, count)`` on what it yields once the predictions are written. At the
        end the record is written (finished, or failed beside a ``--predictions`` file) and its
        place printed (last line); a session refused before it ran, or one that failed before its
        default-named predictions file existed, leaves none."""
        return _InferenceSession(self, echo or (lambda line: None))

    def start(self) -> None:
        """Write the "running" record (keeping the earlier one in memory, to put back if refused)."""
        if self.path is None:
            return
        self._earlier = read_record(self.path)
        if self.resumed and self._earlier is not None:
            earlier = dict(self._earlier)
            self.data["previous"] = [*earlier.pop("previous", []), _summary(earlier)]
        # an earlier run's record is left untouched until this run may replace its outputs (the
        # technique refuses them first unless --overwrite or resuming)
        if self._earlier is None or self.overwrite or self.resumed:
            self.write()
            self._wrote = True

    def put_back(self) -> None:
        """The session was refused before anything ran: the earlier record (or none) is what stays."""
        if self.path is None or not self._wrote:
            return
        if self._earlier is not None:
            write_record(self.path, self._earlier)
        else:
            self.path.unlink(missing_ok=True)

    def finish(self, exit_code: int, status: str, error: str | None = None) -> Path | None:
        """Write the record with the session's end (``status``: finished, failed, interrupted)."""
        self.data.update(status=status, exit_code=exit_code, ended=_now(),
                         duration_s=round(time.monotonic() - self._started, 3))
        if error:
            self.data["error"] = error[:2000]
        result = self.result
        if result is not None:
            # epochs of a resumed run continue the earlier sessions' count
            first = sum(int(item.get("epochs_run") or 0) for item in self.data.get("previous", []))
            history = [{"epoch": first + i, **_plain(row)}
                       for i, row in enumerate(getattr(result, "history", None) or [])]
            self.data.update(epochs_run=getattr(result, "epochs_run", None), history=history,
                             stopped_early=bool(getattr(result, "stopped_early", False)), best=best_of(history))
        for hook in self.at_end:
            hook(self)
        return self.write()

    def write(self) -> Path | None:
        if self.path is not None:
            write_record(self.path, self.data)
        return self.path


class _Session:
    """What :meth:`RunRecord.session` returns: the block's outcome becomes the record's status."""

    def __init__(self, record: RunRecord, echo):
        self.record, self.echo = record, echo

    def _where(self) -> str:
        path = self.record.path
        return f"run record: {path}" if path else "run record: none (the config saves no file to put it beside)"

    def __enter__(self) -> RunRecord:
        self.record.start()
        self.echo(self._where())
        return self.record

    def __exit__(self, kind, exc, tb) -> bool:
        outcome = _outcome(exc)
        if outcome is None:  # refused (an output exists or is in use): nothing ran
            self.record.put_back()
            return False
        self.record.finish(*outcome)
        self.echo(self._where())
        return False  # the exception, if any, goes on to the CLI


class _InferenceSession(_Session):
    """What :meth:`RunRecord.inference_session` returns; nothing is written before the session ends."""

    def __enter__(self) -> _InferenceSession:
        return self

    def written(self, predictions: str | Path, count: int) -> None:
        """The session wrote ``count`` predictions to ``predictions``: the record goes beside it."""
        self.record.path = Path(str(predictions) + RECORD_SUFFIX)
        self.record.data.update(predictions=str(Path(predictions).resolve()), predicted=int(count))

    def __exit__(self, kind, exc, tb) -> bool:
        outcome = _outcome(exc)
        if outcome is not None and self.record.path is not None:
            self.record.finish(*outcome)
            self.echo(self._where())
        return False


#: errors that refuse a session before it trains: it leaves no record (and no output folder)
SETUP_ERRORS = (OutputExistsError, UnsupportedSettingError, MissingExtraError, UsageError)


def _outcome(exc) -> tuple[int, str, str | None] | None:
    """(exit code, status, error line) of a session that ended with ``exc`` (None: it never started)."""
    import click

    if exc is None:
        return 0, "finished", None
    if isinstance(exc, SETUP_ERRORS):  # refused before anything ran (an output exists, a setting cannot run)
        return None
    if isinstance(exc, DlaeError):
        return exc.exit_code, "failed", " ".join(exc.lines())
    if isinstance(exc, click.exceptions.Exit):
        code = exc.exit_code
        return code, {0: "finished", 130: "interrupted"}.get(code, "failed"), None
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted", None
    return 1, "failed", f"{type(exc).__name__}: {exc}"  # a bug in dlae: the traceback follows


def _summary(record: dict) -> dict:
    """What a resumed run keeps of an earlier session's record (not its config: that is this one's)."""
    keep = ("hash", "command", "session", "backend", "started", "ended", "status", "exit_code", "epochs_run",
            "history", "best")
    return {key: record[key] for key in keep if key in record}


def _plain(row: dict) -> dict:
    """A history row with plain floats (numpy scalars are not JSON)."""
    return {key: (float(value) if hasattr(value, "__float__") and not isinstance(value, str) else value)
            for key, value in row.items()}


def best_of(history: list[dict], metric: str | None = None, direction: str | None = None) -> dict | None:
    """{"metric", "value", "epoch"} of the best epoch of ``metric`` (default: val_loss, else loss;
    minimized unless ``direction`` is "maximize"), or None when no epoch logged it."""
    if metric is None:
        metric = "val_loss" if any("val_loss" in row for row in history) else "loss"
    sign = -1.0 if direction == "maximize" else 1.0
    best = None
    for position, row in enumerate(history):
        value = row.get(metric)
        if value is None or value != value:  # absent or NaN
            continue
        if best is None or sign * float(value) < sign * best["value"]:
            best = {"metric": metric, "value": float(value), "epoch": int(row.get("epoch", position))}
    return best


def write_record(path: str | Path, record: dict) -> None:
    text = json.dumps(record, indent=1, default=str) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_record(path: str | Path) -> dict | None:
    """The record at ``path``, or None when it is absent or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find_records(where: str | Path) -> list[Path]:
    """The record files ``where`` names: a ``*.run.json`` file, or those in a run folder."""
    where = Path(where)
    if where.is_file():
        return [where]
    if where.is_dir():
        return sorted(where.glob(f"*{RECORD_SUFFIX}"))
    return []


def load_record(path: str | Path) -> dict:
    """The record at ``path``; ConfigFileError naming it when it is absent or unreadable."""
    data = read_record(path)
    if data is None:
        raise ConfigFileError(f"{str(path)!r} is not a readable run record (dlae run writes "
                              f"<model>{RECORD_SUFFIX} beside a run's outputs)")
    return data
