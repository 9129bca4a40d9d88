"""Contract tests across backends, generated from the registry: every layer type, every loss and the
example configs give the same results on torch and tensorflow once the weights are copied through
the canonical layout (dlae_core.running.weights). Tolerances: 1e-4 relative for outputs, 1e-5 for losses (fp32)."""

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")

import dlae_core.plugin.builtin  # noqa: E402
from dlae_core.config.parser import load_config  # noqa: E402
from dlae_core.errors import BackendError  # noqa: E402
from dlae_core.planning.graph import build_graph  # noqa: E402
from dlae_core.layers.grammar import parse_layer  # noqa: E402
from dlae_core.layers.spec import LayerSpec, ShapeError  # noqa: E402
from dlae_core.planning.plan import plan_model  # noqa: E402
from dlae_core.plugin.registry import Registry, make_plugin_manager  # noqa: E402
from dlae_core.training.loss_context import LossContext  # noqa: E402
from dlae_core.running.weights import check_compatible, graph_shapes, max_relative_difference  # noqa: E402
from dlae_tensorflow import model as tf_model  # noqa: E402
from dlae_tensorflow import weights as tf_weights  # noqa: E402
from dlae_torch import weights as torch_weights  # noqa: E402
from dlae_torch.model import GraphModel  # noqa: E402
from dlae_torch.model import count_params as torch_count  # noqa: E402

# The live registry: built-ins, both backends and every installed plugin (the example plugin's layer
# and loss included), as `dlae` itself sees them.
REGISTRY = Registry(make_plugin_manager())
BUILTIN_LAYERS = set(Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin])).layers)
TORCH = REGISTRY.builders("torch")
TF = REGISTRY.builders("tensorflow")
CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.json"))
CONV = "he_normal:None:None:0.001:0.001"
TOLERANCE, LOSS_TOLERANCE = 1e-4, 1e-5


def spec_of(text: str):
    spec, problems = parse_layer(text, "layers[0]", REGISTRY)
    assert not problems, [p.line() for p in problems]
    return spec


def single(spec, shape):
    return build_graph("serial_layer_list", (LayerSpec("Input", {"shape": tuple(shape)}), spec), REGISTRY)


def randomized(weights: dict, rng) -> dict:
    """Non-trivial values of the same names and shapes: kernels at a He-like scale (std
    1 / sqrt(fan in) for the layout's leading axes), positive variances, gammas around 1."""
    out = {}
    for node, values in weights.items():
        out[node] = {}
        for name, value in values.items():
            if name == "moving_variance":
                new = rng.uniform(0.5, 2.0, value.shape)
            elif name == "gamma":
                new = rng.uniform(0.5, 1.5, value.shape)
            elif value.ndim >= 2 and name != "alpha":
                new = rng.standard_normal(value.shape) / np.sqrt(np.prod(value.shape[:-1]))
            else:
                new = rng.standard_normal(value.shape) * 0.5
            out[node][name] = new.astype("float32")
    return out


def both(graph, seed=0, direction="torch->tf"):
    """(torch model, keras model) of ``graph`` holding the same non-trivial weights."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    t_model, k_model = GraphModel(graph, TORCH).eval(), tf_model.build_model(graph, TF)
    assert torch_count(t_model) == tf_model.count_params(k_model) == graph.totals()
    if direction == "torch->tf":
        torch_weights.import_weights(t_model, graph, randomized(torch_weights.export_weights(t_model, graph), rng))
        tf_weights.import_weights(k_model, graph, torch_weights.export_weights(t_model, graph))
    else:
        tf_weights.import_weights(k_model, graph, randomized(tf_weights.export_weights(k_model, graph), rng))
        torch_weights.import_weights(t_model, graph, tf_weights.export_weights(k_model, graph))
    return t_model, k_model


def outputs(graph, t_model, k_model, seed=1, batch=2, training=False):
    rng = np.random.default_rng(seed)
    x = [rng.standard_normal((batch,) + tuple(s)).astype("float32") for s in graph.input_shapes]
    t_model.train(training)
    with torch.set_grad_enabled(training):
        a = t_model(*[torch.from_numpy(v) for v in x]).detach().numpy()
    b = k_model(x if len(x) > 1 else x[0], training=training).numpy()
    assert a.shape == b.shape == (batch,) + tuple(graph.output_shape)
    return a, b


def assert_parity(graph, **kwargs):
    t_model, k_model = both(graph, **kwargs)
    a, b = outputs(graph, t_model, k_model)
    difference = max_relative_difference(a, b)
    assert difference < TOLERANCE, f"max relative difference {difference:.3g}"
    return t_model, k_model


# -- every layer type --------------------------------------------------------------------------------------
def _layer_cases():
    cases = []
    for name, layer_type in REGISTRY.layers.items():
        if layer_type.role != "layer" or name not in TORCH["layer"] or name not in TF["layer"]:
            continue
        shapes = [layer_type.default_example_input()]
        if layer_type.rank is None:
            shapes += [(6, 7, 5, 2), (6,)]
        for shape in dict.fromkeys(shapes):
            try:
                layer_type.output_shape(shape, layer_type.example_spec())
            except ShapeError:
                continue
            cases.append(pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}"))
    return cases


@pytest.mark.parametrize("name,shape", _layer_cases())
def test_layer_parity(name, shape):
    graph = single(REGISTRY.layers[name].example_spec(), shape)
    t_model, k_model = assert_parity(graph)
    canonical = graph_shapes(graph)
    exported = [{n: {k: v.shape for k, v in w.items()} for n, w in weights.items()}
                for weights in (torch_weights.export_weights(t_model, graph),
                                tf_weights.export_weights(k_model, graph))]
    assert exported[0] == exported[1]
    if name in BUILTIN_LAYERS:  # the core knows the canonical shapes of its own layer types only
        assert exported[0] == canonical


VARIANTS = [
    ("Convolution 2D:5:(3, 3):(2, 2):same:(1, 1):" + CONV, (7, 6, 3)),
    ("Convolution 2D:4:(3, 3):(2, 2):same:(1, 1):" + CONV, (8, 8, 3)),
    ("Convolution 2D:5:(4, 2):(3, 1):valid:(1, 1):" + CONV, (10, 7, 2)),
    ("Convolution 2D:2:(3, 3):(1, 1):same:(2, 2):" + CONV, (9, 8, 2)),
    ("Convolution 2D:3:(2, 4):(1, 1):valid:(3, 1):" + CONV, (9, 8, 2)),
    ("Convolution 3D:3:(3, 2, 3):(2, 2, 1):same:(1, 1, 1):" + CONV, (5, 6, 7, 2)),
    ("Convolution 3D:2:(3, 3, 3):(1, 1, 1):same:(2, 1, 2):" + CONV, (6, 5, 6, 2)),
    ("Transpose convolution 2D:4:(3, 3):(2, 2):same:(1, 1):" + CONV, (5, 4, 3)),
    ("Transpose convolution 2D:4:(4, 4):(2, 2):same:(1, 1):" + CONV, (5, 4, 3)),
    ("Transpose convolution 2D:4:(3, 1):(2, 3):valid:(1, 1):" + CONV, (5, 4, 3)),
    ("Transpose convolution 2D:3:(3, 3):(2, 2):valid:(1, 1):" + CONV, (4, 4, 2)),
    ("Transpose convolution 2D:2:(2, 2):(3, 3):same:(1, 1):" + CONV, (3, 4, 2)),
    ("Transpose convolution 2D:2:(3, 3):(1, 1):same:(2, 2):" + CONV, (6, 5, 2)),
    ("Transpose convolution 2D:2:(3, 2):(1, 1):valid:(2, 3):" + CONV, (4, 5, 2)),
    ("Transpose convolution 3D:2:(3, 3, 2):(2, 1, 2):valid:(1, 1, 1):" + CONV, (3, 4, 3, 2)),
    ("Transpose convolution 3D:3:(3, 3, 3):(2, 2, 2):same:(1, 1, 1):" + CONV, (3, 4, 3, 2)),
    ("Resize convolution 2D:3:(3, 3):(1, 1):(2, 3):same:(1, 1):" + CONV, (4, 3, 2)),
    ("Resize convolution 2D:3:(3, 3):(2, 2):(2, 2):same:(1, 1):" + CONV, (4, 3, 2)),
    ("Resize convolution 3D:3:(3, 3, 3):(2, 2, 2):(2, 2, 2):valid:(1, 1, 1):" + CONV, (4, 3, 4, 2)),
    ("Separable convolution 2D:6:(3, 3):(2, 2):same:(1, 1):" + CONV, (7, 7, 4)),
    ("Separable convolution 2D:6:(3, 3):(1, 1):valid:(2, 2):" + CONV, (9, 9, 4)),
    ("Separable convolution 2D:5:(2, 3):(1, 1):same:(2, 1):" + CONV, (8, 9, 3)),
    ("Depthwise separable convolution 2D:3:(3, 3):(2, 2):same:" + CONV, (7, 8, 4)),
    ("Depthwise separable convolution 2D:2:(2, 3):(1, 1):valid:" + CONV, (7, 8, 3)),
    ("Depthwise separable convolution 2D:1:(3, 3):(1, 1):same:" + CONV, (6, 6, 5)),
    ("Max pooling 2D:(3, 3):None", (8, 7, 2)),
    ("Average pooling 2D:(3, 2):(2, 1)", (8, 7, 2)),
    ("Max pooling 3D:(2, 2, 2):(1, 2, 3)", (5, 6, 7, 2)),
    ("Average pooling 3D:(3, 2, 2):None", (7, 6, 5, 2)),
    ("Zero padding 2D:((1, 2), (0, 3))", (4, 5, 2)),
    ("Zero padding 3D:((1, 0), (0, 2), (2, 1))", (3, 4, 5, 2)),
    ("Cropping 2D:((1, 2), (0, 3))", (6, 7, 2)),
    ("Cropping 3D:((1, 0), (0, 2), (2, 1))", (4, 5, 6, 2)),
    ("Upsample 2D:(2, 3)", (3, 2, 2)),
    ("Upsample 3D:(1, 2, 3)", (3, 2, 2, 2)),
    ("Dense:7", (3, 4, 5)),
    ("Dense:4", (3, 4, 5, 2)),
    ("Flatten", (3, 4, 5)),
    ("Reshape:(4, -1)", (2, 3, 4)),
    ("Reshape:(24,)", (2, 3, 4)),
    ("Reshape:(3, 2, 4)", (2, 3, 4)),
    ("Permute:(3, 1, 2)", (2, 3, 4)),
    ("Permute:(2, 3, 1)", (2, 3, 4)),
    ("Permute:(2, 1)", (5, 6)),
    ("Batch normalization:0.9:0.01", (5,)),
    ("Batch normalization:0.99:0.001", (4, 5, 3)),
    ("Batch normalization:0.5:0.1", (3, 4, 3, 2)),
    ("PreLU", (3, 4, 2)),
    ("PreLU", (3, 4, 3, 2)),
    ("Thresholded reLU:0.3", (4, 5, 2)),
    ("ELU:0.7", (4, 5, 2)),
    ("Leaky reLU:0.1", (4, 5, 2)),
] + [(f"Activation:{name}", (4, 5, 3)) for name in REGISTRY.activations]


@pytest.mark.parametrize("text,shape", VARIANTS, ids=[f"{v[0].split(':he')[0]}-{len(v[1]) - 1}d" for v in VARIANTS])
def test_variant_parity(text, shape):
    assert_parity(single(spec_of(text), shape))


def test_batch_norm_training_step_parity():
    graph = single(spec_of("Batch normalization:0.9:0.001"), (4, 5, 3))
    t_model, k_model = both(graph)
    a, b = outputs(graph, t_model, k_model, batch=4, training=True)
    assert max_relative_difference(a, b) < TOLERANCE
    updated_t = torch_weights.export_weights(t_model, graph)["batch_normalization_1"]
    updated_k = tf_weights.export_weights(k_model, graph)["batch_normalization_1"]
    for name in ("moving_mean", "moving_variance"):
        assert max_relative_difference(updated_t[name], updated_k[name]) < TOLERANCE, name


def test_regularization_parity():
    strings = ["Input:(6, 6, 2)",
               "Convolution 2D:3:(3, 3):(1, 1):same:(1, 1):he_normal:l2:l1:0.01:0.02",
               "Separable convolution 2D:4:(3, 3):(1, 1):same:(1, 1):he_normal:l1_l2:l2:0.01:0.02",
               "Depthwise separable convolution 2D:2:(3, 3):(1, 1):same:he_normal:l1:l1_l2:0.01:0.02",
               "Transpose convolution 2D:3:(2, 2):(2, 2):same:(1, 1):he_normal:l1_l2:l1:0.03:0.01",
               "Resize convolution 2D:2:(3, 3):(2, 2):(2, 2):same:(1, 1):he_normal:l2:l2:0.01:0.02",
               "Flatten", "Dense:3"]
    graph = build_graph("serial_layer_list", tuple(spec_of(s) for s in strings), REGISTRY)
    t_model, k_model = both(graph)
    for batch in (1, 3):  # activity penalties are sums over the batch, never divided by it
        outputs(graph, t_model, k_model, batch=batch)
        a, b = float(t_model.regularization_loss().detach()), float(tf_model.regularization_loss(k_model))
        assert abs(a - b) <= LOSS_TOLERANCE * abs(a), (batch, a, b)


# -- every loss ------------------------------------------------------------------------------------------------
def _loss_inputs(name, shape, rng):
    logits = rng.standard_normal(shape)
    pred = (np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)).astype("float32")
    labels = rng.integers(0, shape[-1], shape[:-1])
    if REGISTRY.losses[name].target == "sparse":
        return pred, labels[..., None].astype("float32")
    if REGISTRY.losses[name].target == "dense":
        return pred, rng.uniform(0, 1, shape).astype("float32")
    return pred, np.eye(shape[-1], dtype="float32")[labels]


LOSS_NAMES = [n for n, info in REGISTRY.losses.items() if info.target in ("onehot", "sparse", "dense")]


@pytest.mark.parametrize("shape", [(5, 4), (2, 6, 5, 3), (2, 4, 3, 5, 3)], ids=["vector", "2d", "3d"])
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_parity(name, shape):
    rng = np.random.default_rng(len(name) + len(shape))
    pred, target = _loss_inputs(name, shape, rng)
    context = LossContext(parameter1=0.7, parameter2=1.5 if name == "focal" else 0.4, categories=shape[-1],
                          class_weights=rng.uniform(0.5, 2.0, shape[-1]), spatial_rank=len(shape) - 2)
    a = float(TORCH["loss"][name](context)(torch.from_numpy(pred), torch.from_numpy(target)))
    b = float(TF["loss"][name](context)(tf.constant(pred), tf.constant(target)))
    assert abs(a - b) <= LOSS_TOLERANCE * max(abs(a), abs(b), 1e-6), (a, b)


def test_every_loss_and_layer_is_covered():
    # losses on whole tensors run here; technique losses (ssd: boxes, GAN objectives) in their own tests
    tensor_losses = {n for n in TORCH["loss"] if REGISTRY.losses[n].target in ("onehot", "sparse", "dense")}
    assert sorted(LOSS_NAMES) == sorted(tensor_losses)
    assert set(TORCH["loss"]) == set(TF["loss"])
    wanted = {n for n, t in REGISTRY.layers.items() if t.role == "layer"}
    assert wanted <= set(TORCH["layer"]) and wanted <= set(TF["layer"])
    covered = {p.values[0] for p in _layer_cases()}
    assert covered == wanted


# -- whole models ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("direction", ["torch->tf", "tf->torch"])
@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_example_config_parity(path, direction):
    config = load_config(path, REGISTRY)
    plan = plan_model(config, REGISTRY)
    for graph in plan.graphs.values():  # GAN: generator and discriminator
        assert_parity(graph, direction=direction)
    graph = plan.main
    t_model, k_model = both(graph, direction=direction)
    a, b = outputs(graph, t_model, k_model, seed=3)
    # the configured loss on the same batch; technique losses (ssd, GAN objectives) are compared by
    # tests/test_check_command.py and the BBD/GAN suites, on their own kinds of targets
    info = REGISTRY.losses[config.loss_function.loss]
    if info.target not in ("onehot", "sparse", "dense"):
        return
    rng = np.random.default_rng(4)
    labels = rng.integers(0, graph.output_shape[-1], (2,) + graph.output_shape[:-1])
    target = labels[..., None] if info.target == "sparse" else np.eye(graph.output_shape[-1])[labels]
    target = target.astype("float32")
    context = LossContext(parameter1=config.loss_function.parameter1, parameter2=config.loss_function.parameter2,
                          categories=graph.output_shape[-1], class_weights=np.ones(graph.output_shape[-1]))
    la = float(TORCH["loss"][info.name](context)(torch.from_numpy(a), torch.from_numpy(target)))
    lb = float(TF["loss"][info.name](context)(tf.constant(b), tf.constant(target)))
    assert abs(la - lb) <= 1e-4 * abs(la)


UNET_3D = ["Input:(8, 8, 4, 1)", "Convolution 3D:4:(3, 3, 3):(1, 1, 1):same:(1, 1, 1):" + CONV,
           "Batch normalization:0.9:0.001", "Activation:relu",
           "Outer skip source", "Max pooling 3D:(2, 2, 2):(2, 2, 2)",
           "Convolution 3D:6:(3, 3, 3):(1, 1, 1):same:(1, 1, 1):" + CONV,
           "Inner skip source", "PreLU", "Inner skip target:add",
           "Transpose convolution 3D:4:(2, 2, 2):(2, 2, 2):same:(1, 1, 1):" + CONV,
           "Outer skip target:concatenate", "Convolution 3D:3:(1, 1, 1):(1, 1, 1):same:(1, 1, 1):" + CONV,
           "Activation:softmax"]


def test_unet_3d_with_residual_and_prelu_parity():
    graph = build_graph("serial_layer_list", tuple(spec_of(s) for s in UNET_3D), REGISTRY)
    assert_parity(graph)


# -- the layout helpers --------------------------------------------------------------------------------------------
def test_check_compatible_lists_every_difference():
    a = {"conv_1": {"kernel": np.zeros((3, 3, 1, 4)), "bias": np.zeros(4)}, "dense_1": {"kernel": (2, 3)}}
    b = {"conv_1": {"kernel": (3, 3, 1, 5)}, "bn_1": {"gamma": (4,)}}
    with pytest.raises(BackendError) as info:
        check_compatible(a, b, ("torch", "tensorflow"))
    message = str(info.value)
    assert "4 difference(s)" in message
    for part in ("bn_1: only in tensorflow (gamma)", "conv_1/bias: only in torch",
                 "conv_1/kernel: shape (3, 3, 1, 4) in torch, (3, 3, 1, 5) in tensorflow",
                 "dense_1: only in torch (kernel)"):
        assert part in message
    check_compatible(a, {"conv_1": {"kernel": (3, 3, 1, 4), "bias": (4,)}, "dense_1": {"kernel": np.ones((2, 3))}})


def test_max_relative_difference():
    assert max_relative_difference(np.zeros(3), np.zeros(3)) == 0.0
    assert max_relative_difference([1.0, -4.0], [1.0, -3.0]) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        max_relative_difference(np.zeros(2), np.zeros(3))


def test_torch_export_refuses_an_unknown_stateful_module():
    graph = single(spec_of("Dense:3"), (4,))
    model = GraphModel(graph, TORCH)
    model.dense_1 = torch.nn.Linear(4, 3)
    with pytest.raises(BackendError, match="dense_1: the torch module Linear has weights but no canonical layout"):
        torch_weights.export_weights(model, graph)
