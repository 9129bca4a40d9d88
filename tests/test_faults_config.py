"""Faults a fault tester found in configs and data (issue 18): each gives one located line, exit
code 2 and no traceback.

Non-finite numbers in both value forms, a deeply nested JSON config, damaged HDF5 files, float
class labels and NaN found while training (named by file and sample), categorical_switch with a
sparse loss, a CSV history that is not UTF-8 on resume, validation files without a
validation_split key, an input_shape that differs from the Input layer, and skip sources that are
never merged.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from dlae_core.cli.main import cli
from dlae_core.config.parser import parse_config
from dlae_core.data.hdf5 import SampleFile
from dlae_core.data.preprocess import Preprocessor, one_hot
from dlae_core.data.splits import DataSplit
from dlae_core.errors import ConfigError, DataError
from dlae_core.planning.plan import plan_model
from dlae_core.training.history import CsvHistory, read_history

pytestmark = pytest.mark.usefixtures("fresh_default_registry")

HAS_TORCH = importlib.util.find_spec("torch") is not None
FINITE = "(finite: not NaN, Infinity or beyond 1.8e308)"


def invoke(*args) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args], env={"COLUMNS": "250"})


def errors(result) -> list[str]:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return [line for line in result.stderr.splitlines() if line.strip()]


def validate_text(tmp_path, text: str, *args) -> object:
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    return invoke("validate", "--skip-data", *args, path)


def with_literal(raw: dict, literal: str) -> str:
    """The JSON text of ``raw`` with the string "LITERAL" replaced by a bare JSON literal."""
    return json.dumps(raw).replace('"LITERAL"', literal)


def example_config(name: str) -> dict:
    from pathlib import Path

    return json.loads((Path(__file__).resolve().parents[1] / "configs" / f"example_{name}.json").read_text())


# ------------------------------------------------------------------ 1. non-finite numbers

NON_FINITE = [
    # (id, section, key, value written in the JSON text, expected tail of the line)
    ("typed-1e309", "learning_rate_schedule", "learning_rate", "1e309",
     f"Expected a number > 0.0 {FINITE}. Received: inf."),
    ("typed-NaN-literal", "augmentation", "shear_range", "NaN", f"Expected a number >= 0.0 {FINITE}. Received: nan."),
    ("typed-Infinity-literal", "optimizer", "epsilon", "Infinity",
     f'Expected a number > 0.0 or None ("None") {FINITE}. Received: inf.'),
    ("typed--1e309", "augmentation", "cval", "-1e309", f"Expected a number {FINITE}. Received: -inf."),
    ("text-inf", "optimizer", "momentum", '"inf"', f"Expected a number >= 0.0 {FINITE}. Received: 'inf'."),
    ("text-Infinity", "augmentation", "channel_shift_range", '"Infinity"',
     f"Expected a number >= 0.0 {FINITE}. Received: 'Infinity'."),
    ("text-nan", "optimizer", "beta1", '"nan"', f"Expected a number in [0.0, 1.0) {FINITE}. Received: 'nan'."),
    ("text-1e309-list", "preprocessing", "maximum_image_intensity", '"1e309"',
     f'Expected 1 to 2 comma-separated numbers such as "0.1, 0.9" {FINITE}. Received: \'1e309\'.'),
    ("typed-list", "preprocessing", "minimum_image_intensity", "[0, 1e309]",
     f'Expected 1 to 2 comma-separated numbers such as "0.1, 0.9" {FINITE}. Received: [0, inf].'),
    ("typed-tuple", "augmentation", "brightness_range", "[0.5, 1e309]",
     f"Expected a tuple of 2 positive numbers or None {FINITE}. Received: [0.5, inf]."),
    ("text-tuple", "augmentation", "brightness_range", '"(0.5, 1e309)"',
     f"Expected a tuple of 2 positive numbers or None {FINITE}. Received: '(0.5, 1e309)'."),
    ("text-rate-pair", "learning_rate_schedule", "gan_learning_rate", '"inf:0.0"',
     f"Expected a number >= 0.0 {FINITE}. Received: 'inf:0.0'."),
    ("huge-int", "loss_function", "parameter2", "1" + "0" * 400,
     f"Expected a number {FINITE}. Received: 1{'0' * 116}."),  # the received value is cut to one line
]


@pytest.mark.parametrize("section,key,literal,tail", [c[1:] for c in NON_FINITE], ids=[c[0] for c in NON_FINITE])
def test_non_finite_numbers_are_rejected_in_both_forms(tmp_path, minimal_typed_config, section, key, literal, tail):
    raw = minimal_typed_config(**{section: {key: "LITERAL"}})
    result = validate_text(tmp_path, with_literal(raw, literal))
    assert result.exit_code == 2
    assert errors(result) == [f"error: {section}.{key}: invalid value. {tail}"]


def test_a_non_finite_layer_parameter_is_rejected(tmp_path, minimal_typed_config):
    raw = minimal_typed_config()
    raw["layers"]["serial_layer_list"].insert(2, "Batch normalization:0.99:nan")
    raw["layers"]["serial_layer_list"].insert(3, {"type": "Gaussian noise", "stddev": "LITERAL"})
    result = validate_text(tmp_path, with_literal(raw, "1e309"))
    assert result.exit_code == 2
    assert errors(result) == [
        "error: layers.serial_layer_list[2]: Batch normalization parameter 'epsilon' (2nd field) is invalid. "
        f"Expected a number > 0.0 {FINITE}. Received: 'Batch normalization:0.99:nan'.",
        "error: layers.serial_layer_list[3].stddev: Gaussian noise parameter 'stddev' is invalid. "
        f"Expected a number >= 0.0 {FINITE}. Received: inf."]


def test_the_ssd_loss_with_parameter1_1e309_is_a_located_error(tmp_path):
    raw = example_config("bbd")
    raw["loss_function"]["parameter1"] = "LITERAL"
    result = validate_text(tmp_path, with_literal(raw, "1e309"))
    assert result.exit_code == 2
    assert errors(result) == [f"error: loss_function.parameter1: invalid value. Expected a number {FINITE}. "
                              f"Received: inf."]


def test_non_finite_bbd_steps(tmp_path):
    raw = example_config("bbd")
    raw["bbd_options"]["steps"] = [[8, 8], [16, "LITERAL"]]
    result = validate_text(tmp_path, with_literal(raw, "Infinity"))
    assert result.exit_code == 2
    assert errors(result) == [
        "error: bbd_options.steps: invalid value. Expected None, a tuple of positive numbers or a tuple of 2-tuples "
        f"of positive numbers {FINITE}. Received: [[8, 8], [16, inf]]."]


def test_large_finite_numbers_still_pass(tmp_path, minimal_typed_config):
    raw = minimal_typed_config(augmentation={"cval": 1e308}, loss_function={"parameter2": "-1.7e308"})
    assert validate_text(tmp_path, json.dumps(raw)).exit_code == 0


# ------------------------------------------------------------------ 2. deep nesting

def test_a_100000_deep_json_config_is_one_line(tmp_path):
    text = '{"config_file": ' + "[" * 100_000 + "]" * 100_000 + "}"
    result = validate_text(tmp_path, text)
    assert result.exit_code == 2
    assert errors(result) == [f"error: {tmp_path / 'config.json'}: the JSON nests arrays or objects too deeply to "
                              f"be read; a config nests at most 32 levels"]


@pytest.mark.parametrize("where,depth", [("loss_function.adversarial", 40), ("layers.serial_layer_list[1]", 900)])
def test_a_deeply_nested_value_is_located(tmp_path, minimal_typed_config, where, depth):
    raw = minimal_typed_config()
    nested = "[" * depth + "1" + "]" * depth
    if where.startswith("layers"):
        raw["layers"]["serial_layer_list"][1] = "LITERAL"
    else:
        raw["loss_function"]["adversarial"] = "LITERAL"
    result = validate_text(tmp_path, with_literal(raw, nested))
    assert result.exit_code == 2
    assert errors(result) == [f"error: {where}: the value nests arrays or objects more than 32 levels deep. "
                              f"Expected a value of this key (a config nests at most 6 levels)."]


def test_parse_config_guards_a_deep_dict_built_in_python(registry, minimal_typed_config):
    raw = minimal_typed_config()
    value = 1
    for _ in range(5000):
        value = [value]
    raw["bbd_options"] = {"steps": value}
    with pytest.raises(ConfigError) as info:
        parse_config(raw, registry)
    assert [p.where for p in info.value.problems] == ["bbd_options.steps"]


def test_an_integer_of_5000_digits_is_one_line(tmp_path, minimal_typed_config):
    raw = minimal_typed_config(training_configurations={"epochs": "LITERAL"})
    result = validate_text(tmp_path, with_literal(raw, "9" * 5000))
    assert result.exit_code == 2
    [line] = errors(result)
    assert line.startswith(f"error: {tmp_path / 'config.json'}: invalid JSON: Exceeds the limit (4300 digits) for "
                           f"integer string conversion")


def test_a_path_with_a_nul_character_is_a_value_problem(tmp_path, minimal_typed_config):
    raw = minimal_typed_config(save_configurations={"save_csv_switch": True, "save_csv_path": "out/a\u0000b.csv"})
    result = validate_text(tmp_path, json.dumps(raw))
    assert result.exit_code == 2
    assert errors(result) == ["error: save_configurations.save_csv_path: invalid value. Expected a path string (\"\" "
                              "when not set) without NUL characters. Received: 'out/a\\x00b.csv'."]


# ------------------------------------------------------------------ 3. damaged HDF5 files

def _write(path, arrays) -> None:
    with h5py.File(path, "w") as handle:
        for index, array in enumerate(arrays):
            handle.create_dataset(str(index), data=array)


@pytest.fixture
def data_config(tmp_path, write_config, minimal_typed_config):
    """A CNN config with 6 training samples (8, 8, 3) and labels 0/1; returns (config, x, y) paths."""
    rng = np.random.default_rng(0)
    x, y = tmp_path / "x.h5", tmp_path / "y.h5"
    _write(x, [rng.random((8, 8, 3), dtype=np.float32) for _ in range(6)])
    _write(y, [np.array(i % 2) for i in range(6)])
    config = write_config(tmp_path, minimal_typed_config(paths={"train_X": str(x), "train_y": str(y)}))
    assert invoke("validate", config).exit_code == 0
    return config, x, y


def _damage(path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def _header_address(path, name: str) -> int:
    with h5py.File(path, "r") as handle:
        return h5py.h5o.get_info(handle.id, name.encode()).addr


def test_a_damaged_sample_index_is_one_located_line(data_config):
    config, x, _ = data_config
    _damage(x, x.read_bytes().index(b"HEAP"), b"XXXX")  # the root group's local heap (the sample names)
    result = invoke("validate", config)
    assert result.exit_code == 2
    [line] = errors(result)
    assert re.fullmatch(rf"error: paths\.train_X: {re.escape(str(x))}: the file's sample index cannot be read; the "
                        r"file may be damaged or truncated\. Expected an intact HDF5 file \(write it again from its "
                        r"source\)\. Received: '[^']+'\.", line), line


def test_a_damaged_sample_header_names_the_sample(data_config):
    config, x, _ = data_config
    _damage(x, _header_address(x, "2") + 24, b"\xff" * 4)  # inside the object header of sample '2'
    result = invoke("validate", config)
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: paths.train_X: {x}, sample '2': cannot be read; the file may be damaged or truncated (1 of 6 "
        "samples). Expected an intact HDF5 file (write it again from its source). Received: 'listed in the file but "
        "cannot be opened'."]
    with SampleFile(x) as data, pytest.raises(DataError) as info:
        data.read("2")
    assert info.value.problems[0].where == str(x)
    assert info.value.problems[0].what.startswith("sample '2' cannot be read")


def test_an_unreadable_object_header_names_the_sample(data_config):
    config, _, y = data_config
    _damage(y, _header_address(y, "4"), b"\xff" * 4)
    result = invoke("validate", config)
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: paths.train_y: {y}: sample '4' cannot be opened (1 such member(s)): a dangling link, or the file "
        "is damaged. Expected one readable dataset per sample at the file root. Received: '4'."]


@pytest.mark.parametrize("which", ["x", "y"])
def test_bytes_overwritten_anywhere_or_a_truncated_file_never_give_a_traceback(tmp_path, data_config, which):
    config, x, y = data_config
    target = x if which == "x" else y
    good = target.read_bytes()
    outcomes = {0: 0, 2: 0}
    rng = np.random.default_rng(1)
    cases = [("over", offset) for offset in range(0, len(good), 48)] + [("cut", n) for n in range(0, len(good), 480)]
    for kind, offset in cases:
        target.write_bytes(good)
        if kind == "over":
            _damage(target, offset, bytes(rng.integers(0, 256, 8, dtype=np.uint8)))
        else:
            target.write_bytes(good[:offset])
        result = invoke("validate", config)
        assert result.exit_code in (0, 2), (kind, offset, result.output)
        for line in errors(result):  # every problem is located at the damaged file's key and names it
            assert line.startswith(f"error: paths.train_{'X' if which == 'x' else 'y'}: {target}"), (kind, offset, line)
        outcomes[result.exit_code] += 1
    assert outcomes[2] >= len(cases) // 10  # truncations and header damage are reported


# ------------------------------------------------------------------ 4. float labels, NaN while training

@pytest.fixture
def labels_setup(tmp_path, registry, minimal_typed_config):
    """A Preprocessor for one-hot CNN labels over files with a float label and a NaN input."""
    x, y = tmp_path / "x.h5", tmp_path / "y.h5"
    xs = [np.zeros((8, 8, 3), np.float32) for _ in range(3)]
    xs[1][2, 2, 0] = np.nan
    _write(x, xs)
    _write(y, [np.array([0.0]), np.array([1.0]), np.array([1.5])])
    raw = minimal_typed_config(paths={"train_X": str(x), "train_y": str(y)},
                               preprocessing={"categorical_switch": True, "categories": 2},
                               loss_function={"loss": "categorical_crossentropy"})
    config = parse_config(raw, registry)
    return Preprocessor(config, plan_model(config, registry), registry), DataSplit(str(x), str(y), ["0", "1", "2"])


def test_a_float_class_label_names_file_and_sample(labels_setup):
    pre, split = labels_setup
    with pytest.raises(DataError) as info:
        pre.read_y(split, "2")
    assert info.value.lines() == [
        f"paths.train_y: {split.y_path}, sample '2': holds 1 class label(s) that are not whole numbers, such as 1.5. "
        "Expected integer class labels (0, 1, 2, ...). Received: [1.5]."]
    assert pre.read_y(split, "1").tolist() == [1.0]


def test_nan_in_an_input_names_file_and_sample(labels_setup):
    pre, split = labels_setup
    with pytest.raises(DataError) as info:
        pre.load(split, "1")
    assert info.value.lines() == [f"paths.train_X: {split.x_path}, sample '1': contains NaN or Inf values. "
                                  "Expected finite numbers. Received: '1 NaN, 0 Inf'."]


def test_one_hot_out_of_range_names_the_file(labels_setup):
    pre, split = labels_setup
    with pytest.raises(DataError) as info:
        pre.finish(np.zeros((8, 8, 3), np.float32), np.array([5.0], np.float32), "0", split.y_path)
    assert info.value.lines() == [
        f"preprocessing.categories: {split.y_path}, sample '0' holds the class label 5, outside 0..1 (2 categories). "
        "Expected integers 0..1 (or more categories). Received: 5."]
    with pytest.raises(DataError, match="holds NaN or Inf"):
        one_hot(np.array([np.nan]), 2)


@pytest.fixture
def example_cnn(tmp_path):
    folder = tmp_path / "cnn"
    assert invoke("example", "cnn", folder).exit_code == 0
    config = json.loads((folder / "config.json").read_text())
    config["training_configurations"].update({"epochs": 1})
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _replace_sample(path, name: str, value: np.ndarray) -> None:
    with h5py.File(path, "a") as handle:
        del handle[name]
        handle.create_dataset(name, data=value)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("case", ["float-label", "nan-input"])
def test_training_names_the_file_and_sample_of_bad_data(example_cnn, case):
    # sample '5' is not among the few samples `dlae validate` reads, so training meets it first
    data = example_cnn / "data"
    if case == "float-label":
        path = data / "classification_train_y.h5"
        _replace_sample(path, "5", np.array([1.5]))
        expected = (f"error: paths.train_y: {path}, sample '5': holds 1 class label(s) that are not whole numbers, "
                    "such as 1.5. Expected integer class labels (0, 1, 2, ...). Received: [1.5].")
    else:
        path = data / "classification_train_X.h5"
        image = np.zeros((16, 16, 1), np.float32)
        image[3, 3, 0] = np.nan
        _replace_sample(path, "5", image)
        expected = (f"error: paths.train_X: {path}, sample '5': contains NaN or Inf values. Expected finite numbers. "
                    "Received: '1 NaN, 0 Inf'.")
    result = invoke("run", "--backend", "torch", example_cnn / "config.json", "--quiet", "--workers", 0)
    assert result.exit_code == 2, result.output
    assert errors(result)[-1] == expected


# ------------------------------------------------------------------ 5. categorical_switch with a sparse loss

def test_categorical_switch_with_a_sparse_loss_is_refused_at_the_switch(tmp_path, minimal_typed_config):
    raw = minimal_typed_config(preprocessing={"categorical_switch": True, "categories": 2})
    result = validate_text(tmp_path, json.dumps(raw))
    assert result.exit_code == 2
    assert errors(result) == [
        "error: preprocessing.categorical_switch: categorical_switch one-hot encodes the targets, but "
        "sparse_categorical_crossentropy takes the integer class labels themselves. Expected False with "
        "sparse_categorical_crossentropy (it reads the labels directly: the same training), or loss_function.loss "
        "'categorical_crossentropy' for one-hot targets. Received: True."]
    raw["loss_function"]["loss"] = "categorical_crossentropy"
    assert validate_text(tmp_path, json.dumps(raw)).exit_code == 0


# ------------------------------------------------------------------ 6. a CSV history that is not UTF-8

def test_csv_history_that_is_not_utf8(tmp_path):
    path = tmp_path / "history.csv"
    path.write_bytes(b"epoch,loss\n0,\xe90.5\n")
    line = (f"save_configurations.save_csv_path: {path}: the CSV history is not UTF-8 text (byte 0xe9 at offset 13). "
            "Expected the UTF-8 CSV history dlae wrote (move the file away, or set another save_csv_path).")
    with pytest.raises(DataError) as info:
        CsvHistory(path, append=True)
    assert info.value.lines() == [line]
    with pytest.raises(DataError) as info:
        read_history(path)
    assert info.value.lines() == [line]


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_resume_with_a_csv_history_that_is_not_utf8(example_cnn):
    config = example_cnn / "config.json"
    raw = json.loads(config.read_text())
    raw["save_configurations"].update({"save_checkpoints_switch": True, "save_checkpoints_path": "out/best.pt"})
    config.write_text(json.dumps(raw))
    assert invoke("run", "--backend", "torch", config, "--quiet", "--workers", 0).exit_code == 0
    history = example_cnn / "out" / "history.csv"
    history.write_bytes(b"epoch,loss\n0,\xff0.5\n")
    raw["training_configurations"]["epochs"] = 2
    config.write_text(json.dumps(raw))
    result = invoke("run", "--backend", "torch", config, "--quiet", "--workers", 0, "--resume")
    assert result.exit_code == 2, result.output
    assert errors(result)[-1] == (
        f"error: save_configurations.save_csv_path: {history}: the CSV history is not UTF-8 text (byte 0xff at offset "
        "13). Expected the UTF-8 CSV history dlae wrote (move the file away, or set another save_csv_path).")


# ------------------------------------------------------------------ 7. smaller ones

VALIDATION_FILES = {"validation_X": "v_X.h5", "validation_y": "v_y.h5"}


@pytest.mark.parametrize("training,paths,expected", [
    ({}, VALIDATION_FILES, 0.0),  # files given, key absent: the files are the validation data
    ({}, {}, 0.2),  # no files: the default split
    ({"validation_split": 0.3}, VALIDATION_FILES, 0.3),  # an explicit split wins, as documented
    ({"validation_split": ""}, VALIDATION_FILES, 0.0),  # empty in the string form = absent
    ({"validation_split": 0.0}, VALIDATION_FILES, 0.0),
])
def test_validation_files_without_a_split_key_are_used(registry, minimal_typed_config, training, paths, expected):
    raw = minimal_typed_config(paths=paths)
    raw["training_configurations"].pop("validation_split")
    raw["training_configurations"].update(training)
    config = parse_config(raw, registry)
    assert config.training_configurations.validation_split == expected
    assert ("training_configurations.validation_split" in config.given) == (training.get("validation_split", "") != "")


def test_dlae_convert_writes_the_split_validation_files_imply(tmp_path, write_config, minimal_typed_config):
    raw = minimal_typed_config(paths=VALIDATION_FILES)
    raw["training_configurations"].pop("validation_split")
    result = invoke("convert", write_config(tmp_path, raw))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["training_configurations"]["validation_split"] == 0.0


def _fcn(minimal_typed_config, input_shape):
    raw = minimal_typed_config(config_file={"model_signal": "FCN", "input_shape": input_shape},
                               layers={"serial_layer_list": ["Input:(16, 16, 1)", "Convolution 2D:3:(3, 3)",
                                                             "Activation:softmax"]})
    if input_shape is None:
        del raw["config_file"]["input_shape"]
    return raw


def test_an_fcn_input_shape_that_differs_from_its_input_layer(tmp_path, minimal_typed_config):
    result = validate_text(tmp_path, json.dumps(_fcn(minimal_typed_config, [32, 32, 1])))
    assert result.exit_code == 2
    assert errors(result) == [
        "error: config_file.input_shape: differs from the shape (16, 16, 1) of the Input layer "
        "(layers.serial_layer_list[0]), which defines the network input. Expected (16, 16, 1) or (16, 16), or leave "
        "the key out. Received: (32, 32, 1)."]


@pytest.mark.parametrize("input_shape", [[16, 16, 1], [16, 16], None])
def test_input_shapes_that_fit_the_input_layer_pass(tmp_path, minimal_typed_config, input_shape):
    assert validate_text(tmp_path, json.dumps(_fcn(minimal_typed_config, input_shape))).exit_code == 0


def test_bbd_reports_a_different_input_shape_once(tmp_path):
    raw = example_config("bbd")
    raw["config_file"]["input_shape"] = [64, 64, 1]
    result = validate_text(tmp_path, json.dumps(raw))
    assert result.exit_code == 2
    assert [line.split(":")[1] for line in errors(result)] == [" config_file.input_shape"]


@pytest.mark.parametrize("kind,position", [("Outer", 2), ("Inner", 4)])
def test_a_skip_source_without_a_target_is_located_at_the_source(tmp_path, minimal_typed_config, kind, position):
    raw = minimal_typed_config()
    raw["layers"]["serial_layer_list"].insert(position, f"{kind} skip source")
    result = validate_text(tmp_path, json.dumps(raw))
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: layers.serial_layer_list[{position}]: {kind} skip source has no {kind} skip target after it: the "
        f"skip is never merged. Expected a later '{kind} skip target' for every '{kind} skip source' (or remove the "
        f"source). Received: '{kind} skip source:concatenate'."]


def test_unmerged_skip_sources_are_counted_and_the_first_is_located(registry, minimal_typed_config):
    raw = minimal_typed_config()
    layers = raw["layers"]["serial_layer_list"]
    layers[1:1] = ["Outer skip source", "Inner skip source"]
    layers.insert(4, "Outer skip source")
    with pytest.raises(ConfigError) as info:
        plan_model(parse_config(raw, registry), registry)
    [problem] = info.value.problems
    assert problem.where == "layers.serial_layer_list[1]"
    assert "(3 unmerged skip sources in this list)" in problem.what


def test_matched_skips_and_unused_encoder_taps_pass(tmp_path, minimal_typed_config):
    raw = minimal_typed_config()
    raw["layers"]["serial_layer_list"][1:1] = ["Outer skip source", "Inner skip source", "Inner skip target:add",
                                               "Outer skip target:concatenate"]
    assert validate_text(tmp_path, json.dumps(raw)).exit_code == 0


def test_the_example_configs_still_validate(tmp_path):
    for name in ("cnn", "fcn", "fcn3d", "bbd", "pix2pix"):
        shutil.rmtree(tmp_path / name, ignore_errors=True)
        result = validate_text(tmp_path, json.dumps(example_config(name)))
        assert result.exit_code == 0, (name, result.output)
