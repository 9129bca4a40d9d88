"""The autoencoder plugin (plugins/dlae-autoencoder-plugin): a technique added by a third-party
distribution, with no change to dlae, that checks, trains and predicts through the core's flow on
every installed backend.

The plugin must be installed (``pip install -e plugins/dlae-autoencoder-plugin``); the tests are
skipped otherwise. Backends whose framework is not installed are skipped.
"""

from __future__ import annotations

import copy
import csv
import json
import traceback
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("dlae_autoencoder_plugin")

from dlae_core import testing  # noqa: E402
from dlae_core.cli.main import cli  # noqa: E402
from dlae_core.data.synthetic import write_example_data  # noqa: E402
from dlae_core.plugin.registry import get_registry, reset_registry  # noqa: E402

SIZE = 16
SCALE = 100.0  # X is stored in [0, 100]: predictions must come back in these units
# every registered backend, skipped where its framework is not installed (dlae's plugin test kit)
BACKENDS = testing.backend_params(testing.make_registry())


@pytest.fixture(autouse=True)
def default_registry():
    """The CLI's process-wide registry, loaded from the installed entry points (with the plugin)."""
    reset_registry()
    yield
    reset_registry()


# -- data and configs ---------------------------------------------------------------------------------
def make_inputs(folder: Path, n: int = 16) -> dict[str, str]:
    """Tiny (16, 16, 1) images (the project's synthetic discs and squares on noise), scaled to
    [0, SCALE], in the DLAE layout: one dataset per sample named "0".."n-1". Only X files: an AE
    needs no targets."""
    files = write_example_data(folder / "raw", "segmentation", n=n, size=SIZE, seed=3)
    out = {}
    for key in ("train_X", "validation_X", "test_X"):
        path = folder / f"{key}.h5"
        with h5py.File(files[key], "r") as src, h5py.File(path, "w") as dst:
            for name in src:
                dst.create_dataset(name, data=(src[name][()] * SCALE).astype(np.float32))
        out[key] = str(path)
    return out


def channels(image: np.ndarray) -> np.ndarray:
    """(rows, cols) or (rows, cols, 1) -> (rows, cols, 1)."""
    return image[..., None] if image.ndim == 2 else image


def read_h5(path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {name: np.asarray(handle[name][()]) for name in handle}


LAYERS = [
    {"type": "Input", "shape": [SIZE, SIZE, 1]},
    {"type": "Convolution 2D", "filters": 8, "kernel": [3, 3]}, {"type": "Activation", "activation": "relu"},
    {"type": "Max pooling 2D", "pool": [2, 2]},
    {"type": "Convolution 2D", "filters": 8, "kernel": [3, 3]}, {"type": "Activation", "activation": "relu"},
    "Resize convolution 2D:8:(3, 3):(1, 1):(2, 2):same:(1, 1):he_normal:None:None:0.0:0.0",
    {"type": "Activation", "activation": "relu"},
    {"type": "Convolution 2D", "filters": 1, "kernel": [1, 1]},
]


def ae_config(data: dict, out: Path | None = None, **sections: dict) -> dict:
    """A typed AE Train config on the CPU: X files only (AE makes its targets from the inputs)."""
    config = {
        "config_file": {"model_signal": "AE", "type_signal": "Train", "input_shape": [SIZE, SIZE, 1]},
        "paths": {"train_X": data["train_X"], "validation_X": data["validation_X"]},
        "preprocessing": {"normalization_type": "global_unity_x", "minimum_image_intensity": [0.0],
                          "maximum_image_intensity": [SCALE], "categorical_switch": False},
        "augmentation": {"apply_augmentation_switch": False, "random_seed": 1},
        "loss_function": {"loss": "mean_squared_error"},
        "learning_rate_schedule": {"learning_rate": 0.01, "decay_on_plateau_switch": False},
        "optimizer": {"optimizer": "Adam"},
        "training_configurations": {"hardware": "cpu", "batch_size": 8, "epochs": 3, "validation_split": 0.0,
                                    "early_stop_switch": False},
        "save_configurations": {"save_model_switch": out is not None, "save_csv_switch": out is not None},
        "layers": {"serial_layer_list": copy.deepcopy(LAYERS)},
    }
    if out is not None:
        config["save_configurations"].update(save_model_path=str(out / "model.pt"),
                                             save_csv_path=str(out / "history.csv"))
    for section, values in sections.items():
        config.setdefault(section, {}).update(copy.deepcopy(values))
    return config


def write_config(path: Path, config: dict) -> str:
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return str(path)


def invoke(*args, expect: int = 0):
    """``dlae ARGS`` in-process; fails with output and traceback unless the exit code is ``expect``."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exit_code != expect:
        trace = ""
        if result.exc_info is not None and not isinstance(result.exception, SystemExit):
            trace = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(f"dlae {' '.join(map(str, args))}: exit code {result.exit_code}, expected {expect}\n"
                    f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n{trace}")
    return result


def errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def read_history(path) -> list[dict[str, float]]:
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


# -- registration and config checks (framework-free) ---------------------------------------------------
def test_list_techniques_shows_ae():
    names = invoke("list", "techniques", "--names").stdout.split()
    assert "AE" in names
    assert {"CNN", "FCN", "GAN", "BBD"} <= set(names)
    table = invoke("list", "techniques").stdout
    assert any([cell.strip() for cell in line.split("│")[1:2]] == ["AE"] for line in table.splitlines())
    assert "autoencoder" in table  # the plugin (entry point) that registered it


def test_validate_accepts_an_ae_config(tmp_path):
    data = make_inputs(tmp_path)
    result = invoke("validate", write_config(tmp_path / "ae.json", ae_config(data)))
    assert result.stdout.startswith("OK ")
    assert "AE Train" in result.stdout and "-> (16, 16, 1)" in result.stdout


@pytest.mark.parametrize("loss,kind", [("categorical_crossentropy", "onehot"),
                                       ("sparse_categorical_crossentropy", "sparse"), ("soft_dice", "onehot")])
def test_validate_rejects_a_categorical_loss(tmp_path, loss, kind):
    data = make_inputs(tmp_path)
    path = write_config(tmp_path / "ae.json", ae_config(data, loss_function={"loss": loss}))
    dense = sorted(n for n, info in get_registry().losses.items() if info.target == "dense")
    assert "mean_squared_error" in dense and loss not in dense
    assert errors(invoke("validate", path, expect=2)) == [
        f"error: loss_function.loss: loss {loss!r} cannot train an AE: it compares against {kind} targets, but "
        "an AE's target is its input image. Expected a dense (regression) loss: one of "
        + ", ".join(repr(n) for n in dense) + f". Received: {loss!r}."]


def test_validate_rejects_a_network_that_does_not_end_in_the_input_shape(tmp_path):
    data = make_inputs(tmp_path)
    layers = copy.deepcopy(LAYERS)
    layers[-1] = {"type": "Convolution 2D", "filters": 2, "kernel": [1, 1]}
    path = write_config(tmp_path / "ae.json", ae_config(data, layers={"serial_layer_list": layers}))
    assert errors(invoke("validate", "--skip-data", path, expect=2)) == [
        "error: layers.serial_layer_list: an AE must reconstruct its input, so the network must end in the "
        "input's shape. Expected an output shape (16, 16, 1) (e.g. a final Convolution with 1 filter(s)). "
        "Received: (16, 16, 2)."]


def test_validate_rejects_targets_other_than_the_inputs(tmp_path):
    data = make_inputs(tmp_path)
    other = ae_config(data, paths={"train_y": data["test_X"]}, preprocessing={"categorical_switch": True})
    lines = errors(invoke("validate", "--skip-data", write_config(tmp_path / "ae.json", other), expect=2))
    assert f"error: paths.train_y: an AE's targets are its inputs, so train_y is not read. Expected no train_y, " \
           f"or the train_X file {data['train_X']!r}. Received: {data['test_X']!r}." in lines
    assert ("error: preprocessing.categorical_switch: an AE's targets are its input images, not class labels. "
            "Expected False. Received: True.") in lines


def test_a_config_without_y_paths(tmp_path):
    data = make_inputs(tmp_path)
    config = ae_config(data, paths={"train_y": None, "validation_y": None})
    invoke("validate", write_config(tmp_path / "ae.json", config))


# -- the data the core's loop receives (framework-free) -------------------------------------------------
class _Placement:
    def __init__(self, on_device: bool):
        self.augments_on_device, self.note = on_device, ""


def _setup(tmp_path, on_device=False, **sections):
    from dlae_core.cli.loading import load_and_plan
    from dlae_core.running.run import Run, RunOptions

    data = make_inputs(tmp_path, n=12)
    config, plan, registry = load_and_plan(write_config(tmp_path / "ae.json", ae_config(data, **sections)),
                                           check_data=True)
    run = Run(config, plan, registry, RunOptions(backend="torch"))
    return data, registry.techniques["AE"].training_data(run, _Placement(on_device))


def test_training_targets_are_the_preprocessed_inputs(tmp_path):
    data, setup = _setup(tmp_path, training_configurations={"validation_split": 0.25})
    raw = read_h5(data["train_X"])
    assert len(setup.train) == 9 and len(setup.validation) == 3  # the core's split of the 12 names
    assert not set(setup.train.split.names) & set(setup.validation.split.names)
    for samples in (setup.train, setup.validation):
        for index in range(len(samples)):
            item = samples[index]
            name = samples.name(index) if hasattr(samples, "name") else samples.split.names[index]
            np.testing.assert_array_equal(item["y"], item["x"])
            np.testing.assert_allclose(item["x"], channels(raw[name]) / SCALE, rtol=1e-6, atol=1e-6)


def test_augmentation_moves_input_and_target_together(tmp_path):
    geometry = {"apply_augmentation_switch": True, "rotation_range": 30, "width_shift": 0.2, "height_shift": 0.2,
                "zoom_range": 0.2, "horizontal_flip_switch": True, "vertical_flip_switch": True, "random_seed": 4}
    _, setup = _setup(tmp_path, augmentation=geometry,
                      preprocessing={"normalization_type": "samplewise_unity_x"})
    changed = 0
    for index in range(len(setup.train)):
        item = setup.train[index]
        np.testing.assert_array_equal(item["y"], item["x"])  # the same warp, flips and normalization
        pre = setup.train.preprocessor
        plain = pre.finish(pre.standardize(pre.read_x(setup.train.split, setup.train.name(index))))[0]
        changed += not np.allclose(item["x"], plain)
    assert changed >= len(setup.train) - 1  # the inputs really were augmented


def test_intensity_augmentation_changes_only_the_input(tmp_path):
    _, setup = _setup(tmp_path, augmentation={"apply_augmentation_switch": True, "brightness_range": [0.5, 0.6],
                                              "horizontal_flip_switch": True, "vertical_flip_switch": False})
    for index in range(len(setup.train)):
        item, params = setup.train[index], setup.train.params(index)
        np.testing.assert_allclose(item["x"], item["y"] * np.float32(params.brightness), rtol=1e-5, atol=1e-6)


def test_on_device_items_carry_the_input_as_target(tmp_path):
    _, setup = _setup(tmp_path, on_device=True, augmentation={"apply_augmentation_switch": True,
                                                              "rotation_range": 20})
    assert setup.on_device
    item = setup.train[0]
    np.testing.assert_array_equal(item["y"], item["x"])
    assert item["matrix"].shape == (3, 3)
    # the backend warps the target like the input (bilinear) and normalizes both alike
    assert setup.preprocessor.target_kind == "dense"
    assert setup.preprocessor.y_norm == setup.preprocessor.x_norm


# -- training and prediction through the CLI, on every installed backend ----------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_train_and_predict(tmp_path, backend):
    data = make_inputs(tmp_path, n=64)
    out = tmp_path / "out"
    augmentation = {"apply_augmentation_switch": True, "horizontal_flip_switch": True,
                    "vertical_flip_switch": True, "rounds": 2, "random_seed": 1}
    config = ae_config(data, out, augmentation=augmentation)
    invoke("run", "--backend", backend, write_config(tmp_path / "train.json", config), "--quiet",
           "--workers", 0)

    assert (out / "model.pt").is_file()
    history = read_history(out / "history.csv")
    assert len(history) == 3 and "val_loss" in history[0] and "accuracy" not in history[0]
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]

    inference = ae_config(data, config_file={"type_signal": "Inference"},
                          paths={"load_model": str(out / "model.pt"), "test_X": data["test_X"]})
    predictions = tmp_path / "reconstructions.h5"
    result = invoke("predict", "--backend", backend, write_config(tmp_path / "predict.json", inference),
                    "--predictions", predictions, "--quiet")
    inputs, outputs = read_h5(data["test_X"]), read_h5(predictions)
    assert f"wrote {len(inputs)} predictions" in result.stdout
    assert sorted(outputs, key=int) == [str(i) for i in range(len(inputs))]
    with h5py.File(predictions, "r") as handle:
        assert handle.attrs["technique"] == "AE" and handle.attrs["backend"] == backend
    x = np.stack([channels(inputs[name]) for name in sorted(inputs, key=int)])
    y = np.stack([outputs[name] for name in sorted(inputs, key=int)])
    assert y.shape == x.shape and y.dtype == np.float32
    # reconstructions in the units of X (the global normalization is inverted), better than the best
    # constant image (whose MSE is the variance of the data)
    mse = float(np.mean((y - x) ** 2))
    assert mse < 0.6 * float(np.var(x)), (mse, float(np.var(x)))
