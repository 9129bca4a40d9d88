"""The BBD network on PyTorch: the layer graph plus predictor heads at its hooks, and the SSD loss.

Heads as described in :mod:`dlae_core.techniques.bbd.heads`: hook 0 L2-normalized with
a learnable per-channel scale (init 20), then per hook a 3x3 class head (b_j*(C+1) maps) and a
3x3 box head (b_j*4 maps), He-normal kernels, zero biases. :class:`DetectionModel` maps the
channels-last input to ``(batch, N, C+5) = [softmax class scores, background first | offsets]``;
the main-path output of the layer list is not used. The heads' canonical (Keras-layout) weights
are exchanged by :func:`export_detector_weights` / :func:`import_detector_weights`, so a model is
the same on both backends (``dlae check``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dlae_core.techniques.bbd.heads import KERNEL, L2_EPSILON, L2_INIT, L2_NAME, HeadSpec, head_specs
from dlae_core.techniques.bbd.loss_reference import PROBABILITY_FLOOR
from dlae_core.running.weights import check_compatible

from dlae_torch.initializers import conv_to_torch, init_kernel
from dlae_torch.layers import to_channels_last
from dlae_torch.model import GraphModel
from dlae_torch.weights import conv_from_torch, export_weights, import_weights

__all__ = ["L2Normalization", "DetectionModel", "build_detector", "ssd_loss", "export_detector_weights",
           "import_detector_weights"]


class L2Normalization(nn.Module):
    """x / sqrt(max(sum_c x_c^2, 1e-12)) * gamma_c over the channel axis (dim 1, internal layout)."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), L2_INIT))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.sqrt(torch.clamp((x * x).sum(dim=1, keepdim=True), min=L2_EPSILON))
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x / norm * self.gamma.view(shape)


def _head(channels: int, filters: int) -> nn.Conv2d:
    conv = nn.Conv2d(channels, filters, KERNEL, padding="same")
    init_kernel(conv.weight, "he_normal", KERNEL + (channels, filters), conv_to_torch)
    if not conv.bias.is_meta:
        nn.init.zeros_(conv.bias)
    return conv


class DetectionModel(nn.Module):
    """``body`` (the layer graph) + L2 normalization of hook 0 + class/box heads per hook."""

    def __init__(self, graph, bbd, builders: dict, activations: dict | None = None):
        super().__init__()
        self.graph = graph
        self.body = GraphModel(graph, builders, activations)
        self.specs: list[HeadSpec] = head_specs(bbd, graph)
        self.l2 = L2Normalization(self.specs[0].channels)
        self.class_heads = nn.ModuleList(_head(s.channels, s.class_filters) for s in self.specs)
        self.box_heads = nn.ModuleList(_head(s.channels, s.box_filters) for s in self.specs)
        self.hooks = tuple(s.hook for s in self.specs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = self.body.run(x, keep=self.hooks)
        scores, offsets = [], []
        for spec, class_head, box_head in zip(self.specs, self.class_heads, self.box_heads):
            feature = values[spec.hook]
            if spec.index == 0:
                feature = self.l2(feature)
            batch = feature.shape[0]
            scores.append(to_channels_last(class_head(feature)).reshape(batch, -1, spec.classes))
            offsets.append(to_channels_last(box_head(feature)).reshape(batch, -1, 4))
        probabilities = torch.softmax(torch.cat(scores, dim=1).float(), dim=-1)
        return torch.cat([probabilities, torch.cat(offsets, dim=1).float()], dim=-1)

    def penalty(self) -> torch.Tensor | None:
        """The layer graph's penalties (the heads carry no regularization)."""
        return self.body.penalty()

    def regularization_loss(self) -> torch.Tensor:
        return self.body.regularization_loss()


def build_detector(graph, bbd, builders: dict, placement=None) -> DetectionModel:
    model = DetectionModel(graph, bbd, builders["layer"], builders["activation"])
    if placement is not None:
        model = model.to(placement.device)
        if placement.channels_last:
            model = model.to(memory_format=torch.channels_last)
    return model


# -- canonical weights ------------------------------------------------------------------------------
def _head_weights(model: DetectionModel) -> dict[str, dict[str, np.ndarray]]:
    def conv(module: nn.Conv2d) -> dict[str, np.ndarray]:
        return {"kernel": conv_from_torch(module.weight.detach().float().cpu()).contiguous().numpy().copy(),
                "bias": module.bias.detach().float().cpu().numpy().copy()}

    out = {L2_NAME: {"gamma": model.l2.gamma.detach().float().cpu().numpy().copy()}}
    for spec, class_head, box_head in zip(model.specs, model.class_heads, model.box_heads):
        out[spec.class_name] = conv(class_head)
        out[spec.box_name] = conv(box_head)
    return out


def export_detector_weights(model: DetectionModel) -> dict[str, dict[str, np.ndarray]]:
    """Canonical weights of the layer graph's nodes and of the heads (Keras layout)."""
    return {**export_weights(model.body, model.graph), **_head_weights(model)}


@torch.no_grad()
def import_detector_weights(model: DetectionModel, weights: dict) -> None:
    """Copy canonical weights into ``model``; BackendError listing every difference unless they fit."""
    check_compatible(weights, export_detector_weights(model), ("the weights to import", "the torch model"))
    import_weights(model.body, model.graph, {k: v for k, v in weights.items() if k in
                                             {n.name for n in model.graph.nodes}})

    def put(target: torch.Tensor, value) -> None:
        target.copy_(torch.as_tensor(np.asarray(value), dtype=torch.float32).reshape(target.shape).to(target))

    put(model.l2.gamma, weights[L2_NAME]["gamma"])
    for spec, class_head, box_head in zip(model.specs, model.class_heads, model.box_heads):
        for name, module in ((spec.class_name, class_head), (spec.box_name, box_head)):
            put(module.weight, conv_to_torch(torch.as_tensor(np.asarray(weights[name]["kernel"]))))
            put(module.bias, weights[name]["bias"])


# The detector knows its canonical layout (graph nodes + heads); Backend.export_weights asks it.
DetectionModel.export_canonical = export_detector_weights
DetectionModel.import_canonical = import_detector_weights


# -- the SSD loss ------------------------------------------------------------------------------
def _smooth_l1(d: torch.Tensor) -> torch.Tensor:
    a = d.abs()
    return torch.where(a < 1.0, 0.5 * d * d, a - 0.5)


def ssd_loss(neg_pos_ratio: float, alpha: float):
    """``loss(pred, target)`` on (B, N, C+5) tensors: (positive class loss + class loss of the
    int(neg_pos_ratio) * N_pos hardest background anchors of the whole batch + alpha * smooth-L1
    localization loss of the positives) / max(1, N_pos), fp32 (dlae_core.techniques.bbd.loss_reference)."""
    ratio, alpha = int(neg_pos_ratio), float(alpha)

    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred, target = pred.float(), target.float()
            classes_true = target[..., :-4]
            cls = -(classes_true * torch.log(pred[..., :-4].clamp_min(PROBABILITY_FLOOR))).sum(dim=-1)
            loc = _smooth_l1(target[..., -4:] - pred[..., -4:]).sum(dim=-1)
            positive = classes_true[..., 1:].amax(dim=-1)
            n_positive = positive.sum()
            candidates = (cls * classes_true[..., 0]).reshape(-1)
            k = torch.minimum(ratio * n_positive, (candidates != 0).sum().to(n_positive.dtype))
            ranked = torch.sort(candidates, descending=True).values
            chosen = torch.arange(ranked.numel(), device=ranked.device) < k
            negatives = (ranked * chosen).sum()
            total = (cls * positive).sum() + negatives + alpha * (loc * positive).sum()
            return total / torch.clamp(n_positive, min=1.0)

    return loss


def ssd_builder(context):
    """Loss builder registered as ``ssd`` (parameter1 = neg:pos ratio, parameter2 = alpha)."""
    return ssd_loss(context.parameter1, context.parameter2)


#: The SSD loss, registered lazily by dlae_torch.plugin as the torch implementation of loss ``ssd``.
LOSSES = {"ssd": ssd_builder}
