"""check_data: the data files must exist, be consistent and fit the planned model."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import dlae_core.plugin.builtin
from dlae_core.config.parser import parse_config
from dlae_core.data import checks
from dlae_core.data.checks import MAX_SAMPLED, check_data, sample_positions
from dlae_core.data.hdf5 import SampleFile
from dlae_core.planning.plan import plan_model
from dlae_core.plugin.registry import Registry, make_plugin_manager

REGISTRY = Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin]))

FCN_LAYERS = ["Input:(16, 16, 1)", "Convolution 2D:3:(3, 3)", "Activation:softmax"]
CNN_LAYERS = ["Input:(16, 16, 1)", "Convolution 2D:4:(3, 3)", "Global average pooling 2D", "Dense:3",
              "Activation:softmax"]
BBD_LAYERS = ["Input:(32, 32, 1)", "Convolution 2D:8:(3, 3)", "Hook connection source", "Max pooling 2D",
              "Convolution 2D:8:(3, 3)", "Hook connection source"]


def write(path, samples) -> str:
    """``samples``: a dict name -> array, or a list (named 0..n-1)."""
    if not isinstance(samples, dict):
        samples = {str(i): s for i, s in enumerate(samples)}
    with h5py.File(path, "w") as handle:
        for name, value in samples.items():
            handle.create_dataset(name, data=value)
    return str(path)


def run(technique="FCN", loss="categorical_crossentropy", layers=None, pre=None, paths=None, session=None,
        split=0.0, **sections):
    raw = {"config_file": {"model_signal": technique, "type_signal": "Train"},
           "paths": paths or {}, "preprocessing": pre or {}, "loss_function": {"loss": loss},
           "training_configurations": {"validation_split": split},
           "layers": {"serial_layer_list": layers or FCN_LAYERS}, **sections}
    config = parse_config(raw, REGISTRY)
    return check_data(config, plan_model(config, REGISTRY), REGISTRY, session=session)


def images(n, shape=(16, 16), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random(shape).astype(dtype) for _ in range(n)]


def masks(n, shape=(16, 16), classes=3, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, classes, shape).astype(np.uint8) for _ in range(n)]


def fcn_files(tmp_path, xs=None, ys=None) -> dict:
    return {"train_X": write(tmp_path / "x.h5", xs if xs is not None else images(5)),
            "train_y": write(tmp_path / "y.h5", ys if ys is not None else masks(5))}


SEG = {"categorical_switch": True, "categories": 3}


def one(problems):
    assert len(problems) == 1, [p.line() for p in problems]
    return problems[0]


# -- a correct data set ------------------------------------------------------------------
def test_correct_fcn_data_has_no_problems(tmp_path):
    paths = fcn_files(tmp_path)
    paths.update(validation_X=write(tmp_path / "vx.h5", images(3, (16, 16, 1))),
                 validation_y=write(tmp_path / "vy.h5", [m[..., None] for m in masks(3)]))
    assert run(pre=SEG, paths=paths) == []


def test_correct_cnn_data_has_no_problems(tmp_path):
    paths = {"train_X": write(tmp_path / "x.h5", images(6, dtype=np.float64)),
             "train_y": write(tmp_path / "y.h5", [np.array([i % 3]) for i in range(5)] + [np.int64(2)])}
    assert run("CNN", "sparse_categorical_crossentropy", CNN_LAYERS, paths=paths) == []


# -- paths -------------------------------------------------------------------------------
def test_training_needs_both_paths():
    problems = run(pre=SEG)
    assert [p.where for p in problems] == ["paths.train_X", "paths.train_y"]
    assert "needs training inputs" in problems[0].what


def test_missing_file_names_the_key_and_path(tmp_path):
    paths = fcn_files(tmp_path)
    paths["train_y"] = str(tmp_path / "gone.h5")
    found = one(run(pre=SEG, paths=paths))
    assert found.where == "paths.train_y"
    assert "gone.h5 does not exist" in found.what
    assert found.received == paths["train_y"]


def test_relative_paths_are_taken_from_the_working_directory(tmp_path, monkeypatch):
    fcn_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run(pre=SEG, paths={"train_X": "x.h5", "train_y": "y.h5"}) == []
    monkeypatch.chdir(tmp_path.parent)
    assert {p.where for p in run(pre=SEG, paths={"train_X": "x.h5", "train_y": "y.h5"})} == \
        {"paths.train_X", "paths.train_y"}


def test_validation_files_only_matter_without_split(tmp_path):
    paths = fcn_files(tmp_path)
    paths.update(validation_X=str(tmp_path / "no_vx.h5"), validation_y=str(tmp_path / "no_vy.h5"))
    assert run(pre=SEG, paths=paths, split=0.2) == []
    assert [p.where for p in run(pre=SEG, paths=paths)] == ["paths.validation_X", "paths.validation_y"]


def test_split_must_leave_training_samples(tmp_path):
    found = one(run(pre=SEG, paths=fcn_files(tmp_path, images(1), masks(1)), split=0.5))
    assert found.where == "training_configurations.validation_split"
    assert "leaves none for training" in found.what


def test_inference_needs_model_and_inputs(tmp_path):
    test_x = write(tmp_path / "t.h5", images(3))
    problems = run(pre=SEG, paths={"test_X": test_x}, session="Inference")
    assert one(problems).where == "paths.load_model"
    model = tmp_path / "model.file"
    model.write_bytes(b"weights")
    assert run(pre=SEG, paths={"test_X": test_x, "load_model": str(model)}, session="Inference") == []
    bad_x = write(tmp_path / "t2.h5", images(3, (8, 8)))
    found = one(run(pre=SEG, paths={"test_X": bad_x, "load_model": str(model)}, session="Inference"))
    assert found.where == "paths.test_X" and "does not match the model input" in found.what


def test_a_file_that_is_not_hdf5(tmp_path):
    paths = fcn_files(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    paths["train_X"] = str(tmp_path / "notes.txt")
    found = one(run(pre=SEG, paths=paths))
    assert found.where == "paths.train_X"
    assert found.what == f"{tmp_path / 'notes.txt'}: the file is not an HDF5 file"


# -- names -------------------------------------------------------------------------------
def test_non_integer_name(tmp_path):
    xs = {"0": images(1)[0], "first": images(1)[0]}
    found = one(run(pre=SEG, paths=fcn_files(tmp_path, xs, masks(2))))
    assert found.where == "paths.train_X"
    assert str(tmp_path / "x.h5") in found.what and "'first' is not a decimal integer" in found.what


def test_x_names_missing_in_y(tmp_path):
    ys = {"0": masks(1)[0], "1": masks(1)[0]}
    found = one(run(pre=SEG, paths=fcn_files(tmp_path, images(7), ys)))
    assert found.where == "paths.train_y"
    assert "lacks 5 of the 7 samples" in found.what and str(tmp_path / "x.h5") in found.what
    assert found.received == ["2", "3", "4"]


def test_extra_y_names_are_fine(tmp_path):
    assert run(pre=SEG, paths=fcn_files(tmp_path, images(2), masks(4))) == []


# -- inputs versus the model -------------------------------------------------------------
def test_wrong_input_rank(tmp_path):
    xs = images(4) + [np.zeros(16, np.float32)]
    found = one(run(pre=SEG, paths=fcn_files(tmp_path, xs)))
    assert found.where == "paths.train_X"
    assert "sample '4'" in found.what and "a 1-D input cannot feed the model input (16, 16, 1)" in found.what
    assert found.received == (16,)


def test_wrong_spatial_size_is_reported_once_with_a_count(tmp_path):
    xs = images(2) + images(3, (8, 8))
    ys = masks(2) + masks(3, (8, 8))
    problems = run(pre=SEG, paths=fcn_files(tmp_path, xs, ys))
    x_problem = [p for p in problems if p.where == "paths.train_X"]
    found = one(x_problem)
    assert "sample '2'" in found.what and "does not match the model input (16, 16, 1)" in found.what
    assert "(3 of 5 samples)" in found.what
    assert found.expected == "(16, 16, 1) or (16, 16)" and found.received == (8, 8)
    y_problem = [p for p in problems if p.where == "paths.train_y"]
    assert len(y_problem) == 1 and "differs from the model output (16, 16, 3)" in y_problem[0].what


def test_repeated_channels_must_fill_the_input(tmp_path):
    layers = ["Input:(16, 16, 3)", "Convolution 2D:3:(3, 3)", "Activation:softmax"]
    pre = {**SEG, "repeat_X_switch": True, "repeat_X_quantity": 3}
    assert run(layers=layers, pre=pre, paths=fcn_files(tmp_path)) == []
    found = one(run(layers=layers, pre=pre, paths=fcn_files(tmp_path, images(5, (16, 16, 3)))))
    assert "with repeat_X_quantity 3 the input does not match" in found.what
    assert "(16, 16, 1)" in found.expected


def test_non_numeric_samples(tmp_path):
    xs = images(2) + [np.array([b"abc"])]
    problems = run(pre=SEG, paths=fcn_files(tmp_path, xs, masks(3)))
    assert any("values are not numbers" in p.what and "sample '2'" in p.what for p in problems)


# -- targets -----------------------------------------------------------------------------
def test_label_out_of_range_for_categories(tmp_path):
    ys = masks(5)
    ys[0][3, 4] = 5
    found = one(run(pre=SEG, paths=fcn_files(tmp_path, ys=ys)))
    assert found.where == "paths.train_y"
    assert str(tmp_path / "y.h5") in found.what and "sample '0'" in found.what
    assert "class labels out of range (preprocessing.categories = 3)" in found.what
    assert found.expected == "integers 0..2" and found.received == [5]


def test_sparse_labels_use_the_output_size(tmp_path):
    ys = [np.array([0]), np.array([3]), np.array([1.5])]
    problems = run("CNN", "sparse_categorical_crossentropy", CNN_LAYERS,
                   paths={"train_X": write(tmp_path / "x.h5", images(3)), "train_y": write(tmp_path / "y.h5", ys)})
    found = one(problems)
    assert "(the model output size = 3)" in found.what and "(2 of 3 checked samples)" in found.what
    assert found.received == [3]


def test_cnn_label_shape(tmp_path):
    paths = {"train_X": write(tmp_path / "x.h5", images(2)), "train_y": write(tmp_path / "y.h5", [np.zeros(2)] * 2)}
    found = one(run("CNN", "sparse_categorical_crossentropy", CNN_LAYERS, paths=paths))
    assert "a class label must be a scalar or a (1,) array" in found.what and found.received == (2,)


def test_onehot_targets_without_switch(tmp_path):
    x = write(tmp_path / "x.h5", images(2))
    labels = write(tmp_path / "labels.h5", [np.array([1]), np.array([2])])
    found = one(run("CNN", "categorical_crossentropy", CNN_LAYERS, paths={"train_X": x, "train_y": labels}))
    assert "one-hot targets of the output size 3" in found.what
    onehot = write(tmp_path / "onehot.h5", [np.eye(3)[1], np.eye(3)[2]])
    assert run("CNN", "categorical_crossentropy", CNN_LAYERS, paths={"train_X": x, "train_y": onehot}) == []


def test_regression_target_shape(tmp_path):
    layers = CNN_LAYERS[:3] + ["Dense:2"]
    x = write(tmp_path / "x.h5", images(2))
    good = write(tmp_path / "good.h5", [np.array([0.2, 0.4])] * 2)
    assert run("CNN", "mean_squared_error", layers, paths={"train_X": x, "train_y": good}) == []
    bad = write(tmp_path / "bad.h5", [np.zeros(3)] * 2)
    found = one(run("CNN", "mean_squared_error", layers, paths={"train_X": x, "train_y": bad}))
    assert "a regression target must have the model output shape (2,)" in found.what


def test_fcn_target_must_match_its_input(tmp_path):
    xs = images(2)
    ys = [masks(1)[0], masks(1, (16, 12))[0]]
    problems = run(pre=SEG, paths=fcn_files(tmp_path, xs, ys))
    assert any("sample '1'" in p.what and "differs from its input's (16, 16)" in p.what for p in problems)


def test_label_maps_have_one_channel(tmp_path):
    ys = [np.zeros((16, 16, 2), np.uint8)] * 2
    found = one(run(loss="sparse_categorical_crossentropy", paths=fcn_files(tmp_path, images(2), ys)))
    assert "a label map has one channel" in found.what and found.expected == "(16, 16, 1)"


def test_gan_target_shape(tmp_path):
    gen = ["Input:(16, 16, 1)", "Convolution 2D:1:(3, 3)", "Activation:tanh"]
    disc = ["Input:(16, 16, 1)", "Convolution 2D:8:(4, 4):(2, 2)", "Convolution 2D:1:(4, 4)"]
    raw_layers = {"generator_layer_list": gen, "discriminator_layer_list": disc}
    x = write(tmp_path / "x.h5", images(2))

    def gan(y):
        raw = {"config_file": {"model_signal": "GAN", "type_signal": "Train"}, "loss_function": {"loss": "pix2pix"},
               "training_configurations": {"validation_split": 0.0}, "layers": raw_layers,
               "paths": {"train_X": x, "train_y": y}}
        config = parse_config(raw, REGISTRY)
        return check_data(config, plan_model(config, REGISTRY), REGISTRY)

    assert gan(write(tmp_path / "y.h5", images(2))) == []
    found = one(gan(write(tmp_path / "y2.h5", images(2, (16, 16, 3)))))
    assert "the target image must have the generator output shape (16, 16, 1)" in found.what


def test_nan_in_inputs(tmp_path):
    xs = images(5)
    xs[0][2, 2] = np.nan
    xs[0][3, 3] = np.inf
    found = one(run(pre=SEG, paths=fcn_files(tmp_path, xs)))
    assert found.where == "paths.train_X"
    assert f"{tmp_path / 'x.h5'}, sample '0': contains NaN or Inf values" in found.what
    assert found.received == "1 NaN, 1 Inf"


def test_nan_in_targets(tmp_path):
    ys = [m.astype(np.float32) for m in masks(3)]
    ys[2][0, 0] = np.nan
    found = one(run(pre=SEG, paths=fcn_files(tmp_path, images(3), ys)))
    assert found.where == "paths.train_y" and "sample '2'" in found.what and "NaN" in found.what


# -- BBD ---------------------------------------------------------------------------------
def bbd(tmp_path, boxes):
    paths = {"train_X": write(tmp_path / "x.h5", images(len(boxes), (32, 32))),
             "train_y": write(tmp_path / "y.h5", boxes)}
    return run("BBD", "ssd", BBD_LAYERS, paths=paths,
               config_file={"model_signal": "BBD", "type_signal": "Train", "input_shape": [32, 32, 1]},
               bbd_options={"number_classes": 2, "steps": [16, 32]})


def test_good_boxes(tmp_path):
    boxes = [np.array([[1, 0, 0, 32, 32], [2, 4.5, 3, 9.5, 8]], np.float32), np.array([2, 1, 1, 5, 5.0]),
             np.zeros((0, 5), np.float32)]
    assert bbd(tmp_path, boxes) == []


@pytest.mark.parametrize("row, text", [
    ([0, 1, 1, 5, 5], "box 1: class 0 is not an object class"),
    ([3, 1, 1, 5, 5], "box 1: class 3 is not an object class"),
    ([1, 5, 1, 5, 5], "box 1: the box is empty"),
    ([1, 1, 6, 5, 5], "box 1: the box is empty"),
    ([1, 20, 1, 33, 5], "box 1: the box leaves the 32x32 image"),
    ([1, -1, 1, 5, 5], "box 1: the box leaves the 32x32 image"),
])
def test_bad_boxes(tmp_path, row, text):
    boxes = [np.array([[1, 0, 0, 4, 4], row], np.float32)]
    found = one(bbd(tmp_path, boxes))
    assert found.where == "paths.train_y" and text in found.what and "sample '0'" in found.what
    assert found.received == row


def test_box_array_shape(tmp_path):
    found = one(bbd(tmp_path, [np.zeros((2, 4), np.float32)]))
    assert "boxes must be rows [class, xmin, ymin, xmax, ymax]" in found.what and found.received == (2, 4)


# -- only a few samples are read ---------------------------------------------------------
def test_only_a_bounded_number_of_samples_is_read(tmp_path, monkeypatch):
    paths = fcn_files(tmp_path, images(200), masks(200))
    reads: dict[str, list[str]] = {}
    original = SampleFile.read

    def counting(self, name):
        reads.setdefault(self.path, []).append(name)
        return original(self, name)

    monkeypatch.setattr(SampleFile, "read", counting)
    assert run(pre=SEG, paths=paths) == []
    assert set(reads) == {paths["train_X"], paths["train_y"]}
    for names in reads.values():
        assert 3 <= len(names) <= MAX_SAMPLED
        assert {"0", "100", "199"} <= set(names)


def test_sample_positions():
    assert sample_positions(3) == [0, 1, 2]
    picks = sample_positions(1000)
    assert len(picks) <= MAX_SAMPLED and {0, 500, 999} <= set(picks)
    assert checks.sample_positions(0) == []
