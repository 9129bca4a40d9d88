"""The run record (dlae_core.running.record) without a framework: where it goes, what it holds, how
each way a session ends is recorded, a refused session leaving the earlier record alone, a resumed
one keeping the earlier sessions."""

from __future__ import annotations

import json
import types

import click
import pytest

from dlae_core.config.parser import parse_config
from dlae_core.errors import OutputExistsError, TrainingError
from dlae_core.running.identity import config_hash
from dlae_core.running.record import RunRecord, read_record, record_path, report_folder
from dlae_core.running.run import RunOptions


def _run(registry, minimal_typed_config, tmp_path, **save):
    raw = minimal_typed_config(save_configurations={"save_model_switch": True,
                                                    "save_model_path": str(tmp_path / "out" / "model.pt"), **save})
    config = parse_config(raw, registry)
    return types.SimpleNamespace(config=config, registry=registry, options=RunOptions(backend="torch"))


def _backend():
    return types.SimpleNamespace(name="torch", device_info=lambda: {"framework": "PyTorch", "version": "9",
                                                                    "cuda": None, "gpus": []})


def test_the_record_goes_beside_the_first_output(registry, minimal_typed_config, tmp_path):
    run = _run(registry, minimal_typed_config, tmp_path)
    assert record_path(run.config) == tmp_path / "out" / "model.pt.run.json"
    assert report_folder(record_path(run.config)) == tmp_path / "out" / "model.pt.report"
    nothing = _run(registry, minimal_typed_config, tmp_path, save_model_switch=False)
    assert record_path(nothing.config) is None


def test_a_finished_session_is_recorded_with_first_and_last_line(registry, minimal_typed_config, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # the GPU this run was given (dlae sweep --jobs)
    run = _run(registry, minimal_typed_config, tmp_path)
    record = RunRecord.begin(run, tmp_path / "config.json", argv=["dlae", "run", "config.json", "--quiet"])
    record.describe_device(_backend())
    lines = []
    with record.session(lines.append):
        assert read_record(record.path)["status"] == "running"
        record.done(types.SimpleNamespace(epochs_run=2, history=[{"loss": 1.0}, {"loss": 0.5}], stopped_early=False))
    assert lines == [f"run record: {record.path}"] * 2
    data = read_record(record.path)
    assert data["status"] == "finished" and data["exit_code"] == 0
    assert data["hash"] == config_hash(run.config, registry) and data["command"] == "dlae run config.json --quiet"
    assert data["config"]["config_file"]["model_signal"] == "CNN" and data["seed"] == run.config.augmentation.random_seed
    assert data["device"] == {"framework": "PyTorch", "version": "9", "cuda": None, "gpus": [], "used": "cpu",
                              "cuda_visible_devices": "3"}
    assert data["versions"]["PyTorch"] == "9" and data["versions"]["dlae"]
    assert data["history"] == [{"epoch": 0, "loss": 1.0}, {"epoch": 1, "loss": 0.5}]
    assert data["best"] == {"metric": "loss", "value": 0.5, "epoch": 1}
    assert data["started"] <= data["ended"] and data["duration_s"] >= 0


@pytest.mark.parametrize("error, status, code", [(TrainingError("the loss became nan"), "failed", 2),
                                                 (click.exceptions.Exit(130), "interrupted", 130),
                                                 (KeyboardInterrupt(), "interrupted", 130),
                                                 (ZeroDivisionError("bug"), "failed", 1)])
def test_how_a_session_ended_is_recorded(registry, minimal_typed_config, tmp_path, error, status, code):
    record = RunRecord.begin(_run(registry, minimal_typed_config, tmp_path), tmp_path / "c.json", argv=[])
    with pytest.raises(type(error)):
        with record.session():
            raise error
    data = read_record(record.path)
    assert (data["status"], data["exit_code"]) == (status, code)
    if isinstance(error, TrainingError):
        assert data["error"] == "the loss became nan"


def test_a_refused_session_leaves_the_earlier_record_alone(registry, minimal_typed_config, tmp_path):
    run = _run(registry, minimal_typed_config, tmp_path)
    path = record_path(run.config)
    path.parent.mkdir(parents=True)
    path.write_text('{"status": "finished", "hash": "earlier"}')
    before = path.stat().st_mtime_ns
    with pytest.raises(OutputExistsError):
        with RunRecord.begin(run, tmp_path / "c.json", argv=[]).session():
            raise OutputExistsError("final model exists")
    assert read_record(path) == {"status": "finished", "hash": "earlier"} and path.stat().st_mtime_ns == before
    fresh = _run(registry, minimal_typed_config, tmp_path / "new")
    with pytest.raises(OutputExistsError):
        with RunRecord.begin(fresh, tmp_path / "c.json", argv=[]).session():
            raise OutputExistsError("in use")
    assert not record_path(fresh.config).exists()


def test_a_resumed_session_keeps_the_earlier_ones(registry, minimal_typed_config, tmp_path):
    first = _run(registry, minimal_typed_config, tmp_path)
    record = RunRecord.begin(first, tmp_path / "c.json", argv=[])
    with record.session():
        record.done(types.SimpleNamespace(epochs_run=2, history=[{"loss": 1.0}, {"loss": 0.9}]))
    resumed = types.SimpleNamespace(config=first.config.evolve(paths={"load_checkpoint": str(tmp_path / "c.pt")}),
                                    registry=registry, options=first.options)
    again = RunRecord.begin(resumed, tmp_path / "c.json", argv=[])
    with again.session():
        again.done(types.SimpleNamespace(epochs_run=1, history=[{"loss": 0.8}]))
    data = json.loads(again.path.read_text())
    assert [item["epochs_run"] for item in data["previous"]] == [2]
    assert data["history"] == [{"epoch": 2, "loss": 0.8}]


def _inference_run(registry, minimal_typed_config, predictions=None):
    config = parse_config(minimal_typed_config(config_file={"type_signal": "Inference"}), registry)
    return types.SimpleNamespace(config=config, registry=registry,
                                 options=RunOptions(backend="torch", predictions=predictions))


def test_an_inference_session_is_recorded_beside_its_predictions(registry, minimal_typed_config, tmp_path):
    run = _inference_run(registry, minimal_typed_config)
    record = RunRecord.begin_inference(run, tmp_path / "c.json", argv=[])
    assert record.path is None  # the default predictions name is chosen by the session
    seen, lines = [], []
    record.at_end.append(lambda r: seen.append((r.report_folder, r.data["status"])))
    predictions = tmp_path / "cnn_predictions.h5"
    with record.inference_session(lines.append) as session:
        predictions.write_bytes(b"")
        session.written(predictions, 7)
    path = tmp_path / "cnn_predictions.h5.run.json"
    assert lines == [f"run record: {path}"] and seen == [(tmp_path / "cnn_predictions.h5.report", "finished")]
    data = read_record(path)
    assert (data["session"], data["status"], data["predicted"]) == ("Inference", "finished", 7)
    assert data["predictions"] == str(predictions.resolve()) and data["hash"] == config_hash(run.config, registry)


@pytest.mark.parametrize("given", [True, False])
def test_a_failed_inference_is_recorded_only_beside_a_named_file(registry, minimal_typed_config, tmp_path, given):
    predictions = tmp_path / "p.h5"
    run = _inference_run(registry, minimal_typed_config, str(predictions) if given else None)
    lines = []
    with pytest.raises(TrainingError):
        with RunRecord.begin_inference(run, tmp_path / "c.json", argv=[]).inference_session(lines.append):
            raise TrainingError("the model file cannot be read")
    records = list(tmp_path.glob("*.run.json"))
    if given:
        assert records == [tmp_path / "p.h5.run.json"] and lines == [f"run record: {records[0]}"]
        assert read_record(records[0])["status"] == "failed"
    else:
        assert records == [] and lines == []
    with pytest.raises(OutputExistsError):  # refused before it ran: nothing written, even beside a named file
        with RunRecord.begin_inference(run, tmp_path / "c.json", argv=[]).inference_session():
            raise OutputExistsError("the predictions file exists")
    assert list(tmp_path.glob("*.run.json")) == records
