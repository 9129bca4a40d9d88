"""Torch internals of the BBD detector (the shared checks: tests/backends/test_bbd.py): the L2
normalization module, and a few gradient steps on one batch lower the SSD loss and reach its scale."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dlae_core.techniques.bbd.anchors import make_anchors  # noqa: E402
from dlae_core.techniques.bbd.encode import encode_boxes  # noqa: E402
from dlae_core.techniques.bbd.heads import L2_INIT  # noqa: E402
from dlae_core.techniques.bbd.parity import random_boxes  # noqa: E402
from dlae_torch.bbd_model import L2Normalization, build_detector, ssd_loss  # noqa: E402
from support import BBD_SIZE as SIZE, bbd_config, bbd_plan  # noqa: E402


def test_l2_normalization_scales_unit_vectors():
    layer = L2Normalization(3)
    x = torch.tensor([[[[3.0]], [[4.0]], [[0.0]]]])  # (1, 3, 1, 1) internal layout
    assert torch.allclose(layer(x).flatten(), torch.tensor([0.6, 0.8, 0.0]) * L2_INIT)


def test_gradient_step_lowers_the_loss(tmp_path):
    config, plan, registry = bbd_plan(tmp_path, bbd_config({}))
    torch.manual_seed(0)
    model = build_detector(plan.main, config.bbd_options, registry.builders("torch"))
    rng = np.random.default_rng(5)
    anchors = make_anchors(config.bbd_options, (SIZE, SIZE), [(8, 8), (4, 4)])
    targets = encode_boxes(random_boxes(rng, 4, (SIZE, SIZE), 2), anchors, config.bbd_options, (SIZE, SIZE), 2)
    x, y = torch.rand(4, SIZE, SIZE, 1), torch.from_numpy(targets)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = ssd_loss(3, 1.0)(model(x), y)
        loss.backward()
        losses.append(loss.item())
        optimizer.step()
    assert all(math.isfinite(v) for v in losses) and losses[-1] < 0.5 * losses[0]
    assert model.l2.gamma.grad is not None and model.l2.gamma.grad.abs().sum() > 0
