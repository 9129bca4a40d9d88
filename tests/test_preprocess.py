"""Per-sample preprocessing (dlae_core.data.preprocess)."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest

from dlae_core.plugin import builtin
from dlae_core.config.parser import parse_config
from dlae_core.data.preprocess import FeatureStats, Normalization, Preprocessor, one_hot, zca_whiten
from dlae_core.data.splits import DataSplit
from dlae_core.errors import DataError
from dlae_core.planning.plan import plan_model
from dlae_core.plugin.registry import Registry, make_plugin_manager

REGISTRY = Registry(make_plugin_manager(load_entrypoints=False, plugins=[builtin]))
FCN = ["Input:(16, 16, 1)", "Convolution 2D:3:(3, 3)", "Activation:softmax"]
CNN = ["Input:(16, 16, 1)", "Flatten", "Dense:3", "Activation:softmax"]


def make(model="FCN", layers=FCN, session="Train", paths=None, **sections) -> Preprocessor:
    raw = {"config_file": {"model_signal": model, "type_signal": session}, "paths": paths or {},
           "layers": {"serial_layer_list": layers}, **sections}
    config = parse_config(raw, REGISTRY)
    return Preprocessor(config, plan_model(config, REGISTRY), REGISTRY)


def write_h5(path, samples: dict) -> str:
    with h5py.File(path, "w") as handle:
        for name, array in samples.items():
            handle.create_dataset(str(name), data=np.asarray(array))
    return str(path)


X = np.array([[2.0, 4.0], [6.0, 10.0]], np.float32)[..., None]
Y = np.array([[1.0, 3.0], [5.0, 9.0]], np.float32)[..., None]
UNITY_X, NEGPOS_X = [0.0, 0.25, 0.5, 1.0], [-1.0, -0.5, 0.0, 1.0]
GLOBAL_X, GLOBAL_NEGPOS_X = [0.2, 0.4, 0.6, 1.0], [-0.6, -0.2, 0.2, 1.0]
GLOBAL_Y, GLOBAL_NEGPOS_Y = [0.0, 0.125, 0.25, 0.5], [-1.0, -0.75, -0.5, 0.0]
ONE, TWO = {"minimum_image_intensity": [0.0], "maximum_image_intensity": [10.0]}, \
    {"minimum_image_intensity": [0.0, 1.0], "maximum_image_intensity": [10.0, 17.0]}


@pytest.mark.parametrize("kind, bounds, want_x, want_y", [
    ("samplewise_unity_x", ONE, UNITY_X, None),
    ("samplewise_negpos_x", ONE, NEGPOS_X, None),
    ("global_unity_x", ONE, GLOBAL_X, None),
    ("global_negpos_x", ONE, GLOBAL_NEGPOS_X, None),
    ("samplewise_unity_xy", TWO, UNITY_X, UNITY_X),
    ("samplewise_negpos_xy", TWO, NEGPOS_X, NEGPOS_X),
    ("global_unity_xy", TWO, GLOBAL_X, GLOBAL_Y),
    ("global_negpos_xy", TWO, GLOBAL_NEGPOS_X, GLOBAL_NEGPOS_Y),
    ("none", ONE, X.ravel().tolist(), None),
])
def test_every_normalization_type(kind, bounds, want_x, want_y):
    pre = make(preprocessing={"normalization_type": kind, **bounds}, loss_function={"loss": "mean_squared_error"})
    x, y = pre.finish(X.copy(), Y.copy())
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert np.allclose(x.ravel(), want_x)
    assert np.allclose(y.ravel(), want_y if want_y is not None else Y.ravel())


def test_xy_leaves_cnn_targets_alone_and_zero_range_is_skipped():
    pre = make("CNN", CNN, preprocessing={"normalization_type": "samplewise_unity_xy", **TWO},
               loss_function={"loss": "mean_squared_error"})
    x, y = pre.finish(np.full((4, 4, 1), 7.0, np.float32), np.array([1.0, 2.0, 5.0], np.float32))
    assert np.all(x == 7.0) and np.array_equal(y, [1.0, 2.0, 5.0])
    assert np.array_equal(Normalization("global", False, 3.0, 3.0).apply(X), X)


def test_channel_axis_float32_and_repeat_order(tmp_path):
    two = np.stack([np.full((16, 16), 1, np.int16), np.full((16, 16), 2, np.int16)], axis=-1)
    path = write_h5(tmp_path / "x.h5", {"0": two})
    pre = make(layers=["Input:(16, 16, 6)", "Convolution 2D:3:(3, 3)", "Activation:softmax"],
               preprocessing={"repeat_X_switch": True, "repeat_X_quantity": 3})
    x = pre.read_x(DataSplit(path, None, ["0"]), "0")
    assert x.dtype == np.float32 and x.shape == (16, 16, 6)
    assert x[0, 0].tolist() == [1, 1, 1, 2, 2, 2]  # c0, c0, c0, c1, c1, c1
    single = write_h5(tmp_path / "x1.h5", {"0": np.arange(256).reshape(16, 16)})
    pre1 = make(layers=["Input:(16, 16, 3)", "Convolution 2D:3:(3, 3)", "Activation:softmax"],
                preprocessing={"repeat_X_switch": True})
    x1 = pre1.read_x(DataSplit(single, None, ["0"]), "0")
    assert x1.shape == (16, 16, 3) and np.array_equal(x1[..., 0], x1[..., 2])


def test_targets_get_channel_axis_for_fcn_and_shape_1_for_cnn(tmp_path):
    xs = write_h5(tmp_path / "x.h5", {"0": np.zeros((16, 16))})
    ys = write_h5(tmp_path / "y.h5", {"0": np.ones((16, 16), np.uint8)})
    fcn = make()
    _, y = fcn.load(DataSplit(xs, ys, ["0"]), "0")
    assert y.shape == (16, 16, 1) and y.dtype == np.float32
    labels = write_h5(tmp_path / "labels.h5", {"0": np.int64(2)})
    sparse = make("CNN", CNN, loss_function={"loss": "sparse_categorical_crossentropy"})
    x, y = sparse.finish(*sparse.load(DataSplit(xs, labels, ["0"]), "0"))
    assert y.shape == (1,) and y.dtype == np.float32 and y[0] == 2.0 and x.dtype == np.float32
    assert sparse.target_kind == "vector" and fcn.target_kind == "labels"
    assert make(loss_function={"loss": "mean_squared_error"}).target_kind == "dense"


def test_one_hot_shapes_truncation_and_bad_label():
    pre = make("CNN", CNN, preprocessing={"categorical_switch": True, "categories": 3})
    _, y = pre.finish(np.zeros((16, 16, 1), np.float32), np.array([1.7], np.float32))
    assert y.tolist() == [0.0, 1.0, 0.0] and y.dtype == np.float32
    assert one_hot(np.float32(2), 3).tolist() == [0.0, 0.0, 1.0]
    maps = one_hot(np.array([[0, 2], [1, 0]], np.float32)[..., None], 3)
    assert maps.shape == (2, 2, 3) and maps[0, 1].tolist() == [0, 0, 1]
    with pytest.raises(DataError, match="class label 3") as info:
        pre.finish(np.zeros((16, 16, 1), np.float32), np.array([3.0], np.float32), name="12")
    assert "'12'" in str(info.value)
    with pytest.raises(DataError, match="-1"):
        one_hot(np.array([-1.0]), 3)


def test_samplewise_centering_and_standardization_apply_to_test_splits(tmp_path):
    rng = np.random.default_rng(0)
    path = write_h5(tmp_path / "test.h5", {"0": rng.random((16, 16)) * 50 + 3})
    switches = {"samplewise_centering_switch": True, "samplewise_normalization_switch": True}
    pre = make(session="Inference", paths={"test_X": path, "load_model": path}, augmentation=switches,
               preprocessing={"normalization_type": "none"})
    x, y = pre.load(DataSplit(path, None, ["0"]), "0")
    assert y is None and abs(float(x.mean())) < 1e-5 and float(x.std()) == pytest.approx(1.0, abs=1e-4)


def test_featurewise_uses_per_channel_stats(tmp_path):
    sample = np.stack([np.full((16, 16), 5.0), np.full((16, 16), 9.0)], -1)
    path = write_h5(tmp_path / "x.h5", {"0": sample})
    layers = ["Input:(16, 16, 2)", "Convolution 2D:3:(3, 3)", "Activation:softmax"]
    pre = make(layers=layers, augmentation={"featurewise_centering_switch": True,
                                            "featurewise_normalization_switch": True})
    split = DataSplit(path, None, ["0"])
    assert pre.needs_stats
    with pytest.raises(ValueError, match="FeatureStats"):
        pre.load(split, "0")
    stats = FeatureStats(np.array([1.0, 3.0]), np.array([2.0, 4.0]))
    x, _ = pre.with_stats(stats).load(split, "0")
    assert np.allclose(x[0, 0], [(5 - 1) / (2 + 1e-6), (9 - 3) / (4 + 1e-6)])


def test_zca_matches_the_direct_formula():
    x = np.random.default_rng(1).random((6, 5, 2)).astype(np.float32)
    f = x.reshape(6, -1).astype(np.float64)
    u, s, _ = np.linalg.svd(f.T @ f / 6)
    direct = (f @ (u @ np.diag(1 / np.sqrt(s + 0.1)) @ u.T)).reshape(x.shape)
    assert np.allclose(zca_whiten(x, 0.1), direct, atol=1e-4)
    assert make(augmentation={"zca_epsilon": 0.1}).zca(x).shape == x.shape


def test_inverse_target_and_target_space():
    pre = make(preprocessing={"normalization_type": "global_negpos_xy", **TWO},
               loss_function={"loss": "mean_squared_error"})
    _, y = pre.finish(X.copy(), Y.copy())
    assert np.allclose(pre.inverse_target(y), Y)
    assert "target units" in pre.target_space and "[1, 17]" in pre.target_space
    sample = make(preprocessing={"normalization_type": "samplewise_unity_xy", **TWO},
                  loss_function={"loss": "mean_squared_error"})
    assert np.array_equal(sample.inverse_target(Y), Y) and "cannot be inverted" in sample.target_space
    assert "not normalized" in make().target_space


def test_preprocessor_pickles_with_open_files(tmp_path):
    xs = write_h5(tmp_path / "x.h5", {"0": np.ones((16, 16)), "1": np.zeros((16, 16))})
    pre = make()
    split = DataSplit(xs, None, ["0", "1"])
    pre.load(split, "0")
    copy = pickle.loads(pickle.dumps(pre))
    x, _ = copy.load(split, "1")
    assert x.shape == (16, 16, 1)
    pre.close()
    copy.close()
