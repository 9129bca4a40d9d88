"""The experiment API (docs/EXPERIMENTS.md): load either value form, typed edits, layer helpers, the
CLI's validation messages, save, run in-process and as a subprocess, results; the manual §11 example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import dlae_core.experiments as dlae
from dlae_core.cli.main import cli
from dlae_core.errors import ConfigError, DlaeError, OutputExistsError
from sweep_support import write_base

pytest.importorskip("torch")


@pytest.fixture
def base(tmp_path) -> Path:
    return write_base(tmp_path / "base")


def _legacy_copy(path: Path, registry_exp) -> Path:
    legacy = path.with_name("legacy.json")
    legacy.write_text(json.dumps(registry_exp.to_dict("legacy")), encoding="utf-8")
    return legacy


def test_both_value_forms_read_alike_and_edits_keep_the_form(base):
    exp = dlae.load(base)
    legacy = dlae.load(_legacy_copy(base, exp))
    assert legacy.raw["training_configurations"]["epochs"] == "1"  # really the string form
    assert exp.hash() == legacy.hash()
    assert legacy.config_file.input_shape == exp.config_file.input_shape == (16, 16, 1)
    assert legacy.training_configurations.early_stop_switch is False
    legacy.training_configurations.epochs = 3
    legacy.learning_rate_schedule.learning_rate = 0.01
    assert legacy.raw["training_configurations"]["epochs"] == "3"
    assert legacy.training_configurations.epochs == 3
    exp.training_configurations.epochs = 3
    exp.set("learning_rate_schedule.learning_rate", "0.01")
    assert exp.raw["training_configurations"]["epochs"] == 3
    assert exp.hash() == legacy.hash()


def test_edits_are_checked_with_located_messages(base):
    exp = dlae.load(base)
    with pytest.raises(ConfigError) as bad_loss:
        exp.loss_function.loss = "tversk"
    assert bad_loss.value.lines()[0].startswith("loss_function.loss: unknown loss.")
    assert "Did you mean 'tversky'?" in bad_loss.value.lines()[0]
    with pytest.raises(ConfigError, match=r"training_configurations.epochs: invalid value"):
        exp.training_configurations.epochs = -1
    with pytest.raises(ConfigError, match=r"Did you mean 'loss'"):
        exp.set("loss_function.los", "tversky")
    with pytest.raises(ConfigError, match=r"layers.serial_layer_list\[5\].filter: .*Did you mean 'filters'"):
        exp.set("layers.serial_layer_list[5].filter", 4)
    assert exp.loss_function.loss == "sparse_categorical_crossentropy"  # nothing changed


def test_layer_helpers_and_losses(base):
    exp = dlae.load(base)
    layers = exp.layers.serial_layer_list
    assert layers.types()[:4] == ["Input", "Convolution 2D", "Activation", "Outer skip source"]
    layers.set_param(1, "filters", 4)
    assert exp.raw["layers"]["serial_layer_list"][1].startswith("Convolution 2D:4:")  # strings stay strings
    layers.set_param(5, "filters", 6)
    assert exp.raw["layers"]["serial_layer_list"][5] == {"type": "Convolution 2D", "filters": 6, "kernel": [3, 3]}
    layers.insert(3, "Dropout:0.25")
    assert layers[3].type == "Dropout" and layers[3].params["rate"] == 0.25 and len(layers) == 12
    layers.remove(3)
    assert layers.find("Outer skip target") == [8]
    with pytest.raises(ConfigError, match="unknown layer type"):
        layers.insert(2, "Dropot:0.1")
    assert len(layers) == 11
    exp.set_loss("tversky", alpha=0.3, beta=0.7)
    assert (exp.loss_function.loss, exp.loss_function.parameter1, exp.loss_function.parameter2) == ("tversky", 0.3, 0.7)
    with pytest.raises(ConfigError, match="no parameter 'gamma'"):
        exp.set_loss("tversky", gamma=2)
    with pytest.raises(ConfigError, match="no pretrained encoder"):
        layers.replace_encoder("ResNet50")
    assert layers.remove_all("Outer skip target") == 1
    with pytest.raises(ConfigError) as error:  # the skip source is left without a target
        exp.validate(check_data=False)
    assert error.value.lines()


def test_validate_says_what_the_cli_says(base, tmp_path):
    exp = dlae.load(base)
    exp.layers.serial_layer_list.set_param(9, "filters", 5)  # 5 output channels for 3-class labels? fine
    exp.layers.serial_layer_list[0] = "Input:(12, 12, 1)"
    saved = exp.save(tmp_path / "bad" / "config.json")
    with pytest.raises(DlaeError) as error:
        exp.validate()
    result = CliRunner().invoke(cli, ["validate", str(saved)])
    assert result.exit_code == 2
    assert [line for line in result.output.splitlines() if line.startswith("error: ")] == \
        [f"error: {line}" for line in error.value.lines()]


def test_save_rebases_inputs_and_never_overwrites(base, tmp_path):
    exp = dlae.load(base)
    target = exp.save(tmp_path / "elsewhere" / "deep" / "config.json")
    moved = dlae.load(target)
    assert moved.parse().paths.train_X == dlae.load(base).parse().paths.train_X
    assert moved.parse().save_configurations.save_model_path == str(target.parent / "out" / "model.pt")
    with pytest.raises(OutputExistsError):
        exp.save(target)
    assert json.loads(Path(exp.save(target, form="legacy", overwrite=True)).read_text())["config_file"]["input_shape"] == "(16, 16, 1)"


def test_run_in_process_and_as_subprocess(base, tmp_path):
    exp = dlae.load(base)
    with pytest.raises(DlaeError, match="save the experiment"):
        exp.copy().run("torch")
    exp.training_configurations.epochs = 2
    with pytest.raises(DlaeError, match="save the experiment"):
        exp.run("torch")  # the edits are not in base.json, which is never rewritten
    exp.save(tmp_path / "a" / "config.json")
    result = exp.run("torch")
    assert result.status == "finished" and result.hash == exp.hash() == result.record["hash"]
    assert [row["epoch"] for row in result.history] == [0, 1]
    assert result.best() == min(result.column("val_loss"))
    assert result.best("val_accuracy", "maximize") == max(result.column("val_accuracy"))
    assert result.outputs["final model"] == tmp_path / "a" / "out" / "model.pt"
    assert result.outputs["final model"].is_file()
    exp.training_configurations.epochs = 1  # saved to a/config.json (this experiment's own file) first
    child = exp.run("torch", subprocess=True, overwrite=True)
    assert child.exit_code == 0 and child.status == "finished" and len(child.history) == 1
    assert json.loads((tmp_path / "a" / "config.json").read_text())["training_configurations"]["epochs"] == 1


def _example_code() -> str:
    text = (Path(__file__).resolve().parents[1] / "docs" / "EXPERIMENTS.md").read_text(encoding="utf-8")
    section = text.split("## The manual's §11 example", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_manual_section_11_example_runs(tmp_path):
    """The documented generator, as written, on a tiny MobileNet U-Net (encoders x losses x alpha)."""
    from dlae_core.prebuilt.catalog import generate
    from dlae_core.prebuilt.settings import build_config
    from dlae_core.data.synthetic import write_example_data

    # 32x32: MobileNet's smallest input; one batch per epoch
    files = write_example_data(tmp_path / "data", "segmentation", n=5, size=32, seed=0, classes=3)
    raw = build_config(generate("mobilenet_unet", (32, 32, 1), 3))
    base = dlae.Experiment(raw, tmp_path)
    for key in ("train_X", "train_y", "validation_X", "validation_y"):
        base.set(f"paths.{key}", str(files[key]))
    base.update({"training_configurations.epochs": 1, "training_configurations.hardware": "cpu",
                 "training_configurations.batch_size": 8, "training_configurations.freeze_pretrained": True})
    layers = base.layers.serial_layer_list
    for index, spec in enumerate(layers):  # a slim decoder: the test is about the generator, not the net
        if spec.type in ("Convolution 2D", "Resize convolution 2D") and spec.params["filters"] > 3:
            layers.set_param(index, "filters", 4)
    base_path = base.save(tmp_path / "base" / "config.json")
    namespace: dict = {"__name__": "example"}
    exec(compile(_example_code(), "EXPERIMENTS.md", "exec"), namespace)
    # one encoder (the base's MobileNet swapped for MobileNetV2) keeps the test short: each run builds a
    # pretrained network; the loop over encoders is the same code for more
    results = namespace["generate"](base_path, tmp_path / "experiments", ["MobileNetV2"],
                                    ["categorical_crossentropy", "tversky", "focal"], [0.3, 0.7], classes=3)
    names = [name for name, _ in results]
    assert names == ["MobileNetV2_categorical_crossentropy_0.3", "MobileNetV2_tversky_0.3",
                     "MobileNetV2_tversky_0.7"]
    assert all(isinstance(value, float) for _, value in results)
    saved = dlae.load(tmp_path / "experiments" / "MobileNetV2_tversky_0.7" / "config.json")
    assert saved.layers.serial_layer_list[1].type == "MobileNetV2"
    assert (saved.loss_function.parameter1, saved.loss_function.parameter2) == (0.7, pytest.approx(0.3))
    assert (tmp_path / "experiments" / "MobileNetV2_tversky_0.3" / "out" / "model.pt").is_file()
    assert not (tmp_path / "experiments" / "MobileNetV2_categorical_crossentropy_0.7").exists()
