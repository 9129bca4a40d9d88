"""Activation builders: ``builder() -> torch.nn.Module`` working on the backend's internal layout
(channels at dim 1), so softmax normalises over dim 1. Definitions follow Keras 3."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Lambda(nn.Module):
    """A parameter-free element-wise (or channel-wise) function."""

    def __init__(self, name: str, fn):
        super().__init__()
        self.name, self.fn = name, fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


FUNCTIONS = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softmax": lambda x: torch.softmax(x, dim=1),
    "hard_sigmoid": F.hardsigmoid,  # relu6(x + 3) / 6, the Keras 3 definition
    "linear": lambda x: x,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "selu": F.selu,
    "elu": F.elu,  # alpha 1
    "exponential": torch.exp,
    "swish": F.silu,
    "gelu": lambda x: F.gelu(x, approximate="none"),
}


def _builder(name: str):
    def build() -> nn.Module:
        return Lambda(name, FUNCTIONS[name])

    build.__name__ = f"build_{name}"
    return build


BUILDERS = {name: _builder(name) for name in FUNCTIONS}
