"""Torch internals of the losses (values: tests/backends/test_losses.py): fp32 under autocast, gradients."""

import pytest

torch = pytest.importorskip("torch")

from dlae_core.plugin.registry import get_registry  # noqa: E402
from dlae_core.training.loss_context import LossContext  # noqa: E402

REGISTRY = get_registry()
LOSSES = REGISTRY.backend("torch").implementations["loss"]
# losses on whole prediction tensors; the technique losses (ssd: anchors x (C+5)) have their own suites
TENSOR_LOSSES = [name for name in LOSSES if REGISTRY.losses[name].target in ("onehot", "sparse", "dense")]

# two samples x three classes
PRED = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
TRUE = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


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
