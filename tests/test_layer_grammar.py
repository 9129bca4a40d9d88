"""Every layer string of the original grammar, in the string and the typed form, with its output shape
and Keras parameter counts checked against numbers computed by hand on small inputs."""

from __future__ import annotations

import pytest

from dlae_core.planning.graph import WalkError, build_graph
from dlae_core.layers.grammar import format_layer, parse_layer
from dlae_core.layers.networks import NETWORK_NAMES, network_param_counts, network_shapes
from dlae_core.layers.spec import LayerSpec, ShapeError

REG = "None:None:0.001:0.001"

# (layer string, typed object, input shape, output shape, trainable, non-trainable)
LAYERS = [
    # ---- 2.1 utility
    ("Reshape:(-1, 3)", {"type": "Reshape", "target_shape": [-1, 3]}, (4, 4, 3), (16, 3), 0, 0),
    ("Reshape:(48,)", {"type": "Reshape", "target_shape": [48]}, (4, 4, 3), (48,), 0, 0),
    ("Dropout:0.5", {"type": "Dropout", "rate": 0.5}, (4, 4, 3), (4, 4, 3), 0, 0),
    # Dense on (5,): 5*3 + 3 = 18; on (4, 4, 3) it acts on the last axis: 3*2 + 2 = 8
    ("Dense:3", {"type": "Dense", "units": 3}, (5,), (3,), 18, 0),
    ("Dense:2", {"type": "Dense", "units": 2}, (4, 4, 3), (4, 4, 2), 8, 0),
    ("Activation:relu", {"type": "Activation", "activation": "relu"}, (4, 4, 3), (4, 4, 3), 0, 0),
    ("Activation:softmax", {"type": "Activation", "activation": "softmax"}, (10,), (10,), 0, 0),
    ("Permute:(2, 1, 3)", {"type": "Permute", "dims": [2, 1, 3]}, (4, 5, 3), (5, 4, 3), 0, 0),
    ("Flatten", {"type": "Flatten"}, (4, 4, 3), (48,), 0, 0),
    ("Spatial dropout 2D:0.5", {"type": "Spatial dropout 2D", "rate": 0.5}, (8, 8, 3), (8, 8, 3), 0, 0),
    ("Spatial dropout 3D:0.5", {"type": "Spatial dropout 3D", "rate": 0.5}, (4, 4, 4, 2), (4, 4, 4, 2), 0, 0),
    # BN: gamma + beta trainable (2C), moving mean + variance non-trainable (2C)
    ("Batch normalization:0.99:0.001", {"type": "Batch normalization", "momentum": 0.99, "epsilon": 0.001},
     (8, 8, 3), (8, 8, 3), 6, 6),
    ("Batch normalization:0.9:1e-05", {"type": "Batch normalization", "momentum": 0.9, "epsilon": 1e-05},
     (4, 4, 4, 16), (4, 4, 4, 16), 32, 32),
    ("Gaussian dropout:0.5", {"type": "Gaussian dropout", "rate": 0.5}, (8, 8, 3), (8, 8, 3), 0, 0),
    ("Gaussian noise:0.1", {"type": "Gaussian noise", "stddev": 0.1}, (8, 8, 3), (8, 8, 3), 0, 0),
    ("Alpha dropout:0.5", {"type": "Alpha dropout", "rate": 0.5}, (8, 8, 3), (8, 8, 3), 0, 0),
    # ---- 2.2 convolutions: 3*3*3*4 + 4 = 112
    (f"Convolution 2D:4:(3, 3):(1, 1):same:(1, 1):he_normal:{REG}",
     {"type": "Convolution 2D", "filters": 4, "kernel": [3, 3], "stride": [1, 1], "padding": "same",
      "dilation": [1, 1], "initializer": "he_normal", "kernel_regularizer": None, "activity_regularizer": None,
      "l1": 0.001, "l2": 0.001}, (8, 8, 3), (8, 8, 4), 112, 0),
    (f"Convolution 2D:4:(3, 3):(1, 1):valid:(1, 1):he_normal:{REG}",
     {"type": "Convolution 2D", "filters": 4, "padding": "valid"}, (8, 8, 3), (6, 6, 4), 112, 0),
    ("Convolution 2D:4:(3, 3):(2, 2):valid:(1, 1):glorot_uniform:l2:l1:0.0:0.0005",
     {"type": "Convolution 2D", "filters": 4, "stride": 2, "padding": "valid", "initializer": "glorot_uniform",
      "kernel_regularizer": "l2", "activity_regularizer": "l1", "l1": 0.0, "l2": 0.0005},
     (8, 8, 3), (3, 3, 4), 112, 0),
    (f"Convolution 2D:4:(3, 3):(2, 2):same:(1, 1):he_normal:{REG}",
     {"type": "Convolution 2D", "filters": 4, "stride": [2, 2]}, (7, 7, 3), (4, 4, 4), 112, 0),
    # dilation 2 makes the 3x3 kernel span 5: 8 - 5 + 1 = 4
    (f"Convolution 2D:4:(3, 3):(1, 1):valid:(2, 2):he_normal:{REG}",
     {"type": "Convolution 2D", "filters": 4, "padding": "valid", "dilation": [2, 2]}, (8, 8, 3), (4, 4, 4), 112, 0),
    # 1x5 kernel: 1*5*3*2 + 2 = 32
    (f"Convolution 2D:2:(1, 5):(1, 1):valid:(1, 1):he_normal:{REG}",
     {"type": "Convolution 2D", "filters": 2, "kernel": [1, 5], "padding": "valid"}, (8, 8, 3), (8, 4, 2), 32, 0),
    # 3D: 3*3*3*2*4 + 4 = 220
    (f"Convolution 3D:4:(3, 3, 3):(1, 1, 1):same:(1, 1, 1):he_normal:{REG}",
     {"type": "Convolution 3D", "filters": 4, "kernel": [3, 3, 3]}, (8, 8, 8, 2), (8, 8, 8, 4), 220, 0),
    (f"Convolution 3D:4:(3, 3, 3):(2, 2, 2):valid:None:he_normal:{REG}",
     {"type": "Convolution 3D", "filters": 4, "stride": [2, 2, 2], "padding": "valid", "dilation": None},
     (8, 8, 8, 2), (3, 3, 3, 4), 220, 0),
    # separable: depthwise 3*3*3 = 27, pointwise 3*4 = 12, bias 4 -> 43
    (f"Separable convolution 2D:4:(3, 3):(1, 1):same:(1, 1):he_normal:{REG}",
     {"type": "Separable convolution 2D", "filters": 4}, (8, 8, 3), (8, 8, 4), 43, 0),
    (f"Separable convolution 2D:8:(3, 3):(2, 2):valid:(1, 1):he_normal:{REG}",
     {"type": "Separable convolution 2D", "filters": 8, "stride": 2, "padding": "valid"},
     (9, 9, 2), (4, 4, 8), 18 + 16 + 8, 0),
    # depthwise, multiplier 2: 3 channels -> 6, kernel 3*3*3*2 = 54 + bias 6 = 60
    (f"Depthwise separable convolution 2D:2:(3, 3):(1, 1):same:he_normal:{REG}",
     {"type": "Depthwise separable convolution 2D", "filters": 2}, (8, 8, 3), (8, 8, 6), 60, 0),
    (f"Depthwise separable convolution 2D:1:(3, 3):(2, 2):valid:he_normal:{REG}",
     {"type": "Depthwise separable convolution 2D", "filters": 1, "stride": [2, 2], "padding": "valid"},
     (8, 8, 3), (3, 3, 3), 30, 0),
    # transposed: 'same' -> input * stride; 'valid' -> input * stride + max(k - s, 0); 3*3*4*3 + 4 = 112
    (f"Transpose convolution 2D:4:(3, 3):(2, 2):same:(1, 1):he_normal:{REG}",
     {"type": "Transpose convolution 2D", "filters": 4, "stride": [2, 2]}, (8, 8, 3), (16, 16, 4), 112, 0),
    (f"Transpose convolution 2D:4:(3, 3):(2, 2):valid:(1, 1):he_normal:{REG}",
     {"type": "Transpose convolution 2D", "filters": 4, "stride": [2, 2], "padding": "valid"},
     (8, 8, 3), (17, 17, 4), 112, 0),
    (f"Transpose convolution 2D:4:(3, 3):(1, 1):valid:(1, 1):he_normal:{REG}",
     {"type": "Transpose convolution 2D", "filters": 4, "padding": "valid"}, (8, 8, 3), (10, 10, 4), 112, 0),
    (f"Transpose convolution 2D:4:(2, 2):(2, 2):valid:(1, 1):he_normal:{REG}",
     {"type": "Transpose convolution 2D", "filters": 4, "kernel": 2, "stride": 2, "padding": "valid"},
     (8, 8, 3), (16, 16, 4), 2 * 2 * 3 * 4 + 4, 0),
    # 2*2*2*2*3 + 3 = 51
    (f"Transpose convolution 3D:3:(2, 2, 2):(2, 2, 2):same:(1, 1, 1):he_normal:{REG}",
     {"type": "Transpose convolution 3D", "filters": 3, "kernel": [2, 2, 2], "stride": [2, 2, 2]},
     (4, 4, 4, 2), (8, 8, 8, 3), 51, 0),
    (f"Transpose convolution 3D:3:(3, 3, 3):(2, 2, 2):valid:(1, 1, 1):he_normal:{REG}",
     {"type": "Transpose convolution 3D", "filters": 3, "stride": [2, 2, 2], "padding": "valid"},
     (4, 4, 4, 2), (9, 9, 9, 3), 27 * 2 * 3 + 3, 0),
    # resize: nearest upsampling first, then the convolution
    (f"Resize convolution 2D:4:(3, 3):(1, 1):(2, 2):same:(1, 1):he_normal:{REG}",
     {"type": "Resize convolution 2D", "filters": 4, "upsample": [2, 2]}, (4, 4, 3), (8, 8, 4), 112, 0),
    (f"Resize convolution 2D:4:(3, 3):(1, 1):(2, 3):valid:(1, 1):he_normal:{REG}",
     {"type": "Resize convolution 2D", "filters": 4, "upsample": [2, 3], "padding": "valid"},
     (4, 4, 3), (6, 10, 4), 112, 0),
    (f"Resize convolution 3D:4:(3, 3, 3):(1, 1, 1):(2, 2, 2):same:(1, 1, 1):he_normal:{REG}",
     {"type": "Resize convolution 3D", "filters": 4}, (4, 4, 4, 2), (8, 8, 8, 4), 220, 0),
    ("Upsample 2D:(2, 3)", {"type": "Upsample 2D", "size": [2, 3]}, (4, 4, 3), (8, 12, 3), 0, 0),
    ("Upsample 3D:(2, 2, 2)", {"type": "Upsample 3D", "size": [2, 2, 2]}, (2, 3, 4, 1), (4, 6, 8, 1), 0, 0),
    ("Zero padding 2D:((1, 2), (3, 4))", {"type": "Zero padding 2D", "padding": [[1, 2], [3, 4]]},
     (8, 8, 3), (11, 15, 3), 0, 0),
    ("Zero padding 2D:(1, 2)", {"type": "Zero padding 2D", "padding": [1, 2]}, (8, 8, 3), (10, 12, 3), 0, 0),
    ("Zero padding 3D:1", {"type": "Zero padding 3D", "padding": 1}, (4, 4, 4, 2), (6, 6, 6, 2), 0, 0),
    ("Cropping 2D:((1, 0), (2, 2))", {"type": "Cropping 2D", "cropping": [[1, 0], [2, 2]]},
     (8, 8, 3), (7, 4, 3), 0, 0),
    ("Cropping 3D:((1, 1), (0, 0), (1, 0))", {"type": "Cropping 3D", "cropping": [[1, 1], [0, 0], [1, 0]]},
     (4, 4, 4, 2), (2, 4, 3, 2), 0, 0),
    # ---- 2.3 pooling ('valid')
    ("Max pooling 2D:(2, 2):(2, 2)", {"type": "Max pooling 2D", "pool": [2, 2], "stride": [2, 2]},
     (8, 8, 3), (4, 4, 3), 0, 0),
    ("Max pooling 2D:(3, 3):(1, 1)", {"type": "Max pooling 2D", "pool": [3, 3], "stride": [1, 1]},
     (32, 32, 3), (30, 30, 3), 0, 0),
    ("Average pooling 2D:(2, 2):(2, 2)", {"type": "Average pooling 2D", "pool": 2, "stride": 2},
     (7, 7, 3), (3, 3, 3), 0, 0),
    ("Global max pooling 2D", {"type": "Global max pooling 2D"}, (8, 8, 3), (3,), 0, 0),
    ("Global average pooling 2D", {"type": "Global average pooling 2D"}, (8, 8, 3), (3,), 0, 0),
    ("Max pooling 3D:(2, 2, 2):(2, 2, 2)", {"type": "Max pooling 3D", "pool": [2, 2, 2], "stride": [2, 2, 2]},
     (8, 8, 8, 2), (4, 4, 4, 2), 0, 0),
    ("Average pooling 3D:(2, 2, 2):(1, 1, 1)", {"type": "Average pooling 3D", "pool": [2, 2, 2],
                                                "stride": [1, 1, 1]}, (8, 8, 8, 2), (7, 7, 7, 2), 0, 0),
    ("Global max pooling 3D", {"type": "Global max pooling 3D"}, (8, 8, 8, 2), (2,), 0, 0),
    ("Global average pooling 3D", {"type": "Global average pooling 3D"}, (8, 8, 8, 2), (2,), 0, 0),
    # ---- 2.4 advanced activations (PReLU: one slope per element, 4*4*3 = 48)
    ("Leaky reLU:0.2", {"type": "Leaky reLU", "alpha": 0.2}, (4, 4, 3), (4, 4, 3), 0, 0),
    ("ELU:0.2", {"type": "ELU", "alpha": 0.2}, (4, 4, 3), (4, 4, 3), 0, 0),
    ("Thresholded reLU:0.2", {"type": "Thresholded reLU", "theta": 0.2}, (4, 4, 3), (4, 4, 3), 0, 0),
    ("PreLU", {"type": "PreLU"}, (4, 4, 3), (4, 4, 3), 48, 0),
    ("PreLU", {"type": "PreLU"}, (10,), (10,), 10, 0),
]

MARKERS = [
    ("Outer skip source:concatenate", {"type": "Outer skip source", "mode": "concatenate"}),
    ("Outer skip target:add", {"type": "Outer skip target", "mode": "add"}),
    ("Inner skip source:concatenate", {"type": "Inner skip source"}),
    ("Inner skip target:maximum", {"type": "Inner skip target", "mode": "maximum"}),
    ("Hook connection source", {"type": "Hook connection source"}),
]


def _parse(raw, registry) -> LayerSpec:
    spec, problems = parse_layer(raw, "layers.serial_layer_list[1]", registry)
    assert problems == [], [p.line() for p in problems]
    return spec


def _ids(rows):
    return [f"{r[0]}@{r[2]}" for r in rows]


def test_the_table_names_every_non_network_layer(registry):
    named = {r[0].split(":")[0] for r in LAYERS} | {m[0].split(":")[0] for m in MARKERS} | {"Input"}
    expected = {n for n in registry.layers if n not in NETWORK_NAMES}
    assert named == expected
    assert len(registry.layers) == 62  # 17 utility + 14 convolution + 8 pooling + 5 markers + 18 networks


@pytest.mark.parametrize("text,typed,shape,out,trainable,frozen", LAYERS, ids=_ids(LAYERS))
def test_string_and_typed_forms_agree(registry, text, typed, shape, out, trainable, frozen):
    assert _parse(text, registry) == _parse(typed, registry)


@pytest.mark.parametrize("text,typed,shape,out,trainable,frozen", LAYERS, ids=_ids(LAYERS))
def test_output_shape_and_keras_parameter_counts(registry, text, typed, shape, out, trainable, frozen):
    spec = _parse(text, registry)
    layer_type = registry.layers[spec.type]
    assert layer_type.output_shape(shape, spec) == out
    assert layer_type.param_counts(shape, spec) == (trainable, frozen)


@pytest.mark.parametrize("text,typed,shape,out,trainable,frozen", LAYERS, ids=_ids(LAYERS))
def test_same_numbers_through_a_graph(registry, text, typed, shape, out, trainable, frozen):
    graph = build_graph("serial_layer_list", (_parse(f"Input:{shape}", registry), _parse(typed, registry)), registry)
    node = graph.nodes[graph.output]
    assert (node.op, node.output_shape, node.trainable_params, node.non_trainable_params) == (
        "layer", out, trainable, frozen)


@pytest.mark.parametrize("text,typed,shape,out,trainable,frozen", LAYERS, ids=_ids(LAYERS))
def test_format_round_trip(registry, text, typed, shape, out, trainable, frozen):
    spec = _parse(text, registry)
    legacy = format_layer(spec, registry, legacy=True)
    assert isinstance(legacy, str) and legacy.split(":")[0] == spec.type
    assert _parse(legacy, registry) == spec
    typed_back = format_layer(spec, registry, legacy=False)
    assert typed_back["type"] == spec.type
    assert _parse(typed_back, registry) == spec


def test_full_legacy_strings_are_written_back_verbatim(registry):
    for text in (f"Convolution 2D:4:(3, 3):(1, 1):same:(1, 1):he_normal:{REG}",
                 "Batch normalization:0.99:0.001", "Max pooling 2D:(2, 2):(2, 2)", "Flatten",
                 "Zero padding 2D:((1, 2), (3, 4))", "Reshape:(48,)",
                 "VGG16:False:none:(512, 512, 1):True:False"):
        assert format_layer(_parse(text, registry), registry, legacy=True) == text


@pytest.mark.parametrize("text,typed", MARKERS, ids=[m[0] for m in MARKERS])
def test_markers_parse_in_both_forms(registry, text, typed):
    spec = _parse(text, registry)
    assert spec == _parse(typed, registry)
    assert registry.layers[spec.type].params == () or "mode" in spec.params


def test_input_in_both_forms(registry):
    assert _parse("Input:(512, 512, 1)", registry) == _parse({"type": "Input", "shape": [512, 512, 1]}, registry)
    assert _parse("Input:(128, 128, 64, 1)", registry)["shape"] == (128, 128, 64, 1)
    assert _parse("Input:(1000,)", registry)["shape"] == (1000,)


# ------------------------------------------------------------------ defaults, too many fields, bad values

@pytest.mark.parametrize("text,params", [
    ("Convolution 2D:4", {"filters": 4, "kernel": (3, 3), "stride": (1, 1), "padding": "same", "dilation": (1, 1),
                          "initializer": "he_normal", "kernel_regularizer": None, "activity_regularizer": None,
                          "l1": 0.001, "l2": 0.001}),
    ("Convolution 2D:4:::valid", {"kernel": (3, 3), "stride": (1, 1), "padding": "valid"}),
    ("Convolution 3D:8", {"kernel": (3, 3, 3), "stride": (1, 1, 1), "dilation": (1, 1, 1)}),
    ("Convolution 3D:8:(3, 3, 3):(1, 1, 1):same:None", {"dilation": (1, 1, 1)}),
    ("Convolution 3D:8:(3, 3, 3):(1, 1, 1):same:", {"dilation": (1, 1, 1)}),
    ("Transpose convolution 3D:8:(2, 2, 2):(2, 2, 2):same:None", {"dilation": (1, 1, 1)}),
    ("Resize convolution 3D:8", {"upsample": (2, 2, 2), "dilation": (1, 1, 1)}),
    ("Convolution 2D:4:(3, 3):(1, 1):same:None", {"dilation": (1, 1)}),
    ("Batch normalization", {"momentum": 0.99, "epsilon": 0.001}),
    ("Batch normalization::", {"momentum": 0.99, "epsilon": 0.001}),
    ("Batch normalization::0.01", {"momentum": 0.99, "epsilon": 0.01}),
    ("Dropout:", {"rate": 0.5}),
    ("Leaky reLU:", {"alpha": 0.2}),
    ("ELU", {"alpha": 0.2}),
    ("Thresholded reLU:", {"theta": 0.2}),
    ("Max pooling 2D", {"pool": (2, 2), "stride": (2, 2)}),
    ("Max pooling 2D:(3, 3):None", {"pool": (3, 3), "stride": None}),
    ("Upsample 3D", {"size": (2, 2, 2)}),
    ("Zero padding 2D", {"padding": ((1, 1), (1, 1))}),
    ("Outer skip target", {"mode": "concatenate"}),
    ("Inner skip target:", {"mode": "add"}),
    ("Activation", {"activation": "relu"}),
    ("Dense", {"units": 1024}),
    ("ResNet50:::(64, 64, 3)", {"keep_heads": False, "weights": "imagenet", "input_shape": (64, 64, 3),
                                "skip_starts": True, "hook_connections": False}),
])
def test_empty_or_absent_fields_take_defaults(registry, text, params):
    spec = _parse(text, registry)
    for name, value in params.items():
        assert spec[name] == value, name


def test_typed_absent_parameters_take_defaults(registry):
    assert _parse({"type": "Convolution 2D"}, registry) == _parse("Convolution 2D", registry)
    assert _parse({"type": "Convolution 2D", "filters": 4, "kernel": "", "padding": ""}, registry) == \
        _parse("Convolution 2D:4", registry)
    assert _parse({"type": "Convolution 3D", "dilation": None}, registry)["dilation"] == (1, 1, 1)


def test_pool_stride_none_means_pool_size(registry):
    spec = _parse("Max pooling 2D:(3, 3):None", registry)
    assert registry.layers[spec.type].output_shape((9, 9, 2), spec) == (3, 3, 2)


@pytest.mark.parametrize("text,message", [
    ("Dense:10:20", "layers.serial_layer_list[1]: Dense takes 1 parameter(s) (units) but 2 were given. "
                    "Expected Dense:units. Received: 'Dense:10:20'."),
    ("Flatten:3", "layers.serial_layer_list[1]: Flatten takes 0 parameter(s) (no parameters) but 1 were given. "
                  "Expected Flatten. Received: 'Flatten:3'."),
    ("Batch normalization:0.99:0.001:5", "layers.serial_layer_list[1]: Batch normalization takes 2 parameter(s) "
                                         "(momentum:epsilon) but 3 were given. Expected Batch normalization:momentum:"
                                         "epsilon. Received: 'Batch normalization:0.99:0.001:5'."),
    (f"Depthwise separable convolution 2D:2:(3, 3):(1, 1):same:(1, 1):he_normal:{REG}",
     "layers.serial_layer_list[1]: Depthwise separable convolution 2D takes 9 parameter(s) (filters:kernel:stride:"
     "padding:initializer:kernel_regularizer:activity_regularizer:l1:l2) but 10 were given."),
    ("VGG16:False:none:(512, 512, 1):True:False:extra", "VGG16 takes 5 parameter(s) "
                                                        "(keep_heads:weights:input_shape:skip_starts:hook_connections)"
                                                        " but 6 were given"),
])
def test_too_many_fields(registry, text, message):
    spec, problems = parse_layer(text, "layers.serial_layer_list[1]", registry)
    assert spec is None and len(problems) == 1
    assert message in problems[0].line()


@pytest.mark.parametrize("raw,fragments", [
    ("Convolution 2D:4:(3, 3):(1, 1):sme", ["Convolution 2D parameter 'padding' (4th field) is invalid",
                                            "Expected one of 'same', 'valid'", "Did you mean 'same'?"]),
    ("Convolution 2D:four", ["Convolution 2D parameter 'filters' (1st field) is invalid",
                             "Expected an integer >= 1", "Received: 'Convolution 2D:four'"]),
    ("Convolution 2D:4:(3, 3", ["parameter 'kernel' (2nd field) is invalid",
                                "Expected a positive integer or a 2-tuple of positive integers such as (3, 3)"]),
    ("Convolution 3D:4:(3, 3)", ["a positive integer or a 3-tuple of positive integers such as (3, 3, 3)"]),
    ("Convolution 2D:4:(3, 3):(1, 1):same:(1, 1):he_norm", ["parameter 'initializer' (6th field)",
                                                            "Did you mean 'he_normal'?"]),
    ("Convolution 2D:4:(3, 3):(1, 1):same:(1, 1):he_normal:L2", ["parameter 'kernel_regularizer' (7th field)",
                                                                 "Did you mean 'l2'?"]),
    ("Dropout:1.5", ["Dropout parameter 'rate' (1st field) is invalid", "Expected a number in [0.0, 1.0)"]),
    ("Batch normalization:0.99:0", ["parameter 'epsilon' (2nd field)", "Expected a number > 0.0"]),
    ("Outer skip target:concat", ["parameter 'mode' (1st field)",
                                  "one of 'concatenate', 'add', 'subtract', 'multiply', 'average', 'maximum'",
                                  "Did you mean 'concatenate'?"]),
    ("VGG16:false:none:(512, 512, 1):True:False", ["VGG16 parameter 'keep_heads' (1st field) is invalid",
                                                   "Expected True or False", "Did you mean 'False'?"]),
    ("VGG16:False:none:(512, 512):True:False", ["parameter 'input_shape' (3rd field)",
                                                "a tuple of 3 positive integers"]),
    ({"type": "Dense", "unit": 3}, ["layers.serial_layer_list[1].unit: Dense has no parameter 'unit'",
                                    "Did you mean 'units'?"]),
    ({"type": "Dense", "units": "3"}, []),  # a string value in the typed form is read as the string form
    ({"units": 3}, ["layers.serial_layer_list[1].type: unknown layer type", "Received: None"]),
    (["Dense", 3], ["a layer must be a layer string or an object with a 'type'"]),
])
def test_bad_fields(registry, raw, fragments):
    spec, problems = parse_layer(raw, "layers.serial_layer_list[1]", registry)
    if not fragments:
        assert problems == [] and spec["units"] == 3
        return
    assert spec is None and len(problems) == 1
    for fragment in fragments:
        assert fragment in problems[0].line()


@pytest.mark.parametrize("text,shape,message", [
    ("Convolution 2D:4", (5,), "Convolution 2D needs a 3-D input (rows, cols, channels), got shape (5,)"),
    ("Convolution 3D:4", (8, 8, 3), "Convolution 3D needs a 4-D input (rows, cols, slices, channels), "
                                    "got shape (8, 8, 3)"),
    ("Convolution 2D:4:(5, 5):(1, 1):valid", (3, 3, 1), "with kernel (5, 5) and padding 'valid' does not fit"),
    ("Convolution 2D:4:(3, 3):(2, 2):same:(2, 2)", (8, 8, 1), "cannot combine a dilation (2, 2) with a stride (2, 2)"),
    ("Max pooling 2D:(4, 4):(1, 1)", (3, 3, 1), "Max pooling 2D window (4, 4) is larger than the input (3, 3, 1)"),
    ("Reshape:(5, 5)", (4, 4, 3), "cannot reshape (4, 4, 3) (48 values) to (5, 5) (25 values)"),
    ("Reshape:(-1, 5)", (4, 4, 3), "cannot reshape (4, 4, 3) (48 values) to (-1, 5)"),
    ("Permute:(2, 1)", (4, 4, 3), "Permute dims (2, 1) do not match the 3 axes of (4, 4, 3)"),
    ("Cropping 2D:((2, 2), (0, 0))", (4, 4, 3), "Cropping 2D ((2, 2), (0, 0)) removes the whole input (4, 4, 3)"),
    ("Global max pooling 3D", (8, 8, 3), "Global max pooling 3D needs a 4-D input"),
    ("Upsample 2D", (8, 8, 8, 1), "Upsample 2D needs a 3-D input"),
])
def test_shape_errors(registry, text, shape, message):
    spec = _parse(text, registry)
    with pytest.raises(ShapeError) as info:
        registry.layers[spec.type].output_shape(shape, spec)
    assert message in str(info.value)


def test_shape_error_in_a_graph_names_position_and_layer(registry):
    specs = (_parse("Input:(3, 3, 1)", registry), _parse("Dense:2", registry),
             _parse("Convolution 2D:4:(5, 5):(1, 1):valid", registry))
    with pytest.raises(WalkError) as info:
        build_graph("serial_layer_list", specs, registry)
    line = info.value.problem.line()
    assert line.startswith("layers.serial_layer_list[2]: cannot apply Convolution 2D to the shape (3, 3, 2): ")
    assert line.endswith("Received: 'Convolution 2D:4:(5, 5):(1, 1):valid:(1, 1):he_normal:None:None:0.001:0.001'.")


# ------------------------------------------------------------------ 2.5 pretrained networks

# Keras counts (trainable, non-trainable) of the keras.applications models with their heads, at their
# canonical input size: the published numbers (e.g. VGG16 138,357,544; ResNet50 25,636,712).
KERAS_TOTALS = {
    "VGG16": ((224, 224, 3), 138_357_544, 0),
    "VGG19": ((224, 224, 3), 143_667_240, 0),
    "ResNet50": ((224, 224, 3), 25_583_592, 53_120),
    "ResNet101": ((224, 224, 3), 44_601_832, 105_344),
    "ResNet152": ((224, 224, 3), 60_268_520, 151_424),
    "ResNet50V2": ((224, 224, 3), 25_568_360, 45_440),
    "ResNet101V2": ((224, 224, 3), 44_577_896, 97_664),
    "ResNet152V2": ((224, 224, 3), 60_236_904, 143_744),
    "InceptionV3": ((299, 299, 3), 23_817_352, 34_432),
    "InceptionResNetV2": ((299, 299, 3), 55_813_192, 60_544),
    "Xception": ((299, 299, 3), 22_855_952, 54_528),
    "DenseNet121": ((224, 224, 3), 7_978_856, 83_648),
    "DenseNet169": ((224, 224, 3), 14_149_480, 158_400),
    "DenseNet201": ((224, 224, 3), 20_013_928, 229_056),
    "MobileNet": ((224, 224, 3), 4_231_976, 21_888),
    "MobileNetV2": ((224, 224, 3), 3_504_872, 34_112),
}


def test_eighteen_networks_are_registered(registry):
    assert set(NETWORK_NAMES) == {
        "Xception", "VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2",
        "ResNet152V2", "ResNeXt50", "ResNeXt101", "InceptionV3", "InceptionResNetV2", "DenseNet121",
        "DenseNet169", "DenseNet201", "MobileNet", "MobileNetV2"}
    assert all(registry.layers[n].role == "pretrained" for n in NETWORK_NAMES)


@pytest.mark.parametrize("name", NETWORK_NAMES)
def test_network_strings_in_both_forms(registry, name):
    text = f"{name}:False:none:(512, 512, 1):True:False"
    typed = {"type": name, "keep_heads": False, "weights": "none", "input_shape": [512, 512, 1],
             "skip_starts": True, "hook_connections": False}
    spec = _parse(text, registry)
    assert spec == _parse(typed, registry)
    assert spec.params == {"keep_heads": False, "weights": "none", "input_shape": (512, 512, 1),
                           "skip_starts": True, "hook_connections": False}
    assert format_layer(spec, registry, legacy=True) == text


@pytest.mark.parametrize("name", NETWORK_NAMES)
def test_network_output_shapes_at_512(registry, name):
    out, taps = network_shapes(name, (512, 512, 1), False)
    # every encoder ends at stride 32 (VGG: 16x16 after block5_pool), Inception nets unpadded at 14
    assert out[:2] == ((14, 14) if name.startswith("Inception") else (16, 16))
    sizes = (512, 256, 128, 64, 32) if name.startswith("VGG") else (256, 128, 64, 32, 16)
    assert [t[:2] for t in taps] == [(n, n) for n in sizes]
    head, _ = network_shapes(name, (512, 512, 1), True)
    assert head == (1000,)


@pytest.mark.parametrize("name", sorted(KERAS_TOTALS))
def test_network_parameter_counts_match_keras(name):
    shape, trainable, frozen = KERAS_TOTALS[name]
    assert network_param_counts(name, shape, True) == (trainable, frozen)


def test_network_without_head_drops_the_classifier():
    # VGG16 without its head: 14,714,688 weights (the well-known notop count)
    assert network_param_counts("VGG16", (224, 224, 3), False) == (14_714_688, 0)
    # a 1-channel input removes 3*3*(3-1)*64 weights from VGG's first convolution
    assert network_param_counts("VGG16", (224, 224, 1), False) == (14_714_688 - 1152, 0)


def test_network_input_too_small():
    with pytest.raises(ShapeError, match="input too small"):
        network_shapes("InceptionV3", (16, 16, 3), False)
