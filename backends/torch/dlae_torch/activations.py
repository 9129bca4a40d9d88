"""Activation builders: ``builder() -> torch.nn.Module`` working on the backend's internal layout
(channels at dim 1), so softmax normalises over dim 1. Definitions follow Keras 3."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Lambda(nn.Module):
    """A parameter-free element-wise (or channel-wise) function; ``in_place_fn`` (or None) computes
    the same values overwriting its input (``GraphModel`` asks for it where that is safe)."""

    def __init__(self, name: str, fn, in_place_fn=None):
        super().__init__()
        self.name, self.fn, self.in_place_fn = name, fn, in_place_fn

    def forward(self, x: torch.Tensor, in_place: bool = False) -> torch.Tensor:
        if in_place and self.in_place_fn is not None:
            return self.in_place_fn(x)
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


FUNCTIONS = {
    "relu": F.relu,
    "relu6": F.relu6,
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


# In-place forms (as nn.ReLU(inplace=True)): no new activation tensor, one pass less over memory.
IN_PLACE = {"relu": torch.relu_, "relu6": lambda x: F.hardtanh_(x, 0.0, 6.0)}


def _builder(name: str):
    def build() -> nn.Module:
        return Lambda(name, FUNCTIONS[name], IN_PLACE.get(name))

    build.__name__ = f"build_{name}"
    return build


BUILDERS = {name: _builder(name) for name in FUNCTIONS}
