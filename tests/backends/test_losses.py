"""Every backend's losses against hand-computed values: ``backend.loss_function(name, context)`` applied
to tensors of the backend's framework must give a 0-d float32 tensor of the expected value.
(Half precision and gradients are framework matters: torch_only/ and tensorflow_only/.)"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlae_core.training.loss_context import LossContext
from support import registry, scalar_float32, tensor

REGISTRY = registry()

# two samples x three classes
PRED = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]], np.float32)
TRUE = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
LOG7, LOG3 = math.log(0.7), math.log(0.3)


@pytest.fixture
def loss(engine, backend):
    """``loss(name, pred=PRED, target=TRUE, **context)``: the value of the backend's loss ``name`` (numpy
    inputs become tensors of the backend's framework, keeping their dtype)."""

    def value(name, pred=PRED, target=TRUE, **context):
        result = engine.loss_function(name, LossContext(**context))(tensor(backend, pred), tensor(backend, target))
        assert scalar_float32(backend, result), result
        return float(result)

    return value


def test_every_cnn_fcn_loss_has_a_builder(engine):
    wanted = [n for n, info in REGISTRY.losses.items() if info.target in ("onehot", "sparse", "dense")
              and REGISTRY.owner[("losses", n)] == REGISTRY.owner[("layers", "Input")]]  # the built-in ones
    assert len(wanted) == 9
    assert [n for n in wanted if n not in engine.implementations["loss"]] == []


def test_categorical_crossentropy(loss):
    assert loss("categorical_crossentropy") == pytest.approx(-(LOG7 + LOG3) / 2, rel=1e-6)
    # predictions are renormalised along the class axis first
    assert loss("categorical_crossentropy", PRED * 4) == pytest.approx(-(LOG7 + LOG3) / 2, rel=1e-6)
    # and clipped to [1e-7, 1 - 1e-7]
    hard = np.array([[0.0, 1.0, 0.0]], np.float32)
    assert loss("categorical_crossentropy", hard, np.array([[1.0, 0.0, 0.0]], np.float32)) == pytest.approx(
        -math.log(1e-7), rel=1e-4)


def test_weighted_categorical_crossentropy(engine, backend, loss):
    weights = np.array([1.0, 2.0, 3.0])
    value = loss("weighted_categorical_crossentropy", class_weights=weights)
    assert value == pytest.approx(-(1 * LOG7 + 3 * LOG3) / 2, rel=1e-6)
    build = engine.implementations["loss"]["weighted_categorical_crossentropy"]
    with pytest.raises(ValueError, match="class_weights"):
        build(LossContext())
    with pytest.raises(ValueError, match="2 class weights for 3 output channels"):
        build(LossContext(class_weights=[1.0, 2.0]))(tensor(backend, PRED), tensor(backend, TRUE))


def test_sparse_categorical_crossentropy(loss):
    labels = np.array([[0], [2]])  # integer labels, trailing axis of length 1
    assert loss("sparse_categorical_crossentropy", target=labels) == pytest.approx(-(LOG7 + LOG3) / 2, rel=1e-6)
    # -log(p_label / sum p): unnormalised predictions (inside the clip range) give the same value
    assert loss("sparse_categorical_crossentropy", PRED * 0.5, labels.astype(np.float32)) == pytest.approx(
        -(LOG7 + LOG3) / 2, rel=1e-6)
    # FCN-shaped: (N, rows, cols, C) with labels (N, rows, cols, 1)
    pred = PRED.reshape(1, 2, 1, 3)
    assert loss("sparse_categorical_crossentropy", pred, labels.reshape(1, 2, 1, 1)) == pytest.approx(
        -(LOG7 + LOG3) / 2, rel=1e-6)


def test_mean_squared_and_absolute_error(loss):
    mse = ((0.09 + 0.04 + 0.01) / 3 + (0.01 + 0.36 + 0.49) / 3) / 2
    mae = ((0.3 + 0.2 + 0.1) / 3 + (0.1 + 0.6 + 0.7) / 3) / 2
    assert loss("mean_squared_error") == pytest.approx(mse, rel=1e-6)
    assert loss("mean_absolute_error") == pytest.approx(mae, rel=1e-6)


def test_tversky_alpha_on_false_positives_beta_on_false_negatives(loss):
    pred, true = PRED.reshape(1, 2, 1, 3), TRUE.reshape(1, 2, 1, 3)  # sums over batch and pixels
    # per channel: c0 TP 0.7 FP 0.1 FN 0.3; c1 TP 0 FP 0.8 FN 0; c2 TP 0.3 FP 0.1 FN 0.7
    eps = 1e-7
    t0 = (0.7 + eps) / (0.7 + 0.3 * 0.1 + 0.7 * 0.3 + eps)
    t1 = eps / (0.3 * 0.8 + eps)
    t2 = (0.3 + eps) / (0.3 + 0.3 * 0.1 + 0.7 * 0.7 + eps)
    value = loss("tversky", pred, true, parameter1=0.3, parameter2=0.7, spatial_rank=2)
    assert value == pytest.approx(3 - (t0 + t1 + t2), rel=1e-6)
    # an empty channel (no prediction mass, no truth) counts as a perfect match, not 0/0
    empty_pred = np.array([[0.6, 0.4, 0.0], [0.2, 0.8, 0.0]], np.float32).reshape(1, 2, 1, 3)
    empty_true = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32).reshape(1, 2, 1, 3)
    value = loss("tversky", empty_pred, empty_true, parameter1=0.5, parameter2=0.5, spatial_rank=2)
    t0 = 0.6 / (0.6 + 0.5 * 0.2 + 0.5 * 0.4)
    t1 = 0.8 / (0.8 + 0.5 * 0.4 + 0.5 * 0.2)
    assert value == pytest.approx(3 - (t0 + t1 + 1.0), rel=1e-5)


def test_jaccard(loss):
    for s in (1.0, 100.0):
        j1 = (0.7 + s) / (2 - 0.7 + s)  # I = 0.7, S = 2
        j2 = (0.3 + s) / (2 - 0.3 + s)
        assert loss("jaccard", parameter1=s) == pytest.approx(((1 - j1) * s + (1 - j2) * s) / 2, rel=1e-5)
    assert loss("jaccard", parameter1=0.0) == 0.0


def test_focal(loss):
    value = loss("focal", parameter1=0.25, parameter2=2.0)
    expected = (-0.25 * 0.3 ** 2 * LOG7 - 0.25 * 0.7 ** 2 * LOG3) / 2
    assert value == pytest.approx(expected, rel=1e-5)
    assert loss("focal", parameter1=1.0, parameter2=0.0) == pytest.approx(-(LOG7 + LOG3) / 2, rel=1e-6)


def test_soft_dice(loss):
    # sum y p = 1.0, sum y = 2, sum p = 2
    assert loss("soft_dice", parameter1=1.0) == pytest.approx(1 - 3 / 5, rel=1e-6)
    assert loss("soft_dice", TRUE, TRUE, parameter1=0.0) == pytest.approx(0.0, abs=1e-7)


def test_reduction_is_mean_over_elements_then_batch(loss):
    pred = np.stack([PRED, PRED[::-1]]).reshape(2, 2, 1, 3)  # FCN maps of 2 pixels
    true = np.stack([TRUE, TRUE[::-1]]).reshape(2, 2, 1, 3)
    assert loss("categorical_crossentropy", pred, true) == pytest.approx(-(LOG7 + LOG3) / 2, rel=1e-6)


def test_loss_value_of_the_backend_object(engine):
    """``Backend.loss_value`` (what ``dlae check`` and the test kit use) gives the same values from numpy."""
    assert engine.loss_value("categorical_crossentropy", LossContext(), PRED, TRUE) == pytest.approx(
        -(LOG7 + LOG3) / 2, rel=1e-6)
    assert engine.loss_value("soft_dice", LossContext(parameter1=1.0), PRED, TRUE) == pytest.approx(
        1 - 3 / 5, rel=1e-6)
