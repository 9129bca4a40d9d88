"""Torch internals of the layers (the shared checks are tests/backends/test_layers.py): the Keras-layout
converters in float64, GraphModel's module names and gradients, the Keras initializers, the
regularization terms, split builders."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dlae_core.plugin.builtin  # noqa: E402
import dlae_torch.plugin  # noqa: E402
from dlae_core.layers.grammar import parse_layer  # noqa: E402
from dlae_core.planning.graph import build_graph  # noqa: E402
from dlae_core.plugin.registry import Registry, make_plugin_manager  # noqa: E402
from dlae_torch.initializers import conv_to_torch, depthwise_to_torch, keras_kernel  # noqa: E402
from dlae_torch.layers import to_channels_last, to_internal  # noqa: E402
from dlae_torch.model import GraphModel, count_params, with_penalties  # noqa: E402
from support import CONV, UNET_2D, UNET_3D  # noqa: E402

REGISTRY = Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, dlae_torch.plugin]))
BUILDERS = REGISTRY.builders("torch")


def spec_of(text: str):
    spec, problems = parse_layer(text, "layers[0]", REGISTRY)
    assert not problems, [p.line() for p in problems]
    return spec


def graph_of(strings):
    return build_graph("serial_layer_list", tuple(spec_of(s) for s in strings), REGISTRY)


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


# -- the Keras-layout converters, exactly (float64 modules) ------------------------------------------
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


# -- modules and GraphModel ----------------------------------------------------------------------------
def test_batch_norm_module_counts_and_state_dict_names():
    spec = spec_of("Batch normalization:0.9:0.001")
    module = BUILDERS["layer"][spec.type](spec, (4, 4, 3))
    assert count_params(module) == (6, 6)
    model = GraphModel(graph_of(["Input:(4, 4, 3)", "Batch normalization:0.9:0.001"]), BUILDERS)
    assert model.state_dict().keys() == {"batch_normalization_1.weight", "batch_normalization_1.bias",
                                         "batch_normalization_1.running_mean", "batch_normalization_1.running_var"}


def test_activation_builders_keep_the_shape():
    x = torch.linspace(-3, 3, 24).reshape(2, 3, 4)
    for name, build in BUILDERS["activation"].items():
        assert build()(x).shape == x.shape, name


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
    # what the training steps add: the penalties, or nothing at all (the same tensor, no op) without any
    loss = torch.tensor(1.5, requires_grad=True)
    torch.testing.assert_close(with_penalties(loss, model), loss + kernel + activity)
    torch.testing.assert_close(with_penalties(loss, model, model), loss + 2 * (kernel + activity))
    assert plain.penalty() is None and with_penalties(loss, plain) is loss




@pytest.mark.parametrize("strings", [UNET_2D, UNET_3D], ids=["2D", "3D"])
def test_graph_model_modules_are_named_after_the_nodes_and_backpropagate(strings):
    graph = graph_of(strings)
    model = GraphModel(graph, BUILDERS)
    out = model(torch.randn(2, *graph.input_shapes[0]))
    assert all(key.split(".")[0] in {n.name for n in graph.nodes} for key in model.state_dict())
    out.sum().backward()


def test_graph_model_accepts_split_builders():
    graph = graph_of(UNET_2D)
    model = GraphModel(graph, BUILDERS["layer"], BUILDERS["activation"])
    assert count_params(model) == graph.totals()
