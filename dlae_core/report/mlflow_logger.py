"""MLflow as an optional logger (extra ``mlflow``): ``dlae run --mlflow URI`` logs the session to the
tracking store at URI (``sqlite:///mlflow.db``, ``http://host:5000``, a Databricks workspace, ...) in
the experiment ``$MLFLOW_EXPERIMENT_NAME`` (default ``dlae``), one MLflow run per session:

* parameters: the resolved config in the typed form, flattened to dotted keys
  (``training_configurations.batch_size``); each entry of a layer list is one parameter
  (``layers.serial_layer_list.003``) holding the entry as JSON;
* tags: ``dlae.hash``, ``dlae.technique``, ``dlae.session``, ``dlae.backend``, ``dlae.command``,
  ``dlae.record`` (the run record's path) and, at the end, ``dlae.status``; the run is named
  ``<technique> <hash>``;
* metrics per epoch (step = epoch): what the training loop logs (loss, monitors, ``val_*``,
  ``lr``), as each epoch ends for supervised techniques, from the record's history at the end for
  the others (GAN, plugin techniques with their own loop);
* artifacts at the end: the run record (``run.json``), the report folder (``report/``: pictures and
  report.html), the final model file(s) (``model/``), the CSV history and the TensorBoard folder;
* the run's status: FINISHED, FAILED or KILLED (interrupted) as the record says.

The store is opened when the session is set up (a wrong URI is one error line before anything
runs); the MLflow run is created when the first epoch ends (or at the end), so a session refused
because its outputs exist leaves no MLflow run. A logging failure during training is one note and
does not stop the training: the run record holds everything.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
import time
from pathlib import Path

from dlae_core.errors import UsageError
from dlae_core.extras import require

DEFAULT_EXPERIMENT = "dlae"
MAX_VALUE = 6000      # MLflow's longest parameter value
BATCH = 100           # MLflow's most parameters per log_batch call
STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}


def flat_params(config: dict, prefix: str = "") -> dict[str, str]:
    """A typed-form config dict as {dotted key: text}: sections and objects are walked; a list of
    numbers or strings is one value, a list of objects (a layer list) one value per entry."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_params(value, f"{name}."))
        elif isinstance(value, (list, tuple)) and any(isinstance(item, (dict, list, tuple)) for item in value):
            width = len(str(len(value) - 1))
            for index, item in enumerate(value):
                out[f"{name}.{index:0{max(3, width)}d}"] = _text(item)
        else:
            out[name] = _text(value)
    return out


def _text(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 3] + "..."


def metric_key(name: str) -> str:
    """``name`` with the characters MLflow refuses in metric keys replaced by ``_``."""
    return re.sub(r"[^\w\-./ ]", "_", str(name))


class MlflowLogger:
    """The MLflow side of one session of ``record`` (a dlae_core.running.record.RunRecord): a
    TrainingLoop observer (``epoch_end``, ``end``) and two record hooks, :meth:`open` (first of
    ``record.at_end``) and :meth:`finish` (last), attached by :meth:`attach`."""

    def __init__(self, uri: str, record, outputs=None, experiment: str | None = None, echo=None):
        require("mlflow", "dlae run --mlflow")
        from mlflow.tracking import MlflowClient

        _quiet_libraries()
        self.uri, self.record = uri, record
        self.outputs = outputs or (lambda: [])  # () -> [(what, path)] of the files the session wrote
        self.echo = echo or (lambda line: None)
        self.experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        self.client, self.experiment_id = None, None
        try:
            self.client = MlflowClient(tracking_uri=uri)
            self.experiment_id = self._experiment_id()
        except Exception as exc:  # noqa: BLE001 -- any failure of the store is the URI's: one line
            raise UsageError(f"--mlflow: MLflow cannot use the tracking URI {uri!r}: {_first_line(exc)}. "
                             f"Expected a tracking store MLflow can write to, e.g. sqlite:///mlflow.db or "
                             f"http://host:5000. Received: {uri!r}") from None
        self.run_id: str | None = None
        self.logged_epochs: set[int] = set()
        self.broken = False

    def attach(self, record) -> None:
        """Register :meth:`open` before and :meth:`finish` after the record's other end hooks (the
        report page is written between them and so names the MLflow run and is logged whole). A
        failure of the store there is one note: the record is written all the same."""
        record.at_end.insert(0, lambda r: self._guarded(self.open, "at the end"))
        record.at_end.append(lambda r: self._guarded(lambda: self.finish(r), "at the end"))

    def _guarded(self, work, when: str) -> None:
        if self.broken:
            return
        try:
            work()
        except Exception as exc:  # noqa: BLE001 -- a store gone away must not cost the run its record
            self.broken = True
            self.echo(f"note: MLflow logging stopped {when} ({_first_line(exc)}); the session goes on and the run "
                      f"record keeps everything")

    # -- the store -----------------------------------------------------------------------------------
    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(self.experiment)
        except Exception:  # noqa: BLE001 -- another process created it meanwhile: use that one
            found = self.client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return found.experiment_id

    def open(self, record=None) -> str:
        """The MLflow run of this session, created (with parameters and tags) on first use."""
        if self.run_id is None:
            data = self.record.data
            tags = {"dlae.hash": data.get("hash", ""), "dlae.technique": data.get("technique", ""),
                    "dlae.session": data.get("session", ""), "dlae.backend": data.get("backend", ""),
                    "dlae.command": data.get("command", ""), "dlae.record": str(Path(self.record.path).resolve()) if self.record.path else "",
                    "mlflow.source.name": data.get("config_path", "")}
            run = self.client.create_run(self.experiment_id, tags={k: str(v) for k, v in tags.items()},
                                         run_name=f"{data.get('technique', 'dlae')} {data.get('hash', '')}".strip())
            self.run_id = run.info.run_id
            self._log_params(flat_params(data.get("config") or {}))
            data["mlflow"] = {"tracking_uri": self.uri, "experiment": self.experiment, "run_id": self.run_id}
        return self.run_id

    def _log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(key, value) for key, value in params.items()]
        for start in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, params=items[start:start + BATCH])

    def _log_metrics(self, rows: list[dict]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(metric_key(key), float(value), now, int(row["epoch"]))
                   for row in rows for key, value in row.items()
                   if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)
                   and math.isfinite(float(value))]
        for start in range(0, len(metrics), BATCH * 10):  # MLflow takes up to 1000 metrics per call
            self.client.log_batch(self.run_id, metrics=metrics[start:start + BATCH * 10])
        self.logged_epochs.update(int(row["epoch"]) for row in rows)

    # -- the training loop's hooks --------------------------------------------------------------------
    def epoch_end(self, loop, epoch: int, logs: dict, checkpoint: bool) -> None:
        self._guarded(lambda: (self.open(), self._log_metrics([{**logs, "epoch": epoch}])), f"at epoch {epoch + 1}")

    def end(self, loop, history: list, completed: bool) -> None:
        """Nothing to do when the loop ends: the record's end hook logs the rest."""

    # -- the end of the session -----------------------------------------------------------------------
    def finish(self, record) -> None:
        """Log the epochs not logged yet, the record, the report, the model files and the status."""
        if self.broken:
            return
        data = record.data
        self.open()
        missing = [row for row in data.get("history") or [] if int(row.get("epoch", -1)) not in self.logged_epochs]
        if missing:
            self._log_metrics(missing)
        self._log_files(record)
        self.client.set_tag(self.run_id, "dlae.status", data.get("status", ""))
        self.client.set_terminated(self.run_id, STATUS.get(data.get("status"), "FAILED"))

    def _log_files(self, record) -> None:
        with tempfile.TemporaryDirectory(prefix="dlae-mlflow-") as folder:
            path = Path(folder) / "run.json"
            path.write_text(json.dumps(record.data, indent=1, default=str) + "\n", encoding="utf-8")
            self.client.log_artifact(self.run_id, str(path))
        report = record.report_folder
        if report is not None and report.is_dir():
            self.client.log_artifacts(self.run_id, str(report), "report")
        if record.data.get("status") != "finished":
            return
        for what, path in self.outputs():
            path = Path(path)
            if "checkpoint" in what:
                continue  # the final model is logged; checkpoints repeat it
            if path.is_dir():
                self.client.log_artifacts(self.run_id, str(path), path.name)
            elif path.is_file():
                self.client.log_artifact(self.run_id, str(path), "model" if what.startswith("final") else None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__).rstrip(".")


def _quiet_libraries() -> None:
    """MLflow's and alembic's INFO lines (database set-up) are not the user's business on the console."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
