"""End-to-end sessions on the tensorflow backend through ``dlae run``/``dlae predict`` (CPU, tiny
data), plus the pieces only this backend has: the tf.data loader, the TF device augmentation, the
optimizer mapping and the HDF5 model file. The helpers are the torch suite's (e2e_support)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "torch"))

import attrs  # noqa: E402
import h5py  # noqa: E402

from dlae_core.config.schema import Augmentation  # noqa: E402
from dlae_core.data.augment import apply_params, sample_params  # noqa: E402
from dlae_core.data.preprocess import Normalization  # noqa: E402
from dlae_core.training.tensorboard import read_scalars  # noqa: E402
from e2e_support import (cnn_layers, error_lines, fcn_layers, invoke, make_config, make_data,  # noqa: E402
                         read_csv, read_h5, save_to, write_config, write_h5)

OPTIMIZERS = ("SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "NAdam")


def train(config: dict, path: Path, *extra, expect: int = 0, workers: int = 0, backend: str = "tensorflow"):
    return invoke("run", "--backend", backend, write_config(path, config), "--quiet", "--workers", workers,
                  *extra, expect=expect)


def predict(tmp_path, config: dict, model_path, test_x, out_name: str = "predictions.h5",
            backend: str = "tensorflow", expect: int = 0):
    config = {**config, "paths": {"load_model": str(model_path), "test_X": str(test_x)}}
    out = tmp_path / out_name
    result = invoke("predict", "--backend", backend, write_config(tmp_path / f"{out_name}.json", config),
                    "--predictions", out, "--workers", 0, expect=expect)
    return read_h5(out) if expect == 0 else result


def ordered(samples: dict) -> list[str]:
    return sorted(samples, key=int)


def load_weights(path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {f"{node}/{name}": np.asarray(ds[()]) for node, group in handle["weights"].items()
                for name, ds in group.items()}


def model_state(path) -> dict:
    from dlae_tensorflow.modelfile import load_model_file

    return load_model_file(path)["training_state"]


# -- learning --------------------------------------------------------------------------------
def test_small_cnn_learns_classification(tmp_path):
    data = make_data(tmp_path / "data", "classification", n=48, size=16)
    held_out = make_data(tmp_path / "held_out", "classification", n=48, size=16, seed=7)
    out = tmp_path / "out"
    config = make_config("CNN", (16, 16, 1), cnn_layers(), data, save_configurations=save_to(out),
                         training_configurations={"epochs": 12})
    train(config, tmp_path / "config.json")

    header, rows = read_csv(out / "history.csv")
    assert header == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert [r["epoch"] for r in rows] == list(range(12))
    assert rows[-1]["loss"] < 0.5 * rows[0]["loss"]
    assert rows[-1]["accuracy"] >= 0.8

    predictions = predict(tmp_path, config, out / "model.pt", held_out["validation_X"])
    labels = read_h5(held_out["validation_y"])
    assert ordered(predictions) == ordered(labels)
    accuracy = np.mean([predictions[k].argmax() == int(labels[k][0]) for k in predictions])
    assert accuracy >= 0.75, f"held-out accuracy {accuracy} (chance 1/3)"


def test_small_fcn_learns_segmentation(tmp_path):
    data = make_data(tmp_path / "data", "segmentation", n=48, size=16)
    held_out = make_data(tmp_path / "held_out", "segmentation", n=48, size=16, seed=7)
    out = tmp_path / "out"
    config = make_config("FCN", (16, 16, 1), fcn_layers(), data, save_configurations=save_to(out),
                         training_configurations={"epochs": 10})
    train(config, tmp_path / "config.json", workers=2)

    _, rows = read_csv(out / "history.csv")
    assert rows[-1]["loss"] < 0.4 * rows[0]["loss"]
    predictions = predict(tmp_path, config, out / "model.pt", held_out["validation_X"])
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


# -- outputs ---------------------------------------------------------------------------------
def test_outputs_model_checkpoint_csv_tensorboard(tmp_path):
    data = make_data(tmp_path / "data", "classification", n=16, size=8)
    out = tmp_path / "results" / "deep"
    save = {"save_model_switch": True, "save_model_path": str(out / "model" / "final.h5"),
            "save_checkpoints_switch": True, "save_checkpoints_path": str(out / "ckpt" / "best.h5"),
            "save_csv_switch": True, "save_csv_path": str(out / "logs" / "history.csv"),
            "save_tensorboard_switch": True, "save_tensorboard_path": str(out / "tb")}
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save,
                         monitors={"mse_switch": True}, training_configurations={"epochs": 3})
    train(config, tmp_path / "config.json")

    header, rows = read_csv(out / "logs" / "history.csv")
    assert header == ["epoch", "loss", "mean_squared_error", "accuracy", "val_loss", "val_mean_squared_error",
                      "val_accuracy", "lr"]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert model_state(out / "model" / "final.h5")["epoch"] == 2
    best = model_state(out / "ckpt" / "best.h5")
    assert best["epoch"] == int(np.argmin([r["val_loss"] for r in rows]))  # the first best epoch
    assert set(load_weights(out / "ckpt" / "best.h5")) == set(load_weights(out / "model" / "final.h5"))
    with h5py.File(out / "model" / "final.h5", "r") as handle:
        assert handle.attrs["format"] == "dlae-tensorflow-model" and "optimizer" in handle
        assert {v.dtype for v in load_weights(out / "model" / "final.h5").values()} == {np.dtype("float32")}
    events = list((out / "tb").iterdir())
    assert len(events) == 1 and [step for step, _ in read_scalars(events[0])] == [0, 1, 2]
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]

    refused = train(config, tmp_path / "config.json", expect=2)  # outputs are never overwritten silently
    lines = error_lines(refused)
    assert len(lines) == 1 and "already exist" in lines[0] and "--overwrite" in lines[0]


def test_predictions_file_has_the_torch_layout(tmp_path):
    pytest.importorskip("torch")
    data = make_data(tmp_path / "data", "segmentation", n=16, size=8)
    files = {}
    for backend in ("torch", "tensorflow"):
        out = tmp_path / backend
        config = make_config("FCN", (8, 8, 1), fcn_layers(8), data, save_configurations=save_to(out),
                             training_configurations={"epochs": 1})
        train(config, tmp_path / f"{backend}.json", backend=backend)
        predict(tmp_path, config, out / "model.pt", data["test_X"], f"{backend}.h5", backend=backend)
        files[backend] = tmp_path / f"{backend}.h5"
    layouts = {}
    for backend, path in files.items():
        with h5py.File(path, "r") as handle:
            attributes = {k: (str(v) if k != "model" else Path(str(v)).name) for k, v in handle.attrs.items()}
            layouts[backend] = (attributes, {name: (ds.shape, ds.dtype) for name, ds in handle.items()})
    assert layouts["torch"][0].pop("backend") == "torch"
    assert layouts["tensorflow"][0].pop("backend") == "tensorflow"
    assert layouts["torch"] == layouts["tensorflow"]
    assert set(layouts["torch"][1]) == set(read_h5(data["test_X"]))


def test_a_torch_model_file_is_refused_with_a_hint(tmp_path):
    pytest.importorskip("torch")
    data = make_data(tmp_path / "data", "classification", n=8, size=8)
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(tmp_path / "out"),
                         training_configurations={"epochs": 1})
    train(config, tmp_path / "config.json", backend="torch")
    result = predict(tmp_path, config, tmp_path / "out" / "model.pt", data["test_X"], expect=2)
    lines = error_lines(result)
    assert len(lines) == 1 and "torch backend" in lines[0] and "--backend torch" in lines[0], lines


# -- reproducibility and resuming ------------------------------------------------------------
def test_same_seed_gives_identical_weights_also_with_augmentation_and_threads(tmp_path):
    data = make_data(tmp_path / "data", "segmentation", n=16, size=8)
    augmentation = {"apply_augmentation_switch": True, "rotation_range": 20, "width_shift": 0.1,
                    "zoom_range": 0.1, "horizontal_flip_switch": True, "brightness_range": [0.8, 1.2]}
    runs = {}
    for name, seed, workers in (("a", 3, 2), ("b", 3, 0), ("c", 4, 2)):
        config = make_config("FCN", (8, 8, 1), fcn_layers(8), data,
                             save_configurations=save_to(tmp_path / name, csv_=False),
                             augmentation={**augmentation, "random_seed": seed},
                             training_configurations={"validation_split": 0.25})
        train(config, tmp_path / f"{name}.json", workers=workers)
        runs[name] = load_weights(tmp_path / name / "model.pt")
    for key in runs["a"]:
        np.testing.assert_array_equal(runs["a"][key], runs["b"][key], err_msg=key)
    assert any(not np.array_equal(runs["a"][k], runs["c"][k]) for k in runs["a"]), "the seed has no effect"


def test_train_from_checkpoint_continues_with_saved_weights_and_state(tmp_path):
    data = make_data(tmp_path / "data", "classification", n=16, size=8)  # 2 steps per epoch
    first = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(tmp_path / "first"))
    train(first, tmp_path / "first.json")
    saved = model_state(tmp_path / "first" / "model.pt")
    assert saved["epoch"] == 1 and saved["step"] == 4

    second = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(tmp_path / "second"),
                         config_file={"type_signal": "Train from Checkpoint"},
                         paths={"load_checkpoint": str(tmp_path / "first" / "model.pt")},
                         learning_rate_schedule={"learning_rate": 1e-12}, training_configurations={"epochs": 4})
    train(second, tmp_path / "second.json")
    _, rows = read_csv(tmp_path / "second" / "history.csv")
    assert [r["epoch"] for r in rows] == [2, 3]
    state = model_state(tmp_path / "second" / "model.pt")
    assert state["epoch"] == 3 and state["step"] == 8
    iterations = {p.split("/", 1)[1]: v for p, v in state["optimizer"]}["iteration"]
    assert int(iterations) == 8, "the optimizer state did not continue from the checkpoint"
    before, after = load_weights(tmp_path / "first" / "model.pt"), load_weights(tmp_path / "second" / "model.pt")
    for key, value in before.items():
        np.testing.assert_allclose(after[key], value, rtol=0, atol=1e-6)


# -- optimizers, losses, errors --------------------------------------------------------------
@pytest.mark.parametrize("name,keys,expected", [
    ("SGD", {"momentum": 0.5}, {"momentum": 0.5}),
    ("RMSprop", {"rho": 0.8, "epsilon": 1e-5}, {"rho": 0.8, "epsilon": 1e-5}),
    ("Adagrad", {"epsilon": 1e-5}, {"epsilon": 1e-5, "initial_accumulator_value": 0.1}),
    ("Adadelta", {"rho": 0.8, "epsilon": 1e-5}, {"rho": 0.8, "epsilon": 1e-5}),
    ("Adam", {"beta1": 0.8, "beta2": 0.99}, {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-7}),
    ("Adamax", {"beta1": 0.8, "beta2": 0.99}, {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-7}),
    ("NAdam", {"beta1": 0.8, "beta2": 0.99}, {"beta_1": 0.8, "beta_2": 0.99}),
])
def test_optimizer_hyper_parameters(name, keys, expected):
    from dlae_tensorflow.optimizers import make_optimizer

    optimizer = make_optimizer(name, lr=0.01, **{k: v for k, v in {"beta1": 0.9, "beta2": 0.999, **keys}.items()})
    config = optimizer.get_config()
    assert config["learning_rate"] == pytest.approx(0.01)
    for key, value in expected.items():
        assert config[key] == pytest.approx(value), (key, config)


LOSSES = {  # name -> (preprocessing, parameter1, parameter2)
    "categorical_crossentropy": (True, 0.0, 0.0), "sparse_categorical_crossentropy": (False, 0.0, 0.0),
    "weighted_categorical_crossentropy": (True, 0.0, 0.0), "mean_squared_error": (True, 0.0, 0.0),
    "tversky": (True, 0.5, 0.5), "jaccard": (True, 100.0, 0.0), "focal": (True, 0.25, 2.0),
    "soft_dice": (True, 1.0, 0.0),
}


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains_one_fcn_epoch(tmp_path, loss):
    categorical, p1, p2 = LOSSES[loss]
    data = make_data(tmp_path / "data", "segmentation", n=8, size=8)
    optimizer = OPTIMIZERS[list(LOSSES).index(loss) % len(OPTIMIZERS)]  # every optimizer runs once too
    config = make_config("FCN", (8, 8, 1), fcn_layers(8), data, save_configurations=save_to(tmp_path / "out"),
                         preprocessing={"categorical_switch": categorical, "categories": 3},
                         loss_function={"loss": loss, "parameter1": p1, "parameter2": p2},
                         optimizer={"optimizer": optimizer}, training_configurations={"epochs": 1})
    train(config, tmp_path / "config.json")
    header, rows = read_csv(tmp_path / "out" / "history.csv")
    assert ("accuracy" in header) != (loss == "mean_squared_error")
    assert len(rows) == 1 and all(math.isfinite(v) for v in rows[0].values()) and rows[0]["loss"] > 0


def test_label_outside_the_outputs_in_an_unchecked_sample_is_a_user_error(tmp_path):
    data = make_data(tmp_path / "data", "classification", n=24, size=8)  # the checks read 8 samples
    samples = read_h5(data["train_y"])
    samples["1"] = np.array([7])
    bad = {**data, "train_y": write_h5(tmp_path / "bad_y.h5", samples)}
    for categorical, loss in ((False, "sparse_categorical_crossentropy"), (True, "categorical_crossentropy")):
        config = make_config("CNN", (8, 8, 1), cnn_layers(8), bad, save_configurations=save_to(tmp_path / "out"),
                             preprocessing={"categorical_switch": categorical},
                             loss_function={"loss": loss}, training_configurations={"shuffle_data_switch": False})
        lines = error_lines(train(config, tmp_path / "config.json", "--overwrite", expect=2, workers=2))
        assert len(lines) == 1 and lines[0].startswith("error: ") and "7" in lines[0], lines


def test_multi_gpu_error_and_bf16_note_match_torch(tmp_path):
    data = make_data(tmp_path / "data", "classification", n=8, size=8)
    out = tmp_path / "out"
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(out),
                         training_configurations={"hardware": "multi-gpu", "number_of_gpus": 2})
    lines = error_lines(train(config, tmp_path / "config.json", expect=2))
    assert lines == ["error: multi-GPU training is not available yet; set training_configurations.hardware "
                     "to 'gpu' and number_of_gpus to 1"]
    assert not out.exists()
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(out),
                         training_configurations={"precision": "bf16", "epochs": 1})
    notes = [line for line in error_lines(train(config, tmp_path / "config.json")) if line.startswith("note:")]
    assert notes == ["note: precision bf16 needs a GPU, using fp32"]


# -- loader and device augmentation ----------------------------------------------------------
def test_batches_are_the_torch_loader_batches(tmp_path):
    from dlae_core.data.datasets import TrainingSamples
    from dlae_core.data.preprocess import Preprocessor
    from dlae_core.data.splits import make_splits
    from dlae_core.planning.plan import plan_model
    from dlae_core.config.parser import parse_config
    from dlae_core.plugin.registry import get_registry
    from dlae_tensorflow.loader import EpochIndexed, make_batches

    data = make_data(tmp_path / "data", "segmentation", n=17, size=8)  # 17 = 2 * 8 + 1: the last sample drops
    registry = get_registry()
    config = parse_config(make_config("FCN", (8, 8, 1), fcn_layers(8), data, augmentation={
        "apply_augmentation_switch": True, "rotation_range": 30, "random_seed": 2}), registry)
    plan = plan_model(config, registry)
    pre = Preprocessor(config, plan, registry)
    split = make_splits(config, "Train")["train"]
    reference = TrainingSamples(pre, split, config.augmentation, 2)
    batches = make_batches(EpochIndexed(TrainingSamples(pre, split, config.augmentation, 2)), 8, workers=3,
                           epochs=True)
    assert len(batches) == 2
    for epoch in (0, 3):
        batches.set_epoch(epoch)
        reference.set_epoch(epoch)
        got = list(batches)
        assert [b["x"].shape[0] for b in got] == [8, 8]
        for i in range(16):
            want = reference[i]
            np.testing.assert_array_equal(got[i // 8]["x"][i % 8].numpy(), want["x"])
            np.testing.assert_array_equal(got[i // 8]["y"][i % 8].numpy(), want["y"])


FULL = Augmentation(apply_augmentation_switch=True, rotation_range=30, width_shift=0.2, height_shift=0.15,
                    shear_range=10.0, zoom_range=0.2, horizontal_flip_switch=True, vertical_flip_switch=True,
                    brightness_range=(0.8, 1.2), channel_shift_range=0.1)


@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect", "wrap"])
@pytest.mark.parametrize("shape", [(12, 10, 2), (10, 12, 5, 1)])
def test_device_warp_matches_scipy(fill_mode, shape):
    from dlae_tensorflow.device_augment import augment_batch

    rng = np.random.default_rng(3)
    aug = attrs.evolve(FULL, fill_mode=fill_mode, cval=0.7)
    samples, params = [], []
    for _ in range(4):
        samples.append((rng.random(shape).astype(np.float32),
                        rng.integers(0, 3, shape[:-1] + (1,)).astype(np.float32)))
        params.append(sample_params(rng, aug, shape[:2]))
    assert any(p.hflip for p in params) and not all(p.is_geometric_identity for p in params)
    packed = [p.as_arrays() for p in params]
    batch = {k: tf.constant(np.stack([p[k] for p in packed])) for k in packed[0]}
    batch["x"] = tf.constant(np.stack([s[0] for s in samples]))
    batch["y"] = tf.constant(np.stack([s[1] for s in samples]))
    x_dev, y_dev = tf.function(lambda b: augment_batch(b, fill_mode=fill_mode, cval=0.7, target_kind="labels"))(batch)
    for i, ((x, y), p) in enumerate(zip(samples, params)):
        x_ref, y_ref = apply_params(x, y, p, fill_mode, 0.7, "labels")
        np.testing.assert_allclose(x_dev[i].numpy(), x_ref, atol=2e-5)
        assert np.mean(y_dev[i].numpy() != y_ref) < 0.02  # nearest-neighbour ties at exact half pixels


def test_normalize_and_one_hot_match_core():
    from dlae_tensorflow.device_augment import invalid_label_error, normalize, one_hot

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 6, 2)).astype(np.float32)
    x[2] = 5.0  # zero range: left unchanged
    for norm in (Normalization("samplewise", False), Normalization("samplewise", True),
                 Normalization("global", True, -2.0, 3.0), Normalization()):
        want = np.stack([norm.apply(s) for s in x])
        np.testing.assert_allclose(normalize(tf.constant(x), norm).numpy(), want, rtol=1e-6, atol=1e-6)
    encoded, invalid = one_hot(tf.constant([[0.0], [2.9], [1.0]]), 3)
    np.testing.assert_array_equal(encoded.numpy(), np.eye(3)[[0, 2, 1]])
    assert invalid_label_error(invalid.numpy(), 3) is None
    _, invalid = one_hot(tf.constant([[0.0], [3.0]]), 3)
    error = invalid_label_error(invalid.numpy(), 3)
    assert error is not None and "class label 3" in error.lines()[0]


def test_mixed_precision_policy_trains_with_float32_variables(tmp_path, monkeypatch):
    """What ``precision: bf16`` selects on a GPU (the mixed_bfloat16 policy), run on the CPU."""
    import dlae_tensorflow.backend as backend
    from dlae_tensorflow.device import Placement

    monkeypatch.setattr(backend, "choose_placement",
                        lambda config, rank=None: Placement("/CPU:0", "mixed_bfloat16", note="test policy"))
    data = make_data(tmp_path / "data", "segmentation", n=8, size=8)
    out = tmp_path / "out"
    config = make_config("FCN", (8, 8, 1), fcn_layers(8), data, save_configurations=save_to(out),
                         training_configurations={"epochs": 1})
    result = train(config, tmp_path / "config.json")
    assert "note: test policy" in result.stderr
    _, rows = read_csv(out / "history.csv")
    assert math.isfinite(rows[0]["loss"])
    assert {v.dtype for v in load_weights(out / "model.pt").values()} == {np.dtype("float32")}
    import keras

    assert keras.mixed_precision.dtype_policy().name == "float32"  # the global policy is restored


def test_predict_uses_the_saved_featurewise_statistics(tmp_path):
    from dlae_core.plugin.registry import get_registry
    from dlae_core.running.inference import load_saved_network
    from dlae_tensorflow.device import Placement

    data = make_data(tmp_path / "data", "classification", n=16, size=8)
    out = tmp_path / "out"
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(out),
                         preprocessing={"normalization_type": "none"}, training_configurations={"epochs": 1},
                         augmentation={"featurewise_centering_switch": True, "featurewise_normalization_switch": True})
    train(config, tmp_path / "config.json")
    predictions = predict(tmp_path, config, out / "model.pt", data["test_X"])

    registry = get_registry()
    model, _, payload = load_saved_network(registry.techniques["CNN"], registry.backend("tensorflow"),
                                           str(out / "model.pt"), Placement("/CPU:0", None))
    def with_channel(a):
        return a[..., None] if a.ndim == 2 else a

    train_x = np.stack([with_channel(v) for v in read_h5(data["train_X"]).values()]).astype(np.float64)
    mean, std = train_x.mean(axis=(0, 1, 2)), train_x.std(axis=(0, 1, 2))
    np.testing.assert_allclose(payload["stats"]["mean"], mean, rtol=1e-6)
    test = read_h5(data["test_X"])
    names = ordered(test)
    x = np.stack([(with_channel(test[n]).astype(np.float32) - mean.astype(np.float32))
                  / (std.astype(np.float32) + np.float32(1e-6)) for n in names]).astype(np.float32)
    expected = model(x, training=False).numpy()
    for name, value in zip(names, expected):
        np.testing.assert_allclose(predictions[name], value, rtol=1e-5, atol=1e-6)
