"""Map-style BBD datasets (dlae_core.techniques.bbd.datasets) on small HDF5 files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dlae_core.plugin import builtin
from dlae_core.techniques.bbd.anchors import make_anchors
from dlae_core.techniques.bbd.datasets import (DetectionEvaluationSamples, DetectionPredictionSamples, DetectionTrainingSamples,
                                    count_max_boxes, unpad_boxes)
from dlae_core.techniques.bbd.decode import decode
from dlae_core.techniques.bbd.metrics import mean_average_precision
from dlae_core.config.parser import parse_config
from dlae_core.data.preprocess import Preprocessor
from dlae_core.data.splits import make_splits
from dlae_core.errors import DataError
from dlae_core.planning.plan import plan_model
from dlae_core.plugin.registry import Registry, make_plugin_manager

REGISTRY = Registry(make_plugin_manager(load_entrypoints=False, plugins=[builtin]))
LAYERS = ["Input:(32, 32, 1)", "Convolution 2D:8:(3, 3)", "Max pooling 2D", "Hook connection source",
          "Max pooling 2D", "Convolution 2D:8:(3, 3)", "Hook connection source"]
BOXES = [np.array([[1, 4, 4, 14, 12], [2, 16, 18, 30, 30]], np.float32), np.array([2, 8, 8, 20, 24], np.float32),
         np.zeros((0, 5), np.float32), np.array([[1, 0, 0, 32, 32]], np.float32)]


def write_h5(path, samples) -> str:
    with h5py.File(path, "w") as handle:
        for i, array in enumerate(samples):
            handle.create_dataset(str(i), data=np.asarray(array))
    return str(path)


def setup(tmp_path, boxes=BOXES):
    rng = np.random.default_rng(0)
    xs = write_h5(tmp_path / "x.h5", [rng.integers(0, 255, (32, 32)).astype(np.uint8) for _ in boxes])
    ys = write_h5(tmp_path / "y.h5", boxes)
    raw = {"config_file": {"model_signal": "BBD", "type_signal": "Train", "input_shape": [32, 32, 1]},
           "paths": {"train_X": xs, "train_y": ys, "validation_X": xs, "validation_y": ys, "test_X": xs},
           "preprocessing": {"normalization_type": "global_unity_x", "minimum_image_intensity": [0],
                             "maximum_image_intensity": [255]},
           "loss_function": {"loss": "ssd", "parameter1": 3, "parameter2": 1},
           "training_configurations": {"validation_split": 0.0, "shuffle_data_switch": True},
           "bbd_options": {"number_classes": 2, "steps": None, "aspect_ratios": [0.5, 1.0, 2.0],
                           "scales": [0.2, 0.8], "confidence_threshold": 0.5, "top_k": 0},
           "layers": {"serial_layer_list": LAYERS}}
    config = parse_config(raw, REGISTRY)
    plan = plan_model(config, REGISTRY)
    pre = Preprocessor(config, plan, REGISTRY)
    anchors = make_anchors(config.bbd_options, (32, 32), plan.main.hook_shapes())
    return config, pre, anchors


def test_training_samples_encode_augment_and_are_deterministic(tmp_path):
    config, pre, anchors = setup(tmp_path)
    split = make_splits(config)["train"]
    assert len(anchors) == (16 * 16 + 8 * 8) * 3
    data = DetectionTrainingSamples(pre, split, config.bbd_options, anchors, (32, 32), 2, seed=7, rounds=2)
    assert len(data) == 8
    item = data[0]
    assert item["x"].shape == (32, 32, 1) and item["x"].dtype == np.float32
    assert item["y"].shape == (len(anchors), 3 + 4) and item["y"].dtype == np.float32
    assert 0 <= item["x"].min() and item["x"].max() <= 1  # normalized before augmentation
    again = DetectionTrainingSamples(pre, split, config.bbd_options, anchors, (32, 32), 2, seed=7, rounds=2)
    for i in range(len(data)):
        np.testing.assert_array_equal(again[i]["y"], data[i]["y"])
        np.testing.assert_array_equal(again[i]["x"], data[i]["x"])
    first = [data[i]["y"] for i in range(len(data))]
    data.set_epoch(1)
    assert any(not np.array_equal(a, data[i]["y"]) for i, a in enumerate(first))
    plain = DetectionTrainingSamples(pre, split, config.bbd_options, anchors, (32, 32), 2, seed=7, augment=False)
    x, boxes = plain.sample(0)
    np.testing.assert_array_equal(boxes, BOXES[int(plain.name(0))].reshape(-1, 5))


def test_evaluation_samples_pad_boxes_and_give_map_one_for_targets(tmp_path):
    config, pre, anchors = setup(tmp_path)
    split = make_splits(config)["validation"]
    assert count_max_boxes(split) == 2
    data = DetectionEvaluationSamples(pre, split, config.bbd_options, anchors, (32, 32), 2)
    items = [data[i] for i in range(len(data))]
    assert items[1]["boxes"].shape == (2, 5) and int(items[1]["n_boxes"]) == 1
    assert int(items[2]["n_boxes"]) == 0
    truths = unpad_boxes(np.stack([it["boxes"] for it in items]), np.stack([it["n_boxes"] for it in items]))
    for got, want in zip(truths, BOXES):
        np.testing.assert_array_equal(got, want.reshape(-1, 5))
    y = np.stack([it["y"] for it in items])
    detections = decode(y[..., :3], y[..., 3:], anchors, config.bbd_options, (32, 32))
    m, per_class = mean_average_precision(detections, truths, 2)
    assert m == pytest.approx(1.0)


def test_prediction_samples_and_bad_boxes(tmp_path):
    config, pre, anchors = setup(tmp_path)
    test = make_splits(config, "Inference")["test"]
    item = DetectionPredictionSamples(pre, test)[3]
    assert item["name"] == "3" and item["x"].shape == (32, 32, 1)
    bad = tmp_path / "bad"
    bad.mkdir()
    config, pre, anchors = setup(bad, BOXES[:1] + [np.array([[3, 1, 1, 5, 5]], np.float32)])
    data = DetectionEvaluationSamples(pre, make_splits(config)["validation"], config.bbd_options, anchors, (32, 32), 2)
    with pytest.raises(DataError, match="sample '1'.*class 3"):
        data[1]
