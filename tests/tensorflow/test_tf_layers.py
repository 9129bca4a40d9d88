"""TensorFlow layer builders and build_model: shapes and parameter counts against the core, known
values, the canonical weight layout."""

import math
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import dlae_core.plugin.builtin  # noqa: E402
import dlae_tensorflow.plugin  # noqa: E402
from dlae_core.errors import BackendError  # noqa: E402
from dlae_core.planning.graph import build_graph  # noqa: E402
from dlae_core.layers.grammar import parse_layer  # noqa: E402
from dlae_core.layers.spec import LayerSpec, ShapeError  # noqa: E402
from dlae_core.plugin.registry import Registry, make_plugin_manager  # noqa: E402
from dlae_core.running.weights import canonical_shapes, graph_shapes  # noqa: E402
from dlae_tensorflow.initializers import keras_kernel  # noqa: E402
from dlae_tensorflow.model import build_model, count_params, regularization_loss  # noqa: E402
from dlae_tensorflow.weights import export_weights, import_weights  # noqa: E402

REGISTRY = Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, dlae_tensorflow.plugin]))
BUILDERS = REGISTRY.builders("tensorflow")
CONV = "he_normal:None:None:0.001:0.001"
RNG = np.random.default_rng(0)


def spec_of(text: str):
    spec, problems = parse_layer(text, "layers[0]", REGISTRY)
    assert not problems, [p.line() for p in problems]
    return spec


def graph_of(strings):
    return build_graph("serial_layer_list", tuple(spec_of(s) if isinstance(s, str) else s for s in strings), REGISTRY)


def model_of(strings):
    return build_model(graph_of(strings), BUILDERS)


def layer_of(text: str, shape: tuple):
    """A built layer of ``text`` for the IR input ``shape``."""
    spec = spec_of(text)
    layer = BUILDERS["layer"][spec.type](spec, shape)
    layer.build((None,) + tuple(shape))
    return layer


def randn(*shape):
    return RNG.standard_normal(shape).astype("float32")


def single(spec, shape):
    return build_graph("serial_layer_list", (LayerSpec("Input", {"shape": shape}), spec), REGISTRY)


# -- generated from the registry ---------------------------------------------------------------------
def _cases():
    cases = []
    for name, layer_type in REGISTRY.layers.items():
        if layer_type.role != "layer" or name not in BUILDERS["layer"]:
            continue
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
def test_layer_matches_core(name, shape):
    layer_type = REGISTRY.layers[name]
    spec = layer_type.example_spec()
    graph = single(spec, shape)
    model = build_model(graph, BUILDERS)
    x = randn(2, *shape)
    for training in (False, True):
        assert tuple(model(x, training=training).shape) == (2,) + graph.output_shape
    assert count_params(model) == layer_type.param_counts(shape, spec)
    exported = export_weights(model, graph)
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
def test_variant_matches_core(text, shape):
    spec = spec_of(text)
    layer_type = REGISTRY.layers[spec.type]
    graph = single(spec, shape)
    model = build_model(graph, BUILDERS)
    out = model(randn(2, *shape), training=True)
    assert tuple(out.shape[1:]) == layer_type.output_shape(shape, spec)
    assert count_params(model) == layer_type.param_counts(shape, spec)
    weights = {name: v.shape for name, v in export_weights(model, graph).get(graph.nodes[1].name, {}).items()}
    assert weights == canonical_shapes(spec, shape)


def test_every_builtin_layer_has_a_tensorflow_builder():
    names = REGISTRY.registered_by("dlae_core.plugin.builtin")["layers"]
    wanted = [n for n in names if REGISTRY.layers[n].role == "layer"]
    assert len(wanted) > 30
    assert [n for n in wanted if n not in BUILDERS["layer"]] == []


def test_every_activation_has_a_tensorflow_builder_with_keras_values():
    assert sorted(BUILDERS["activation"]) == sorted(REGISTRY.activations)
    x = np.linspace(-3, 3, 24, dtype="float32").reshape(2, 3, 4)
    for name, build in BUILDERS["activation"].items():
        assert tuple(build()(x).shape) == x.shape, name
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
        np.testing.assert_allclose(BUILDERS["activation"][name]()(x).numpy(), value, rtol=1e-5, atol=1e-6,
                                   err_msg=name)


# -- known values --------------------------------------------------------------------------------------
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


def test_conv_hand_set_kernel():
    layer = layer_of("Convolution 2D:1:(2, 2):(1, 1):valid:(1, 1):" + CONV, (3, 3, 1))
    layer.kernel.assign(np.ones((2, 2, 1, 1), "float32"))
    layer.bias.assign([0.5])
    out = layer(np.arange(1.0, 10.0, dtype="float32").reshape(1, 3, 3, 1))
    assert out[0, :, :, 0].numpy().tolist() == [[12.5, 16.5], [24.5, 28.5]]


def test_same_stride2_pads_at_the_end():
    layer = layer_of("Convolution 2D:1:(3, 3):(2, 2):same:(1, 1):" + CONV, (4, 4, 1))
    layer.kernel.assign(np.ones((3, 3, 1, 1), "float32"))
    out = layer(np.arange(16.0, dtype="float32").reshape(1, 4, 4, 1))
    assert out[0, :, :, 0].numpy().tolist() == [[45.0, 39.0], [66.0, 50.0]]


def _transpose_reference(x, kernel, stride, padding):
    """TF conv2d_transpose on channels-last numpy arrays, Keras kernel (kh, kw, out, in)."""
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
def test_transpose_conv_against_reference(kernel, stride, padding):
    layer = layer_of(f"Transpose convolution 2D:3:({kernel}, {kernel}):({stride}, {stride}):{padding}:(1, 1):"
                     + CONV, (3, 2, 2))
    value = randn(kernel, kernel, 3, 2)
    layer.kernel.assign(value)
    layer.bias.assign([0.5, -1.0, 2.0])
    x = randn(2, 3, 2, 2)
    expected = _transpose_reference(x.astype(np.float64), value.astype(np.float64), stride, padding)
    np.testing.assert_allclose(layer(x).numpy(), expected + [0.5, -1.0, 2.0], atol=1e-5)


def test_resize_convolution_is_nearest_upsample_then_conv():
    layer = layer_of("Resize convolution 2D:1:(1, 1):(1, 1):(2, 2):same:(1, 1):" + CONV, (2, 2, 1))
    assert [v.name for v in layer.weights] == ["kernel", "bias"]
    layer.kernel.assign(np.full((1, 1, 1, 1), 2.0, "float32"))
    layer.bias.assign([1.0])
    out = layer(np.array([[1.0, 2.0], [3.0, 4.0]], "float32").reshape(1, 2, 2, 1))[0, :, :, 0]
    assert out.numpy().tolist() == [[3, 3, 5, 5], [3, 3, 5, 5], [7, 7, 9, 9], [7, 7, 9, 9]]


def test_upsample_repeats_each_value():
    for text, shape, factors in (("Upsample 2D:(2, 3)", (3, 2, 2), (2, 3)),
                                 ("Upsample 3D:(3, 1, 2)", (2, 3, 2, 2), (3, 1, 2))):
        x = randn(2, *shape)
        out = model_of([f"Input:{shape}", text])(x).numpy()
        expected = x
        for axis, factor in enumerate(factors, start=1):
            expected = np.repeat(expected, factor, axis=axis)
        assert np.array_equal(out, expected)


def test_separable_conv_is_depthwise_then_pointwise():
    layer = layer_of("Separable convolution 2D:4:(2, 3):(1, 1):valid:(1, 1):" + CONV, (4, 5, 3))
    depthwise, pointwise = randn(2, 3, 3, 1), randn(1, 1, 3, 4)
    layer.depthwise_kernel.assign(depthwise)
    layer.pointwise_kernel.assign(pointwise)
    layer.bias.assign(np.arange(4.0, dtype="float32"))
    x = randn(2, 4, 5, 3)
    diagonal = np.zeros((2, 3, 3, 3))
    for c in range(3):
        diagonal[:, :, c, c] = depthwise[:, :, c, 0]
    expected = _conv_channels_last(_conv_channels_last(x, diagonal), pointwise) + np.arange(4.0)
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-5)


def test_depthwise_channel_order():
    layer = layer_of("Depthwise separable convolution 2D:2:(1, 1):(1, 1):valid:" + CONV, (1, 1, 3))
    layer.kernel.assign(np.array([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]], "float32").reshape(1, 1, 3, 2))
    out = layer(np.array([1.0, 2.0, 3.0], "float32").reshape(1, 1, 1, 3))
    assert out.numpy().flatten().tolist() == [10, 20, 60, 80, 150, 180]  # channel c * mult + m


def test_concatenate_puts_skip_first_and_subtract_is_skip_minus_current():
    for mode in ("concatenate", "subtract"):
        graph = graph_of(["Input:(4, 4, 2)", "Outer skip source", "Convolution 2D:3:(1, 1):(1, 1):same:(1, 1):"
                          + CONV if mode == "concatenate" else "Leaky reLU:0.5", f"Outer skip target:{mode}"])
        model = build_model(graph, BUILDERS)
        assert model.layers[-1].name == graph.nodes[-1].name
        x = randn(2, 4, 4, 2)
        out = model(x).numpy()
        assert tuple(out.shape[1:]) == graph.output_shape
        if mode == "concatenate":
            assert np.array_equal(out[..., :2], x)
        else:
            np.testing.assert_allclose(out, x - np.where(x >= 0, x, 0.5 * x), atol=1e-6)


def test_other_merges():
    x = randn(2, 3, 3, 2)
    for mode, expected in (("add", x + np.maximum(x, 0)), ("multiply", x * np.maximum(x, 0)),
                           ("average", (x + np.maximum(x, 0)) / 2), ("maximum", np.maximum(x, np.maximum(x, 0)))):
        out = model_of(["Input:(3, 3, 2)", "Inner skip source", "Activation:relu", f"Inner skip target:{mode}"])(x)
        np.testing.assert_allclose(out.numpy(), expected, atol=1e-6, err_msg=mode)


def test_flatten_reshape_permute_dense_follow_channels_last_order():
    x = randn(2, 2, 3, 4)
    assert np.array_equal(model_of(["Input:(2, 3, 4)", "Flatten"])(x).numpy(), x.reshape(2, -1))
    assert np.array_equal(model_of(["Input:(2, 3, 4)", "Reshape:(6, 4)"])(x).numpy(), x.reshape(2, 6, 4))
    assert np.array_equal(model_of(["Input:(2, 3, 4)", "Permute:(3, 1, 2)"])(x).numpy(), x.transpose(0, 3, 1, 2))
    dense = model_of(["Input:(2, 3, 4)", "Dense:5"])
    layer = dense.get_layer("dense_1")
    np.testing.assert_allclose(dense(x).numpy(), x @ layer.kernel.numpy() + layer.bias.numpy(), atol=1e-5)
    assert not layer.bias.numpy().any()


def test_batch_norm_counts_and_keras_statistics():
    graph = graph_of(["Input:(4, 4, 3)", "Batch normalization:0.9:0.001"])
    model = build_model(graph, BUILDERS)
    assert count_params(model) == (6, 6)
    assert list(export_weights(model, graph)["batch_normalization_1"]) == ["gamma", "beta", "moving_mean",
                                                                           "moving_variance"]
    x = randn(5, 4, 4, 3) * 3 + 2
    out = model(x, training=True).numpy()
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), np.zeros(3), atol=1e-5)
    bn = model.get_layer("batch_normalization_1")
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * x.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * x.var(axis=(0, 1, 2)), rtol=1e-5)
    y = model(x, training=False).numpy()
    expected = (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 0.001)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_prelu_one_slope_per_element():
    layer = layer_of("PreLU", (2, 3, 2))
    assert count_params(layer) == (12, 0)
    assert not layer.alpha.numpy().any()  # initialised to 0 -> ReLU
    alpha = np.arange(12.0, dtype="float32").reshape(2, 3, 2) / 10
    layer.alpha.assign(alpha)
    x = randn(3, 2, 3, 2)
    np.testing.assert_allclose(layer(x).numpy(), np.where(x >= 0, x, alpha * x), atol=1e-6)


def test_thresholded_relu_and_friends():
    x = np.array([[-1.0, 0.1, 0.2, 0.3, 1.0]], "float32")
    theta = layer_of("Thresholded reLU:0.2", (5,))(x).numpy()
    np.testing.assert_allclose(theta, [[0.0, 0.0, 0.0, 0.3, 1.0]])
    assert layer_of("ELU:0.5", (5,))(x).numpy()[0, 0] == pytest.approx(0.5 * (math.exp(-1) - 1))
    assert layer_of("Leaky reLU:0.3", (5,))(x).numpy()[0, 0] == pytest.approx(-0.3)
    hard = BUILDERS["activation"]["hard_sigmoid"]()
    assert hard(np.array([-4.0, 0.0, 1.5, 4.0], "float32")).numpy().tolist() == [0.0, 0.5, 0.75, 1.0]


def test_noise_layers_only_act_in_training():
    x = np.ones((4, 8, 8, 3), "float32")
    for text in ("Dropout:0.5", "Spatial dropout 2D:0.5", "Gaussian dropout:0.5", "Gaussian noise:0.3",
                 "Alpha dropout:0.5"):
        model = model_of(["Input:(8, 8, 3)", text])
        assert np.array_equal(model(x, training=False).numpy(), x), text
        assert not np.array_equal(model(x, training=True).numpy(), x), text
    spatial = model_of(["Input:(8, 8, 3)", "Spatial dropout 2D:0.5"])(x, training=True).numpy()
    assert (spatial.max(axis=(1, 2)) == spatial.min(axis=(1, 2))).all()  # whole maps kept (x 2) or dropped


def test_initializers_follow_keras():
    he = keras_kernel("he_normal", (3, 3, 64, 32))
    assert he.std() == pytest.approx(math.sqrt(2 / (3 * 3 * 64)), rel=0.05)
    ortho = keras_kernel("orthogonal", (2, 2, 8, 16)).reshape(32, 16)
    np.testing.assert_allclose(ortho.T @ ortho, np.eye(16), atol=1e-5)
    layer = layer_of("Depthwise separable convolution 2D:4:(3, 3):(1, 1):same:lecun_uniform:None:None:0:0", (4, 4, 32))
    bound = math.sqrt(3 / (9 * 32))
    assert bound * 0.9 < np.abs(layer.kernel.numpy()).max() <= bound
    assert not layer.bias.numpy().any()
    separable = layer_of("Separable convolution 2D:4:(3, 3):(1, 1):same:(1, 1):ones:None:None:0:0", (4, 4, 2))
    assert separable.depthwise_kernel.numpy().min() == 1 and separable.pointwise_kernel.numpy().min() == 1


def test_regularization_loss_activity_not_divided_by_batch():
    graph = graph_of(["Input:(4, 4, 2)",
                      "Convolution 2D:3:(3, 3):(1, 1):same:(1, 1):ones:l2:l1:0.01:0.1",
                      "Separable convolution 2D:2:(3, 3):(1, 1):same:(1, 1):ones:l1_l2:None:0.01:0.1",
                      "Dense:2"])
    model = build_model(graph, BUILDERS)
    x = randn(2, 4, 4, 2)
    kernel = 0.1 * 54 + (0.01 + 0.1) * (27 + 6)  # conv: l2 on 54 ones; separable: l1_l2 on 27 + 6 ones
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv_out = _conv_channels_last(padded, np.ones((3, 3, 2, 3)))
    activity = 0.01 * np.abs(conv_out).sum()  # l1 on the conv output, summed over the whole batch
    model(x)
    assert float(regularization_loss(model)) == pytest.approx(kernel + activity, rel=1e-5)
    model(x[:1])  # the activity term follows the latest forward only
    assert float(regularization_loss(model)) == pytest.approx(kernel + 0.01 * np.abs(conv_out[:1]).sum(), rel=1e-5)
    plain = model_of(["Input:(4, 4, 2)", "Dense:2"])
    assert float(regularization_loss(plain)) == 0.0


# -- whole graphs --------------------------------------------------------------------------------------------
UNET_2D = ["Input:(16, 16, 1)", "Convolution 2D:4:(3, 3):(1, 1):same:(1, 1):" + CONV, "Activation:relu",
           "Outer skip source", "Max pooling 2D:(2, 2):(2, 2)", "Convolution 2D:8:(3, 3):(1, 1):same:(1, 1):" + CONV,
           "Batch normalization:0.99:0.001", "Resize convolution 2D:4:(2, 2):(1, 1):(2, 2):same:(1, 1):" + CONV,
           "Outer skip target:concatenate", "Convolution 2D:3:(1, 1):(1, 1):same:(1, 1):" + CONV,
           "Activation:softmax"]
UNET_3D = ["Input:(8, 8, 8, 1)", "Convolution 3D:4:(3, 3, 3):(1, 1, 1):same:(1, 1, 1):" + CONV,
           "Outer skip source", "Max pooling 3D:(2, 2, 2):(2, 2, 2)",
           "Convolution 3D:6:(3, 3, 3):(1, 1, 1):same:(1, 1, 1):" + CONV,
           "Inner skip source", "PreLU", "Inner skip target:add",
           "Transpose convolution 3D:4:(2, 2, 2):(2, 2, 2):same:(1, 1, 1):" + CONV,
           "Outer skip target:concatenate", "Convolution 3D:3:(1, 1, 1):(1, 1, 1):same:(1, 1, 1):" + CONV,
           "Activation:softmax"]


@pytest.mark.parametrize("strings", [UNET_2D, UNET_3D], ids=["2D", "3D"])
def test_graph_model_unet(strings):
    graph = graph_of(strings)
    model = build_model(graph, BUILDERS)
    assert count_params(model) == graph.totals()
    assert [layer.name for layer in model.layers] == [n.name for n in graph.nodes]
    x = randn(2, *graph.input_shapes[0])
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        total = tf.reduce_sum(out)
    assert tuple(out.shape) == (2,) + graph.output_shape
    np.testing.assert_allclose(out.numpy().sum(axis=-1), np.ones(out.shape[:-1]), rtol=1e-5)
    grads = tape.gradient(total, model.trainable_weights)
    assert all(g is not None for g in grads)


def test_build_model_accepts_split_builders_and_extra_outputs():
    graph = graph_of(UNET_2D)
    model = build_model(graph, BUILDERS["layer"], BUILDERS["activation"], outputs=(3, graph.output))
    assert count_params(model) == graph.totals()
    hook, out = model(randn(1, 16, 16, 1))
    assert tuple(hook.shape[1:]) == graph.nodes[3].output_shape and tuple(out.shape[1:]) == graph.output_shape


def test_pretrained_nodes_are_refused():
    graph = graph_of(["Input:(64, 64, 3)", "VGG16:False:none:(64, 64, 3):True:False", "Flatten"])
    with pytest.raises(BackendError, match="VGG16.*pretrained encoders are not available in the tensorflow backend"):
        build_model(graph, BUILDERS)


def test_a_layer_type_without_tensorflow_builder_is_refused():
    graph = graph_of(["Input:(4, 4, 2)", "Dense:3"])
    with pytest.raises(BackendError, match="'Dense' \\(node dense_1\\) has no tensorflow implementation"):
        build_model(graph, {"layer": {}, "activation": {}})


def test_weights_round_trip_and_mismatch_is_reported():
    graph = graph_of(UNET_2D)
    source, target = build_model(graph, BUILDERS), build_model(graph, BUILDERS)
    weights = export_weights(source, graph)
    import_weights(target, graph, weights)
    x = randn(2, 16, 16, 1)
    assert np.array_equal(source(x).numpy(), target(x).numpy())
    broken = {k: dict(v) for k, v in weights.items()}
    broken["dense_9"] = {"kernel": np.zeros((1, 1))}
    broken["convolution_2d_1"]["kernel"] = np.zeros((3, 3, 1, 5))
    del broken["batch_normalization_1"]["gamma"]
    with pytest.raises(BackendError) as info:
        import_weights(target, graph, broken)
    message = str(info.value)
    assert "3 difference(s)" in message
    assert "convolution_2d_1/kernel: shape (3, 3, 1, 5) in the weights to import, (3, 3, 1, 4)" in message
    assert "batch_normalization_1/gamma: only in the tensorflow model" in message
    assert "dense_9: only in the weights to import" in message


def test_backend_counts_params_through_the_registry():
    backend = REGISTRY.backend("tensorflow")
    graph = graph_of(UNET_3D)
    assert backend.count_params(backend.build_model(graph)) == graph.totals()


def test_the_implemented_table_lists_exactly_what_each_table_holds():
    import importlib

    for (kind, reference), names in dlae_tensorflow.plugin.IMPLEMENTED.items():
        module, _, attribute = reference.partition(":")
        table = getattr(importlib.import_module(module), attribute)
        assert tuple(table) == names, (kind, reference)
        assert all(BUILDERS[kind][name] is table[name] for name in names), (kind, reference)


def test_importing_the_plugin_does_not_import_tensorflow():
    code = ("import sys, dlae_tensorflow.plugin, dlae_tensorflow; "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
