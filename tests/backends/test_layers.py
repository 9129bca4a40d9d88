"""Every backend's layers and models against the core: output shapes and parameter counts of every
built-in layer type, known values with hand-set weights (set through the canonical, Keras-layout weight
exchange), training-mode behaviour, weight round trips and the errors of build_model.

Everything goes through the backend object (build_model, count_params, forward, export_weights,
import_weights); the framework internals (initializer functions, regularization terms, module and
Keras layer names, float64 layout checks) are tested in torch_only/ and tensorflow_only/."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dlae_core.errors import BackendError
from dlae_core.layers.grammar import parse_layer
from dlae_core.layers.spec import LayerSpec, ShapeError
from dlae_core.planning.graph import build_graph
from dlae_core.running.weights import canonical_shapes, graph_shapes
from support import CONV, UNET_2D, UNET_3D, registry, train_forward

REGISTRY = registry()
BUILTIN = REGISTRY.owner[("layers", "Input")]  # the name the built-in plugin registers under
EXAMPLE_FCN = Path("/work/shared/dlae-original/configs/example_fcn.json")
RNG = np.random.default_rng(0)


def spec_of(text: str):
    spec, problems = parse_layer(text, "layers[0]", REGISTRY)
    assert not problems, [p.line() for p in problems]
    return spec


def graph_of(strings):
    return build_graph("serial_layer_list", tuple(spec_of(s) if isinstance(s, str) else s for s in strings), REGISTRY)


def single(spec, shape):
    """The graph ``Input -> spec`` on ``shape``."""
    return build_graph("serial_layer_list", (LayerSpec("Input", {"shape": shape}), spec), REGISTRY)


def randn(*shape):
    return RNG.standard_normal(shape).astype("float32")


def model_of(engine, strings):
    """(graph, model) of a layer list."""
    graph = graph_of(strings)
    return graph, engine.build_model(graph)


def layer_model(engine, text: str, shape: tuple):
    """(graph, model, node name) of ``Input(shape) -> text``."""
    graph = single(spec_of(text), shape)
    return graph, engine.build_model(graph), graph.nodes[1].name


def set_weights(engine, model, graph, node: str, **values) -> None:
    """Replace weights of ``node`` (canonical names and Keras-layout shapes); the others are kept."""
    weights = engine.export_weights(model, graph)
    weights[node].update({name: np.asarray(value, np.float32) for name, value in values.items()})
    engine.import_weights(model, graph, weights)


def forward(engine, model, x) -> np.ndarray:
    return engine.forward(model, [np.asarray(x, np.float32)])


def builtin_layers() -> list[str]:
    return [n for n in REGISTRY.registered_by(BUILTIN)["layers"] if REGISTRY.layers[n].role == "layer"]


# -- generated from the registry ---------------------------------------------------------------------
def _cases():
    cases = []
    for name in builtin_layers():
        layer_type = REGISTRY.layers[name]
        shapes = [layer_type.default_example_input()]
        if layer_type.rank is None:
            shapes += [(8, 8, 8, 2), (6,)]
        for shape in dict.fromkeys(shapes):
            try:
                layer_type.output_shape(shape, layer_type.example_spec())
            except ShapeError:
                continue  # e.g. Permute (2, 1, 3) needs three axes
            cases.append(pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}"))
    return cases


@pytest.mark.parametrize("name,shape", _cases())
def test_layer_matches_core(engine, backend, name, shape):
    layer_type = REGISTRY.layers[name]
    spec = layer_type.example_spec()
    graph = single(spec, shape)
    model = engine.build_model(graph)
    x = randn(2, *shape)
    assert tuple(forward(engine, model, x).shape) == (2,) + graph.output_shape
    assert tuple(train_forward(backend, model, x).shape) == (2,) + graph.output_shape
    assert engine.count_params(model) == layer_type.param_counts(shape, spec)
    exported = engine.export_weights(model, graph)
    assert {k: {n: v.shape for n, v in w.items()} for k, w in exported.items()} == graph_shapes(graph)


VARIANTS = [
    ("Convolution 2D:5:(3, 3):(2, 2):same:(1, 1):" + CONV, (7, 6, 3)),
    ("Convolution 2D:5:(4, 2):(3, 1):valid:(1, 1):" + CONV, (10, 7, 2)),
    ("Convolution 2D:2:(3, 3):(1, 1):same:(2, 2):" + CONV, (9, 8, 2)),
    ("Convolution 3D:3:(3, 2, 3):(2, 2, 1):same:(1, 1, 1):" + CONV, (5, 6, 7, 2)),
    ("Transpose convolution 2D:4:(3, 3):(2, 2):same:(1, 1):" + CONV, (5, 4, 3)),
    ("Transpose convolution 2D:4:(4, 4):(2, 2):same:(1, 1):" + CONV, (5, 4, 3)),
    ("Transpose convolution 2D:4:(3, 1):(2, 3):valid:(1, 1):" + CONV, (5, 4, 3)),
    ("Transpose convolution 2D:2:(2, 2):(3, 3):same:(1, 1):" + CONV, (3, 4, 2)),
    ("Transpose convolution 2D:2:(3, 3):(1, 1):same:(2, 2):" + CONV, (6, 5, 2)),
    ("Transpose convolution 3D:2:(3, 3, 2):(2, 1, 2):valid:(1, 1, 1):" + CONV, (3, 4, 3, 2)),
    ("Resize convolution 2D:3:(3, 3):(1, 1):(2, 3):same:(1, 1):" + CONV, (4, 3, 2)),
    ("Resize convolution 3D:3:(3, 3, 3):(2, 2, 2):(2, 2, 2):valid:(1, 1, 1):" + CONV, (4, 3, 4, 2)),
    ("Separable convolution 2D:6:(3, 3):(2, 2):same:(1, 1):" + CONV, (7, 7, 4)),
    ("Separable convolution 2D:6:(3, 3):(1, 1):valid:(2, 2):" + CONV, (9, 9, 4)),
    ("Depthwise separable convolution 2D:3:(3, 3):(2, 2):same:" + CONV, (7, 8, 4)),
    ("Depthwise separable convolution 2D:2:(2, 3):(1, 1):valid:" + CONV, (7, 8, 3)),
    ("Max pooling 2D:(3, 3):None", (8, 7, 2)),
    ("Average pooling 2D:(3, 2):(2, 1)", (8, 7, 2)),
    ("Max pooling 3D:(2, 2, 2):(1, 2, 3)", (5, 6, 7, 2)),
    ("Zero padding 2D:((1, 2), (0, 3))", (4, 5, 2)),
    ("Zero padding 3D:((1, 0), (0, 2), (2, 1))", (3, 4, 5, 2)),
    ("Cropping 2D:((1, 2), (0, 3))", (6, 7, 2)),
    ("Cropping 3D:((1, 0), (0, 2), (2, 1))", (4, 5, 6, 2)),
    ("Upsample 2D:(2, 3)", (3, 2, 2)),
    ("Upsample 3D:(1, 2, 3)", (3, 2, 2, 2)),
    ("Dense:7", (3, 4, 5)),
    ("Reshape:(4, -1)", (2, 3, 4)),
    ("Reshape:(24,)", (2, 3, 4)),
    ("Permute:(3, 1, 2)", (2, 3, 4)),
    ("Permute:(2, 1)", (5, 6)),
    ("Batch normalization:0.9:0.01", (5,)),
    ("PreLU", (3, 4, 2)),
]


@pytest.mark.parametrize("text,shape", VARIANTS, ids=[v[0].split(":he")[0] for v in VARIANTS])
def test_variant_matches_core(engine, backend, text, shape):
    spec = spec_of(text)
    layer_type = REGISTRY.layers[spec.type]
    graph = single(spec, shape)
    model = engine.build_model(graph)
    out = train_forward(backend, model, randn(2, *shape))
    assert tuple(out.shape[1:]) == layer_type.output_shape(shape, spec)
    assert engine.count_params(model) == layer_type.param_counts(shape, spec)
    weights = {name: v.shape for name, v in engine.export_weights(model, graph).get(graph.nodes[1].name, {}).items()}
    assert weights == canonical_shapes(spec, shape)


def test_every_builtin_layer_has_a_builder(engine):
    wanted = builtin_layers()
    assert len(wanted) > 30
    assert [n for n in wanted if n not in engine.implementations["layer"]] == []


def test_every_activation_has_a_builder_with_keras_values(engine):
    assert sorted(engine.implementations["activation"]) == sorted(REGISTRY.activations)
    x = np.linspace(-3, 3, 24, dtype="float32").reshape(2, 3, 4)
    outputs = {}
    for name in engine.implementations["activation"]:
        _, model = model_of(engine, ["Input:(3, 4)", f"Activation:{name}"])
        outputs[name] = forward(engine, model, x)
        assert outputs[name].shape == x.shape, name
    erf = np.vectorize(math.erf)
    expected = {
        "hard_sigmoid": np.clip(x / 6 + 0.5, 0, 1),
        "gelu": 0.5 * x * (1 + erf(x / math.sqrt(2))),  # exact, not the tanh approximation
        "swish": x / (1 + np.exp(-x)),
        "elu": np.where(x > 0, x, np.exp(x) - 1),
        "softsign": x / (1 + np.abs(x)),
        "softmax": np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True),
        "linear": x,
    }
    for name, value in expected.items():
        np.testing.assert_allclose(outputs[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


# -- known values (weights set through the canonical layout: Keras kernels) -------------------------------
def _conv_channels_last(x, kernel, stride=1):
    """Naive 'valid' convolution on channels-last numpy arrays with a Keras (kh, kw, in, out) kernel."""
    n, h, w, _ = x.shape
    kh, kw, _, out = kernel.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    y = np.zeros((n, oh, ow, out))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            y[:, i, j, :] = np.einsum("nabc,abco->no", patch, kernel)
    return y


def test_conv_hand_set_kernel(engine):
    graph, model, node = layer_model(engine, "Convolution 2D:1:(2, 2):(1, 1):valid:(1, 1):" + CONV, (3, 3, 1))
    set_weights(engine, model, graph, node, kernel=np.ones((2, 2, 1, 1)), bias=[0.5])
    out = forward(engine, model, np.arange(1.0, 10.0).reshape(1, 3, 3, 1))
    assert out[0, :, :, 0].tolist() == [[12.5, 16.5], [24.5, 28.5]]


def test_conv_keras_kernel_layout(engine):
    graph, model, node = layer_model(engine, "Convolution 2D:3:(2, 3):(1, 1):valid:(1, 1):" + CONV, (4, 5, 2))
    kernel = randn(2, 3, 2, 3)
    set_weights(engine, model, graph, node, kernel=kernel, bias=np.zeros(3))
    x = randn(2, 4, 5, 2)
    np.testing.assert_allclose(forward(engine, model, x), _conv_channels_last(x, kernel), atol=1e-5)


def test_same_stride2_pads_at_the_end(engine):
    # 4x4 input, 3x3 kernel, stride 2, 'same': TF pads 0 rows before and 1 after (extra at the end).
    graph, model, node = layer_model(engine, "Convolution 2D:1:(3, 3):(2, 2):same:(1, 1):" + CONV, (4, 4, 1))
    set_weights(engine, model, graph, node, kernel=np.ones((3, 3, 1, 1)))
    out = forward(engine, model, np.arange(16.0).reshape(1, 4, 4, 1))
    assert out[0, :, :, 0].tolist() == [[45.0, 39.0], [66.0, 50.0]]


def test_transpose_conv_matches_tensorflow_cropping(engine):
    # Keras kernel (kh, kw, out, in); 'same' stride 2 kernel 3 on 2x2: full 5x5 output cropped [0:4].
    graph, model, node = layer_model(engine, "Transpose convolution 2D:1:(3, 3):(2, 2):same:(1, 1):" + CONV, (2, 2, 1))
    kernel = np.arange(1.0, 10.0).reshape(3, 3, 1, 1)
    set_weights(engine, model, graph, node, kernel=kernel)
    x = np.array([1.0, 10.0, 100.0, 1000.0]).reshape(1, 2, 2, 1)
    full = np.zeros((5, 5))
    for (i, j), v in np.ndenumerate(x[0, :, :, 0]):
        full[2 * i:2 * i + 3, 2 * j:2 * j + 3] += v * kernel[:, :, 0, 0]
    np.testing.assert_allclose(forward(engine, model, x)[0, :, :, 0], full[0:4, 0:4])


def _transpose_reference(x, kernel, stride, padding):
    """TF conv2d_transpose on channels-last numpy arrays, Keras kernel (kh, kw, out, in): scatter
    each input pixel, then keep the Keras output window ('same': crop (full - n*s) // 2 first)."""
    n, h, w, _ = x.shape
    kh, kw, out, _ = kernel.shape
    full = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, out))
    for i in range(h):
        for j in range(w):
            full[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :] += np.einsum(
                "nc,aboc->nabo", x[:, i, j, :], kernel)
    window = []
    for axis, (size, k) in enumerate(((h, kh), (w, kw)), start=1):
        target = size * stride if padding == "same" else size * stride + max(k - stride, 0)
        extra = full.shape[axis] - target
        window.append((extra // 2 if padding == "same" and extra > 0 else 0, target))
    (r0, rn), (c0, cn) = window
    padded = np.zeros((n, max(full.shape[1], r0 + rn), max(full.shape[2], c0 + cn), out))
    padded[:, :full.shape[1], :full.shape[2]] = full
    return padded[:, r0:r0 + rn, c0:c0 + cn]


@pytest.mark.parametrize("kernel,stride,padding", [(3, 2, "same"), (4, 2, "same"), (2, 3, "same"),
                                                   (3, 2, "valid"), (1, 3, "valid"), (3, 1, "same")])
def test_transpose_conv_against_reference(engine, kernel, stride, padding):
    graph, model, node = layer_model(
        engine, f"Transpose convolution 2D:3:({kernel}, {kernel}):({stride}, {stride}):{padding}:(1, 1):" + CONV,
        (3, 2, 2))
    value = randn(kernel, kernel, 3, 2)
    set_weights(engine, model, graph, node, kernel=value, bias=[0.5, -1.0, 2.0])
    x = randn(2, 3, 2, 2)
    expected = _transpose_reference(x.astype(np.float64), value.astype(np.float64), stride, padding)
    out = forward(engine, model, x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected + [0.5, -1.0, 2.0], atol=1e-5)


def test_resize_convolution_is_nearest_upsample_then_conv(engine):
    graph, model, node = layer_model(engine, "Resize convolution 2D:1:(1, 1):(1, 1):(2, 2):same:(1, 1):" + CONV,
                                     (2, 2, 1))
    assert list(engine.export_weights(model, graph)[node]) == ["kernel", "bias"]
    set_weights(engine, model, graph, node, kernel=np.full((1, 1, 1, 1), 2.0), bias=[1.0])
    out = forward(engine, model, np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1))[0, :, :, 0]
    assert out.tolist() == [[3, 3, 5, 5], [3, 3, 5, 5], [7, 7, 9, 9], [7, 7, 9, 9]]


def test_upsample_repeats_each_value(engine):
    for text, shape, factors in (("Upsample 2D:(2, 3)", (3, 2, 2), (2, 3)),
                                 ("Upsample 3D:(3, 1, 2)", (2, 3, 2, 2), (3, 1, 2))):
        x = randn(2, *shape)
        _, model = model_of(engine, [f"Input:{shape}", text])
        expected = x
        for axis, factor in enumerate(factors, start=1):
            expected = np.repeat(expected, factor, axis=axis)
        assert np.array_equal(forward(engine, model, x), expected)


def test_separable_conv_is_depthwise_then_pointwise(engine):
    graph, model, node = layer_model(engine, "Separable convolution 2D:4:(2, 3):(1, 1):valid:(1, 1):" + CONV,
                                     (4, 5, 3))
    depthwise, pointwise = randn(2, 3, 3, 1), randn(1, 1, 3, 4)  # Keras (kh, kw, C, 1) and (1, 1, C, F)
    set_weights(engine, model, graph, node, depthwise_kernel=depthwise, pointwise_kernel=pointwise,
                bias=np.arange(4.0))
    x = randn(2, 4, 5, 3)
    diagonal = np.zeros((2, 3, 3, 3))
    for c in range(3):
        diagonal[:, :, c, c] = depthwise[:, :, c, 0]
    expected = _conv_channels_last(_conv_channels_last(x, diagonal), pointwise) + np.arange(4.0)
    np.testing.assert_allclose(forward(engine, model, x), expected, atol=1e-5)


def test_depthwise_channel_order_matches_keras(engine):
    graph, model, node = layer_model(engine, "Depthwise separable convolution 2D:2:(1, 1):(1, 1):valid:" + CONV,
                                     (1, 1, 3))
    set_weights(engine, model, graph, node,
                kernel=np.array([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]]).reshape(1, 1, 3, 2))
    out = forward(engine, model, np.array([1.0, 2.0, 3.0]).reshape(1, 1, 1, 3))
    assert out.flatten().tolist() == [10, 20, 60, 80, 150, 180]  # Keras: channel c * mult + m


def test_concatenate_puts_skip_first_and_subtract_is_skip_minus_current(engine):
    for mode in ("concatenate", "subtract"):
        graph, model = model_of(engine, ["Input:(4, 4, 2)", "Outer skip source", "Convolution 2D:3:(1, 1):(1, 1):same:(1, 1):"
                                         + CONV if mode == "concatenate" else "Leaky reLU:0.5",
                                         f"Outer skip target:{mode}"])
        x = randn(2, 4, 4, 2)
        out = forward(engine, model, x)
        assert tuple(out.shape[1:]) == graph.output_shape
        if mode == "concatenate":
            assert np.array_equal(out[..., :2], x)
        else:
            np.testing.assert_allclose(out, x - np.where(x >= 0, x, 0.5 * x), atol=1e-6)


def test_other_merges(engine):
    x = randn(2, 3, 3, 2)
    for mode, expected in (("add", x + np.maximum(x, 0)), ("multiply", x * np.maximum(x, 0)),
                           ("average", (x + np.maximum(x, 0)) / 2), ("maximum", np.maximum(x, np.maximum(x, 0)))):
        _, model = model_of(engine, ["Input:(3, 3, 2)", "Inner skip source", "Activation:relu",
                                     f"Inner skip target:{mode}"])
        np.testing.assert_allclose(forward(engine, model, x), expected, atol=1e-6, err_msg=mode)


def test_softmax_over_channels(engine):
    _, model = model_of(engine, ["Input:(3, 4, 5)", "Activation:softmax"])
    out = forward(engine, model, randn(2, 3, 4, 5))
    np.testing.assert_allclose(out.sum(axis=-1), np.ones((2, 3, 4)), rtol=1.3e-6, atol=1e-5)


def test_flatten_reshape_permute_dense_follow_channels_last_order(engine):
    x = randn(2, 2, 3, 4)
    assert np.array_equal(forward(engine, model_of(engine, ["Input:(2, 3, 4)", "Flatten"])[1], x), x.reshape(2, -1))
    assert np.array_equal(forward(engine, model_of(engine, ["Input:(2, 3, 4)", "Reshape:(6, 4)"])[1], x),
                          x.reshape(2, 6, 4))
    assert np.array_equal(forward(engine, model_of(engine, ["Input:(2, 3, 4)", "Permute:(3, 1, 2)"])[1], x),
                          x.transpose(0, 3, 1, 2))
    graph, dense = model_of(engine, ["Input:(2, 3, 4)", "Dense:5"])
    weights = engine.export_weights(dense, graph)["dense_1"]
    np.testing.assert_allclose(forward(engine, dense, x), x @ weights["kernel"] + weights["bias"], atol=1e-5)
    assert not weights["bias"].any()


# tolerances of the batch statistics: torch's test compared with torch.testing.assert_close (float32
# defaults), tensorflow's with numpy's assert_allclose
BN_TOLERANCE = {"torch": {"rtol": 1.3e-6, "atol": 1e-5}, "tensorflow": {"rtol": 1e-5, "atol": 0.0}}


def test_batch_norm_counts_and_keras_statistics(engine, backend):
    graph, model = model_of(engine, ["Input:(4, 4, 3)", "Batch normalization:0.9:0.001"])
    assert engine.count_params(model) == (6, 6)
    assert list(engine.export_weights(model, graph)["batch_normalization_1"]) == ["gamma", "beta", "moving_mean",
                                                                                  "moving_variance"]
    x = randn(5, 4, 4, 3) * 3 + 2
    out = train_forward(backend, model, x)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), np.zeros(3), atol=1e-5)
    bn = engine.export_weights(model, graph)["batch_normalization_1"]
    tolerance = BN_TOLERANCE[backend]
    np.testing.assert_allclose(bn["moving_mean"], 0.1 * x.mean(axis=(0, 1, 2)), **tolerance)
    # Keras updates with the biased variance
    np.testing.assert_allclose(bn["moving_variance"], 0.9 + 0.1 * x.var(axis=(0, 1, 2)), **tolerance)
    y = forward(engine, model, x)
    expected = (x - bn["moving_mean"]) / np.sqrt(bn["moving_variance"] + 0.001)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_prelu_one_slope_per_element(engine):
    graph, model, node = layer_model(engine, "PreLU", (2, 3, 2))
    assert engine.count_params(model) == (12, 0)
    assert not engine.export_weights(model, graph)[node]["alpha"].any()  # initialised to 0 -> ReLU
    alpha = np.arange(12.0, dtype="float32").reshape(2, 3, 2) / 10
    set_weights(engine, model, graph, node, alpha=alpha)
    x = randn(3, 2, 3, 2)
    np.testing.assert_allclose(forward(engine, model, x), np.where(x >= 0, x, alpha * x), atol=1e-6)


def test_thresholded_relu_and_friends(engine):
    x = np.array([[-1.0, 0.1, 0.2, 0.3, 1.0]], "float32")

    def layer(text):
        return forward(engine, model_of(engine, ["Input:(5,)", text])[1], x)

    np.testing.assert_allclose(layer("Thresholded reLU:0.2"), [[0.0, 0.0, 0.0, 0.3, 1.0]])
    assert layer("ELU:0.5")[0, 0] == pytest.approx(0.5 * (math.exp(-1) - 1))
    assert layer("Leaky reLU:0.3")[0, 0] == pytest.approx(-0.3)
    hard = forward(engine, model_of(engine, ["Input:(4,)", "Activation:hard_sigmoid"])[1],
                   np.array([[-4.0, 0.0, 1.5, 4.0]]))
    assert hard[0].tolist() == [0.0, 0.5, 0.75, 1.0]


def test_noise_layers_only_act_in_training(engine, backend):
    x = np.ones((4, 8, 8, 3), "float32")
    for text in ("Dropout:0.5", "Spatial dropout 2D:0.5", "Gaussian dropout:0.5", "Gaussian noise:0.3",
                 "Alpha dropout:0.5"):
        _, model = model_of(engine, ["Input:(8, 8, 3)", text])
        assert np.array_equal(forward(engine, model, x), x), text
        assert not np.array_equal(train_forward(backend, model, x), x), text
    _, model = model_of(engine, ["Input:(8, 8, 3)", "Spatial dropout 2D:0.5"])
    spatial = train_forward(backend, model, x)
    assert (spatial.max(axis=(1, 2)) == spatial.min(axis=(1, 2))).all()  # whole maps kept (x 2) or dropped


# -- whole graphs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strings", [UNET_2D, UNET_3D], ids=["2D", "3D"])
def test_graph_model_unet(engine, backend, strings):
    graph, model = model_of(engine, strings)
    assert engine.count_params(model) == graph.totals()
    x = randn(2, *graph.input_shapes[0])
    for out in (forward(engine, model, x), train_forward(backend, model, x)):
        assert tuple(out.shape) == (2,) + graph.output_shape
        assert out.shape[-1] == 3
        np.testing.assert_allclose(out.sum(axis=-1), np.ones(out.shape[:-1]), rtol=1e-5)


def test_backend_counts_params_through_the_registry(engine):
    graph = graph_of(UNET_3D)
    assert engine.count_params(engine.build_model(graph)) == graph.totals()


def test_pretrained_network_is_built_from_its_layers(engine, backend):
    """A pretrained network is expanded into built-in layers by the core; the backend builds them with
    its ordinary builders, Keras names and counts included."""
    graph = graph_of(["Input:(64, 64, 3)", "VGG16:False:none:(64, 64, 3):True:False", "Flatten"])
    model = engine.build_model(graph)
    assert engine.count_params(model) == graph.totals() == (14_714_688, 0)
    weights = engine.export_weights(model, graph)
    assert weights["block5_conv3"]["kernel"].shape == (3, 3, 512, 512)
    assert forward(engine, model, randn(1, 64, 64, 3)).shape == (1, 2 * 2 * 512)


def test_weights_round_trip_and_mismatch_is_reported(engine, backend):
    graph = graph_of(UNET_2D)
    source, target = engine.build_model(graph), engine.build_model(graph)
    weights = engine.export_weights(source, graph)
    engine.import_weights(target, graph, weights)
    x = randn(2, 16, 16, 1)
    assert np.array_equal(forward(engine, source, x), forward(engine, target, x))
    broken = {k: dict(v) for k, v in weights.items()}
    broken["dense_9"] = {"kernel": np.zeros((1, 1))}
    broken["convolution_2d_1"]["kernel"] = np.zeros((3, 3, 1, 5))
    del broken["batch_normalization_1"]["gamma"]
    with pytest.raises(BackendError) as info:
        engine.import_weights(target, graph, broken)
    message = str(info.value)
    assert "3 difference(s)" in message
    assert "convolution_2d_1/kernel: shape (3, 3, 1, 5) in the weights to import, (3, 3, 1, 4)" in message
    assert f"batch_normalization_1/gamma: only in the {backend} model" in message
    assert "dense_9: only in the weights to import" in message


@pytest.mark.skipif(not EXAMPLE_FCN.exists(), reason="original example configs are not available")
def test_example_fcn_counts_match_inspect(engine, backend):
    from dlae_core.config.parser import load_config
    from dlae_core.planning.inspection import inspect_plan
    from dlae_core.planning.plan import plan_model

    config = load_config(EXAMPLE_FCN, REGISTRY)
    plan = plan_model(config, REGISTRY)
    report = inspect_plan(config, plan, REGISTRY, backend=backend)
    counts = report["backend"]["models"]["model"]
    assert (counts["trainable_params"], counts["non_trainable_params"]) == plan.main.totals()
    assert engine.count_params(engine.build_model(plan.main)) == plan.main.totals()
