"""Example data sets: layout, determinism, no silent overwrite, learnable content, checks pass."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import dlae_core.plugin.builtin
from dlae_core.config.parser import parse_config
from dlae_core.data.checks import check_data
from dlae_core.data.hdf5 import SampleFile, sample_names
from dlae_core.data.synthetic import KINDS, write_example_data
from dlae_core.errors import DataError
from dlae_core.planning.plan import plan_model
from dlae_core.plugin.registry import Registry, make_plugin_manager

REGISTRY = Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin]))

LAYOUT = {  # kind -> (X shape, X dtype, y shape or None for boxes, y dtype)
    "classification": ((16, 16, 1), np.uint8, (1,), np.int64),
    "segmentation": ((16, 16, 1), np.float32, (16, 16), np.uint8),
    "segmentation3d": ((16, 16, 8, 1), np.float32, (16, 16, 8), np.uint8),
    "regression": ((16, 16, 1), np.float32, (2,), np.float32),
    "translation": ((16, 16, 1), np.float32, (16, 16, 1), np.float32),
    "detection": ((32, 32, 1), np.float32, None, np.float32),
}


def load(path) -> list[np.ndarray]:
    with SampleFile(path) as data:
        return [data.read(n) for n in data.names()]


@pytest.mark.parametrize("kind", KINDS)
def test_layout(tmp_path, kind):
    paths = write_example_data(tmp_path, kind, n=12)
    expected = {"train_X", "train_y", "validation_X", "validation_y", "test_X"}
    assert set(paths) == expected | ({"test_y"} if kind == "detection" else set())
    assert all(p.exists() and p.parent == tmp_path for p in paths.values())
    counts = {"train": 12, "validation": 3, "test": 3}
    for key, path in paths.items():
        assert sample_names(path) == [str(i) for i in range(counts[key.split("_")[0]])]
    x_shape, x_dtype, y_shape, y_dtype = LAYOUT[kind]
    for x, y in zip(load(paths["train_X"]), load(paths["train_y"])):
        assert x.shape == x_shape and x.dtype == x_dtype
        assert y.dtype == y_dtype
        if y_shape is None:
            assert y.ndim == 2 and y.shape[1] == 5 and 1 <= len(y) <= 3
        else:
            assert y.shape == y_shape
        if x.dtype == np.float32:
            assert 0.0 <= x.min() and x.max() <= 1.0


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    first = write_example_data(tmp_path / "a", "detection", n=6, seed=3)
    again = write_example_data(tmp_path / "b", "detection", n=6, seed=3)
    other = write_example_data(tmp_path / "c", "detection", n=6, seed=4)
    for key in first:
        for a, b in zip(load(first[key]), load(again[key])):
            np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(load(first["train_X"]), load(other["train_X"])))
    # the splits are different samples, not copies
    assert not np.array_equal(load(first["train_X"])[0], load(first["validation_X"])[0])


def test_never_overwrites_silently(tmp_path):
    paths = write_example_data(tmp_path, "regression", n=4)
    before = paths["train_y"].stat().st_mtime_ns
    paths["validation_X"].unlink()  # one file missing: still nothing is written
    with pytest.raises(DataError) as excinfo:
        write_example_data(tmp_path, "regression", n=4, seed=9)
    wheres = [p.where for p in excinfo.value.problems]
    assert str(paths["train_X"]) in wheres and str(paths["validation_X"]) not in wheres
    assert "already exists" in excinfo.value.problems[0].what
    assert not paths["validation_X"].exists() and paths["train_y"].stat().st_mtime_ns == before
    again = write_example_data(tmp_path, "regression", n=4, seed=9, overwrite=True)
    assert again["validation_X"].exists()
    assert len(sample_names(again["train_X"])) == 4


def test_bad_arguments(tmp_path):
    with pytest.raises(DataError) as excinfo:
        write_example_data(tmp_path, "segmentaton")
    assert excinfo.value.problems[0].suggestion == "segmentation"
    with pytest.raises(DataError, match="size"):
        write_example_data(tmp_path, "classification", size=4)
    with pytest.raises(DataError, match="classes"):
        write_example_data(tmp_path, "classification", classes=5)
    assert list(tmp_path.iterdir()) == []


# -- the content is what it claims and easy to learn -------------------------------------
def _features(image: np.ndarray) -> np.ndarray:
    x = image[..., 0].astype(np.float64) / 255
    return np.array([np.abs(np.diff(x, axis=0)).mean(), np.abs(np.diff(x, axis=1)).mean(), x.mean()])


def test_classification_classes_are_separable(tmp_path):
    paths = write_example_data(tmp_path, "classification", n=80, classes=4)
    train_x, train_y = load(paths["train_X"]), np.concatenate(load(paths["train_y"]))
    assert np.bincount(train_y).tolist() == [20, 20, 20, 20]
    feats = np.array([_features(x) for x in train_x])
    centroids = np.array([feats[train_y == c].mean(axis=0) for c in range(4)])
    with h5py.File(paths["validation_X"], "r") as fx, h5py.File(paths["validation_y"], "r") as fy:
        names = sorted(fx, key=int)
        val_feats = np.array([_features(fx[n][()]) for n in names])
        val_y = np.array([int(fy[n][0]) for n in names])
    guess = np.argmin(((val_feats[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (guess == val_y).mean() >= 0.9  # a nearest-centroid rule on 3 features


@pytest.mark.parametrize("kind", ["segmentation", "segmentation3d"])
def test_masks_mark_the_bright_shapes(tmp_path, kind):
    paths = write_example_data(tmp_path, kind, n=10)
    xs, ys = np.stack(load(paths["train_X"]))[..., 0], np.stack(load(paths["train_y"]))
    assert set(np.unique(ys)) == {0, 1, 2}
    guess = np.where(xs > 0.7, 1, np.where(xs > 0.35, 2, 0))  # two intensity thresholds
    assert (guess == ys).mean() > 0.98


def test_regression_target_is_the_blob_centre(tmp_path):
    paths = write_example_data(tmp_path, "regression", n=10)
    for x, y in zip(load(paths["train_X"]), load(paths["train_y"])):
        peak = np.unravel_index(np.argmax(x[..., 0]), x.shape[:2])
        assert np.abs(np.array(peak) - y * 16).max() <= 1.5


def test_translation_outlines_lie_on_the_filled_shapes(tmp_path):
    paths = write_example_data(tmp_path, "translation", n=10)
    for x, y in zip(load(paths["train_X"]), load(paths["train_y"])):
        assert set(np.unique(x)) <= {0.0, 1.0} and x.sum() > 0
        assert np.all(y[x == 1] == 1) and y.sum() > x.sum()


def test_detection_boxes_frame_the_objects(tmp_path):
    paths = write_example_data(tmp_path, "detection", n=10)
    for x, boxes in zip(load(paths["train_X"]), load(paths["train_y"])):
        image, covered = x[..., 0], np.zeros(x.shape[:2], dtype=bool)
        for cls, xmin, ymin, xmax, ymax in boxes:
            assert cls in (1, 2) and 0 <= xmin < xmax <= 32 and 0 <= ymin < ymax <= 32
            r0, r1, c0, c1 = int(ymin), int(ymax), int(xmin), int(xmax)
            inside = image[r0:r1, c0:c1]
            # the object touches all four box edges
            bright = inside > 0.45
            assert bright[0].any() and bright[-1].any() and bright[:, 0].any() and bright[:, -1].any()
            covered[r0:r1, c0:c1] = True
        assert image[~covered].max() < 0.45  # nothing bright outside the boxes


# -- the checks accept every kind with a fitting model -----------------------------------
CONFIGS = {
    "classification": ("CNN", "sparse_categorical_crossentropy", {}, ["Input:(16, 16, 1)", "Convolution 2D:4:(3, 3)",
                       "Global average pooling 2D", "Dense:3", "Activation:softmax"]),
    "segmentation": ("FCN", "categorical_crossentropy", {"categorical_switch": True, "categories": 3},
                     ["Input:(16, 16, 1)", "Convolution 2D:3:(3, 3)", "Activation:softmax"]),
    "segmentation3d": ("FCN", "sparse_categorical_crossentropy", {"image_context": "3D"},
                       ["Input:(16, 16, 8, 1)", "Convolution 3D:3:(3, 3, 3)", "Activation:softmax"]),
    "regression": ("CNN", "mean_squared_error", {}, ["Input:(16, 16, 1)", "Convolution 2D:4:(3, 3)",
                   "Global average pooling 2D", "Dense:2"]),
    "detection": ("BBD", "ssd", {}, ["Input:(32, 32, 1)", "Convolution 2D:8:(3, 3)", "Hook connection source",
                  "Max pooling 2D", "Convolution 2D:8:(3, 3)", "Hook connection source"]),
    "translation": ("GAN", "pix2pix", {}, None),
}


@pytest.mark.parametrize("kind", KINDS)
def test_check_data_accepts_the_examples(tmp_path, kind):
    technique, loss, pre, layers = CONFIGS[kind]
    paths = write_example_data(tmp_path, kind, n=20)
    raw = {"config_file": {"model_signal": technique, "type_signal": "Train"},
           "paths": {k: str(v) for k, v in paths.items() if k != "test_y"}, "preprocessing": pre,
           "loss_function": {"loss": loss}, "training_configurations": {"validation_split": 0.0},
           "layers": {"serial_layer_list": layers}}
    if kind == "detection":
        raw["config_file"]["input_shape"] = [32, 32, 1]
        raw["bbd_options"] = {"number_classes": 2, "steps": [16, 32]}
    if kind == "translation":
        raw["layers"] = {"generator_layer_list": ["Input:(16, 16, 1)", "Convolution 2D:1:(3, 3)", "Activation:tanh"],
                         "discriminator_layer_list": ["Input:(16, 16, 1)", "Convolution 2D:8:(4, 4):(2, 2)",
                                                      "Convolution 2D:1:(4, 4)"]}
    config = parse_config(raw, REGISTRY)
    assert check_data(config, plan_model(config, REGISTRY), REGISTRY) == []
