"""The speed paths of the torch backend compute exactly what their plain forms compute: in-place ReLU
in GraphModel, native-kernel batch norm with the Keras moving-statistics update, the sparse cross-entropy
formulation, max-based accuracy, kernel-based nearest upsampling, numpy batches from loader workers."""

from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dlae_core.plugin.builtin  # noqa: E402
import dlae_torch.plugin  # noqa: E402
from dlae_core.planning.graph import build_graph  # noqa: E402
from dlae_core.layers.grammar import parse_layer  # noqa: E402
from dlae_core.plugin.registry import Registry, make_plugin_manager  # noqa: E402
from dlae_torch import losses, metrics  # noqa: E402
from dlae_torch.layers import BatchNorm  # noqa: E402
from dlae_torch.layers_conv import upsample_nearest  # noqa: E402
from dlae_torch.loader import make_loader  # noqa: E402
from dlae_torch.model import GraphModel  # noqa: E402

REGISTRY = Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, dlae_torch.plugin]))
BUILDERS = REGISTRY.builders("torch")
CONV = "Convolution 2D:4:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.0:0.0"
CONV_ACTIVITY = "Convolution 2D:4:(3, 3):(1, 1):same:(1, 1):he_normal:None:l2:0.0:0.01"
BN = "Batch normalization:0.9:0.001"
RESIZE = "Resize convolution 2D:4:(3, 3):(1, 1):(2, 2):same:(1, 1):he_normal:None:None:0.0:0.0"


def graph_of(strings):
    specs = []
    for text in strings:
        spec, problems = parse_layer(text, "layers[0]", REGISTRY)
        assert not problems, [p.line() for p in problems]
        specs.append(spec)
    return build_graph("serial_layer_list", tuple(specs), REGISTRY)


NETWORKS = {
    "unet": (["Input:(8, 8, 1)", CONV, BN, "Activation:relu", "Outer skip source:concatenate",
              "Max pooling 2D:(2, 2):(2, 2)", CONV, BN, "Activation:relu", RESIZE, "Activation:relu",
              "Outer skip target:concatenate", CONV, "Activation:relu", CONV, "Activation:softmax"], 4),
    # the skip takes the convolution's output, which the ReLU therefore must not overwrite
    "skip before relu": (["Input:(8, 8, 2)", CONV, "Outer skip source:concatenate", "Activation:relu", CONV,
                          "Outer skip target:concatenate", "Activation:softmax"], 0),
    # the activity penalty is computed from the convolution's output
    "activity penalty": (["Input:(8, 8, 2)", CONV_ACTIVITY, "Activation:relu", CONV, "Activation:relu"], 1),
    # a graph input and the outputs of element-wise activations are never overwritten
    "relu chains": (["Input:(8, 8, 2)", "Activation:relu", CONV, "Activation:relu", "Activation:relu",
                     "Activation:sigmoid", "Activation:relu"], 1),
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_in_place_relu_changes_nothing(name):
    strings, in_place = NETWORKS[name]
    graph = graph_of(strings)
    torch.manual_seed(0)
    model = GraphModel(graph, BUILDERS).train()
    plain = copy.deepcopy(model)
    plain._in_place = frozenset()
    assert len(model._in_place) == in_place
    x = torch.randn(2, *graph.input_shapes[0])
    results = []
    for m in (model, plain):
        xi = x.clone().requires_grad_()
        out = m(xi)
        weights = torch.arange(out.numel(), dtype=out.dtype).reshape(out.shape)
        ((out * weights).sum() + m.regularization_loss()).backward()
        results.append([out.detach(), xi.grad] + [p.grad for p in m.parameters()])
    for a, b in zip(*results):
        assert torch.equal(a, b)
    for step in model._in_place:  # a node the caller keeps (BBD hooks) is not overwritten
        source = model.steps[step][2][0]
        assert torch.equal(model.run(x, keep=(source,))[source], plain.run(x, keep=(source,))[source])


def keras_bn_reference(xs, momentum=0.9, eps=1e-3):
    channels = xs[0].shape[1]
    mean, var = torch.zeros(channels), torch.ones(channels)
    for x in xs:
        axes = [0] + list(range(2, x.dim()))
        v, m = torch.var_mean(x, dim=axes, correction=0)
        mean, var = momentum * mean + (1 - momentum) * m, momentum * var + (1 - momentum) * v
    return mean, var


@pytest.mark.parametrize("shape", [(3, 5, 4, 4), (6, 5), (2, 5, 3, 4, 2), (1, 5)])
def test_batch_norm_matches_keras_with_two_forwards_before_backward(shape):
    torch.manual_seed(1)
    bn = BatchNorm(shape[1], 0.1, 1e-3).train()
    xs = [torch.randn(shape, requires_grad=True), torch.randn(shape) * 3 + 1]
    outs = [bn(x) for x in xs]  # as a GAN step does: two forwards, then one backward
    (outs[0].square().sum() + outs[1].sum()).backward()
    mean, var = keras_bn_reference([x.detach() for x in xs])
    torch.testing.assert_close(bn.running_mean, mean)
    torch.testing.assert_close(bn.running_var, var)
    if math.prod(shape) // shape[1] > 1:
        x = xs[0].detach().clone().requires_grad_()
        axes = [0] + list(range(2, x.dim()))
        v, m = torch.var_mean(x, dim=axes, correction=0, keepdim=True)
        ((x - m) / torch.sqrt(v + 1e-3)).square().sum().backward()
        torch.testing.assert_close(xs[0].grad, x.grad, rtol=1e-4, atol=1e-5)


def keras_sparse_ce(pred, labels):
    logits = torch.log(pred.clamp(losses.EPSILON, 1 - losses.EPSILON))
    log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    return -log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1).mean()


@pytest.mark.parametrize("scale", [0.1, 8.0, 40.0])
def test_sparse_crossentropy_equals_the_logsumexp_form(scale):
    torch.manual_seed(2)
    probs = torch.softmax(torch.randn(3, 4, 6, 6) * scale, dim=1).movedim(1, -1)  # channels-last view
    probs = torch.cat([probs, probs * 0.5])  # unnormalised predictions too
    labels = torch.randint(0, 4, probs.shape[:-1])
    fn = losses.sparse_categorical_crossentropy(None)
    grads, values = [], []
    for compute in (lambda p: fn(p, labels[..., None].float()), lambda p: keras_sparse_ce(p, labels)):
        p = probs.detach().clone().requires_grad_()
        value = compute(p)
        value.backward()
        values.append(value.item())
        grads.append(p.grad)
    assert values[0] == pytest.approx(values[1], abs=1e-6, rel=1e-6)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-8)


def test_accuracy_picks_the_first_maximum_like_argmax():
    values = torch.randint(0, 3, (2, 3, 5, 5)).float()  # many ties
    values[0, :, 0, 0] = float("nan")
    pred = values.movedim(1, -1)
    labels = torch.randint(0, 3, pred.shape[:-1] + (1,)).float()
    expected = (pred.argmax(dim=-1) == labels[..., 0].long()).float().mean()
    assert metrics.accuracy(pred, labels).item() == expected.item()


def test_nearest_upsampling_repeats_each_value():
    def repeated(x, factors):
        for axis, f in enumerate(factors, start=2):
            x = x.repeat_interleave(f, dim=axis)
        return x

    for dims in (1, 2, 3):
        for factors in itertools.product([1, 2, 3, 5], repeat=dims):
            x = torch.randn((2, 3) + (5, 6, 7)[:dims], requires_grad=True)
            out = upsample_nearest(x, factors)
            assert torch.equal(out, repeated(x, factors))
            if out is not x:
                out.backward(torch.ones_like(out))
                assert torch.equal(x.grad, torch.full_like(x, math.prod(factors)))


class Samples(torch.utils.data.Dataset):
    def __init__(self, big: bool = False):
        self.big = big

    def __len__(self):
        return 10

    def __getitem__(self, i):
        size = 400 if self.big else 4
        return {"x": np.full((size, size, 1), i, np.float32), "y": np.arange(3, dtype=np.int64) + i,
                "name": str(i), "index": i, "pair": [np.zeros(2) + i, np.ones(3, np.float32)]}


@pytest.mark.parametrize("big", [False, True])
def test_worker_batches_equal_default_collation(big):
    expected = list(torch.utils.data.DataLoader(Samples(big), batch_size=4))
    loader = make_loader(Samples(big), 4, workers=1, pin=False, persistent=False)
    got = list(loader)
    assert len(loader) == len(expected) == len(got)
    for a, b in zip(expected, got):
        assert a.keys() == b.keys()
        for key in ("x", "y", "index"):
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key])
        assert a["name"] == b["name"]
        assert all(torch.equal(u, v) for u, v in zip(a["pair"], b["pair"]))
