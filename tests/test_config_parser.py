"""The config parser (both forms, defaults, unknown names, all problems with their JSON path) and
the cross-key / technique checks of dlae_core.planning.checks and dlae_core.planning.plan."""

from __future__ import annotations

import copy
import json

import pytest

from dlae_core.config.composite import LearningRate, OptimizerRecord
from dlae_core.config.parser import load_config, parse_config
from dlae_core.config.schema import SECTIONS
from dlae_core.errors import ConfigError, ConfigFileError
from dlae_core.layers.spec import LayerSpec
from dlae_core.planning.plan import plan_model

# A complete config in the original all-strings form, every value different from its default
# where the kind allows it, so each assertion below proves that section was really read.
LEGACY = {
    "config_file": {"model_signal": "FCN", "type_signal": "Train", "input_shape": "(16, 16, 2)"},
    "paths": {"load_config": "cfg.json", "load_checkpoint": "", "load_model": "model.h5",
              "train_X": "tx.h5", "train_y": "ty.h5", "validation_X": "vx.h5", "validation_y": "vy.h5",
              "test_X": "test.h5"},
    "preprocessing": {"minimum_image_intensity": "0.0, 1.0", "maximum_image_intensity": "255.0, 2.0",
                      "image_context": "2D", "normalization_type": "global_unity_x",
                      "categorical_switch": "True", "categories": "3", "weight_loss_switch": "True",
                      "repeat_X_switch": "True", "repeat_X_quantity": "2"},
    "augmentation": {"apply_augmentation_switch": "True", "featurewise_centering_switch": "True",
                     "samplewise_centering_switch": "True", "featurewise_normalization_switch": "True",
                     "samplewise_normalization_switch": "True", "width_shift": "0.1", "height_shift": "0.2",
                     "rotation_range": "15", "brightness_range": "(0.8, 1.2)", "shear_range": "5.0",
                     "zoom_range": "0.1", "channel_shift_range": "0.3", "fill_mode": "reflect", "cval": "1.5",
                     "horizontal_flip_switch": "False", "vertical_flip_switch": "False", "rounds": "2",
                     "zca_epsilon": "1e-06", "random_seed": "7"},
    "loss_function": {"loss": "focal", "parameter1": "0.75", "parameter2": "2.0", "adversarial": "least_squares"},
    "learning_rate_schedule": {"learning_rate": "0.001", "learning_rate_decay_factor": "0.01",
                               "decay_on_plateau_switch": "False", "decay_on_plateau_factor": "0.5",
                               "decay_on_plateau_patience": "4", "step_decay_switch": "True",
                               "step_decay_factor": "0.5", "step_decay_period": "6",
                               "discriminator_learning_rate": "0.0002:0.1", "gan_learning_rate": "0.0003:0.2"},
    "optimizer": {"optimizer": "SGD", "beta1": "0.8", "beta2": "0.99", "rho": "0.95", "momentum": "0.9",
                  "epsilon": "1e-08", "discriminator_optimizer": "RMSprop:0.5:0.9:0.8:0.1:1e-07",
                  "gan_optimizer": "Adamax:0.6:0.95:0.85:0.2:None"},
    "training_configurations": {"hardware": "cpu", "number_of_gpus": "2", "early_stop_switch": "False",
                                "early_stop_patience": "5", "batch_size": "8", "epochs": "20",
                                "shuffle_data_switch": "False", "validation_split": "0.0"},
    "monitors": {"mse_switch": "True", "mae_switch": "True", "accuracy_switch": "False"},
    "save_configurations": {"save_model_switch": "True", "save_model_path": "out/model.h5",
                            "save_csv_switch": "True", "save_csv_path": "out/history.csv",
                            "save_checkpoints_switch": "True", "save_checkpoints_path": "out/ckpt.h5",
                            "save_checkpoints_frequency": "2", "save_tensorboard_switch": "True",
                            "save_tensorboard_path": "out/tb", "save_tensorboard_frequency": "0"},
    "bbd_options": {"scaling_type": "per predictor layer", "scales": "0.1, 0.2, 0.4",
                    "aspect_ratios_type": "per predictor layer", "aspect_ratios": "((1.0, 2.0), (0.5, 1.0))",
                    "number_classes": "3", "steps": "((8, 8), (16, 16))", "offsets": "(0.5, 0.5)",
                    "variances": "(1.0, 1.0, 1.0, 1.0)", "confidence_threshold": "0.1",
                    "iou_threshold": "0.45", "top_k": "10", "nms_maximum_output": "100",
                    "coordinates_type": "minmax", "two_boxes_for_AR1_switch": "True", "clip_boxes_switch": "True",
                    "normalize_coordinates_switch": "True", "positive_iou_threshold": "0.6",
                    "negative_iou_limit": "0.2"},
    "layers": {"serial_layer_list": ["Input:(16, 16, 2)",
                                     "Convolution 2D:3:(1, 1):(1, 1):same:(1, 1):he_normal:None:None:0.001:0.001",
                                     "Activation:softmax"],
               "generator_layer_list": [], "discriminator_layer_list": []},
}

EXPECTED = {
    "config_file": {"model_signal": "FCN", "type_signal": "Train", "input_shape": (16, 16, 2)},
    "paths": {"load_config": "cfg.json", "load_checkpoint": None, "load_model": "model.h5", "train_X": "tx.h5",
              "train_y": "ty.h5", "validation_X": "vx.h5", "validation_y": "vy.h5", "test_X": "test.h5"},
    "preprocessing": {"minimum_image_intensity": (0.0, 1.0), "maximum_image_intensity": (255.0, 2.0),
                      "image_context": "2D", "normalization_type": "global_unity_x", "categorical_switch": True,
                      "categories": 3, "weight_loss_switch": True, "repeat_X_switch": True, "repeat_X_quantity": 2},
    "augmentation": {"apply_augmentation_switch": True, "featurewise_centering_switch": True,
                     "samplewise_centering_switch": True, "featurewise_normalization_switch": True,
                     "samplewise_normalization_switch": True, "width_shift": 0.1, "height_shift": 0.2,
                     "rotation_range": 15, "brightness_range": (0.8, 1.2), "shear_range": 5.0, "zoom_range": 0.1,
                     "channel_shift_range": 0.3, "fill_mode": "reflect", "cval": 1.5,
                     "horizontal_flip_switch": False, "vertical_flip_switch": False, "rounds": 2,
                     "zca_epsilon": 1e-06, "random_seed": 7},
    "loss_function": {"loss": "focal", "parameter1": 0.75, "parameter2": 2.0, "adversarial": "least_squares"},
    "learning_rate_schedule": {"learning_rate": 0.001, "learning_rate_decay_factor": 0.01,
                               "decay_on_plateau_switch": False, "decay_on_plateau_factor": 0.5,
                               "decay_on_plateau_patience": 4, "step_decay_switch": True, "step_decay_factor": 0.5,
                               "step_decay_period": 6, "discriminator_learning_rate": LearningRate(0.0002, 0.1),
                               "gan_learning_rate": LearningRate(0.0003, 0.2)},
    "optimizer": {"optimizer": "SGD", "beta1": 0.8, "beta2": 0.99, "rho": 0.95, "momentum": 0.9, "epsilon": 1e-08,
                  "discriminator_optimizer": OptimizerRecord("RMSprop", 0.5, 0.9, 0.8, 0.1, 1e-07),
                  "gan_optimizer": OptimizerRecord("Adamax", 0.6, 0.95, 0.85, 0.2, None)},
    "training_configurations": {"hardware": "cpu", "number_of_gpus": 2, "synchronized_batch_normalization": False,
                                "early_stop_switch": False, "early_stop_patience": 5, "batch_size": 8, "epochs": 20,
                                "shuffle_data_switch": False, "validation_split": 0.0, "precision": "fp32",
                                "cache_data": True, "freeze_pretrained": False, "sliding_window_switch": False,
                                "sliding_window_overlap": 0.5, "sliding_window_blending": "gaussian"},
    "monitors": {"mse_switch": True, "mae_switch": True, "accuracy_switch": False},
    "save_configurations": {"save_model_switch": True, "save_model_path": "out/model.h5", "save_csv_switch": True,
                            "save_csv_path": "out/history.csv", "save_checkpoints_switch": True,
                            "save_checkpoints_path": "out/ckpt.h5", "save_checkpoints_frequency": 2,
                            "save_tensorboard_switch": True, "save_tensorboard_path": "out/tb",
                            "save_tensorboard_frequency": 0},
    "bbd_options": {"scaling_type": "per predictor layer", "scales": (0.1, 0.2, 0.4),
                    "aspect_ratios_type": "per predictor layer", "aspect_ratios": ((1.0, 2.0), (0.5, 1.0)),
                    "number_classes": 3, "steps": ((8.0, 8.0), (16.0, 16.0)), "offsets": (0.5, 0.5),
                    "variances": (1.0, 1.0, 1.0, 1.0), "confidence_threshold": 0.1, "iou_threshold": 0.45,
                    "top_k": 10, "nms_maximum_output": 100, "coordinates_type": "minmax",
                    "two_boxes_for_AR1_switch": True, "clip_boxes_switch": True,
                    "normalize_coordinates_switch": True, "positive_iou_threshold": 0.6, "negative_iou_limit": 0.2},
}


def _problems(registry, raw) -> list[str]:
    with pytest.raises(ConfigError) as info:
        plan_model(parse_config(raw, registry), registry)
    return info.value.lines()


def _parse_problems(registry, raw) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, registry)
    return info.value.lines()


# ------------------------------------------------------------------ every section

@pytest.mark.parametrize("section", list(EXPECTED))
def test_every_section_of_a_legacy_config_is_read(registry, section):
    config = parse_config(LEGACY, registry)
    parsed = getattr(config, section)
    for key, value in EXPECTED[section].items():
        assert getattr(parsed, key) == value, f"{section}.{key}"


def test_expected_table_covers_every_schema_key():
    import attrs
    for name, cls in SECTIONS.items():
        assert set(EXPECTED[name]) == {f.name for f in attrs.fields(cls)}, name


def test_layers_section_is_parsed_into_specs(registry):
    config = parse_config(LEGACY, registry)
    specs = config.layers.serial_layer_list
    assert [s.type for s in specs] == ["Input", "Convolution 2D", "Activation"]
    assert specs[0] == LayerSpec("Input", {"shape": (16, 16, 2)})
    assert specs[1]["filters"] == 3 and specs[1]["kernel"] == (1, 1) and specs[1]["l2"] == 0.001
    assert config.layers.generator_layer_list == () and config.layers.discriminator_layer_list == ()


def test_typed_form_of_every_section_gives_the_same_config(registry):
    from dlae_core.config.values import to_json
    typed = {section: {k: to_json(v) for k, v in values.items()} for section, values in EXPECTED.items()}
    typed["layers"] = {"serial_layer_list": [
        {"type": "Input", "shape": [16, 16, 2]},
        {"type": "Convolution 2D", "filters": 3, "kernel": [1, 1]},
        {"type": "Activation", "activation": "softmax"}]}
    assert parse_config(typed, registry) == parse_config(LEGACY, registry)
    assert json.loads(json.dumps(typed)) == typed  # really JSON


# ------------------------------------------------------------------ defaults

def test_absent_keys_take_the_documented_defaults(registry):
    config = parse_config({"config_file": {"model_signal": "CNN", "type_signal": "Train"}}, registry)
    assert config.config_file.input_shape == (512, 512, 1)
    assert config.preprocessing.categories == 2
    assert config.preprocessing.repeat_X_quantity == 3
    assert config.preprocessing.normalization_type == "samplewise_unity_x"
    assert config.preprocessing.minimum_image_intensity == (0.0,)
    assert config.preprocessing.maximum_image_intensity == (4096.0,)
    assert config.augmentation.horizontal_flip_switch is True
    assert config.augmentation.fill_mode == "nearest"
    assert config.loss_function.loss == "categorical_crossentropy"
    assert config.learning_rate_schedule.learning_rate == 0.0001
    assert config.learning_rate_schedule.decay_on_plateau_factor == 0.2
    assert config.learning_rate_schedule.gan_learning_rate == LearningRate(0.0001, 0.0)
    assert config.optimizer.optimizer == "Adam"
    assert config.optimizer.epsilon is None
    assert config.optimizer.discriminator_optimizer == OptimizerRecord("Adam", 0.9, 0.999, 0.9, 0.0, None)
    assert config.training_configurations.batch_size == 32
    assert config.training_configurations.epochs == 500
    assert config.training_configurations.validation_split == 0.2
    assert config.training_configurations.early_stop_switch is True
    assert config.training_configurations.precision == "fp32"
    assert config.monitors.accuracy_switch is True
    assert config.save_configurations.save_tensorboard_frequency == 5
    assert config.bbd_options.scales == (0.1, 0.9)
    assert config.bbd_options.variances == (0.1, 0.1, 0.2, 0.2)
    assert config.bbd_options.confidence_threshold == 0.5
    assert config.bbd_options.steps == (8, 16, 32, 64, 128)
    assert config.paths.train_X is None
    assert config.layers.serial_layer_list == ()


def test_empty_strings_take_defaults_like_absent_keys(registry):
    raw = copy.deepcopy(LEGACY)
    raw["preprocessing"]["repeat_X_quantity"] = ""
    raw["preprocessing"]["categories"] = ""
    raw["training_configurations"]["batch_size"] = ""
    raw["optimizer"]["gan_optimizer"] = ""
    raw["learning_rate_schedule"]["gan_learning_rate"] = ""
    raw["bbd_options"]["steps"] = ""
    config = parse_config(raw, registry)
    assert config.preprocessing.repeat_X_quantity == 3
    assert config.preprocessing.categories == 2
    assert config.training_configurations.batch_size == 32
    assert config.optimizer.gan_optimizer == OptimizerRecord("Adam")
    assert config.learning_rate_schedule.gan_learning_rate == LearningRate(0.0001, 0.0)
    assert config.bbd_options.steps == (8, 16, 32, 64, 128)


def test_typed_null_is_a_value_where_the_key_accepts_none(registry, minimal_typed_config):
    raw = minimal_typed_config(bbd_options={"steps": None, "offsets": None},
                               optimizer={"epsilon": None}, augmentation={"brightness_range": None})
    config = parse_config(raw, registry)
    assert config.bbd_options.steps is None
    assert config.bbd_options.offsets is None
    assert config.optimizer.epsilon is None
    assert config.augmentation.brightness_range is None


def test_required_keys_missing_or_empty(registry):
    lines = _parse_problems(registry, {"config_file": {"model_signal": "", "type_signal": "Train"}})
    assert lines == ["config_file.model_signal: required key is missing or empty. "
                     "Expected one of 'BBD', 'CNN', 'FCN', 'GAN'. Received: ''."]
    lines = _parse_problems(registry, {})
    assert [line.split(":")[0] for line in lines] == ["config_file.model_signal", "config_file.type_signal"]
    assert "Received: None." in lines[0]


def test_substring_enumerations_are_not_accepted(registry, minimal_typed_config):
    # The original accepted any substring ("NN", "Tr", "gp"); dlae matches exactly.
    lines = _parse_problems(registry, minimal_typed_config(config_file={"model_signal": "NN", "type_signal": "Tr"},
                                                           training_configurations={"hardware": "gp"}))
    assert [line.split(":")[0] for line in lines] == [
        "config_file.model_signal", "config_file.type_signal", "training_configurations.hardware"]


# ------------------------------------------------------------------ unknown names, did you mean

def test_unknown_section_gets_did_you_mean(registry, minimal_typed_config):
    raw = minimal_typed_config()
    raw["preprocesing"] = {}
    lines = _parse_problems(registry, raw)
    assert len(lines) == 1
    assert lines[0].startswith("preprocesing: unknown section. Expected one of config_file, paths, ")
    assert lines[0].endswith("Received: 'preprocesing'. Did you mean 'preprocessing'?")


def test_unknown_key_gets_did_you_mean(registry, minimal_typed_config):
    raw = minimal_typed_config(augmentation={"horizontal_flip": "True"}, monitors={"mse_swich": True})
    lines = _parse_problems(registry, raw)
    assert lines == [
        "augmentation.horizontal_flip: unknown key. Expected a key of section 'augmentation'. "
        "Received: 'horizontal_flip'. Did you mean 'horizontal_flip_switch'?",
        "monitors.mse_swich: unknown key. Expected a key of section 'monitors'. "
        "Received: 'mse_swich'. Did you mean 'mse_switch'?",
    ]


def test_unknown_layer_list_key(registry, minimal_typed_config):
    raw = minimal_typed_config()
    raw["layers"]["serial_layers"] = []
    lines = _parse_problems(registry, raw)
    assert lines == ["layers.serial_layers: unknown key. Expected one of serial_layer_list, generator_layer_list, "
                     "discriminator_layer_list. Received: 'serial_layers'. Did you mean 'serial_layer_list'?"]


def test_section_and_layer_list_of_the_wrong_json_type(registry, minimal_typed_config):
    raw = minimal_typed_config()
    raw["monitors"] = ["mse_switch"]
    raw["layers"]["generator_layer_list"] = "Input:(8, 8, 1)"
    raw["layers"]["serial_layer_list"].append(42)
    lines = _parse_problems(registry, raw)
    assert lines[0] == "monitors: a section must be a JSON object. Received: ['mse_switch']."
    assert "layers.serial_layer_list[6]: a layer must be a layer string or an object with a 'type'" in lines[1]
    assert lines[1].endswith("Received: 42.")
    assert lines[2] == "layers.generator_layer_list: a layer list must be a JSON array. Received: 'Input:(8, 8, 1)'."


@pytest.mark.parametrize("section,key,value,where,suggestion", [
    ("loss_function", "loss", "categorical_crosentropy", "loss_function.loss", "categorical_crossentropy"),
    ("loss_function", "loss", "Focal", "loss_function.loss", "focal"),
    ("optimizer", "optimizer", "adam", "optimizer.optimizer", "Adam"),
    ("optimizer", "optimizer", "RMSProp", "optimizer.optimizer", "RMSprop"),
    ("config_file", "model_signal", "CNNN", "config_file.model_signal", "CNN"),
    ("config_file", "model_signal", "fcn", "config_file.model_signal", "FCN"),
])
def test_misspelled_registry_names_get_a_suggestion(registry, minimal_typed_config, section, key, value, where,
                                                    suggestion):
    lines = _parse_problems(registry, minimal_typed_config(**{section: {key: value}}))
    assert len(lines) == 1
    assert lines[0].startswith(f"{where}: unknown ")
    assert f"Received: {value!r}." in lines[0]
    assert lines[0].endswith(f"Did you mean {suggestion!r}?")


def test_unknown_loss_message_lists_the_registered_losses(registry, minimal_typed_config):
    line = _parse_problems(registry, minimal_typed_config(loss_function={"loss": "hinge"}))[0]
    assert line.startswith("loss_function.loss: unknown loss. Expected one of 'categorical_crossentropy', ")
    assert "'weighted_categorical_crossentropy'" in line
    assert line.endswith("Received: 'hinge'.")  # nothing close enough to suggest


@pytest.mark.parametrize("entry,suggestion", [
    ("Activation:relux", "relu"),
    ("Activation:Softmax", "softmax"),
    ({"type": "Activation", "activation": "sigmod"}, "sigmoid"),
])
def test_misspelled_activation(registry, minimal_typed_config, entry, suggestion):
    raw = minimal_typed_config()
    raw["layers"]["serial_layer_list"][2] = entry
    lines = _parse_problems(registry, raw)
    assert len(lines) == 1
    assert lines[0].startswith("layers.serial_layer_list[2]")
    assert "unknown activation" in lines[0]
    assert lines[0].endswith(f"Did you mean {suggestion!r}?")


@pytest.mark.parametrize("entry,where,suggestion", [
    ("Flaten", "layers.serial_layer_list[3]", "Flatten"),
    ("Convolution2D:4", "layers.serial_layer_list[3]", "Convolution 2D"),
    ("Leaky relu:0.2", "layers.serial_layer_list[3]", "Leaky reLU"),
    ("max pooling 2D", "layers.serial_layer_list[3]", "Max pooling 2D"),
    ({"type": "Batch normalisation"}, "layers.serial_layer_list[3].type", "Batch normalization"),
])
def test_misspelled_layer_name(registry, minimal_typed_config, entry, where, suggestion):
    raw = minimal_typed_config()
    raw["layers"]["serial_layer_list"][3] = entry
    lines = _parse_problems(registry, raw)
    assert len(lines) == 1
    assert lines[0].startswith(f"{where}: unknown layer type. Expected a registered layer name")
    assert lines[0].endswith(f"Did you mean {suggestion!r}?")


def test_all_problems_are_reported_each_with_its_path(registry, minimal_typed_config):
    raw = minimal_typed_config(
        optimizer={"optimizer": "Adamm"},
        training_configurations={"batch_size": "many", "epochs": -1},
        monitors={"accuracy_switch": "yes"},
    )
    raw["layers"]["serial_layer_list"][3] = "Flaten"
    raw["layers"]["serial_layer_list"][4] = "Dense:ten"
    lines = _parse_problems(registry, raw)
    assert [line.split(": ")[0] for line in lines] == [
        "optimizer.optimizer",
        "training_configurations.batch_size",
        "training_configurations.epochs",
        "monitors.accuracy_switch",
        "layers.serial_layer_list[3]",
        "layers.serial_layer_list[4]",
    ]
    assert "Did you mean 'Adam'?" in lines[0]
    assert "Received: 'many'" in lines[1]
    assert "Expected an integer >= 0. Received: -1." in lines[2]
    assert "Did you mean 'Flatten'?" in lines[4]
    assert lines[5].startswith("layers.serial_layer_list[4]: Dense parameter 'units' (1st field) is invalid. "
                               "Expected an integer >= 1. Received: 'Dense:ten'.")


# ------------------------------------------------------------------ malformed files

def test_malformed_json_reports_line_and_column(tmp_path, registry):
    path = tmp_path / "bad.json"
    path.write_text('{\n "config_file": {\n  "model_signal": "CNN",\n }\n}\n', encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        load_config(path, registry)
    text = str(info.value)
    assert "invalid JSON at line 4, column 2" in text
    assert str(path) in text
    assert "\n" not in text


def test_missing_file_and_non_object(tmp_path, registry):
    with pytest.raises(ConfigFileError, match="does not exist"):
        load_config(tmp_path / "absent.json", registry)
    path = tmp_path / "list.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigFileError, match="a config must be a JSON object .* received a list"):
        load_config(path, registry)


def test_load_config_records_its_source(tmp_path, registry, write_config, minimal_typed_config):
    path = write_config(tmp_path, minimal_typed_config())
    config = load_config(path, registry)
    assert config.source == str(path)
    assert config == parse_config(minimal_typed_config(), registry)  # source is not part of equality


# ------------------------------------------------------------------ cross-key checks (dlae_core.planning.checks)

def test_minimal_config_plans(registry, minimal_typed_config):
    plan = plan_model(parse_config(minimal_typed_config(), registry), registry)
    assert plan.technique == "CNN"
    assert plan.main.output_shape == (2,)
    assert plan.main.totals() == (112 + 514, 0)


def _gan_config(minimal_typed_config, loss="pix2pix", **extra):
    return minimal_typed_config(
        config_file={"model_signal": "GAN", "input_shape": [8, 8, 1]},
        loss_function={"loss": loss, "parameter1": 100.0},
        layers={"serial_layer_list": [],
                "generator_layer_list": ["Input:(8, 8, 1)", "Convolution 2D:1", "Activation:tanh"],
                "discriminator_layer_list": ["Input:(8, 8, 1)", "Convolution 2D:4:(3, 3):(2, 2)",
                                             "Convolution 2D:1"]},
        **extra)


def test_gan_needs_a_gan_loss(registry, minimal_typed_config):
    plan = plan_model(parse_config(_gan_config(minimal_typed_config), registry), registry)
    assert plan.graphs["discriminator"].output_shape == (4, 4, 1)
    lines = _problems(registry, _gan_config(minimal_typed_config, loss="mean_absolute_error"))
    assert lines == ["loss_function.loss: a GAN is chosen by its loss. Expected 'pix2pix' or 'cyclegan'. "
                     "Received: 'mean_absolute_error'."]


def test_gan_trains_data_parallel_too(registry, minimal_typed_config):
    raw = _gan_config(minimal_typed_config, training_configurations={"number_of_gpus": 2})
    assert plan_model(parse_config(raw, registry), registry).technique == "GAN"


@pytest.mark.parametrize("loss,technique", [("ssd", "CNN"), ("tversky", "CNN"), ("pix2pix", "CNN")])
def test_loss_must_suit_the_technique(registry, minimal_typed_config, loss, technique):
    lines = _problems(registry, minimal_typed_config(loss_function={"loss": loss, "parameter1": 1.0,
                                                                    "parameter2": 1.0}))
    assert len(lines) == 1
    assert lines[0].startswith(f"loss_function.loss: loss {loss!r} cannot train a {technique}. Expected one of ")
    assert "'sparse_categorical_crossentropy'" in lines[0]


def test_loss_parameters(registry, minimal_typed_config):
    fcn = minimal_typed_config(config_file={"model_signal": "FCN"},
                               layers={"serial_layer_list": ["Input:(8, 8, 3)", "Convolution 2D:2",
                                                             "Activation:softmax"]},
                               preprocessing={"categorical_switch": True, "categories": 2})
    fcn["loss_function"] = {"loss": "tversky", "parameter1": 0.0, "parameter2": 0.0}
    assert _problems(registry, fcn) == [
        "loss_function.parameter1: tversky needs alpha, beta >= 0 with alpha + beta > 0. "
        "Expected e.g. parameter1 0.3 and parameter2 0.7. Received: (0.0, 0.0)."]
    fcn["loss_function"] = {"loss": "jaccard", "parameter1": 0.0}
    assert _problems(registry, fcn)[0].startswith(
        "loss_function.parameter1: jaccard is identically zero unless the smoothing constant > 0")


@pytest.mark.parametrize("what", ["model", "csv", "checkpoints", "tensorboard"])
def test_save_switch_without_path(registry, minimal_typed_config, what):
    lines = _problems(registry, minimal_typed_config(save_configurations={f"save_{what}_switch": True}))
    assert lines == [f"save_configurations.save_{what}_path: save_{what}_switch is True but no path is given. "
                     f"Expected a path. Received: ''."]


def test_save_switch_with_path_is_fine(registry, minimal_typed_config):
    raw = minimal_typed_config(save_configurations={"save_model_switch": True, "save_model_path": "m.h5"})
    plan_model(parse_config(raw, registry), registry)


@pytest.mark.parametrize("given,missing", [("train_X", "train_y"), ("train_y", "train_X"),
                                           ("validation_X", "validation_y"), ("validation_y", "validation_X")])
def test_data_paths_come_in_pairs(registry, minimal_typed_config, given, missing):
    lines = _problems(registry, minimal_typed_config(paths={given: "data.h5"}))
    pair = sorted([given, missing], key=lambda k: k.endswith("y"))
    assert lines == [f"paths.{missing}: paths.{pair[0]} and paths.{pair[1]} must be set together. "
                     f"Expected a path. Received: ''."]


def test_inference_needs_load_model_and_test_x(registry, minimal_typed_config):
    lines = _problems(registry, minimal_typed_config(config_file={"type_signal": "Inference"}))
    assert lines == [
        "paths.load_model: an Inference session needs the model to load. Expected the path of a saved model. "
        "Received: ''.",
        "paths.test_X: an Inference session needs the inputs to predict on. Expected an HDF5 file path. "
        "Received: ''.",
    ]
    ok = minimal_typed_config(config_file={"type_signal": "Inference"},
                              paths={"load_model": "m.h5", "test_X": "t.h5"})
    plan_model(parse_config(ok, registry), registry)


def test_train_from_checkpoint_needs_a_checkpoint(registry, minimal_typed_config):
    lines = _problems(registry, minimal_typed_config(config_file={"type_signal": "Train from Checkpoint"}))
    assert lines[0].startswith("paths.load_checkpoint: Train from Checkpoint needs the checkpoint to continue from")


@pytest.mark.parametrize("kind", ["global_unity_xy", "global_negpos_xy"])
def test_global_xy_needs_two_bounds(registry, minimal_typed_config, kind):
    raw = minimal_typed_config(preprocessing={"normalization_type": kind, "minimum_image_intensity": [0.0],
                                              "maximum_image_intensity": "4096.0"})
    lines = _problems(registry, raw)
    assert lines == [
        f"preprocessing.minimum_image_intensity: {kind} needs exactly 2 value(s). "
        "Expected two comma-separated numbers: inputs, targets. Received: '0.0'.",
        f"preprocessing.maximum_image_intensity: {kind} needs exactly 2 value(s). "
        "Expected two comma-separated numbers: inputs, targets. Received: '4096.0'.",
    ]
    raw["preprocessing"].update(minimum_image_intensity="0.0, 0.0", maximum_image_intensity="4096.0, 1.0")
    plan_model(parse_config(raw, registry), registry)


def test_global_x_needs_one_bound_and_max_above_min(registry, minimal_typed_config):
    raw = minimal_typed_config(preprocessing={"normalization_type": "global_unity_x",
                                              "minimum_image_intensity": "0.0, 1.0",
                                              "maximum_image_intensity": "0.0"})
    lines = _problems(registry, raw)
    assert lines[0].startswith("preprocessing.minimum_image_intensity: global_unity_x needs exactly 1 value(s)")
    assert lines[1] == ("preprocessing.maximum_image_intensity: the maximum intensity must exceed the minimum for "
                        "global_unity_x. Expected a value > 0.0. Received: 0.0.")


def test_xy_normalization_cannot_be_combined_with_categorical(registry, minimal_typed_config):
    raw = minimal_typed_config(preprocessing={"normalization_type": "samplewise_unity_xy",
                                              "categorical_switch": True, "categories": 2},
                               loss_function={"loss": "categorical_crossentropy"})
    lines = _problems(registry, raw)
    assert lines == ["preprocessing.normalization_type: a *_xy normalization rescales the targets, which cannot be "
                     "combined with categorical_switch (class labels). Expected a *_x normalization. "
                     "Received: 'samplewise_unity_xy'."]


# ------------------------------------------------------------------ technique checks (dlae_core.planning.plan)

def test_categories_must_match_output_channels(registry, minimal_typed_config):
    raw = minimal_typed_config(preprocessing={"categorical_switch": True, "categories": 3},
                               loss_function={"loss": "categorical_crossentropy"})
    assert _problems(registry, raw) == [
        "preprocessing.categories: one-hot targets have 3 classes but the network outputs 2 channels. "
        "Expected 2. Received: 3."]
    raw["preprocessing"]["categories"] = 2
    plan_model(parse_config(raw, registry), registry)


def test_cnn_must_end_in_a_vector(registry, minimal_typed_config):
    raw = minimal_typed_config(layers={"serial_layer_list": ["Input:(8, 8, 3)", "Convolution 2D:2"]})
    assert _problems(registry, raw) == [
        "layers.serial_layer_list: a CNN must end in a vector (classes or regression values). Expected an output "
        "shape (n,), e.g. after Flatten or global pooling and Dense. Received: (8, 8, 2)."]


def test_fcn_must_end_in_a_map(registry, minimal_typed_config):
    raw = minimal_typed_config(config_file={"model_signal": "FCN"})
    assert _problems(registry, raw) == [
        "layers.serial_layer_list: an FCN must end in a map with the input's spatial rank. Expected a 3-D output. "
        "Received: (2,)."]


def test_gan_generator_output_must_match_discriminator_input(registry, minimal_typed_config):
    raw = _gan_config(minimal_typed_config)
    raw["layers"]["generator_layer_list"][1] = "Convolution 2D:2"
    lines = _problems(registry, raw)
    assert lines == ["layers.generator_layer_list: the generator output must have the shape of the discriminator's "
                     "Input (the target image). Expected (8, 8, 1). Received: (8, 8, 2)."]


def test_cyclegan_domains_must_match(registry, minimal_typed_config):
    raw = _gan_config(minimal_typed_config, loss="cyclegan")
    raw["layers"]["generator_layer_list"][0] = "Input:(8, 8, 2)"
    lines = _problems(registry, raw)
    assert lines == ["layers.discriminator_layer_list[0]: cycleGAN translates both ways, so the discriminator Input "
                     "(domain y) must match the generator Input (domain X). Expected (8, 8, 2). Received: (8, 8, 1)."]


def _bbd_config(minimal_typed_config, **bbd):
    return minimal_typed_config(
        config_file={"model_signal": "BBD", "input_shape": [32, 32, 3]},
        loss_function={"loss": "ssd", "parameter1": 3.0, "parameter2": 1.0},
        bbd_options=bbd,
        layers={"serial_layer_list": ["Input:(32, 32, 3)", "Convolution 2D:8", "Hook connection source",
                                      "Max pooling 2D", "Convolution 2D:8", "Hook connection source"]})


def test_bbd_with_matching_steps_plans(registry, minimal_typed_config):
    plan = plan_model(parse_config(_bbd_config(minimal_typed_config, steps=[8, 16]), registry), registry)
    assert plan.main.hook_shapes() == ((32, 32, 8), (16, 16, 8))


def test_bbd_steps_count_must_match_hooks(registry, minimal_typed_config):
    # the default steps (8, 16, 32, 64, 128) are five entries for two hooks
    lines = _problems(registry, _bbd_config(minimal_typed_config))
    assert lines == ["bbd_options.steps: steps need one entry per predictor layer (2), or None. "
                     "Received: (8, 16, 32, 64, 128)."]


def test_bbd_per_layer_counts(registry, minimal_typed_config):
    raw = _bbd_config(minimal_typed_config, steps=None, offsets=[0.5, 0.5, 0.5], scaling_type="per predictor layer",
                      scales=[0.1, 0.9], aspect_ratios_type="per predictor layer",
                      aspect_ratios=[[1.0, 2.0], [1.0], [0.5]])
    lines = _problems(registry, raw)
    assert [line.split(":")[0] for line in lines] == [
        "bbd_options.scales", "bbd_options.aspect_ratios", "bbd_options.offsets"]
    assert "(3 for 2 hooks)" in lines[0]
    assert "need one tuple per predictor layer (2)" in lines[1]


def test_bbd_needs_hooks_and_matching_input_shape(registry, minimal_typed_config):
    raw = _bbd_config(minimal_typed_config, steps=None)
    raw["layers"]["serial_layer_list"] = ["Input:(32, 32, 3)", "Convolution 2D:8"]
    lines = _problems(registry, raw)
    assert lines == ["layers.serial_layer_list: a BBD needs at least one predictor layer. Expected 'Hook connection "
                     "source' entries or an encoder with hook_connections True. Received: 'no hooks'."]
    raw = _bbd_config(minimal_typed_config, steps=None)
    raw["config_file"]["input_shape"] = [64, 64, 3]
    lines = _problems(registry, raw)
    assert lines == ["config_file.input_shape: BBD anchors are placed on config_file.input_shape, which must match "
                     "the Input layer. Expected (32, 32, 3). Received: (64, 64, 3)."]


def test_bbd_is_2d_and_iou_limits_are_ordered(registry, minimal_typed_config):
    raw = _bbd_config(minimal_typed_config, steps=None, negative_iou_limit=0.6, positive_iou_threshold=0.5)
    raw["preprocessing"]["image_context"] = "3D"
    lines = _problems(registry, raw)
    assert lines == [
        "preprocessing.image_context: BBD detects boxes in 2D images only. Expected '2D'. Received: '3D'.",
        "bbd_options.negative_iou_limit: the neutral-anchor limit must not exceed positive_iou_threshold. "
        "Expected a value <= 0.5. Received: 0.6.",
    ]


def test_check_and_walk_problems_are_reported_together(registry, minimal_typed_config):
    raw = minimal_typed_config(save_configurations={"save_csv_switch": True})
    raw["layers"]["serial_layer_list"].insert(2, "Outer skip target:concatenate")
    lines = _problems(registry, raw)
    assert [line.split(":")[0] for line in lines] == ["save_configurations.save_csv_path",
                                                      "layers.serial_layer_list[2]"]
