"""Torch losses against hand-computed values."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dlae_core.plugin.builtin  # noqa: E402
import dlae_torch.plugin  # noqa: E402
from dlae_core.plugin.registry import Registry, make_plugin_manager  # noqa: E402
from dlae_core.training.loss_context import LossContext  # noqa: E402

REGISTRY = Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, dlae_torch.plugin]))
LOSSES = REGISTRY.builders("torch")["loss"]
# losses on whole prediction tensors; the technique losses (ssd: anchors x (C+5)) have their own suites
TENSOR_LOSSES = [name for name in LOSSES if REGISTRY.losses[name].target in ("onehot", "sparse", "dense")]

# two samples x three classes
PRED = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
TRUE = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
LOG7, LOG3 = math.log(0.7), math.log(0.3)


def loss(name, pred=PRED, target=TRUE, **context):
    value = LOSSES[name](LossContext(**context))(pred, target)
    assert value.dim() == 0 and value.dtype == torch.float32
    return value.item()


def test_every_cnn_fcn_loss_has_a_torch_builder():
    wanted = [n for n, info in REGISTRY.losses.items() if info.target in ("onehot", "sparse", "dense")]
    assert len(wanted) == 9
    assert [n for n in wanted if n not in LOSSES] == []


def test_categorical_crossentropy():
    assert loss("categorical_crossentropy") == pytest.approx(-(LOG7 + LOG3) / 2, rel=1e-6)
    # predictions are renormalised along the class axis first
    assert loss("categorical_crossentropy", PRED * 4) == pytest.approx(-(LOG7 + LOG3) / 2, rel=1e-6)
    # and clipped to [1e-7, 1 - 1e-7]
    hard = torch.tensor([[0.0, 1.0, 0.0]])
    assert loss("categorical_crossentropy", hard, torch.tensor([[1.0, 0.0, 0.0]])) == pytest.approx(
        -math.log(1e-7), rel=1e-4)


def test_weighted_categorical_crossentropy():
    weights = np.array([1.0, 2.0, 3.0])
    value = loss("weighted_categorical_crossentropy", class_weights=weights)
    assert value == pytest.approx(-(1 * LOG7 + 3 * LOG3) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="class_weights"):
        LOSSES["weighted_categorical_crossentropy"](LossContext())


def test_sparse_categorical_crossentropy():
    labels = torch.tensor([[0], [2]])  # trailing axis of length 1
    assert loss("sparse_categorical_crossentropy", target=labels) == pytest.approx(-(LOG7 + LOG3) / 2, rel=1e-6)
    # -log(p_label / sum p): unnormalised predictions (inside the clip range) give the same value
    assert loss("sparse_categorical_crossentropy", PRED * 0.5, labels.float()) == pytest.approx(
        -(LOG7 + LOG3) / 2, rel=1e-6)
    # FCN-shaped: (N, rows, cols, C) with labels (N, rows, cols, 1)
    pred = PRED.reshape(1, 2, 1, 3)
    assert loss("sparse_categorical_crossentropy", pred, labels.reshape(1, 2, 1, 1)) == pytest.approx(
        -(LOG7 + LOG3) / 2, rel=1e-6)


def test_mean_squared_and_absolute_error():
    mse = ((0.09 + 0.04 + 0.01) / 3 + (0.01 + 0.36 + 0.49) / 3) / 2
    mae = ((0.3 + 0.2 + 0.1) / 3 + (0.1 + 0.6 + 0.7) / 3) / 2
    assert loss("mean_squared_error") == pytest.approx(mse, rel=1e-6)
    assert loss("mean_absolute_error") == pytest.approx(mae, rel=1e-6)


def test_tversky_alpha_on_false_positives_beta_on_false_negatives():
    pred, true = PRED.reshape(1, 2, 1, 3), TRUE.reshape(1, 2, 1, 3)  # sums over batch and pixels
    # per channel: c0 TP 0.7 FP 0.1 FN 0.3; c1 TP 0 FP 0.8 FN 0; c2 TP 0.3 FP 0.1 FN 0.7
    eps = 1e-7
    t0 = (0.7 + eps) / (0.7 + 0.3 * 0.1 + 0.7 * 0.3 + eps)
    t1 = eps / (0.3 * 0.8 + eps)
    t2 = (0.3 + eps) / (0.3 + 0.3 * 0.1 + 0.7 * 0.7 + eps)
    value = loss("tversky", pred, true, parameter1=0.3, parameter2=0.7, spatial_rank=2)
    assert value == pytest.approx(3 - (t0 + t1 + t2), rel=1e-6)
    # an empty channel (no prediction mass, no truth) counts as a perfect match, not 0/0
    empty_pred = torch.tensor([[0.6, 0.4, 0.0], [0.2, 0.8, 0.0]]).reshape(1, 2, 1, 3)
    empty_true = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).reshape(1, 2, 1, 3)
    value = loss("tversky", empty_pred, empty_true, parameter1=0.5, parameter2=0.5, spatial_rank=2)
    t0 = 0.6 / (0.6 + 0.5 * 0.2 + 0.5 * 0.4)
    t1 = 0.8 / (0.8 + 0.5 * 0.4 + 0.5 * 0.2)
    assert value == pytest.approx(3 - (t0 + t1 + 1.0), rel=1e-5)


def test_jaccard():
    for s in (1.0, 100.0):
        j1 = (0.7 + s) / (2 - 0.7 + s)  # I = 0.7, S = 2
        j2 = (0.3 + s) / (2 - 0.3 + s)
        assert loss("jaccard", parameter1=s) == pytest.approx(((1 - j1) * s + (1 - j2) * s) / 2, rel=1e-5)
    assert loss("jaccard", parameter1=0.0) == 0.0


def test_focal():
    value = loss("focal", parameter1=0.25, parameter2=2.0)
    expected = (-0.25 * 0.3 ** 2 * LOG7 - 0.25 * 0.7 ** 2 * LOG3) / 2
    assert value == pytest.approx(expected, rel=1e-5)
    assert loss("focal", parameter1=1.0, parameter2=0.0) == pytest.approx(-(LOG7 + LOG3) / 2, rel=1e-6)


def test_soft_dice():
    # sum y p = 1.0, sum y = 2, sum p = 2
    assert loss("soft_dice", parameter1=1.0) == pytest.approx(1 - 3 / 5, rel=1e-6)
    assert loss("soft_dice", TRUE, TRUE, parameter1=0.0) == pytest.approx(0.0, abs=1e-7)


def test_reduction_is_mean_over_elements_then_batch():
    pred = torch.stack([PRED, PRED.flip(0)]).reshape(2, 2, 1, 3)  # FCN maps of 2 pixels
    true = torch.stack([TRUE, TRUE.flip(0)]).reshape(2, 2, 1, 3)
    assert loss("categorical_crossentropy", pred, true) == pytest.approx(-(LOG7 + LOG3) / 2, rel=1e-6)


def test_losses_compute_in_fp32_under_autocast():
    pred, true = PRED.bfloat16(), TRUE.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for name in ("categorical_crossentropy", "mean_squared_error", "soft_dice"):
            value = LOSSES[name](LossContext(parameter1=1.0))(pred, true)
            assert value.dtype == torch.float32


def test_losses_are_differentiable():
    pred = PRED.clone().requires_grad_(True)
    for name in TENSOR_LOSSES:
        context = LossContext(parameter1=0.5, parameter2=0.5, class_weights=[1.0, 1.0, 1.0])
        target = torch.tensor([[0], [2]]) if name.startswith("sparse") else TRUE
        value = LOSSES[name](context)(pred, target)
        (grad,) = torch.autograd.grad(value, pred)
        assert torch.isfinite(grad).all(), name
