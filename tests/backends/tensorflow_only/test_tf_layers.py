"""TensorFlow internals of the layers (the shared checks are tests/backends/test_layers.py): Keras layer
and weight names, the Keras initializers, the regularization terms, build_model's extra outputs and
refusals, and a plugin import that does not import TensorFlow. (What each implementation table holds:
tests/test_backend_manifests.py, for every backend.)"""

import math
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import dlae_core.plugin.builtin  # noqa: E402
import dlae_tensorflow.plugin  # noqa: E402
from dlae_core.errors import BackendError  # noqa: E402
from dlae_core.layers.grammar import parse_layer  # noqa: E402
from dlae_core.planning.graph import build_graph  # noqa: E402
from dlae_core.plugin.registry import Registry, make_plugin_manager  # noqa: E402
from dlae_tensorflow.initializers import keras_kernel  # noqa: E402
from dlae_tensorflow.model import build_model, count_params, regularization_loss  # noqa: E402
from support import CONV, UNET_2D, UNET_3D  # noqa: E402

REGISTRY = Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, dlae_tensorflow.plugin]))
BUILDERS = REGISTRY.builders("tensorflow")
RNG = np.random.default_rng(0)


def spec_of(text: str):
    spec, problems = parse_layer(text, "layers[0]", REGISTRY)
    assert not problems, [p.line() for p in problems]
    return spec


def graph_of(strings):
    return build_graph("serial_layer_list", tuple(spec_of(s) for s in strings), REGISTRY)


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


def test_resize_convolution_keras_weights():
    layer = layer_of("Resize convolution 2D:1:(1, 1):(1, 1):(2, 2):same:(1, 1):" + CONV, (2, 2, 1))
    assert [v.name for v in layer.weights] == ["kernel", "bias"]


def test_the_merge_layer_is_named_after_its_node():
    for mode in ("concatenate", "subtract"):
        graph = graph_of(["Input:(4, 4, 2)", "Outer skip source", "Convolution 2D:3:(1, 1):(1, 1):same:(1, 1):"
                          + CONV if mode == "concatenate" else "Leaky reLU:0.5", f"Outer skip target:{mode}"])
        model = build_model(graph, BUILDERS)
        assert model.layers[-1].name == graph.nodes[-1].name


def test_activation_builders_keep_the_shape():
    x = np.linspace(-3, 3, 24, dtype="float32").reshape(2, 3, 4)
    for name, build in BUILDERS["activation"].items():
        assert tuple(build()(x).shape) == x.shape, name


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




@pytest.mark.parametrize("strings", [UNET_2D, UNET_3D], ids=["2D", "3D"])
def test_graph_model_layers_are_named_after_the_nodes_and_have_gradients(strings):
    graph = graph_of(strings)
    model = build_model(graph, BUILDERS)
    assert [layer.name for layer in model.layers] == [n.name for n in graph.nodes]
    x = randn(2, *graph.input_shapes[0])
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        total = tf.reduce_sum(out)
    grads = tape.gradient(total, model.trainable_weights)
    assert all(g is not None for g in grads)


def test_build_model_accepts_split_builders_and_extra_outputs():
    graph = graph_of(UNET_2D)
    model = build_model(graph, BUILDERS["layer"], BUILDERS["activation"], outputs=(3, graph.output))
    assert count_params(model) == graph.totals()
    hook, out = model(randn(1, 16, 16, 1))
    assert tuple(hook.shape[1:]) == graph.nodes[3].output_shape and tuple(out.shape[1:]) == graph.output_shape


def test_a_layer_type_without_tensorflow_builder_is_refused():
    graph = graph_of(["Input:(4, 4, 2)", "Dense:3"])
    with pytest.raises(BackendError, match="'Dense' \\(node dense_1\\) has no tensorflow implementation"):
        build_model(graph, {"layer": {}, "activation": {}})


def test_importing_the_plugin_does_not_import_tensorflow():
    code = ("import sys, dlae_tensorflow.plugin, dlae_tensorflow; "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
