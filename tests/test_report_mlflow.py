"""MLflow as an optional logger (dlae_core.report.mlflow_logger) without a framework: a session's
parameters, metrics per epoch, artifacts and status written to a local SQLite store and read back
with MLflow's own client; a wrong URI and a missing extra as one line each."""

from __future__ import annotations

import json
import types

import pytest

from dlae_core.config.parser import parse_config
from dlae_core.errors import MissingExtraError, TrainingError, UsageError
from dlae_core.report.mlflow_logger import MlflowLogger, flat_params, metric_key
from dlae_core.running.record import RunRecord
from dlae_core.running.run import RunOptions

pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One SQLite tracking store for the module (creating its tables takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def artifacts_in_tmp(tmp_path, monkeypatch):
    """A SQLite store keeps a new experiment's artifacts in ./mlruns (MLflow's default): not in the checkout."""
    monkeypatch.chdir(tmp_path)


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _record(registry, minimal_typed_config, tmp_path):
    out = tmp_path / "out"
    raw = minimal_typed_config(save_configurations={"save_model_switch": True, "save_model_path": str(out / "m.pt")})
    run = types.SimpleNamespace(config=parse_config(raw, registry), registry=registry,
                                options=RunOptions(backend="torch"))
    return RunRecord.begin(run, tmp_path / "config.json", argv=["dlae", "run", "config.json"]), out


def test_flat_params_walk_sections_and_list_entries():
    params = flat_params({"a": {"b": 1, "c": [1, 2]}, "layers": {"serial_layer_list": ["Input:(8, 8, 1)",
                                                                                      {"type": "Flatten"}]}})
    assert params == {"a.b": "1", "a.c": "[1, 2]", "layers.serial_layer_list.000": "Input:(8, 8, 1)",
                      "layers.serial_layer_list.001": '{"type": "Flatten"}'}
    assert metric_key("val_mAP@0.5") == "val_mAP_0.5"


def test_a_training_session_is_logged_and_read_back(registry, minimal_typed_config, tmp_path, store):
    record, out = _record(registry, minimal_typed_config, tmp_path)
    model = out / "m.pt"
    logger = MlflowLogger(store, record, lambda: [("final model", model), ("checkpoint", out / "best.pt")],
                          experiment="train")
    logger.attach(record)
    with record.session():
        for epoch, loss in enumerate([1.0, 0.5]):
            logger.epoch_end(None, epoch, {"loss": loss, "val_loss": loss + 0.25, "lr": 0.01}, False)
        model.write_bytes(b"weights")
        (out / "best.pt").write_bytes(b"checkpoint")
        record.report_folder.mkdir()
        (record.report_folder / "report.html").write_text("<html></html>")
        record.done(types.SimpleNamespace(epochs_run=2, history=[{"loss": 1.0}, {"loss": 0.5}]))
    client = _client(store)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == f"CNN {record.data['hash']}"
    assert run.data.params["training_configurations.batch_size"] == str(record.data["config"]
                                                                        ["training_configurations"]["batch_size"])
    assert run.data.params["layers.serial_layer_list.000"] == json.dumps(record.data["config"]["layers"]
                                                                         ["serial_layer_list"][0])
    assert run.data.tags["dlae.hash"] == record.data["hash"] and run.data.tags["dlae.status"] == "finished"
    assert [(m.step, m.value) for m in client.get_metric_history(logger.run_id, "val_loss")] == [(0, 1.25), (1, 0.75)]
    artifacts = {a.path for a in client.list_artifacts(logger.run_id)}
    assert artifacts == {"run.json", "report", "model"}  # the checkpoint is not logged
    assert [a.path for a in client.list_artifacts(logger.run_id, "model")] == ["model/m.pt"]
    local = client.download_artifacts(logger.run_id, "run.json", str(tmp_path))
    with open(local, encoding="utf-8") as handle:
        logged = json.load(handle)
    assert logged["mlflow"]["run_id"] == logger.run_id and logged["status"] == "finished"
    assert json.loads(record.path.read_text())["mlflow"] == logged["mlflow"]


def test_a_failed_session_without_epoch_hooks_logs_its_history_at_the_end(registry, minimal_typed_config, tmp_path,
                                                                          store):
    record, _ = _record(registry, minimal_typed_config, tmp_path)
    logger = MlflowLogger(store, record, experiment="gan-like")
    logger.attach(record)
    with pytest.raises(TrainingError):
        with record.session():
            record.done(types.SimpleNamespace(epochs_run=1, history=[{"g_loss": 3.0, "d_loss": 0.5}]))
            raise TrainingError("the GAN losses became non-finite")
    client = _client(store)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FAILED" and run.data.metrics == {"g_loss": 3.0, "d_loss": 0.5}
    assert {a.path for a in client.list_artifacts(logger.run_id)} == {"run.json"}


def test_a_store_failure_during_training_is_one_note(registry, minimal_typed_config, tmp_path, store):
    record, _ = _record(registry, minimal_typed_config, tmp_path)
    notes = []
    logger = MlflowLogger(store, record, experiment="broken", echo=notes.append)

    def fail(*args, **kwargs):
        raise ConnectionError("the tracking server went away\nmore")

    logger.client.log_batch = fail
    logger.epoch_end(None, 0, {"loss": 1.0}, False)
    logger.epoch_end(None, 1, {"loss": 0.9}, False)
    assert notes == ["note: MLflow logging stopped at epoch 1 (the tracking server went away); the session goes on "
                     "and the run record keeps everything"]
    assert logger.run_id is not None  # created before the failure; nothing more is tried


def test_a_store_failure_at_the_end_still_writes_the_record(registry, minimal_typed_config, tmp_path, store):
    record, _ = _record(registry, minimal_typed_config, tmp_path)
    notes = []
    logger = MlflowLogger(store, record, experiment="end", echo=notes.append)
    logger.attach(record)

    def fail(*args, **kwargs):
        raise ConnectionError("refused")

    logger.client.log_artifact = fail
    with record.session():
        record.done(types.SimpleNamespace(epochs_run=1, history=[{"loss": 1.0}]))
    assert notes == ["note: MLflow logging stopped at the end (refused); the session goes on and the run record "
                     "keeps everything"]
    written = json.loads(record.path.read_text())
    assert written["status"] == "finished" and written["mlflow"]["run_id"] == logger.run_id


def test_a_wrong_uri_and_a_missing_extra_are_one_line(registry, minimal_typed_config, tmp_path, monkeypatch):
    record, _ = _record(registry, minimal_typed_config, tmp_path)
    with pytest.raises(UsageError) as error:
        MlflowLogger("nosuch://host", record)
    line = " ".join(error.value.lines())
    assert line.startswith("--mlflow: MLflow cannot use the tracking URI 'nosuch://host': ")
    assert line.endswith("Received: 'nosuch://host'") and "\n" not in line
    import dlae_core.extras as extras

    monkeypatch.setattr(extras, "_installed", lambda module: module != "mlflow")
    with pytest.raises(MissingExtraError, match=r'mlflow.*pip install "dlae\[mlflow\]"'):
        MlflowLogger("sqlite:///x.db", record)
