"""PyTorch implementations of the example plugin's layer, loss and activation.

Inside dlae's torch models, tensors with spatial axes are channels-first (N, C, rows, cols);
loss functions receive channels-last (N, ..., C) predictions and targets.
"""

from __future__ import annotations

import torch
from torch import nn


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, ratio: int):
        super().__init__()
        hidden = max(1, channels // ratio)
        self.reduce = nn.Linear(channels, hidden)
        self.expand = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = x.mean(dim=(2, 3))
        scale = torch.sigmoid(self.expand(torch.relu(self.reduce(squeezed))))
        return x * scale[:, :, None, None]

    # The canonical (Keras) layout, so `dlae check` and cross-backend weight files work: Dense kernels
    # are (inputs, outputs), torch Linear weights (outputs, inputs); names as in tf_impl's sublayers.
    def export_keras_weights(self) -> dict:
        with torch.no_grad():
            return {f"{name}/{part}": (value.t() if part == "kernel" else value).detach().cpu().numpy()
                    for name, layer in (("reduce", self.reduce), ("expand", self.expand))
                    for part, value in (("kernel", layer.weight), ("bias", layer.bias))}

    def import_keras_weights(self, weights: dict) -> None:
        with torch.no_grad():
            for name, layer in (("reduce", self.reduce), ("expand", self.expand)):
                layer.weight.copy_(torch.as_tensor(weights[f"{name}/kernel"]).t())
                layer.bias.copy_(torch.as_tensor(weights[f"{name}/bias"]))


def build_squeeze_excitation(spec, input_shape: tuple) -> nn.Module:
    return SqueezeExcitation(input_shape[-1], spec["ratio"])


def build_log_cosh(context):
    def log_cosh(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        diff = pred.float() - target.float().reshape(pred.shape)
        # log(cosh(d)) = |d| + log1p(exp(-2|d|)) - log 2, stable for large |d|
        return (diff.abs() + torch.log1p(torch.exp(-2 * diff.abs())) - torch.log(torch.tensor(2.0))).mean()

    return log_cosh


class Mish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tanh(nn.functional.softplus(x))


def build_mish() -> nn.Module:
    return Mish()
