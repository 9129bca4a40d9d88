"""Torch layer builders and GraphModel: shapes and parameter counts against the core, known values."""

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dlae_core.plugin.builtin  # noqa: E402
import dlae_torch.plugin  # noqa: E402
from dlae_core.errors import BackendError  # noqa: E402
from dlae_core.planning.graph import build_graph  # noqa: E402
from dlae_core.layers.grammar import parse_layer  # noqa: E402
from dlae_core.layers.spec import ShapeError  # noqa: E402
from dlae_core.plugin.registry import Registry, make_plugin_manager  # noqa: E402
from dlae_torch.initializers import conv_to_torch, depthwise_to_torch, keras_kernel  # noqa: E402
from dlae_torch.layers import to_channels_last, to_internal  # noqa: E402
from dlae_torch.model import GraphModel, count_params  # noqa: E402

REGISTRY = Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, dlae_torch.plugin]))
BUILDERS = REGISTRY.builders("torch")
EXAMPLE_FCN = Path("/work/shared/dlae-original/configs/example_fcn.json")
CONV = "he_normal:None:None:0.001:0.001"


def spec_of(text: str):
    spec, problems = parse_layer(text, "layers[0]", REGISTRY)
    assert not problems, [p.line() for p in problems]
    return spec


def graph_of(strings):
    return build_graph("serial_layer_list", tuple(spec_of(s) for s in strings), REGISTRY)


def run_layer(spec, shape, batch=2, training=False):
    """Build spec's torch layer on IR ``shape``; return (module, channels-last output)."""
    module = BUILDERS["layer"][spec.type](spec, shape)
    module.train(training)
    x = torch.randn(batch, *shape)
    with torch.no_grad():
        out = to_channels_last(module(to_internal(x)))
    return module, out


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
    expected = layer_type.output_shape(shape, spec)
    for training in (False, True):
        module, out = run_layer(spec, shape, training=training)
        assert tuple(out.shape[1:]) == tuple(expected)
    assert count_params(module) == layer_type.param_counts(shape, spec)


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
    module, out = run_layer(spec, shape, training=True)
    assert tuple(out.shape[1:]) == layer_type.output_shape(shape, spec)
    assert count_params(module) == layer_type.param_counts(shape, spec)


def test_every_builtin_layer_has_a_torch_builder():
    names = REGISTRY.registered_by("dlae_core.plugin.builtin")["layers"]
    wanted = [n for n in names if REGISTRY.layers[n].role == "layer"]
    assert len(wanted) > 30
    assert [n for n in wanted if n not in BUILDERS["layer"]] == []


def test_every_activation_has_a_torch_builder():
    assert sorted(BUILDERS["activation"]) == sorted(REGISTRY.activations)
    x = torch.linspace(-3, 3, 24).reshape(2, 3, 4)
    for name, build in BUILDERS["activation"].items():
        assert build()(x).shape == x.shape, name


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
    spec = spec_of("Convolution 2D:1:(2, 2):(1, 1):valid:(1, 1):" + CONV)
    module = BUILDERS["layer"][spec.type](spec, (3, 3, 1))
    with torch.no_grad():
        module.weight.fill_(1.0)
        module.bias.fill_(0.5)
    x = torch.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    out = to_channels_last(module(to_internal(x)))
    assert out[0, :, :, 0].tolist() == [[12.5, 16.5], [24.5, 28.5]]


def test_conv_keras_kernel_layout():
    spec = spec_of("Convolution 2D:3:(2, 3):(1, 1):valid:(1, 1):" + CONV)
    module = BUILDERS["layer"][spec.type](spec, (4, 5, 2)).double()
    kernel = torch.randn(2, 3, 2, 3, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(conv_to_torch(kernel))
        module.bias.zero_()
    x = torch.randn(2, 4, 5, 2, dtype=torch.float64)
    out = to_channels_last(module(to_internal(x)))
    np.testing.assert_allclose(out.detach().numpy(), _conv_channels_last(x.numpy(), kernel.numpy()), atol=1e-10)


def test_same_stride2_pads_like_tensorflow():
    # 4x4 input, 3x3 kernel, stride 2, 'same': TF pads 0 rows before and 1 after (extra at the end).
    spec = spec_of("Convolution 2D:1:(3, 3):(2, 2):same:(1, 1):" + CONV)
    module = BUILDERS["layer"][spec.type](spec, (4, 4, 1))
    with torch.no_grad():
        module.weight.fill_(1.0)
    x = torch.arange(16.0).reshape(1, 4, 4, 1)
    out = to_channels_last(module(to_internal(x)))
    assert out[0, :, :, 0].tolist() == [[45.0, 39.0], [66.0, 50.0]]


def test_transpose_conv_matches_tensorflow_cropping():
    # Keras kernel (kh, kw, out, in); 'same' stride 2 kernel 3 on 2x2: full 5x5 output cropped [0:4].
    spec = spec_of("Transpose convolution 2D:1:(3, 3):(2, 2):same:(1, 1):" + CONV)
    module = BUILDERS["layer"][spec.type](spec, (2, 2, 1))
    kernel = torch.arange(1.0, 10.0).reshape(3, 3, 1, 1)
    with torch.no_grad():
        module.weight.copy_(conv_to_torch(kernel))
    x = torch.tensor([1.0, 10.0, 100.0, 1000.0]).reshape(1, 2, 2, 1)
    full = np.zeros((5, 5))
    for (i, j), v in np.ndenumerate(x[0, :, :, 0].numpy()):
        full[2 * i:2 * i + 3, 2 * j:2 * j + 3] += v * kernel[:, :, 0, 0].numpy()
    out = to_channels_last(module(to_internal(x))).detach()
    np.testing.assert_allclose(out[0, :, :, 0].numpy(), full[0:4, 0:4])


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
    result = []
    for axis, (size, k) in enumerate(((h, kh), (w, kw)), start=1):
        target = size * stride if padding == "same" else size * stride + max(k - stride, 0)
        extra = full.shape[axis] - target
        start = extra // 2 if padding == "same" and extra > 0 else 0
        result.append((start, target))
    padded = np.zeros((n, max(full.shape[1], result[0][0] + result[0][1]),
                       max(full.shape[2], result[1][0] + result[1][1]), out))
    padded[:, :full.shape[1], :full.shape[2]] = full
    (r0, rn), (c0, cn) = result
    return padded[:, r0:r0 + rn, c0:c0 + cn]


@pytest.mark.parametrize("kernel,stride,padding", [(3, 2, "same"), (4, 2, "same"), (2, 3, "same"),
                                                   (3, 2, "valid"), (1, 3, "valid"), (3, 1, "same")])
def test_transpose_conv_multichannel_against_reference(kernel, stride, padding):
    spec = spec_of(f"Transpose convolution 2D:3:({kernel}, {kernel}):({stride}, {stride}):{padding}:(1, 1):" + CONV)
    module = BUILDERS["layer"][spec.type](spec, (3, 2, 2)).double()
    keras_kernel_value = torch.randn(kernel, kernel, 3, 2, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(conv_to_torch(keras_kernel_value))
        module.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64)
    out = to_channels_last(module(to_internal(x))).detach().numpy()
    expected = _transpose_reference(x.numpy(), keras_kernel_value.numpy(), stride, padding) + [0.5, -1.0, 2.0]
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-10)


def test_resize_convolution_is_nearest_upsample_then_conv():
    spec = spec_of("Resize convolution 2D:1:(1, 1):(1, 1):(2, 2):same:(1, 1):" + CONV)
    module = BUILDERS["layer"][spec.type](spec, (2, 2, 1))
    with torch.no_grad():
        module.weight.fill_(2.0)
        module.bias.fill_(1.0)
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    out = to_channels_last(module(to_internal(x)))[0, :, :, 0]
    assert out.tolist() == [[3, 3, 5, 5], [3, 3, 5, 5], [7, 7, 9, 9], [7, 7, 9, 9]]


def test_upsample_repeats_each_value():
    for text, shape, factors in (("Upsample 2D:(2, 3)", (3, 2, 2), (2, 3)),
                                 ("Upsample 3D:(3, 1, 2)", (2, 3, 2, 2), (3, 1, 2))):
        x = torch.randn(2, *shape)
        out = GraphModel(graph_of([f"Input:{shape}", text]), BUILDERS)(x)
        expected = x.numpy()
        for axis, factor in enumerate(factors, start=1):
            expected = np.repeat(expected, factor, axis=axis)
        assert np.array_equal(out.numpy(), expected)


def test_separable_conv_is_depthwise_then_pointwise():
    spec = spec_of("Separable convolution 2D:4:(2, 3):(1, 1):valid:(1, 1):" + CONV)
    module = BUILDERS["layer"][spec.type](spec, (4, 5, 3)).double()
    depthwise = torch.randn(2, 3, 3, 1, dtype=torch.float64)  # Keras (kh, kw, C, 1)
    pointwise = torch.randn(1, 1, 3, 4, dtype=torch.float64)  # Keras (1, 1, C, F)
    with torch.no_grad():
        module.depthwise_weight.copy_(depthwise_to_torch(depthwise))
        module.pointwise_weight.copy_(conv_to_torch(pointwise))
        module.bias.copy_(torch.arange(4.0))
    x = torch.randn(2, 4, 5, 3, dtype=torch.float64)
    diagonal = np.zeros((2, 3, 3, 3))
    for c in range(3):
        diagonal[:, :, c, c] = depthwise[:, :, c, 0].numpy()
    expected = _conv_channels_last(_conv_channels_last(x.numpy(), diagonal), pointwise.numpy()) + np.arange(4.0)
    out = to_channels_last(module(to_internal(x))).detach().numpy()
    np.testing.assert_allclose(out, expected, atol=1e-10)


def test_depthwise_channel_order_matches_keras():
    spec = spec_of("Depthwise separable convolution 2D:2:(1, 1):(1, 1):valid:" + CONV)
    module = BUILDERS["layer"][spec.type](spec, (1, 1, 3))
    kernel = torch.tensor([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]]).reshape(1, 1, 3, 2)
    with torch.no_grad():
        module.weight.copy_(depthwise_to_torch(kernel))
    out = to_channels_last(module(to_internal(torch.tensor([1.0, 2.0, 3.0]).reshape(1, 1, 1, 3))))
    assert out.flatten().tolist() == [10, 20, 60, 80, 150, 180]  # Keras: channel c * mult + m


def test_concatenate_puts_skip_first_and_subtract_is_skip_minus_current():
    for mode in ("concatenate", "subtract"):
        graph = graph_of(["Input:(4, 4, 2)", "Outer skip source", "Convolution 2D:3:(1, 1):(1, 1):same:(1, 1):"
                          + CONV if mode == "concatenate" else "Leaky reLU:0.5", f"Outer skip target:{mode}"])
        model = GraphModel(graph, BUILDERS).eval()
        x = torch.randn(2, 4, 4, 2)
        out = model(x)
        assert tuple(out.shape[1:]) == graph.output_shape
        if mode == "concatenate":
            assert torch.equal(out[..., :2], x)
        else:
            torch.testing.assert_close(out, x - torch.nn.functional.leaky_relu(x, 0.5))


def test_softmax_over_channels():
    graph = graph_of(["Input:(3, 4, 5)", "Activation:softmax"])
    out = GraphModel(graph, BUILDERS)(torch.randn(2, 3, 4, 5))
    torch.testing.assert_close(out.sum(dim=-1), torch.ones(2, 3, 4))


def test_flatten_reshape_permute_follow_channels_last_order():
    x = torch.randn(2, 2, 3, 4)
    flat = GraphModel(graph_of(["Input:(2, 3, 4)", "Flatten"]), BUILDERS)(x)
    assert torch.equal(flat, x.reshape(2, -1))
    reshaped = GraphModel(graph_of(["Input:(2, 3, 4)", "Reshape:(6, 4)"]), BUILDERS)(x)
    assert torch.equal(reshaped, x.reshape(2, 6, 4))
    permuted = GraphModel(graph_of(["Input:(2, 3, 4)", "Permute:(3, 1, 2)"]), BUILDERS)(x)
    assert torch.equal(permuted, x.permute(0, 3, 1, 2))
    dense = GraphModel(graph_of(["Input:(2, 3, 4)", "Dense:5"]), BUILDERS)
    expected = x @ dense.dense_1.weight.T + dense.dense_1.bias
    torch.testing.assert_close(dense(x), expected)


def test_batch_norm_counts_and_keras_statistics():
    spec = spec_of("Batch normalization:0.9:0.001")
    module = BUILDERS["layer"][spec.type](spec, (4, 4, 3))
    assert count_params(module) == (6, 6)
    model = GraphModel(graph_of(["Input:(4, 4, 3)", "Batch normalization:0.9:0.001"]), BUILDERS)
    assert model.state_dict().keys() == {"batch_normalization_1.weight", "batch_normalization_1.bias",
                                         "batch_normalization_1.running_mean", "batch_normalization_1.running_var"}
    x = torch.randn(5, 4, 4, 3) * 3 + 2
    out = model.train()(x)
    torch.testing.assert_close(out.mean(dim=(0, 1, 2)), torch.zeros(3), atol=1e-5, rtol=0)
    bn = model.batch_normalization_1
    torch.testing.assert_close(bn.running_mean, 0.1 * x.mean(dim=(0, 1, 2)))
    biased = x.var(dim=(0, 1, 2), unbiased=False)  # Keras updates with the biased variance
    torch.testing.assert_close(bn.running_var, 0.9 + 0.1 * biased)
    y = model.eval()(x)
    expected = (x - bn.running_mean) / torch.sqrt(bn.running_var + 0.001)
    torch.testing.assert_close(y, expected)


def test_prelu_one_slope_per_element():
    spec = spec_of("PreLU")
    module = BUILDERS["layer"]["PreLU"](spec, (2, 3, 2))
    assert count_params(module) == (12, 0)
    assert torch.count_nonzero(module.alpha) == 0  # initialised to 0 -> ReLU
    with torch.no_grad():
        module.alpha.copy_(torch.arange(12.0).reshape(2, 3, 2) / 10)
    x = torch.randn(3, 2, 3, 2)
    out = to_channels_last(module(to_internal(x)))
    torch.testing.assert_close(out, torch.where(x >= 0, x, module.alpha * x))


def test_thresholded_relu_and_friends():
    x = torch.tensor([[-1.0, 0.1, 0.2, 0.3, 1.0]])
    theta = BUILDERS["layer"]["Thresholded reLU"](spec_of("Thresholded reLU:0.2"), (5,))
    assert theta(x).tolist() == [[0.0, 0.0, 0.0, pytest.approx(0.3), 1.0]]
    elu = BUILDERS["layer"]["ELU"](spec_of("ELU:0.5"), (5,))
    assert elu(x)[0, 0].item() == pytest.approx(0.5 * (math.exp(-1) - 1))
    leaky = BUILDERS["layer"]["Leaky reLU"](spec_of("Leaky reLU:0.3"), (5,))
    assert leaky(x)[0, 0].item() == pytest.approx(-0.3)
    hard = BUILDERS["activation"]["hard_sigmoid"]()
    assert hard(torch.tensor([-4.0, 0.0, 1.5, 4.0])).tolist() == [0.0, 0.5, 0.75, 1.0]


def test_noise_layers_only_act_in_training():
    x = torch.ones(4, 8, 8, 3)
    for text in ("Dropout:0.5", "Spatial dropout 2D:0.5", "Gaussian dropout:0.5", "Gaussian noise:0.3",
                 "Alpha dropout:0.5"):
        model = GraphModel(graph_of(["Input:(8, 8, 3)", text]), BUILDERS)
        assert torch.equal(model.eval()(x), x), text
        assert not torch.equal(model.train()(x), x), text
    spatial = GraphModel(graph_of(["Input:(8, 8, 3)", "Spatial dropout 2D:0.5"]), BUILDERS).train()(x)
    per_map = spatial.amax(dim=(1, 2)) == spatial.amin(dim=(1, 2))
    assert bool(per_map.all())  # whole feature maps kept (x 2) or dropped


def test_initializers_follow_keras():
    he = keras_kernel("he_normal", (3, 3, 64, 32))
    fan_in = 3 * 3 * 64
    assert he.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
    assert he.abs().max().item() <= 2 * math.sqrt(2 / fan_in) / 0.87962566103423978 + 1e-6
    glorot = keras_kernel("glorot_uniform", (3, 3, 64, 32))
    limit = math.sqrt(6 / (9 * 64 + 9 * 32))
    assert glorot.abs().max().item() <= limit and glorot.abs().max().item() > 0.95 * limit
    ortho = keras_kernel("orthogonal", (2, 2, 8, 16)).reshape(32, 16)
    torch.testing.assert_close(ortho.T @ ortho, torch.eye(16), atol=1e-5, rtol=0)
    assert keras_kernel("random_uniform", (100, 100)).abs().max().item() <= 0.05
    assert keras_kernel("truncated_normal", (100, 100)).abs().max().item() <= 0.1 + 1e-6
    assert torch.count_nonzero(keras_kernel("zeros", (3, 3))) == 0
    # depthwise fans are the Keras ones: (kh, kw, in, mult) -> fan_in = kh * kw * in
    spec = spec_of("Depthwise separable convolution 2D:4:(3, 3):(1, 1):same:lecun_uniform:None:None:0:0")
    module = BUILDERS["layer"][spec.type](spec, (4, 4, 32))
    bound = math.sqrt(3 / (9 * 32))
    assert bound * 0.9 < module.weight.abs().max().item() <= bound
    assert torch.count_nonzero(module.bias) == 0


def test_regularization_loss():
    graph = graph_of(["Input:(4, 4, 2)",
                      "Convolution 2D:3:(3, 3):(1, 1):same:(1, 1):ones:l2:l1:0.01:0.1",
                      "Separable convolution 2D:2:(3, 3):(1, 1):same:(1, 1):ones:l1_l2:None:0.01:0.1",
                      "Dense:2"])
    model = GraphModel(graph, BUILDERS)
    x = torch.randn(2, 4, 4, 2)
    model(x)
    conv_out = model.convolution_2d_1(to_internal(x))
    kernel = 0.1 * 54 + (0.01 + 0.1) * (27 + 6)  # conv: l2 on 54 ones; separable: l1_l2 on 27 + 6 ones
    activity = 0.01 * conv_out.abs().sum()  # l1 on the conv output (after bias), not divided by the batch
    torch.testing.assert_close(model.regularization_loss(), kernel + activity)
    plain = GraphModel(graph_of(["Input:(4, 4, 2)", "Dense:2"]), BUILDERS)
    assert plain.regularization_loss().item() == 0.0


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
    model = GraphModel(graph, BUILDERS)
    assert count_params(model) == graph.totals()
    x = torch.randn(2, *graph.input_shapes[0])
    out = model(x)
    assert tuple(out.shape) == (2,) + graph.output_shape
    assert out.shape[-1] == 3
    torch.testing.assert_close(out.sum(dim=-1), torch.ones(out.shape[:-1]))
    assert all(key.split(".")[0] in {n.name for n in graph.nodes} for key in model.state_dict())
    out.sum().backward()


def test_graph_model_accepts_split_builders():
    graph = graph_of(UNET_2D)
    model = GraphModel(graph, BUILDERS["layer"], BUILDERS["activation"])
    assert count_params(model) == graph.totals()


def test_pretrained_nodes_are_refused():
    graph = graph_of(["Input:(64, 64, 3)", "VGG16:False:none:(64, 64, 3):True:False", "Flatten"])
    with pytest.raises(BackendError, match="VGG16.*pretrained encoders are not available in the torch backend yet"):
        GraphModel(graph, BUILDERS)


@pytest.mark.skipif(not EXAMPLE_FCN.exists(), reason="original example configs are not available")
def test_example_fcn_counts_match_inspect():
    from dlae_core.config.parser import load_config
    from dlae_core.planning.inspection import inspect_plan
    from dlae_core.planning.plan import plan_model

    config = load_config(EXAMPLE_FCN, REGISTRY)
    plan = plan_model(config, REGISTRY)
    report = inspect_plan(config, plan, REGISTRY, backend="torch")
    counts = report["backend"]["models"]["model"]
    assert (counts["trainable_params"], counts["non_trainable_params"]) == plan.main.totals()
    assert count_params(GraphModel(plan.main, BUILDERS)) == plan.main.totals()
