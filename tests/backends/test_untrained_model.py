"""``training_configurations.epochs: 0``: a Train session builds the model, saves it and stops, reading
no training batch and writing no history; ``dlae predict`` works with the saved model."""

from __future__ import annotations

import numpy as np

from support import (cnn_layers, error_lines, invoke, make_config, make_data, model_state, predict, read_h5, save_to,
                     train, write_config)


def _config(data, out, **sections) -> dict:
    return make_config("CNN", (8, 8, 1), cnn_layers(8), data,
                       save_configurations=save_to(out, checkpoint=True, tensorboard=True),
                       training_configurations={"epochs": 0}, **sections)


def test_epochs_zero_saves_the_built_model_and_predict_uses_it(tmp_path, backend, engine, monkeypatch):
    data = make_data(tmp_path / "data", "classification", n=16, size=8)
    out = tmp_path / "out"

    def no_batches(*args, **kwargs):
        raise AssertionError("epochs 0 read training batches")

    monkeypatch.setattr(type(engine), "training_batches", no_batches)
    monkeypatch.setattr(type(engine), "evaluation_batches", no_batches)
    result = train(backend, _config(data, out), tmp_path / "config.json")
    assert result.stdout.splitlines()[-1] == f"run record: {out / 'model.pt.run.json'}"
    assert result.stdout.splitlines()[-2] == (f"done: no epochs to run (training_configurations.epochs 0); "
                                              f"final model '{out / 'model.pt'}'")
    assert sorted(p.name for p in out.iterdir()) == ["model.pt", "model.pt.run.json"]  # and no history, checkpoint or TensorBoard log
    state = model_state(backend, out / "model.pt")
    assert (state["epoch"], state["step"], state["monitored"]) == (-1, 0, None)  # no update was made

    predictions = predict(backend, tmp_path, _config(data, out), out / "model.pt", data["validation_X"])
    assert sorted(predictions) == sorted(read_h5(data["validation_X"]))  # one per input sample
    rows = np.stack(list(predictions.values()))
    assert rows.shape == (len(predictions), 3) and np.allclose(rows.sum(axis=1), 1.0, atol=1e-5)


def test_epochs_zero_without_saving_the_model_is_refused(tmp_path, backend):
    data = make_data(tmp_path / "data", "classification", n=16, size=8)
    config = _config(data, tmp_path / "out")
    config["save_configurations"]["save_model_switch"] = False
    result = invoke("run", "--backend", backend, write_config(tmp_path / "config.json", config), expect=2)
    assert error_lines(result) == [
        "error: save_configurations.save_model_switch: training_configurations.epochs is 0, which only builds and "
        "saves the model, but saving the model is off. Expected save_model_switch true (or epochs of 1 or more). "
        "Received: False."]
    assert not (tmp_path / "out").exists()
