"""End-to-end inference on every backend: ``dlae predict`` and ``dlae run`` with an Inference config
write one dataset per input sample, named as in test_X, equal to the saved model's forward pass on the
preprocessed input (the model rebuilt by the core, run through the backend object)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from support import (cnn_layers, engine_of, error_lines, fcn_layers, invoke, load_network, make_config,
                     make_data, read_h5, save_to, train, write_config, write_h5)

NAMES = ("3", "10", "11")  # non-contiguous, and "10" sorts before "3" as a string


def trained_model(tmp_path, backend: str, model: str, **sections) -> tuple[dict, dict, str]:
    """Train a tiny 16x16 CNN or FCN for one epoch; returns (config, data, model path)."""
    kind, layers = ("classification", cnn_layers(16)) if model == "CNN" else ("segmentation", fcn_layers(16))
    data = make_data(tmp_path / "data", kind, n=16, size=16)
    sections.setdefault("training_configurations", {}).setdefault("epochs", 1)
    config = make_config(model, (16, 16, 1), layers, data, save_configurations=save_to(tmp_path / "model"),
                         **sections)
    train(backend, config, tmp_path / "train.json")
    return config, data, str(tmp_path / "model" / "model.pt")


def renamed_test_file(tmp_path, data: dict, *, drop_channel: str | None = None) -> tuple[str, dict]:
    """A test_X file holding three validation samples under NAMES (one without its channel axis)."""
    source = read_h5(data["validation_X"])
    samples = {name: source[str(i)] for i, name in enumerate(NAMES)}
    if drop_channel is not None:
        samples[drop_channel] = samples[drop_channel][..., 0]
    return write_h5(tmp_path / "test_X.h5", samples), samples


def inference_config(config: dict, model_path: str, test_x: str) -> dict:
    return {**config, "config_file": {**config["config_file"], "type_signal": "Inference"},
            "paths": {"load_model": model_path, "test_X": test_x}}


def forward(backend: str, model_path: str, inputs: dict) -> dict:
    """The saved model, rebuilt as the predictor rebuilds it, on already preprocessed channels-last inputs."""
    model, _, _ = load_network(backend, model_path)
    engine = engine_of(backend)
    return {name: engine.forward(model, [x[None]])[0] for name, x in inputs.items()}


def with_channel(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x[..., None] if x.ndim == 2 else x


def unity(x: np.ndarray) -> np.ndarray:
    return ((x - x.min()) / (x.max() - x.min())).astype(np.float32)


def test_cnn_predict_matches_forward_pass_with_training_statistics(tmp_path, backend):
    # featurewise centering/standardization: the training set's statistics travel with the model
    config, data, model_path = trained_model(
        tmp_path, backend, "CNN", preprocessing={"normalization_type": "none"},
        augmentation={"featurewise_centering_switch": True, "featurewise_normalization_switch": True})
    test_x, samples = renamed_test_file(tmp_path, data)
    out = tmp_path / "predictions.h5"
    predict_config = {**config, "paths": {"load_model": model_path, "test_X": test_x}}  # type_signal still Train
    result = invoke("predict", "--backend", backend, write_config(tmp_path / "predict.json", predict_config),
                    "--predictions", out, "--workers", 0)
    assert f"wrote 3 predictions to {out}" in result.stdout

    predictions = read_h5(out)
    assert sorted(predictions) == sorted(NAMES)
    train_x = np.stack([with_channel(v) for v in read_h5(data["train_X"]).values()]).astype(np.float64)
    mean, std = train_x.mean(axis=(0, 1, 2)), train_x.std(axis=(0, 1, 2))
    payload = engine_of(backend).read_model_file(model_path)
    np.testing.assert_allclose(payload["stats"]["mean"], mean, rtol=1e-6)
    inputs = {name: ((with_channel(x) - mean.astype(np.float32)) / (std.astype(np.float32) + np.float32(1e-6)))
              .astype(np.float32) for name, x in samples.items()}
    expected = forward(backend, model_path, inputs)
    for name in NAMES:
        assert predictions[name].shape == (3,) and predictions[name].dtype == np.float32
        np.testing.assert_allclose(predictions[name], expected[name], rtol=1e-5, atol=1e-6)
        assert predictions[name].sum() == pytest.approx(1.0, rel=1e-5)
    # the statistics matter: the raw input gives other outputs
    raw = forward(backend, model_path, {name: with_channel(x) for name, x in samples.items()})
    assert any(not np.allclose(raw[n], expected[n], atol=1e-4) for n in NAMES)


def test_fcn_inference_session_through_run_writes_maps(tmp_path, backend):
    config, data, model_path = trained_model(tmp_path, backend, "FCN")
    test_x, samples = renamed_test_file(tmp_path, data, drop_channel="10")
    out = tmp_path / "preds.h5"
    invoke("run", "--backend", backend, write_config(tmp_path / "infer.json",
                                                     inference_config(config, model_path, test_x)),
           "--predictions", out, "--workers", 0)
    predictions = read_h5(out)
    assert sorted(predictions) == sorted(NAMES)
    expected = forward(backend, model_path, {name: unity(with_channel(x)) for name, x in samples.items()})
    for name in NAMES:
        assert predictions[name].shape == (16, 16, 3)
        np.testing.assert_allclose(predictions[name], expected[name], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(predictions[name].sum(-1), 1.0, rtol=1e-5)


def test_predictions_path_is_used_as_given(tmp_path, backend):
    config, data, model_path = trained_model(tmp_path, backend, "CNN")
    out = tmp_path / "deep" / "er" / "my predictions.hdf"  # new folders, another extension, a space
    invoke("predict", "--backend", backend,
           write_config(tmp_path / "predict.json", inference_config(config, model_path, data["test_X"])),
           "--predictions", out, "--workers", 0)
    assert sorted(p.name for p in out.parent.iterdir()) == ["my predictions.hdf", "my predictions.hdf.report",
                                                            "my predictions.hdf.run.json"]  # its record beside it
    assert sorted(read_h5(out), key=int) == sorted(read_h5(data["test_X"]), key=int)


def test_default_predictions_name_in_the_working_directory(tmp_path, monkeypatch, backend):
    config, data, model_path = trained_model(tmp_path, backend, "FCN")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    invoke("run", "--backend", backend,
           write_config(tmp_path / "infer.json", inference_config(config, model_path, data["test_X"])),
           "--workers", 0)
    written = [p.name for p in work.iterdir() if p.suffix == ".h5"]
    assert sorted(p.name for p in work.iterdir()) == [written[0], f"{written[0]}.report", f"{written[0]}.run.json"]
    assert re.fullmatch(r"fcn_predictions_date_\d{4}_\d{2}_\d{2}_time_\d{2}_\d{2}_\d{2}\.h5", written[0]), written
    predictions = read_h5(work / written[0])
    assert sorted(predictions, key=int) == sorted(read_h5(data["test_X"]), key=int)
    assert {v.shape for v in predictions.values()} == {(16, 16, 3)}


def test_existing_predictions_file_is_refused_without_overwrite(tmp_path, backend):
    config, data, model_path = trained_model(tmp_path, backend, "CNN")
    path = write_config(tmp_path / "infer.json", inference_config(config, model_path, data["test_X"]))
    out = tmp_path / "predictions.h5"
    out.write_bytes(b"precious")
    refused = invoke("predict", "--backend", backend, path, "--predictions", out, "--workers", 0, expect=2)
    lines = error_lines(refused)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "already exist" in lines[0]
    assert str(out) in lines[0] and "Traceback" not in refused.output
    assert out.read_bytes() == b"precious"
    invoke("predict", "--backend", backend, path, "--predictions", out, "--workers", 0, "--overwrite")
    assert sorted(read_h5(out), key=int) == sorted(read_h5(data["test_X"]), key=int)


def test_missing_model_file_is_a_one_line_error(tmp_path, backend):
    data = make_data(tmp_path / "data", "classification", n=8, size=16)
    config = make_config("CNN", (16, 16, 1), cnn_layers(16), data)
    path = write_config(tmp_path / "infer.json", inference_config(config, str(tmp_path / "nope.pt"), data["test_X"]))
    out = tmp_path / "predictions.h5"
    result = invoke("predict", "--backend", backend, path, "--predictions", out, "--workers", 0, expect=2)
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: paths.load_model") and "nope.pt" in lines[0]
    assert not out.exists()
