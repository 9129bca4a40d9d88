"""Helpers of the torch end-to-end tests (test_training.py, test_inference.py,
test_training_errors.py): tiny generated data, typed configs written as JSON, and the
``dlae`` CLI driven in-process through click's CliRunner.

Framework-free at import time (the test modules import torch themselves)."""

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

from dlae_core.cli.main import cli
from dlae_core.data.synthetic import write_example_data


# -- data ------------------------------------------------------------------------------------
def make_data(folder: Path, kind: str, n: int = 32, size: int = 16, seed: int = 0, classes: int = 3) -> dict:
    """write_example_data into ``folder``; returns {key: str(path)}."""
    files = write_example_data(folder, kind, n=n, size=size, seed=seed, classes=classes)
    return {key: str(path) for key, path in files.items()}


def read_h5(path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {name: np.asarray(handle[name][()]) for name in handle.keys()}


def write_h5(path, samples: dict) -> str:
    with h5py.File(path, "w") as handle:
        for name, array in samples.items():
            handle.create_dataset(str(name), data=np.asarray(array))
    return str(path)


# -- layer lists -----------------------------------------------------------------------------
def cnn_layers(size: int = 16, classes: int = 3, channels: int = 1, final: str | None = "softmax",
               extra: list | None = None) -> list:
    layers = [
        {"type": "Input", "shape": [size, size, channels]},
        {"type": "Convolution 2D", "filters": 8, "kernel": [3, 3]},
        {"type": "Activation", "activation": "relu"},
        *(extra or []),
        {"type": "Max pooling 2D", "pool": [2, 2]},
        {"type": "Convolution 2D", "filters": 16, "kernel": [3, 3]},
        {"type": "Activation", "activation": "relu"},
        {"type": "Global average pooling 2D"},
        {"type": "Dense", "units": classes},
    ]
    if final:
        layers.append({"type": "Activation", "activation": final})
    return layers


def fcn_layers(size: int = 16, classes: int = 3, final: str = "softmax") -> list:
    """A two-level U-Net (README's example) on (size, size, 1)."""
    return [
        f"Input:({size}, {size}, 1)",
        "Convolution 2D:16:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.0:0.0", "Activation:relu",
        "Outer skip source:concatenate", "Max pooling 2D:(2, 2):(2, 2)",
        {"type": "Convolution 2D", "filters": 32, "kernel": [3, 3]}, "Activation:relu",
        "Resize convolution 2D:16:(3, 3):(1, 1):(2, 2):same:(1, 1):he_normal:None:None:0.0:0.0",
        "Outer skip target:concatenate",
        f"Convolution 2D:{classes}:(1, 1):(1, 1):same:(1, 1):glorot_uniform:None:None:0.0:0.0",
        f"Activation:{final}",
    ]


def fcn3d_layers(size: int, depth: int, classes: int = 3) -> list:
    return [
        f"Input:({size}, {size}, {depth}, 1)",
        "Convolution 3D:4:(3, 3, 3):(1, 1, 1):same:(1, 1, 1):he_normal:None:None:0.0:0.0", "Activation:relu",
        "Outer skip source:concatenate", "Max pooling 3D:(2, 2, 2):(2, 2, 2)",
        "Convolution 3D:8:(3, 3, 3):(1, 1, 1):same:(1, 1, 1):he_normal:None:None:0.0:0.0", "Activation:relu",
        "Resize convolution 3D:4:(3, 3, 3):(1, 1, 1):(2, 2, 2):same:(1, 1, 1):he_normal:None:None:0.0:0.0",
        "Outer skip target:concatenate",
        f"Convolution 3D:{classes}:(1, 1, 1):(1, 1, 1):same:(1, 1, 1):glorot_uniform:None:None:0.0:0.0",
        "Activation:softmax",
    ]


# -- configs ---------------------------------------------------------------------------------
def make_config(model: str, input_shape, layers: list, data: dict, **sections: dict) -> dict:
    """A typed Train config on the CPU (no validation files unless ``data`` has them); each keyword
    updates the keys of that section."""
    config = {
        "config_file": {"model_signal": model, "type_signal": "Train", "input_shape": list(input_shape)},
        "paths": {key: data.get(key) for key in ("train_X", "train_y", "validation_X", "validation_y", "test_X")},
        "preprocessing": {"image_context": "3D" if len(input_shape) == 4 else "2D",
                          "normalization_type": "samplewise_unity_x", "categorical_switch": False,
                          "categories": 3},
        "augmentation": {"apply_augmentation_switch": False, "random_seed": 1},
        "loss_function": {"loss": "sparse_categorical_crossentropy"},
        "learning_rate_schedule": {"learning_rate": 0.003, "decay_on_plateau_switch": False},
        "optimizer": {"optimizer": "Adam"},
        "training_configurations": {"hardware": "cpu", "batch_size": 8, "epochs": 2, "validation_split": 0.0,
                                    "early_stop_switch": False},
        "monitors": {"accuracy_switch": True},
        "save_configurations": {"save_model_switch": False},
        "layers": {"serial_layer_list": copy.deepcopy(layers)},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(copy.deepcopy(values))
    return config


def save_to(out: Path, *, model: bool = True, csv_: bool = True, checkpoint: bool = False,
            tensorboard: bool = False) -> dict:
    """A save_configurations section writing into ``out`` (model.pt, history.csv, best.pt, tb/)."""
    section = {"save_model_switch": model, "save_csv_switch": csv_, "save_checkpoints_switch": checkpoint,
               "save_tensorboard_switch": tensorboard}
    if model:
        section["save_model_path"] = str(out / "model.pt")
    if csv_:
        section["save_csv_path"] = str(out / "history.csv")
    if checkpoint:
        section["save_checkpoints_path"] = str(out / "best.pt")
    if tensorboard:
        section["save_tensorboard_path"] = str(out / "tb")
    return section


def write_config(path: Path, config: dict) -> str:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return str(path)


# -- the CLI ---------------------------------------------------------------------------------
def invoke(*args, expect: int = 0):
    """Run ``dlae ARGS`` in-process; fail with the output and traceback unless the exit code is
    exactly ``expect``."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exit_code != expect:
        trace = ""
        if result.exc_info is not None and not isinstance(result.exception, SystemExit):
            trace = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(f"dlae {' '.join(map(str, args))}: exit code {result.exit_code}, expected {expect}\n"
                    f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n{trace}")
    return result


def train(config: dict, path: Path, *extra, expect: int = 0, workers: int = 0):
    """Write ``config`` to ``path`` and ``dlae run --backend torch --quiet --workers N`` it."""
    return invoke("run", "--backend", "torch", write_config(path, config), "--quiet", "--workers", workers,
                  *extra, expect=expect)


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


# -- outputs ---------------------------------------------------------------------------------
def read_csv(path) -> tuple[list[str], list[dict[str, float]]]:
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [{k: float(v) for k, v in zip(header, row)} for row in reader if row]
    return header, rows


def load_weights(path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def assert_same_weights(a: dict, b: dict) -> None:
    import torch

    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), f"{key} differs: max |diff| {(a[key] - b[key]).abs().max()}"


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """relative path -> (mtime_ns, bytes) of every file under ``folder``."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}
