"""Data-parallel training on TensorFlow (tf.distribute), on the CPU: a MirroredStrategy over two
logical CPU devices of one process (``$DLAE_CPU_DEVICES=2``), and a MultiWorkerMirroredStrategy over
two local workers started by ``dlae run --processes 2`` (TF_CONFIG). Two replicas with half the
batch each reach the weights of one device with the whole batch; rank 0 alone writes. The rules
are tested without processes in tests/test_distributed_rules.py; torch: torch_only/test_torch_distributed.py.

Each run is a process of its own: TensorFlow's devices are laid out once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from support import (cnn_layers, fcn_layers, gan_config, make_config, make_data, read_csv, save_to,  # noqa: E402
                     saved_weights, train, write_config)

TOLERANCE = 1e-5


def dlae(*args, env: dict | None = None, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlae_core.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def assert_same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert np.allclose(a[key], b[key], rtol=0, atol=TOLERANCE), f"{key}: max |diff| {np.abs(a[key] - b[key]).max()}"


def test_two_logical_devices_train_the_weights_of_one(tmp_path):
    data = make_data(tmp_path / "data", "classification", n=16, size=16)

    def cnn(out):
        return make_config("CNN", (16, 16, 1), cnn_layers(), data, save_configurations=save_to(out),
                           training_configurations={"hardware": "cpu", "batch_size": 8, "epochs": 2,
                                                    "validation_split": 0.25, "early_stop_switch": False},
                           augmentation={"apply_augmentation_switch": True, "random_seed": 1, "rotation_range": 10})

    train("tensorflow", cnn(tmp_path / "one"), tmp_path / "one.json")
    result = dlae("run", "--backend", "tensorflow", write_config(tmp_path / "two.json", cnn(tmp_path / "two")),
                  "--quiet", "--workers", 0, env={"DLAE_CPU_DEVICES": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("data-parallel: 2 replicas (MirroredStrategy over 2 logical CPU devices), "
                                    "4 samples each = global batch 8 per step")
    assert_same(saved_weights("tensorflow", tmp_path / "two" / "model.pt"),
                saved_weights("tensorflow", tmp_path / "one" / "model.pt"))
    _, rows = read_csv(tmp_path / "two" / "history.csv")
    _, expected = read_csv(tmp_path / "one" / "history.csv")
    for got, want in zip(rows, expected, strict=True):
        assert got == pytest.approx(want, abs=TOLERANCE)


def test_a_gan_on_two_logical_devices_trains_the_generator_of_one(tmp_path):
    data = make_data(tmp_path / "data", "translation", n=8, size=16)

    def pix2pix(out):
        config = gan_config(data, "pix2pix", epochs=1, validation=False, save_configurations=save_to(out))
        config["training_configurations"]["batch_size"] = 4
        return config

    train("tensorflow", pix2pix(tmp_path / "one"), tmp_path / "one.json")
    result = dlae("run", "--backend", "tensorflow", write_config(tmp_path / "two.json", pix2pix(tmp_path / "two")),
                  "--quiet", "--workers", 0, env={"DLAE_CPU_DEVICES": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same(saved_weights("tensorflow", tmp_path / "two" / "model.pt"),
                saved_weights("tensorflow", tmp_path / "one" / "model.pt"))


def test_two_workers_with_synchronized_batch_norm_train_the_weights_of_one_and_write_once(tmp_path):
    data = make_data(tmp_path / "data", "segmentation", n=12, size=16)
    layers = fcn_layers()
    layers.insert(3, "Batch normalization:0.99:0.001")

    def fcn(out):
        return make_config("FCN", (16, 16, 1), layers, data, save_configurations=save_to(out, checkpoint=True),
                           training_configurations={"hardware": "cpu", "batch_size": 4, "epochs": 2,
                                                    "validation_split": 0.25, "early_stop_switch": False,
                                                    "synchronized_batch_normalization": True})

    train("tensorflow", fcn(tmp_path / "one"), tmp_path / "one.json")
    two = tmp_path / "two"
    result = dlae("run", "--backend", "tensorflow", write_config(tmp_path / "two.json", fcn(two)), "--quiet",
                  "--workers", 0, "--processes", 2)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("data-parallel: 2 replicas (MultiWorkerMirroredStrategy, CPU)")
    weights = saved_weights("tensorflow", two / "model.pt")
    assert any("moving_variance" in key for key in weights)
    assert_same(weights, saved_weights("tensorflow", tmp_path / "one" / "model.pt"))
    assert sum(line.startswith("epoch 1/2:") for line in result.stderr.splitlines()) == 1
    assert {p.name for p in two.iterdir()} == {"best.pt", "history.csv", "model.pt", "model.pt.report",
                                               "model.pt.run.json"}
    record = json.loads((two / "model.pt.run.json").read_text())
    assert record["status"] == "finished" and record["device"]["data_parallel"]["launcher"] == "tf_config"
