"""End-to-end training sessions through ``dlae run`` on every backend (CPU, tiny data).

Every test generates its data, writes a typed config into tmp_path and drives the CLI in-process;
assertions are on the files a session writes (model, checkpoint, CSV history, TensorBoard events,
predictions), read back through the backend object where a model file is involved."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tensorboard_support import board_scalars as read_scalars
from support import (assert_same_weights, cnn_layers, error_lines, fcn3d_layers, fcn_layers, make_config,
                     make_data, model_state, optimizer_steps, ordered, predict, read_csv, read_h5, save_to,
                     saved_weights, snapshot, stored_dtypes, train)

OPTIMIZERS = ("SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "NAdam")


# -- learning --------------------------------------------------------------------------------
def test_small_cnn_learns_classification(tmp_path, backend):
    data = make_data(tmp_path / "data", "classification", n=48, size=16)
    held_out = make_data(tmp_path / "held_out", "classification", n=48, size=16, seed=7)
    out = tmp_path / "out"
    config = make_config("CNN", (16, 16, 1), cnn_layers(), data, save_configurations=save_to(out),
                         training_configurations={"epochs": 12})
    train(backend, config, tmp_path / "config.json")

    header, rows = read_csv(out / "history.csv")
    assert header == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert [r["epoch"] for r in rows] == list(range(12))
    assert rows[-1]["loss"] < 0.5 * rows[0]["loss"]
    assert rows[-1]["accuracy"] >= 0.8

    predictions = predict(backend, tmp_path, config, out / "model.pt", held_out["validation_X"])
    labels = read_h5(held_out["validation_y"])
    assert ordered(predictions) == ordered(labels)
    accuracy = np.mean([predictions[k].argmax() == int(labels[k][0]) for k in predictions])
    assert accuracy >= 0.75, f"held-out accuracy {accuracy} (chance 1/3)"


# data workers of the segmentation run: torch's are processes (0: in the test process), tensorflow's
# are tf.data threads, which this test has always exercised
FCN_WORKERS = {"torch": 0, "tensorflow": 2}


def test_small_fcn_learns_segmentation(tmp_path, backend):
    data = make_data(tmp_path / "data", "segmentation", n=48, size=16)
    held_out = make_data(tmp_path / "held_out", "segmentation", n=48, size=16, seed=7)
    out = tmp_path / "out"
    config = make_config("FCN", (16, 16, 1), fcn_layers(), data, save_configurations=save_to(out),
                         training_configurations={"epochs": 10})
    train(backend, config, tmp_path / "config.json", workers=FCN_WORKERS[backend])

    _, rows = read_csv(out / "history.csv")
    assert rows[-1]["loss"] < 0.4 * rows[0]["loss"]

    predictions = predict(backend, tmp_path, config, out / "model.pt", held_out["validation_X"])
    labels = read_h5(held_out["validation_y"])
    names = ordered(labels)
    assert ordered(predictions) == names
    predicted = np.stack([predictions[k].argmax(-1) for k in names])
    truth = np.stack([labels[k] for k in names])
    background = float((truth == 0).mean())
    assert (predicted == truth).mean() >= min(0.99, background + 0.1), "not above the all-background guess"
    dice = [2 * ((predicted == c) & (truth == c)).sum() / ((predicted == c).sum() + (truth == c).sum())
            for c in (1, 2)]
    assert min(dice) >= 0.5, f"foreground Dice {dice}"


def test_fcn3d_trains_one_epoch_and_predicts_volumes(tmp_path, backend):
    data = make_data(tmp_path / "data", "segmentation3d", n=8, size=8)  # volumes (8, 8, 6)
    out = tmp_path / "out"
    config = make_config("FCN", (8, 8, 6, 1), fcn3d_layers(8, 6), data, save_configurations=save_to(out),
                         preprocessing={"categorical_switch": True, "categories": 3},
                         loss_function={"loss": "categorical_crossentropy"},
                         training_configurations={"epochs": 1, "batch_size": 4})
    train(backend, config, tmp_path / "config.json")
    header, rows = read_csv(out / "history.csv")
    assert header == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert len(rows) == 1 and math.isfinite(rows[0]["loss"])

    predictions = predict(backend, tmp_path, config, out / "model.pt", data["test_X"])
    assert ordered(predictions) == ordered(read_h5(data["test_X"]))
    for value in predictions.values():
        assert value.shape == (8, 8, 6, 3) and value.dtype == np.float32
        np.testing.assert_allclose(value.sum(-1), 1.0, rtol=1e-5)


def test_cnn_regression_with_mse_has_no_accuracy_column(tmp_path, backend):
    data = make_data(tmp_path / "data", "regression", n=16, size=8)
    out = tmp_path / "out"
    config = make_config("CNN", (8, 8, 1), cnn_layers(8, classes=2, final=None), data,
                         save_configurations=save_to(out), loss_function={"loss": "mean_squared_error"},
                         monitors={"accuracy_switch": True, "mae_switch": True})
    train(backend, config, tmp_path / "config.json")
    header, rows = read_csv(out / "history.csv")
    assert header == ["epoch", "loss", "mean_absolute_error", "val_loss", "val_mean_absolute_error", "lr"]
    assert len(rows) == 2 and all(math.isfinite(v) for row in rows for v in row.values())
    predictions = predict(backend, tmp_path, config, out / "model.pt", data["test_X"])
    assert {v.shape for v in predictions.values()} == {(2,)}


# -- outputs ---------------------------------------------------------------------------------
def _outputs_config(tmp_path, data, **sections):
    out = tmp_path / "results" / "deep" / "er"
    save = {"save_model_switch": True, "save_model_path": str(out / "model" / "final.pt"),
            "save_checkpoints_switch": True, "save_checkpoints_path": str(out / "ckpt" / "best.pt"),
            "save_csv_switch": True, "save_csv_path": str(out / "logs" / "history.csv"),
            "save_tensorboard_switch": True, "save_tensorboard_path": str(out / "tb")}
    return out, make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save,
                            monitors={"mse_switch": True}, training_configurations={"epochs": 3}, **sections)


def test_outputs_model_checkpoint_csv_tensorboard(tmp_path, backend):
    data = make_data(tmp_path / "data", "classification", n=16, size=8)
    out, config = _outputs_config(tmp_path, data)
    assert not (tmp_path / "results").exists()
    train(backend, config, tmp_path / "config.json")

    header, rows = read_csv(out / "logs" / "history.csv")
    assert header == ["epoch", "loss", "mean_squared_error", "accuracy", "val_loss", "val_mean_squared_error",
                      "val_accuracy", "lr"]
    assert [r["epoch"] for r in rows] == [0, 1, 2]

    assert model_state(backend, out / "model" / "final.pt")["epoch"] == 2
    val = [r["val_loss"] for r in rows]
    assert model_state(backend, out / "ckpt" / "best.pt")["epoch"] == int(np.argmin(val))  # the first best epoch
    assert set(saved_weights(backend, out / "ckpt" / "best.pt")) == set(saved_weights(backend, out / "model" / "final.pt"))
    assert stored_dtypes(backend, out / "model" / "final.pt") == {"float32"}
    if backend == "tensorflow":  # its model file is HDF5 with the optimizer variables in it
        import h5py

        with h5py.File(out / "model" / "final.pt", "r") as handle:
            assert handle.attrs["format"] == "dlae-tensorflow-model" and "optimizer" in handle

    events = list((out / "tb").iterdir())
    assert len(events) == 1 and events[0].name.startswith("events.out.tfevents.")
    scalars = read_scalars(events[0])
    assert [step for step, _ in scalars] == [0, 1, 2]
    for (step, values), row in zip(scalars, rows):
        assert sorted(values) == sorted(header[1:])
        for key, value in values.items():
            assert value == pytest.approx(row[key], rel=1e-6, abs=1e-7), (step, key)
    # no stray temporary files from the atomic writes
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]

    refused = train(backend, config, tmp_path / "config.json", expect=2)  # outputs are never overwritten silently
    lines = error_lines(refused)
    assert len(lines) == 1 and "already exist" in lines[0] and "--overwrite" in lines[0]


def test_no_checkpoint_without_validation_data(tmp_path, backend):
    data = make_data(tmp_path / "data", "classification", n=16, size=8)
    data.pop("validation_X"), data.pop("validation_y")
    out, config = _outputs_config(tmp_path, data)
    train(backend, config, tmp_path / "config.json")
    header, rows = read_csv(out / "logs" / "history.csv")
    assert header == ["epoch", "loss", "mean_squared_error", "accuracy", "lr"]
    assert len(rows) == 3
    assert (out / "model" / "final.pt").is_file()
    assert not (out / "ckpt" / "best.pt").exists()


def test_existing_outputs_are_refused_before_training_then_overwritten(tmp_path, backend):
    data = make_data(tmp_path / "data", "classification", n=16, size=8)
    out, config = _outputs_config(tmp_path, data)
    train(backend, config, tmp_path / "config.json")
    before = snapshot(out)
    # model, checkpoint, CSV, one event file, the run record and its report (page, pictures, their list, timing)
    assert len(before) == 4 + 1 + 5, sorted(before)

    refused = train(backend, config, tmp_path / "config.json", expect=2)
    lines = error_lines(refused)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "already exist" in lines[0]
    assert "--overwrite" in lines[0] and "final.pt" in lines[0]
    assert snapshot(out) == before

    again = train(backend, config, tmp_path / "config.json", "--overwrite")
    assert "error:" not in again.stderr
    after = snapshot(out)
    for name in ("model/final.pt", "logs/history.csv", "ckpt/best.pt"):
        assert after[name][0] != before[name][0], f"{name} was not rewritten"
    _, rows = read_csv(out / "logs" / "history.csv")
    assert [r["epoch"] for r in rows] == [0, 1, 2]  # replaced, not appended
    events = list((out / "tb").iterdir())  # the old run's events are replaced, not merged with the new
    assert len(events) == 1 and [step for step, _ in read_scalars(events[0])] == [0, 1, 2]


# -- reproducibility -------------------------------------------------------------------------
def test_same_seed_gives_identical_weights(tmp_path, backend):
    data = make_data(tmp_path / "data", "segmentation", n=16, size=8)
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        config = make_config("FCN", (8, 8, 1), fcn_layers(8), data,
                             save_configurations=save_to(tmp_path / name, csv_=False),
                             augmentation={"random_seed": seed}, training_configurations={"validation_split": 0.25})
        train(backend, config, tmp_path / f"{name}.json")
        runs[name] = saved_weights(backend, tmp_path / name / "model.pt")
    assert_same_weights(runs["a"], runs["b"])
    assert any(not np.array_equal(runs["a"][k], runs["c"][k]) for k in runs["a"]), "the seed has no effect"


# The augmented runs differ by backend because ``--workers`` does: torch's loader workers are
# processes (1 worker vs none must agree), tensorflow's are tf.data threads (2 vs none must agree,
# and another seed must differ). (name, seed, workers) per run.
AUGMENTED = {
    "torch": ({"rotation_range": 20, "width_shift": 0.1, "height_shift": 0.1, "zoom_range": 0.1,
               "shear_range": 5.0, "horizontal_flip_switch": True, "vertical_flip_switch": True,
               "brightness_range": [0.8, 1.2], "rounds": 2},
              {}, (("a", 5, 1), ("b", 5, 1), ("c", 5, 0))),
    "tensorflow": ({"rotation_range": 20, "width_shift": 0.1, "zoom_range": 0.1, "horizontal_flip_switch": True,
                    "brightness_range": [0.8, 1.2]},
                   {"validation_split": 0.25}, (("a", 3, 2), ("b", 3, 0), ("c", 4, 2))),
}


def test_same_seed_identical_with_augmentation_and_data_workers(tmp_path, backend):
    data = make_data(tmp_path / "data", "segmentation", n=16, size=8)
    augmentation, training, cases = AUGMENTED[backend]
    runs, seeds = {}, {}
    for name, seed, workers in cases:
        config = make_config("FCN", (8, 8, 1), fcn_layers(8), data,
                             save_configurations=save_to(tmp_path / name, csv_=False),
                             augmentation={"apply_augmentation_switch": True, **augmentation, "random_seed": seed},
                             training_configurations=training)
        train(backend, config, tmp_path / f"{name}.json", workers=workers)
        runs[name], seeds[name] = saved_weights(backend, tmp_path / name / "model.pt"), seed
    for name in ("b", "c"):
        if seeds[name] == seeds["a"]:  # a sample never depends on the number of workers
            assert_same_weights(runs["a"], runs[name])
        else:
            assert any(not np.array_equal(runs["a"][k], runs[name][k]) for k in runs["a"]), "the seed has no effect"


# -- training from a checkpoint --------------------------------------------------------------
def test_train_from_checkpoint_continues_with_saved_weights_and_state(tmp_path, backend):
    data = make_data(tmp_path / "data", "classification", n=16, size=8)  # 2 steps per epoch
    first = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(tmp_path / "first"))
    train(backend, first, tmp_path / "first.json")
    saved = model_state(backend, tmp_path / "first" / "model.pt")
    assert saved["epoch"] == 1 and saved["step"] == 4

    second = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(tmp_path / "second"),
                         config_file={"type_signal": "Train from Checkpoint"},
                         paths={"load_checkpoint": str(tmp_path / "first" / "model.pt")},
                         learning_rate_schedule={"learning_rate": 1e-12},  # Adam steps of ~1e-9
                         training_configurations={"epochs": 4})
    train(backend, second, tmp_path / "second.json")

    header, rows = read_csv(tmp_path / "second" / "history.csv")
    assert [r["epoch"] for r in rows] == [2, 3]
    state = model_state(backend, tmp_path / "second" / "model.pt")
    assert state["epoch"] == 3 and state["step"] == 8
    assert optimizer_steps(backend, state) == {8}, "the optimizer state did not continue from the checkpoint"
    before = saved_weights(backend, tmp_path / "first" / "model.pt")
    after = saved_weights(backend, tmp_path / "second" / "model.pt")
    for key, value in before.items():
        np.testing.assert_allclose(after[key], value, rtol=0, atol=1e-6, err_msg=key)
    # the first session really moved the weights away from a fresh start
    fresh = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(tmp_path / "fresh"),
                        learning_rate_schedule={"learning_rate": 1e-12}, training_configurations={"epochs": 1})
    train(backend, fresh, tmp_path / "fresh.json")
    init = saved_weights(backend, tmp_path / "fresh" / "model.pt")
    assert max(float(np.abs(init[k] - before[k]).max()) for k in init) > 1e-3


def test_train_with_load_checkpoint_appends_to_the_same_csv(tmp_path, backend):
    data = make_data(tmp_path / "data", "classification", n=16, size=8)
    save = save_to(tmp_path / "out")
    first = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save)
    train(backend, first, tmp_path / "first.json")
    checkpoint = tmp_path / "saved.pt"
    (tmp_path / "out" / "model.pt").rename(checkpoint)
    second = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save,  # a "Train" session
                         paths={"load_checkpoint": str(checkpoint)}, training_configurations={"epochs": 4})
    train(backend, second, tmp_path / "second.json", "--overwrite")
    header, rows = read_csv(tmp_path / "out" / "history.csv")
    assert header == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]


# -- schedules and callbacks -----------------------------------------------------------------
def _schedule_run(tmp_path, backend, *, validation: bool = True, **sections):
    data = make_data(tmp_path / "data", "classification", n=16, size=8)  # 2 steps per epoch
    if not validation:
        data.pop("validation_X"), data.pop("validation_y")
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data,
                         save_configurations=save_to(tmp_path / "out", model=False), **sections)
    train(backend, config, tmp_path / "config.json")
    return read_csv(tmp_path / "out" / "history.csv")


def test_early_stopping_stops_when_val_loss_cannot_improve(tmp_path, backend):
    _, rows = _schedule_run(tmp_path, backend, optimizer={"optimizer": "SGD"},
                            learning_rate_schedule={"learning_rate": 1e-12},
                            training_configurations={"epochs": 20, "early_stop_switch": True,
                                                     "early_stop_patience": 2})
    assert [r["epoch"] for r in rows] == [0, 1, 2]  # best at epoch 0, then 2 epochs without improvement
    assert len({r["val_loss"] for r in rows}) == 1


def test_plateau_reduction_lowers_the_learning_rate(tmp_path, backend):
    _, rows = _schedule_run(tmp_path, backend, optimizer={"optimizer": "SGD"},
                            learning_rate_schedule={"learning_rate": 1e-6, "decay_on_plateau_switch": True,
                                                    "decay_on_plateau_factor": 0.5,
                                                    "decay_on_plateau_patience": 1},
                            training_configurations={"epochs": 4})
    lrs = [r["lr"] for r in rows]
    assert lrs[0] == pytest.approx(1e-6)
    assert lrs[-1] < lrs[0]
    for before, after in zip(lrs, lrs[1:]):
        assert after == pytest.approx(before) or after == pytest.approx(0.5 * before)


def test_step_decay_multiplies_the_rate_every_period(tmp_path, backend):
    _, rows = _schedule_run(tmp_path, backend, validation=False,
                            learning_rate_schedule={"learning_rate": 0.01, "step_decay_switch": True,
                                                    "step_decay_factor": 0.5, "step_decay_period": 2},
                            training_configurations={"epochs": 5})
    # the lr column is the rate at the end of the epoch, after that epoch's decay
    assert [r["lr"] for r in rows] == pytest.approx([0.01, 0.005, 0.005, 0.0025, 0.0025])


def test_inverse_time_decay_in_the_lr_column(tmp_path, backend):
    decay = 0.1
    _, rows = _schedule_run(tmp_path, backend, validation=False,
                            learning_rate_schedule={"learning_rate": 0.01, "learning_rate_decay_factor": decay},
                            training_configurations={"epochs": 2})
    steps_per_epoch = 2
    expected = [0.01 / (1 + decay * steps_per_epoch * (epoch + 1)) for epoch in range(2)]
    assert [r["lr"] for r in rows] == pytest.approx(expected, rel=1e-9)


# -- optimizers and losses -------------------------------------------------------------------
OPTIMIZER_CHECKS = {  # name -> (config keys, the torch param_group entries the saved optimizer state has)
    "SGD": ({"momentum": 0.5}, {"momentum": 0.5}),
    "RMSprop": ({"rho": 0.8, "epsilon": 1e-5}, {"alpha": 0.8, "eps": 1e-5}),
    "Adagrad": ({"epsilon": 1e-5}, {"eps": 1e-5, "initial_accumulator_value": 0.1}),
    "Adadelta": ({"rho": 0.8, "epsilon": 1e-5}, {"rho": 0.8, "eps": 1e-5}),
    "Adam": ({"beta1": 0.8, "beta2": 0.99}, {"betas": (0.8, 0.99), "eps": 1e-7}),
    "Adamax": ({"beta1": 0.8, "beta2": 0.99}, {"betas": (0.8, 0.99)}),
    "NAdam": ({"beta1": 0.8, "beta2": 0.99}, {"betas": (0.8, 0.99), "momentum_decay": 0.004}),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_trains_one_epoch(tmp_path, backend, name):
    keys, torch_expected = OPTIMIZER_CHECKS[name]
    data = make_data(tmp_path / "data", "classification", n=16, size=8)
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(tmp_path / "out"),
                         optimizer={"optimizer": name, **keys}, training_configurations={"epochs": 1})
    train(backend, config, tmp_path / "config.json")
    _, rows = read_csv(tmp_path / "out" / "history.csv")
    assert len(rows) == 1 and math.isfinite(rows[0]["loss"]) and math.isfinite(rows[0]["val_loss"])
    optimizer = model_state(backend, tmp_path / "out" / "model.pt")["optimizer"]
    if backend == "torch":  # a torch optimizer state_dict keeps its hyper-parameters (test_optimizers.py: both)
        group = optimizer["param_groups"][0]
        for key, value in torch_expected.items():
            assert group[key] == pytest.approx(value), (key, group)
        if name != "SGD":  # SGD without momentum buffers keeps no state; with momentum it does
            assert optimizer["state"]
    else:  # tensorflow stores the optimizer's variables, its step count first
        assert optimizer and optimizer_steps(backend, {"optimizer": optimizer}) == {2}


ONEHOT = {"categorical_switch": True, "categories": 3}
LABELS = {"categorical_switch": False, "categories": 3}
LOSSES = {  # name -> (preprocessing, parameter1, parameter2)
    "categorical_crossentropy": (ONEHOT, 0.0, 0.0),
    "sparse_categorical_crossentropy": (LABELS, 0.0, 0.0),
    "weighted_categorical_crossentropy": (ONEHOT, 0.0, 0.0),
    "mean_squared_error": (ONEHOT, 0.0, 0.0),
    "mean_absolute_error": (ONEHOT, 0.0, 0.0),
    "tversky": (ONEHOT, 0.5, 0.5),
    "jaccard": (ONEHOT, 100.0, 0.0),
    "focal": (ONEHOT, 0.25, 2.0),
    "soft_dice": (ONEHOT, 1.0, 0.0),
}
LOSS_CASES = [pytest.param(m, loss, id=f"{m}-{loss}") for m in ("CNN", "FCN") for loss in LOSSES
              if not (m == "CNN" and loss == "tversky")]  # tversky is FCN-only (spatial)


@pytest.mark.parametrize("model,loss", LOSS_CASES)
def test_every_loss_trains_one_epoch(tmp_path, backend, model, loss):
    preprocessing, p1, p2 = LOSSES[loss]
    kind, layers = (("classification", cnn_layers(8)) if model == "CNN" else ("segmentation", fcn_layers(8)))
    data = make_data(tmp_path / "data", kind, n=16, size=8)
    config = make_config(model, (8, 8, 1), layers, data, save_configurations=save_to(tmp_path / "out", model=False),
                         preprocessing=preprocessing,
                         loss_function={"loss": loss, "parameter1": p1, "parameter2": p2},
                         training_configurations={"epochs": 1})
    train(backend, config, tmp_path / "config.json")
    header, rows = read_csv(tmp_path / "out" / "history.csv")
    assert header[:2] == ["epoch", "loss"] and "val_loss" in header
    dense = loss in ("mean_squared_error", "mean_absolute_error")
    assert ("accuracy" in header) != dense
    assert len(rows) == 1 and all(math.isfinite(v) for v in rows[0].values())
    assert rows[0]["loss"] > 0


def test_plugin_loss_and_layer_train_and_reload_for_prediction(tmp_path, backend):
    pytest.importorskip("dlae_example_plugin")
    data = make_data(tmp_path / "data", "classification", n=16, size=8)
    squeeze = [{"type": "Squeeze excitation 2D", "ratio": 2}]
    out = tmp_path / "out"
    config = make_config("CNN", (8, 8, 1), cnn_layers(8, extra=squeeze), data, save_configurations=save_to(out),
                         preprocessing=ONEHOT, loss_function={"loss": "log_cosh"},
                         training_configurations={"epochs": 2})
    train(backend, config, tmp_path / "config.json")
    _, rows = read_csv(out / "history.csv")
    assert len(rows) == 2 and all(math.isfinite(r["loss"]) for r in rows)
    weights = saved_weights(backend, out / "model.pt")
    assert any(key.startswith("squeeze_excitation_2d") for key in weights), list(weights)

    predictions = predict(backend, tmp_path, config, out / "model.pt", data["test_X"])
    assert ordered(predictions) == ordered(read_h5(data["test_X"]))
    for value in predictions.values():
        assert value.shape == (3,)
        assert value.sum() == pytest.approx(1.0, rel=1e-5)
