"""Value kinds: every kind read from the original string form and the typed JSON form,
written back in both forms, and rejected with a precise message."""

from __future__ import annotations

import math

import pytest

from dlae_core.config.composite import LearningRate, LearningRateKind, OptimizerKind, OptimizerRecord
from dlae_core.config.parser import parse_config
from dlae_core.config.values import (Bool, Choice, Float, FloatList, Int, NestedNumbers, NumberTuple,
                                     OptionalFloat, Path, Shape, Text, ValueProblem)
from dlae_core.errors import ConfigError
from dlae_core.layers.kinds import (Dilation, IntTuple, LiteralBool, Pads, Permutation, Regularizer,
                                    TargetShape, Weights)

# (id, kind, string form, typed form, parsed value)
BOTH_FORMS = [
    ("bool-true", Bool(), "True", True, True),
    ("bool-false", Bool(), "False", False, False),
    ("int", Int(minimum=1), "3", 3, 3),
    ("int-negative", Int(), "-1", -1, -1),
    ("float", Float(), "0.5", 0.5, 0.5),
    ("float-exponent", Float(minimum=0.0), "1e-4", 0.0001, 0.0001),
    ("float-from-int-text", Float(), "3", 3, 3.0),
    ("optional-float-none", OptionalFloat(minimum=0.0, min_open=True), "None", None, None),
    ("optional-float", OptionalFloat(minimum=0.0, min_open=True), "1e-07", 1e-07, 1e-07),
    ("csv-two", FloatList(1, 2), "0.1, 0.9", [0.1, 0.9], (0.1, 0.9)),
    ("csv-one", FloatList(1, 2), "0.0", [0.0], (0.0,)),
    ("csv-scalar-typed", FloatList(1, 2), "4096.0", 4096.0, (4096.0,)),
    ("csv-scales", FloatList(2, positive=True), "0.1, 0.9", [0.1, 0.9], (0.1, 0.9)),
    ("choice", Choice(("2D", "3D")), "3D", "3D", "3D"),
    ("text", Text(), "categorical_crossentropy", "categorical_crossentropy", "categorical_crossentropy"),
    ("path", Path(), "data/train_X.h5", "data/train_X.h5", "data/train_X.h5"),
    ("path-unset", Path(), "", None, None),
    ("shape", Shape(2, 4), "(512, 512, 1)", [512, 512, 1], (512, 512, 1)),
    ("shape-3d", Shape(2, 4), "(128, 128, 64, 1)", [128, 128, 64, 1], (128, 128, 64, 1)),
    ("number-tuple", NumberTuple(4, positive=True), "(0.1, 0.1, 0.2, 0.2)", [0.1, 0.1, 0.2, 0.2],
     (0.1, 0.1, 0.2, 0.2)),
    ("number-tuple-none", NumberTuple(2, positive=True, allow_none=True), "None", None, None),
    ("brightness", NumberTuple(2, positive=True, allow_none=True), "(0.8, 1.2)", [0.8, 1.2], (0.8, 1.2)),
    ("nested-flat", NestedNumbers(allow_none=False, positive=True), "(0.5, 1.0, 1.5, 2.0)",
     [0.5, 1.0, 1.5, 2.0], (0.5, 1.0, 1.5, 2.0)),
    ("nested-pairs", NestedNumbers(inner_length=2, positive=True), "((8, 8), (16, 16))", [[8, 8], [16, 16]],
     ((8.0, 8.0), (16.0, 16.0))),
    ("nested-none", NestedNumbers(inner_length=2), "None", None, None),
    ("steps", NestedNumbers(inner_length=2, positive=True), "(8, 16, 32, 64, 128)", [8, 16, 32, 64, 128],
     (8.0, 16.0, 32.0, 64.0, 128.0)),
    ("learning-rate", LearningRateKind(), "0.0001:0.0", [0.0001, 0.0], LearningRate(0.0001, 0.0)),
    ("optimizer-record", OptimizerKind(), "Adam:0.9:0.999:0.9:0.0:None",
     {"optimizer": "Adam", "beta1": 0.9, "beta2": 0.999, "rho": 0.9, "momentum": 0.0, "epsilon": None},
     OptimizerRecord("Adam", 0.9, 0.999, 0.9, 0.0, None)),
    ("optimizer-record-list", OptimizerKind(), "SGD:0.5:0.6:0.7:0.8:1e-07", ["SGD", 0.5, 0.6, 0.7, 0.8, 1e-07],
     OptimizerRecord("SGD", 0.5, 0.6, 0.7, 0.8, 1e-07)),
    # layer parameter kinds
    ("int-tuple", IntTuple(2), "(3, 3)", [3, 3], (3, 3)),
    ("int-tuple-scalar", IntTuple(2), "3", 3, (3, 3)),
    ("int-tuple-3d", IntTuple(3), "(3, 3, 3)", [3, 3, 3], (3, 3, 3)),
    ("pool-stride-none", IntTuple(2, allow_none=True), "None", None, None),
    ("dilation", Dilation(2), "(2, 2)", [2, 2], (2, 2)),
    ("dilation-none-2d", Dilation(2), "None", None, (1, 1)),
    ("dilation-none-3d", Dilation(3), "None", None, (1, 1, 1)),
    ("pads-pairs", Pads(2), "((1, 2), (3, 4))", [[1, 2], [3, 4]], ((1, 2), (3, 4))),
    ("pads-int", Pads(2), "1", 1, ((1, 1), (1, 1))),
    ("pads-axes", Pads(3), "(1, 2, 0)", [1, 2, 0], ((1, 1), (2, 2), (0, 0))),
    ("regularizer", Regularizer(), "l1_l2", "l1_l2", "l1_l2"),
    ("regularizer-none", Regularizer(), "None", None, None),
    ("literal-bool", LiteralBool(), "True", True, True),
    ("weights", Weights(), "imagenet", "imagenet", "imagenet"),
    ("weights-none", Weights(), "none", "none", "none"),
    ("target-shape", TargetShape(), "(262144, 1)", [262144, 1], (262144, 1)),
    ("target-shape-minus-one", TargetShape(), "(-1, 3)", [-1, 3], (-1, 3)),
    ("target-shape-one", TargetShape(), "(1000,)", [1000], (1000,)),
    ("permutation", Permutation(), "(2, 1, 3)", [2, 1, 3], (2, 1, 3)),
]


@pytest.mark.parametrize("kind,text,typed,value", [c[1:] for c in BOTH_FORMS], ids=[c[0] for c in BOTH_FORMS])
def test_both_forms_parse_to_the_same_value(kind, text, typed, value):
    from_text, from_typed = kind.parse(text), kind.parse(typed)
    assert from_text == value
    assert from_typed == value
    assert type(from_text) is type(value)


@pytest.mark.parametrize("kind,text,typed,value", [c[1:] for c in BOTH_FORMS], ids=[c[0] for c in BOTH_FORMS])
def test_written_back_in_both_forms_without_loss(kind, text, typed, value):
    legacy = kind.format(value)
    assert isinstance(legacy, str)
    assert kind.parse(legacy) == value
    assert kind.parse(kind.typed(value)) == value


@pytest.mark.parametrize("kind,value,text", [
    (Bool(), True, "True"),
    (Int(), 3, "3"),
    (Float(), 3.0, "3.0"),
    (Float(), 0.0001, "0.0001"),
    (OptionalFloat(), None, "None"),
    (FloatList(1, 2), (0.0, 4096.0), "0.0, 4096.0"),
    (Shape(), (512, 512, 1), "(512, 512, 1)"),
    (TargetShape(), (1000,), "(1000,)"),
    (Pads(2), ((1, 1), (0, 2)), "((1, 1), (0, 2))"),
    (NestedNumbers(inner_length=2), None, "None"),
    (LearningRateKind(), LearningRate(0.0001, 0.0), "0.0001:0.0"),
    (OptimizerKind(), OptimizerRecord("Adam"), "Adam:0.9:0.999:0.9:0.0:None"),
    (Regularizer(), None, "None"),
    (Path(), None, ""),
])
def test_legacy_text_is_the_original_spelling(kind, value, text):
    assert kind.format(value) == text


def test_typed_form_of_composites_is_json():
    assert OptimizerKind().typed(OptimizerRecord("SGD", momentum=0.5)) == {
        "optimizer": "SGD", "beta1": 0.9, "beta2": 0.999, "rho": 0.9, "momentum": 0.5, "epsilon": None}
    assert LearningRateKind().typed(LearningRate(0.001, 0.5)) == {"learning_rate": 0.001, "decay": 0.5}
    assert Shape().typed((8, 8, 3)) == [8, 8, 3]
    assert Pads(2).typed(((1, 2), (3, 4))) == [[1, 2], [3, 4]]


def test_special_float_texts_are_refused():
    for text in ("inf", "-inf", "nan", "1e309", math.inf, math.nan):
        with pytest.raises(ValueProblem, match="finite"):
            Float().parse(text)


def test_int_accepts_integral_json_float_but_not_text():
    assert Int().parse(3.0) == 3
    with pytest.raises(ValueProblem) as info:
        Int(minimum=1).parse("3.0")
    assert info.value.expected == "an integer >= 1"


# (id, kind, raw, exact expected text (or fragment), suggestion)
REJECTIONS = [
    ("bool-lower", Bool(), "true", '"True" or "False" (or a JSON boolean)', "True"),
    ("bool-upper", Bool(), "FALSE", '"True" or "False" (or a JSON boolean)', "False"),
    ("bool-padded", Bool(), " True", '"True" or "False" (or a JSON boolean)', "True"),
    ("bool-word", Bool(), "yes", '"True" or "False" (or a JSON boolean)', None),
    ("bool-int", Bool(), 1, '"True" or "False" (or a JSON boolean)', None),
    ("int-float-text", Int(minimum=1), "3.0", "an integer >= 1", None),
    ("int-range", Int(minimum=1), "0", "an integer >= 1", None),
    ("int-bool", Int(), True, "an integer", None),
    ("float-word", Float(), "abc", "a number", None),
    ("float-bool", Float(), False, "a number", None),
    ("float-open-max", Float(0.0, 1.0, max_open=True), "1.0", "a number in [0.0, 1.0)", None),
    ("float-open-min", Float(minimum=0.0, min_open=True), "0", "a number > 0.0", None),
    ("optional-float", OptionalFloat(minimum=0.0, min_open=True), "none", 'a number > 0.0 or None ("None")', None),
    ("csv-parens", FloatList(1, 2), "(0.1, 0.9)",
     '1 to 2 comma-separated numbers such as "0.1, 0.9" (without parentheses)', None),
    ("csv-three", FloatList(1, 2), "1, 2, 3", '1 to 2 comma-separated numbers such as "0.1, 0.9"', None),
    ("csv-single-scale", FloatList(2, positive=True), "0.1",
     'at least 2 positive comma-separated numbers such as "0.1, 0.9"', None),
    ("csv-negative-scale", FloatList(2, positive=True), "0.1, -0.9",
     'at least 2 positive comma-separated numbers such as "0.1, 0.9"', None),
    ("choice-case", Choice(("2D", "3D")), "2d", "one of '2D', '3D'", "2D"),
    ("choice-typo", Choice(("nearest", "constant", "reflect", "wrap")), "neareast",
     "one of 'nearest', 'constant', 'reflect', 'wrap'", "nearest"),
    ("text-number", Text(), 3, "a string", None),
    ("path-number", Path(), 3, 'a path string ("" when not set)', None),
    ("shape-zero", Shape(2, 4), "(512, 0, 1)", "a tuple of 2 to 4 positive integers such as (512, 512, 1)", None),
    ("shape-rank", Shape(2, 4), "(512,)", "a tuple of 2 to 4 positive integers such as (512, 512, 1)", None),
    ("shape-syntax", Shape(2, 4), "(512, 512",
     "a tuple of 2 to 4 positive integers such as (512, 512, 1) (the text is not valid Python literal syntax)", None),
    ("shape-float", Shape(2, 4), [8.5, 8, 1], "a tuple of 2 to 4 positive integers", None),
    ("variances-three", NumberTuple(4, positive=True), "(0.1, 0.1, 0.2)", "a tuple of 4 positive numbers", None),
    ("nested-triple", NestedNumbers(inner_length=2, positive=True), "((8, 8, 1),)",
     "None, a tuple of positive numbers or a tuple of 2-tuples of positive numbers", None),
    ("nested-empty", NestedNumbers(allow_none=False, positive=True), "()",
     "a tuple of positive numbers or a tuple of tuples of positive numbers", None),
    ("learning-rate-one-field", LearningRateKind(), "0.0001",
     'a "learning_rate:decay" pair of numbers >= 0 such as "0.0001:0.0"', None),
    ("learning-rate-negative", LearningRateKind(), "-1:0.0", "a number >= 0.0", None),
    ("optimizer-five-fields", OptimizerKind(), "Adam:0.9:0.999:0.9:0.0",
     '"name:beta1:beta2:rho:momentum:epsilon" with name one of Adam|NAdam|SGD|RMSprop|Adagrad|Adadelta|Adamax, '
     'e.g. "Adam:0.9:0.999:0.9:0.0:None"', None),
    ("optimizer-name-case", OptimizerKind(), "adam:0.9:0.999:0.9:0.0:None",
     "one of 'Adam', 'NAdam', 'SGD', 'RMSprop', 'Adagrad', 'Adadelta', 'Adamax'", "Adam"),
    ("optimizer-beta", OptimizerKind(), "Adam:x:0.999:0.9:0.0:None", "a number in [0.0, 1.0]", None),
    ("int-tuple-rank", IntTuple(2), "(3, 3, 3)",
     "a positive integer or a 2-tuple of positive integers such as (3, 3)", None),
    ("int-tuple-zero", IntTuple(3), "(3, 0, 3)",
     "a positive integer or a 3-tuple of positive integers such as (3, 3, 3)", None),
    ("pads-negative", Pads(2), "-1",
     "an integer >= 0, a 2-tuple of them, or 2 (before, after) pairs such as ((1, 1), (1, 1))", None),
    ("regularizer-case", Regularizer(), "L2", "one of None, 'l1', 'l2', 'l1_l2'", "l2"),
    ("literal-bool-lower", LiteralBool(), "true", "True or False", "True"),
    ("literal-bool-int", LiteralBool(), 1, "True or False", None),
    ("target-two-unknown", TargetShape(), "(-1, -1)",
     "a tuple of positive integers (one may be -1) such as (262144, 1)", None),
    ("permutation-zero-based", Permutation(), "(1, 0, 2)",
     "a 1-based permutation of the non-batch axes such as (2, 1, 3)", None),
]


@pytest.mark.parametrize("kind,raw,expected,suggestion", [c[1:] for c in REJECTIONS], ids=[c[0] for c in REJECTIONS])
def test_rejections_say_what_was_expected(kind, raw, expected, suggestion):
    with pytest.raises(ValueProblem) as info:
        kind.parse(raw)
    assert info.value.expected.startswith(expected), info.value.expected
    assert info.value.suggestion == suggestion


# ------------------------------------------------------------------ through the config parser

def test_string_and_typed_config_values_give_equal_configs(registry, minimal_typed_config):
    typed = minimal_typed_config(
        preprocessing={"minimum_image_intensity": [0.0, 0.1], "maximum_image_intensity": [4096.0, 1.0],
                       "categorical_switch": True, "categories": 2},
        augmentation={"brightness_range": [0.8, 1.2], "zca_epsilon": None, "rotation_range": 10},
        optimizer={"discriminator_optimizer": {"optimizer": "SGD", "momentum": 0.5}, "epsilon": 1e-07},
        learning_rate_schedule={"gan_learning_rate": [0.001, 0.5]},
        bbd_options={"steps": None, "variances": [0.1, 0.1, 0.2, 0.2], "aspect_ratios": [[1.0, 2.0], [0.5]]},
        loss_function={"loss": "categorical_crossentropy"},
    )
    legacy = minimal_typed_config(
        config_file={"input_shape": "(8, 8, 3)"},
        preprocessing={"minimum_image_intensity": "0.0, 0.1", "maximum_image_intensity": "4096.0, 1.0",
                       "categorical_switch": "True", "categories": "2"},
        augmentation={"brightness_range": "(0.8, 1.2)", "zca_epsilon": "None", "rotation_range": "10"},
        optimizer={"optimizer": "Adam", "beta1": "0.9", "beta2": "0.999", "epsilon": "1e-07",
                   "discriminator_optimizer": "SGD:0.9:0.999:0.9:0.5:None"},
        learning_rate_schedule={"gan_learning_rate": "0.001:0.5"},
        training_configurations={"batch_size": "4", "epochs": "2", "validation_split": "0.0"},
        bbd_options={"steps": "None", "variances": "(0.1, 0.1, 0.2, 0.2)", "aspect_ratios": "((1.0, 2.0), (0.5,))"},
        loss_function={"loss": "categorical_crossentropy", "parameter1": "0.0", "parameter2": "0.0"},
    )
    a, b = parse_config(typed, registry), parse_config(legacy, registry)
    assert a == b
    assert a.preprocessing.minimum_image_intensity == (0.0, 0.1)
    assert a.augmentation.brightness_range == (0.8, 1.2)
    assert a.optimizer.discriminator_optimizer == OptimizerRecord("SGD", momentum=0.5)
    assert a.learning_rate_schedule.gan_learning_rate == LearningRate(0.001, 0.5)
    assert a.bbd_options.aspect_ratios == ((1.0, 2.0), (0.5,))
    assert a.bbd_options.steps is None


@pytest.mark.parametrize("section,key,raw,fragments", [
    ("monitors", "mse_switch", "true",
     ['monitors.mse_switch: invalid value. Expected "True" or "False" (or a JSON boolean). '
      "Received: 'true'. Did you mean 'True'?"]),
    ("preprocessing", "categorical_switch", "FALSE", ["Did you mean 'False'?"]),
    ("training_configurations", "batch_size", "3.0",
     ["training_configurations.batch_size: invalid value", "Expected an integer >= 1", "Received: '3.0'"]),
    ("training_configurations", "validation_split", "1.0",
     ["Expected a number in [0.0, 1.0)", "Received: '1.0'"]),
    ("preprocessing", "maximum_image_intensity", "(0.1, 0.9)", ["(without parentheses)"]),
    ("preprocessing", "image_context", "2d", ["Expected one of '2D', '3D'", "Did you mean '2D'?"]),
    ("config_file", "type_signal", "train",
     ["Expected one of 'Train', 'Train from Checkpoint', 'Inference'", "Did you mean 'Train'?"]),
    ("training_configurations", "hardware", "GPU", ["Did you mean 'gpu'?"]),
    ("optimizer", "gan_optimizer", "adam:0.9:0.999:0.9:0.0:None", ["Did you mean 'Adam'?"]),
    ("learning_rate_schedule", "discriminator_learning_rate", "0.0001",
     ['Expected a "learning_rate:decay" pair of numbers >= 0 such as "0.0001:0.0"']),
    ("bbd_options", "scales", "0.1", ["Expected at least 2 positive comma-separated numbers"]),
    ("bbd_options", "variances", "(1.0, 1.0)", ["Expected a tuple of 4 positive numbers"]),
    ("augmentation", "zca_epsilon", "0", ['Expected a number > 0.0 or None ("None")']),
    ("config_file", "input_shape", "(512, 512", ["Expected a tuple of 2 to 4 positive integers"]),
])
def test_config_rejections_have_path_expected_received(registry, minimal_typed_config, section, key, raw, fragments):
    raw_config = minimal_typed_config(**{section: {key: raw}})
    with pytest.raises(ConfigError) as info:
        parse_config(raw_config, registry)
    lines = info.value.lines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{section}.{key}: ")
    for fragment in fragments:
        assert fragment in lines[0]
