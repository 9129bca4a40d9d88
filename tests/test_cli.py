"""The dlae CLI through click's CliRunner: exact exit codes, one line per problem, no tracebacks."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
from click.testing import CliRunner

from dlae_core.cli.main import cli

pytestmark = pytest.mark.usefixtures("fresh_default_registry")

WIDE = {"COLUMNS": "250"}  # rich tables would fold long names at the default 80 columns


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env or WIDE)


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.fixture
def good_config(tmp_path, write_config, minimal_typed_config):
    return write_config(tmp_path, minimal_typed_config())


# ------------------------------------------------------------------ validate

def test_validate_ok_prints_one_summary_line(good_config):
    result = invoke("validate", "--skip-data", str(good_config))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        f"OK {good_config}: CNN Train, input (8, 8, 3), serial_layer_list 6 nodes -> (2,), 626 parameters"]


def test_validate_gan_summary_names_both_lists(tmp_path, write_config, minimal_typed_config):
    raw = minimal_typed_config(
        config_file={"model_signal": "GAN", "input_shape": [8, 8, 1]},
        loss_function={"loss": "pix2pix", "parameter1": 100.0},
        layers={"serial_layer_list": [],
                "generator_layer_list": ["Input:(8, 8, 1)", "Convolution 2D:1"],
                "discriminator_layer_list": ["Input:(8, 8, 1)", "Convolution 2D:1:(3, 3):(2, 2)"]})
    result = invoke("validate", "--skip-data", str(write_config(tmp_path, raw)))
    assert result.exit_code == 0, result.output
    # generator 3*3*1*1+1 = 10, discriminator 3*3*2*1+1 = 19
    assert result.stdout.strip().endswith(
        "generator_layer_list 2 nodes -> (8, 8, 1), discriminator_layer_list 4 nodes -> (4, 4, 1), 29 parameters")


@pytest.mark.parametrize("change,expected", [
    ({"training_configurations": {"batch_size": "many"}},
     ["error: training_configurations.batch_size: invalid value. Expected an integer >= 1. Received: 'many'."]),
    ({"monitors": {"mse_switch": "true"}, "optimizer": {"optimizer": "adam"}},
     ["error: optimizer.optimizer: unknown optimizer. Expected one of 'Adadelta', 'Adagrad', 'Adam', 'Adamax', ",
      "error: monitors.mse_switch: invalid value. Expected \"True\" or \"False\" (or a JSON boolean). "
      "Received: 'true'. Did you mean 'True'?"]),
])
def test_validate_bad_values_exit_2_one_line_each(tmp_path, write_config, minimal_typed_config, change, expected):
    result = invoke("validate", "--skip-data", str(write_config(tmp_path, minimal_typed_config(**change))))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = error_lines(result)
    assert len(lines) == len(expected)
    for line, start in zip(lines, expected):
        assert line.startswith(start)
    if "optimizer" in change:
        from dlae_core.plugin.registry import get_registry

        listed = ", ".join(repr(n) for n in sorted(get_registry().optimizers))  # plugins add theirs
        assert f"Expected one of {listed}. Received: 'adam'. Did you mean 'Adam'?" in lines[0]
    assert "Traceback" not in result.output


def test_validate_unknown_layer(tmp_path, write_config, minimal_typed_config):
    raw = minimal_typed_config()
    raw["layers"]["serial_layer_list"][3] = "Flaten"
    result = invoke("validate", "--skip-data", str(write_config(tmp_path, raw)))
    assert result.exit_code == 2
    assert error_lines(result) == [
        "error: layers.serial_layer_list[3]: unknown layer type. Expected a registered layer name such as "
        "'Convolution 2D' (see `dlae list layers`). Received: 'Flaten'. Did you mean 'Flatten'?"]


def test_validate_shape_mismatch(tmp_path, write_config, minimal_typed_config):
    raw = minimal_typed_config()
    raw["layers"]["serial_layer_list"][1:1] = ["Outer skip source", "Max pooling 2D"]
    raw["layers"]["serial_layer_list"].insert(4, "Outer skip target:concatenate")
    result = invoke("validate", "--skip-data", str(write_config(tmp_path, raw)))
    assert result.exit_code == 2
    [line] = error_lines(result)
    assert line.startswith("error: layers.serial_layer_list[4]: cannot merge the skip from input_1: concatenate needs "
                           "equal spatial shapes, but the skip tensor is (8, 8, 3) and the current tensor is (4, 4, 4)")


def test_validate_malformed_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"config_file": {"model_signal": "CNN",}}', encoding="utf-8")
    result = invoke("validate", "--skip-data", str(path))
    assert result.exit_code == 2
    [line] = error_lines(result)
    assert line.startswith(f"error: {path}: invalid JSON at line 1, column 40: ")
    assert "Traceback" not in result.output


def test_validate_missing_file(tmp_path):
    path = tmp_path / "nowhere.json"
    result = invoke("validate", "--skip-data", str(path))
    assert result.exit_code == 2
    assert error_lines(result) == [f"error: config file {str(path)!r} does not exist"]


def test_validate_wrong_usage_is_a_click_usage_error(good_config):
    result = invoke("validate", "--no-such-option", str(good_config))
    assert result.exit_code == 2
    assert "No such option" in result.stderr


needs_data_checks = pytest.mark.skipif(importlib.util.find_spec("dlae_core.data.checks") is None,
                                       reason="dlae_core.data.checks is not there yet")


@needs_data_checks
def test_validate_without_skip_data_checks_the_files(tmp_path, write_config, minimal_typed_config):
    raw = minimal_typed_config(paths={"train_X": str(tmp_path / "missing_X.h5"),
                                      "train_y": str(tmp_path / "missing_y.h5")})
    path = write_config(tmp_path, raw)
    result = invoke("validate", str(path))
    assert result.exit_code == 2
    lines = error_lines(result)
    assert lines[0].startswith(f"error: paths.train_X: {tmp_path / 'missing_X.h5'} does not exist")
    assert any(line.startswith("error: paths.train_y: ") for line in lines)
    assert "Traceback" not in result.output
    # the same config passes with --skip-data
    assert invoke("validate", "--skip-data", str(path)).exit_code == 0


@needs_data_checks
def test_validate_without_skip_data_needs_training_paths(good_config):
    result = invoke("validate", str(good_config))
    assert result.exit_code == 2
    assert error_lines(result)[0].startswith("error: paths.train_X: a Train session needs training inputs")


# ------------------------------------------------------------------ inspect

def test_inspect_table(good_config):
    result = invoke("inspect", str(good_config))
    assert result.exit_code == 0, result.output
    out = result.stdout
    for name in ("input_1", "convolution_2d_1", "activation_1", "flatten_1", "dense_1", "activation_2"):
        assert name in out
    assert "(8, 8, 4)" in out and "(256,)" in out
    assert re.search(r"convolution_2d_1.*\(8, 8, 4\).*\b112\b", out)
    assert re.search(r"dense_1.*\(2,\).*\b514\b", out)
    assert "total parameters 626 (trainable 626, non-trainable 0)" in out
    assert "per sample" in out  # activation memory estimate


def test_inspect_json(good_config):
    result = invoke("inspect", "--json", str(good_config))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"layers", "trainable_params", "non_trainable_params", "total_params"} <= set(report)
    assert (report["trainable_params"], report["non_trainable_params"], report["total_params"]) == (626, 0, 626)
    rows = [(r["name"], r["output_shape"], r["trainable_params"], r["non_trainable_params"]) for r in report["layers"]]
    assert rows == [("input_1", [8, 8, 3], 0, 0), ("convolution_2d_1", [8, 8, 4], 112, 0),
                    ("activation_1", [8, 8, 4], 0, 0), ("flatten_1", [256], 0, 0), ("dense_1", [2], 514, 0),
                    ("activation_2", [2], 0, 0)]
    # 2 (value + gradient) * 4 bytes * (256 + 256 + 256 + 2 + 2) elements
    assert report["activation_bytes_per_sample"] == 8 * 772


def test_inspect_json_counts_batch_norm_statistics_as_non_trainable(tmp_path, write_config, minimal_typed_config):
    raw = minimal_typed_config()
    raw["layers"]["serial_layer_list"].insert(2, "Batch normalization")
    report = json.loads(invoke("inspect", "--json", str(write_config(tmp_path, raw))).stdout)
    bn = next(r for r in report["layers"] if r["name"] == "batch_normalization_1")
    assert (bn["trainable_params"], bn["non_trainable_params"]) == (8, 8)
    assert (report["trainable_params"], report["non_trainable_params"], report["total_params"]) == (634, 8, 642)


def test_inspect_shows_a_pretrained_network_as_one_row(tmp_path, write_config, minimal_typed_config):
    layers = ["Input:(64, 64, 3)", "ResNet50:False:none:(64, 64, 3):False:False", "Global average pooling 2D",
              "Dense:2", "Activation:softmax"]
    raw = minimal_typed_config(config_file={"input_shape": [64, 64, 3]}, layers={"serial_layer_list": layers},
                               training_configurations={"freeze_pretrained": True})
    path = str(write_config(tmp_path, raw))
    report = json.loads(invoke("inspect", "--json", path).stdout)
    network = report["layers"][1]
    assert (network["name"], network["type"], network["output_shape"]) == (
        "ResNet50", "pretrained network (174 layers)", [2, 2, 2048])
    # frozen: Keras counts every weight of the network as non-trainable
    assert (network["trainable_params"], network["non_trainable_params"]) == (0, 23_534_592 + 53_120)
    assert report["layers"][2]["inputs"] == ["conv5_block3_out"]
    assert (report["trainable_params"], report["non_trainable_params"]) == (4_098, 23_587_712)
    expanded = json.loads(invoke("inspect", "--json", "--network-layers", path).stdout)
    assert [row["name"] for row in expanded["layers"][1:4]] == ["conv1_pad", "conv1_conv", "conv1_bn"]
    assert len(expanded["layers"]) == 1 + 174 + 3


def test_inspect_lenet5_totals(original_dir):
    result = invoke("inspect", "--json", str(original_dir / "prebuilt_configs" / "lenet5.json"))
    report = json.loads(result.stdout)
    assert (report["trainable_params"], report["non_trainable_params"], report["total_params"]) == (107_830, 44,
                                                                                                    107_874)


def test_inspect_bad_config_exits_2(tmp_path, write_config, minimal_typed_config):
    result = invoke("inspect", str(write_config(tmp_path, minimal_typed_config(loss_function={"loss": "focall"}))))
    assert result.exit_code == 2
    assert error_lines(result)[0].endswith("Received: 'focall'. Did you mean 'focal'?")


# ------------------------------------------------------------------ list, plugins

@pytest.mark.parametrize("kind,names", [
    ("layers", ["Convolution 2D", "Leaky reLU", "PreLU", "Outer skip target", "InceptionResNetV2", "Cropping 3D"]),
    ("losses", ["categorical_crossentropy", "tversky", "pix2pix", "cyclegan", "ssd", "soft_dice"]),
    ("optimizers", ["Adam", "NAdam", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax"]),
    ("techniques", ["CNN", "FCN", "GAN", "BBD"]),
    ("activations", ["relu", "softmax", "hard_sigmoid", "selu", "elu"]),
])
def test_list(kind, names):
    result = invoke("list", kind, "--names")
    assert result.exit_code == 0
    listed = result.stdout.splitlines()
    assert set(names) <= set(listed)
    table = invoke("list", kind)
    assert table.exit_code == 0
    assert re.search(rf"\b{len(listed)} {kind}\b", table.stdout)
    for name in names:
        assert name in table.stdout


def test_list_layers_table_shows_grammar_and_owner():
    out = invoke("list", "layers").stdout
    row = next(line for line in out.splitlines() if "Resize convolution 2D" in line)
    assert "filters:kernel:stride:upsample:padding:dilation:initializer" in row
    assert "core" in row


def test_list_backends():
    result = invoke("list", "backends")
    assert result.exit_code == 0
    assert re.search(r"\b\d+ backends\b", result.stdout)
    for name in invoke("list", "backends", "--names").stdout.split():
        assert name in result.stdout


def test_list_unknown_kind():
    result = invoke("list", "layer")
    assert result.exit_code == 2
    assert "Invalid value for '{layers|losses|optimizers|activations|techniques|backends}'" in result.stderr


def test_plugins_lists_the_core_distribution():
    from dlae_core import __version__
    result = invoke("plugins")
    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ core "))
    assert "dlae" in row and __version__ in row
    assert "62 layers: Input, Reshape, Permute" in result.stdout
    assert "7 optimizers: Adam, NAdam, SGD" in result.stdout


# ------------------------------------------------------------------ convert

def test_convert_typed_and_legacy_round_trip(tmp_path, write_config, minimal_typed_config, registry):
    from dlae_core.config.parser import load_config
    source = write_config(tmp_path, minimal_typed_config(bbd_options={"steps": None}))
    legacy = invoke("convert", "--legacy", str(source))
    assert legacy.exit_code == 0
    legacy_data = json.loads(legacy.stdout)
    assert legacy_data["config_file"] == {"model_signal": "CNN", "type_signal": "Train", "input_shape": "(8, 8, 3)"}
    assert legacy_data["training_configurations"]["batch_size"] == "4"
    assert legacy_data["bbd_options"]["steps"] == "None"
    assert legacy_data["optimizer"]["gan_optimizer"] == "Adam:0.9:0.999:0.9:0.0:None"
    assert legacy_data["layers"]["serial_layer_list"][1] == (
        "Convolution 2D:4:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.001:0.001")
    assert len(legacy_data) == 12 and all(legacy_data[s] for s in legacy_data)
    legacy_path = tmp_path / "legacy.json"
    legacy_path.write_text(legacy.stdout)
    typed = invoke("convert", str(legacy_path))
    assert typed.exit_code == 0
    typed_data = json.loads(typed.stdout)
    assert typed_data["config_file"]["input_shape"] == [8, 8, 3]
    assert typed_data["bbd_options"]["steps"] is None
    assert typed_data["layers"]["serial_layer_list"][4] == {"type": "Dense", "units": 2}
    typed_path = tmp_path / "typed.json"
    typed_path.write_text(typed.stdout)
    assert load_config(typed_path, registry) == load_config(source, registry) == load_config(legacy_path, registry)


def test_convert_output_never_overwrites_without_flag(tmp_path, good_config):
    out = tmp_path / "out.json"
    first = invoke("convert", str(good_config), "-o", str(out))
    assert first.exit_code == 0 and first.stdout.strip() == f"wrote {out}"
    content = out.read_text()
    second = invoke("convert", "--legacy", str(good_config), "-o", str(out))
    assert second.exit_code == 2
    assert error_lines(second) == [f"error: output {str(out)!r} already exists; pass --overwrite to replace it or "
                                   "choose another path"]
    assert out.read_text() == content
    third = invoke("convert", "--legacy", str(good_config), "-o", str(out), "--overwrite")
    assert third.exit_code == 0
    assert json.loads(out.read_text())["training_configurations"]["batch_size"] == "4"


def test_convert_bad_config_exits_2(tmp_path, write_config, minimal_typed_config):
    result = invoke("convert", str(write_config(tmp_path, minimal_typed_config(monitors={"mae_switch": "maybe"}))))
    assert result.exit_code == 2
    assert error_lines(result) == ["error: monitors.mae_switch: invalid value. Expected \"True\" or \"False\" "
                                   "(or a JSON boolean). Received: 'maybe'."]


def test_version_and_help():
    from dlae_core import __version__
    assert invoke("--version").stdout.strip() == f"dlae, version {__version__}"
    help_text = invoke("--help").stdout
    for command in ("validate", "inspect", "convert", "list", "plugins"):
        assert command in help_text


def test_inspect_tables_keep_one_line_per_layer_in_a_pipe(monkeypatch):
    from pathlib import Path

    monkeypatch.delenv("COLUMNS", raising=False)  # an explicit COLUMNS wins (some test runners set 80)

    config = Path(__file__).resolve().parents[1] / "configs" / "example_fcn.json"
    result = CliRunner().invoke(cli, ["inspect", str(config)])
    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if "batch_normalization_1 " in line]
    assert len(rows) == 2  # its own row and the activation that reads it
    assert "Batch normalization" in rows[0] and "(16, 16, 16)" in rows[0] and "32" in rows[0]
