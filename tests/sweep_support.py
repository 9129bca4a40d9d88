"""Tiny FCN data and configs for the experiment and sweep tests (one-epoch U-Nets on 16x16 images)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dlae_core.data.synthetic import write_example_data

ROOT = Path(__file__).resolve().parents[1]

LAYERS = [
    "Input:(16, 16, 1)",
    "Convolution 2D:8:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.0:0.0", "Activation:relu",
    "Outer skip source:concatenate", "Max pooling 2D:(2, 2):(2, 2)",
    {"type": "Convolution 2D", "filters": 8, "kernel": [3, 3]}, "Activation:relu",
    "Resize convolution 2D:8:(3, 3):(1, 1):(2, 2):same:(1, 1):he_normal:None:None:0.0:0.0",
    "Outer skip target:concatenate",
    "Convolution 2D:3:(1, 1):(1, 1):same:(1, 1):glorot_uniform:None:None:0.0:0.0", "Activation:softmax",
]


def write_base(folder: Path, *, epochs: int = 1, n: int = 16, **sections) -> Path:
    """Data in folder/data and a typed FCN config folder/base.json (relative paths, outputs in out/)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = write_example_data(folder / "data", "segmentation", n=n, size=16, seed=0, classes=3)
    rel = {key: os.path.relpath(path, folder) for key, path in files.items()}
    config = {
        "config_file": {"model_signal": "FCN", "type_signal": "Train", "input_shape": [16, 16, 1]},
        "paths": {"train_X": rel["train_X"], "train_y": rel["train_y"],
                  "validation_X": rel["validation_X"], "validation_y": rel["validation_y"]},
        "preprocessing": {"categorical_switch": False, "categories": 3},
        "augmentation": {"apply_augmentation_switch": False},
        "loss_function": {"loss": "sparse_categorical_crossentropy"},
        "learning_rate_schedule": {"learning_rate": 0.003, "decay_on_plateau_switch": False},
        "training_configurations": {"hardware": "cpu", "batch_size": 8, "epochs": epochs, "early_stop_switch": False},
        "save_configurations": {"save_model_switch": True, "save_model_path": "out/model.pt",
                                "save_csv_switch": True, "save_csv_path": "out/history.csv"},
        "layers": {"serial_layer_list": LAYERS},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    path = folder / "base.json"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


def write_sweep(folder: Path, name: str = "sweep.json", **keys) -> Path:
    data = {"config": "base.json", "heartbeat": 1, **keys}
    path = folder / name
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def dlae(*args, cwd=None, timeout: float = 300, **popen) -> subprocess.CompletedProcess:
    """``dlae ARGS`` in a child Python (output captured)."""
    return subprocess.run([sys.executable, "-m", "dlae_core.cli.main", *map(str, args)], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout, **popen)


def start(*args, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dlae_core.cli.main", *map(str, args)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)


def read_trials(folder: Path) -> list[dict]:
    import csv

    with open(folder / "trials.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
