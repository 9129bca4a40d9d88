"""Splits and map-style datasets (dlae_core.data.splits, dlae_core.data.datasets)."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest

from dlae_core.plugin import builtin
from dlae_core.config.parser import parse_config
from dlae_core.data.augment import AugmentParams, apply_params
from dlae_core.data.datasets import (EvaluationSamples, PredictionSamples, TrainingSamples, class_weights,
                                     feature_stats)
from dlae_core.data.preprocess import Preprocessor
from dlae_core.data.splits import DataSplit, make_splits, validation_count
from dlae_core.errors import DataError
from dlae_core.planning.plan import plan_model
from dlae_core.plugin.registry import Registry, make_plugin_manager

REGISTRY = Registry(make_plugin_manager(load_entrypoints=False, plugins=[builtin]))
FCN = ["Input:(16, 16, 1)", "Convolution 2D:3:(3, 3)", "Activation:softmax"]
AUGMENT = {"apply_augmentation_switch": True, "rotation_range": 30, "width_shift": 0.1, "height_shift": 2.0,
           "shear_range": 5.0, "zoom_range": 0.2, "brightness_range": [0.8, 1.2], "channel_shift_range": 0.2,
           "random_seed": 11}


def config_for(session="Train", paths=None, **sections):
    raw = {"config_file": {"model_signal": "FCN", "type_signal": session}, "paths": paths or {},
           "layers": {"serial_layer_list": FCN}, **sections}
    return parse_config(raw, REGISTRY)


def write_h5(path, samples: dict) -> str:
    with h5py.File(path, "w") as handle:
        for name, array in samples.items():
            handle.create_dataset(str(name), data=np.asarray(array))
    return str(path)


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(4)
    xs = write_h5(tmp_path / "x.h5", {i: rng.random((16, 16)) * 100 for i in range(6)})
    ys = write_h5(tmp_path / "y.h5", {i: rng.integers(0, 3, (16, 16)) for i in range(6)})
    return xs, ys


def training_setup(data, **overrides):
    xs, ys = data
    sections = {"preprocessing": {"categorical_switch": True, "categories": 3},
                "augmentation": AUGMENT, "training_configurations": {"validation_split": 0.0}}
    sections.update(overrides)
    config = config_for(paths={"train_X": xs, "train_y": ys}, **sections)
    pre = Preprocessor(config, plan_model(config, REGISTRY), REGISTRY)
    return config, pre, make_splits(config)["train"]


def test_split_sizes_order_and_determinism(tmp_path):
    xs = write_h5(tmp_path / "x.h5", {i: np.zeros(2) for i in range(11)})
    paths = {"train_X": xs, "train_y": xs}
    config = config_for(paths=paths, training_configurations={"validation_split": 0.25})
    splits = make_splits(config)
    assert len(splits["validation"]) == 3 and len(splits["train"]) == 8  # ceil(11 * 0.25) = 3
    assert sorted(splits["validation"].names + splits["train"].names, key=int) == [str(i) for i in range(11)]
    assert make_splits(config) == splits
    other = config_for(paths=paths, training_configurations={"validation_split": 0.25},
                       augmentation={"random_seed": 99})
    assert make_splits(other)["validation"].names != splits["validation"].names
    plain = make_splits(config_for(paths=paths, training_configurations={"validation_split": 0.25,
                                                                          "shuffle_data_switch": False}))
    assert plain["validation"].names == ("0", "1", "2") and plain["train"].names[-1] == "10"
    assert validation_count(10, 0.3) == 3 and validation_count(10, 0.25) == 3


def test_validation_files_inference_and_missing_paths(tmp_path):
    xs = write_h5(tmp_path / "x.h5", {i: np.zeros(2) for i in range(3)})
    vx = write_h5(tmp_path / "vx.h5", {i: np.zeros(2) for i in (10, 2)})
    split0 = {"validation_split": 0.0}
    splits = make_splits(config_for(paths={"train_X": xs, "train_y": xs, "validation_X": vx, "validation_y": vx},
                                    training_configurations=split0))
    assert splits["validation"] == DataSplit(vx, vx, ("2", "10")) and len(splits["train"]) == 3
    assert set(make_splits(config_for(paths={"train_X": xs, "train_y": xs},
                                      training_configurations=split0))) == {"train"}
    test = make_splits(config_for("Inference", paths={"test_X": xs}))
    assert set(test) == {"test"} and test["test"].y_path is None
    with pytest.raises(DataError, match="test_X"):
        make_splits(config_for("Inference"))
    with pytest.raises(DataError, match="none for training"):
        make_splits(config_for(paths={"train_X": vx, "train_y": vx},
                               training_configurations={"validation_split": 0.9}))


def test_epoch_order_is_seeded_per_epoch_and_rounds(data):
    config, pre, split = training_setup(data)
    samples = TrainingSamples(pre, split, config.augmentation, 11, rounds=2, augment=True)
    assert len(samples) == 12
    first = samples.order.copy()
    assert sorted(first[:6]) == list(range(6)) and sorted(first[6:]) == list(range(6))
    samples.set_epoch(1)
    assert not np.array_equal(samples.order, first)
    samples.set_epoch(0)
    assert np.array_equal(samples.order, first)
    unshuffled = TrainingSamples(pre, split, config.augmentation, 11, rounds=2, shuffle=False)
    assert unshuffled.order.tolist() == list(range(6)) * 2


def test_items_depend_on_seed_epoch_and_index_only(data):
    config, pre, split = training_setup(data)
    a = TrainingSamples(pre, split, config.augmentation, 11, rounds=1)
    b = TrainingSamples(pre, split, config.augmentation, 11, rounds=1)
    later = a[3]
    for i in (0, 1, 2):
        b[i]
    assert np.array_equal(b[3]["x"], later["x"]) and np.array_equal(b[3]["y"], later["y"])
    a.set_epoch(2)
    assert not np.array_equal(a.params(3).matrix, b.params(3).matrix)
    assert later["x"].shape == (16, 16, 1) and later["y"].shape == (16, 16, 3)
    assert set(np.unique(later["y"])) <= {0.0, 1.0} and np.allclose(later["y"].sum(-1), 1.0)


def test_on_device_items_finish_to_the_cpu_result(data):
    config, pre, split = training_setup(data)
    cpu = TrainingSamples(pre, split, config.augmentation, 11, rounds=2, augment=True)
    gpu = TrainingSamples(pre, split, config.augmentation, 11, rounds=2, augment=True, on_device=True)
    for epoch in (0, 3):
        cpu.set_epoch(epoch)
        gpu.set_epoch(epoch)
        for i in (0, 7):
            item = gpu[i]
            assert item["matrix"].shape == (3, 3) and item["matrix"].dtype == np.float32
            params = AugmentParams.from_arrays(item)
            x, y = apply_params(item["x"], item["y"], params, pre.fill_mode, pre.cval, pre.target_kind)
            x, y = pre.finish(x, y)
            want = cpu[i]
            assert np.allclose(x, want["x"], atol=1e-5) and np.array_equal(y, want["y"])


def test_without_augmentation_items_are_the_evaluation_samples(data):
    config, pre, split = training_setup(data)
    train = TrainingSamples(pre, split, config.augmentation, 11, augment=False, shuffle=False)
    evaluation = EvaluationSamples(pre, split)
    assert len(evaluation) == 6
    for i in range(len(evaluation)):
        assert np.array_equal(train[i]["x"], evaluation[i]["x"])
        assert np.array_equal(train[i]["y"], evaluation[i]["y"])
    assert np.allclose(evaluation[0]["x"].min(), 0.0) and np.allclose(evaluation[0]["x"].max(), 1.0)
    device = TrainingSamples(pre, split, config.augmentation, 11, augment=False, on_device=True)
    assert np.array_equal(device[0]["matrix"], np.eye(3, dtype=np.float32)) and not device[0]["hflip"]


def test_prediction_samples_yield_names_and_centered_inputs(data):
    xs, _ = data
    config = config_for("Inference", paths={"test_X": xs, "load_model": xs},
                        augmentation={"samplewise_centering_switch": True},
                        preprocessing={"normalization_type": "none"})
    pre = Preprocessor(config, plan_model(config, REGISTRY), REGISTRY)
    samples = PredictionSamples(pre, make_splits(config)["test"])
    item = samples[-1]
    assert item["name"] == "5" and item["x"].shape == (16, 16, 1) and abs(float(item["x"].mean())) < 1e-4
    with pytest.raises(IndexError):
        samples[6]


def test_class_weights_by_hand(tmp_path, data):
    _, pre, _ = training_setup(data)
    ys = write_h5(tmp_path / "labels.h5", {0: [[0, 0], [0, 1]], 1: [[2, 2], [0, 1]]})
    split = DataSplit(ys, ys, ("0", "1"))
    # T = 8, counts (4, 2, 2): w = 8 / (3 * n_c)
    assert np.allclose(class_weights(pre, split, 3), [8 / 12, 8 / 6, 8 / 6])
    with pytest.raises(DataError, match="class 3 never occurs"):
        class_weights(pre, split, 4)
    with pytest.raises(DataError, match="class label 2"):
        class_weights(pre, split, 2)


def test_feature_stats_stream_per_channel(tmp_path, data):
    _, pre, _ = training_setup(data)
    rng = np.random.default_rng(8)
    samples = {i: rng.random((16, 16)) * (i + 1) + i for i in range(4)}
    xs = write_h5(tmp_path / "stats.h5", samples)
    stats = feature_stats(pre, DataSplit(xs, None, [str(i) for i in range(4)]))
    stacked = np.stack(list(samples.values()))
    assert stats.mean.shape == (1,) and np.allclose(stats.mean, stacked.mean(), rtol=1e-6)
    assert np.allclose(stats.std, stacked.std(), rtol=1e-6)


def test_training_samples_pickle(data):
    config, pre, split = training_setup(data)
    samples = TrainingSamples(pre, split, config.augmentation, 11)
    want = samples[2]
    copy = pickle.loads(pickle.dumps(samples))
    assert np.array_equal(copy[2]["x"], want["x"])
