"""Keras 3 kernel initializers and L1/L2 regularizers for torch weights.

Kernels are drawn in their *Keras* shape (e.g. ``(kh, kw, in, out)`` for a convolution) so the
fans are the Keras ones (receptive field x channels) and orthogonal kernels are orthogonal in
the same flattening; ``to_torch`` then rearranges the draw into the torch weight's layout.
The same converters serve to copy weights from a Keras model.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

TRUNCATED_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]

# name -> (scale, mode, distribution) for the VarianceScaling family (Keras 3 definitions)
VARIANCE_SCALING = {
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
}


def compute_fans(shape: tuple) -> tuple[float, float]:
    """Keras ``compute_fans``: the last two axes are (in, out), the rest the receptive field."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _truncated_normal(shape: tuple, stddev: float) -> torch.Tensor:
    """Normal(0, stddev) with draws beyond 2 stddev redrawn (like TF's truncated_normal)."""
    flat = torch.randn(math.prod(shape))
    index = torch.nonzero(flat.abs() > 2.0).squeeze(1)
    while index.numel():
        draws = torch.randn(index.numel())
        flat[index] = draws
        index = index[draws.abs() > 2.0]
    return flat.mul_(stddev).reshape(shape)


def _orthogonal(shape: tuple, gain: float = 1.0) -> torch.Tensor:
    if len(shape) < 2:
        raise ValueError(f"orthogonal initializer needs a kernel with at least 2 axes, got {shape}")
    rows, cols = math.prod(shape[:-1]), shape[-1]
    a = torch.randn(max(rows, cols), min(rows, cols))
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)


def keras_kernel(name: str, shape: tuple) -> torch.Tensor:
    """A kernel of Keras shape ``shape`` drawn like Keras 3's initializer ``name``."""
    if name in VARIANCE_SCALING:
        scale, mode, distribution = VARIANCE_SCALING[name]
        fan_in, fan_out = compute_fans(shape)
        divisor = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
        scale /= max(1.0, divisor)
        if distribution == "truncated_normal":
            return _truncated_normal(shape, math.sqrt(scale) / TRUNCATED_STD)
        limit = math.sqrt(3.0 * scale)
        return torch.empty(shape).uniform_(-limit, limit)
    if name == "random_normal":
        return torch.randn(shape) * 0.05
    if name == "random_uniform":
        return torch.empty(shape).uniform_(-0.05, 0.05)
    if name == "truncated_normal":
        return _truncated_normal(shape, 0.05)
    if name == "zeros":
        return torch.zeros(shape)
    if name == "ones":
        return torch.ones(shape)
    if name == "orthogonal":
        return _orthogonal(shape)
    raise ValueError(f"unknown kernel initializer {name!r}")


def init_kernel(weight: torch.Tensor, name: str, keras_shape: tuple,
                to_torch: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Fill ``weight`` in place (no-op on the meta device, used for counting)."""
    if weight.is_meta:
        return
    value = to_torch(keras_kernel(name, tuple(keras_shape)))
    with torch.no_grad():
        weight.copy_(value.reshape(weight.shape))


# -- Keras kernel layout -> torch weight layout -------------------------------------------------------
def conv_to_torch(kernel: torch.Tensor) -> torch.Tensor:
    """(k1, ..., kd, in, out) -> (out, in, k1, ..., kd); also transposed convs: Keras (k.., out, in)
    -> torch (in, out, k..)."""
    d = kernel.dim() - 2
    return kernel.permute(d + 1, d, *range(d))


def depthwise_to_torch(kernel: torch.Tensor) -> torch.Tensor:
    """Keras depthwise (kh, kw, in, mult) -> torch grouped (in * mult, 1, kh, kw)."""
    kh, kw, channels, mult = kernel.shape
    return kernel.permute(2, 3, 0, 1).reshape(channels * mult, 1, kh, kw).contiguous()


def dense_to_torch(kernel: torch.Tensor) -> torch.Tensor:
    """Keras (in, out) -> torch (out, in)."""
    return kernel.T


# -- regularizers ---------------------------------------------------------------------------------------
def regularizer(kind: str | None, l1: float, l2: float) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Keras L1 / L2 / L1L2 penalty on a tensor (sums, never means), or None."""
    if kind is None:
        return None
    c1 = float(l1) if kind in ("l1", "l1_l2") else 0.0
    c2 = float(l2) if kind in ("l2", "l1_l2") else 0.0

    def penalty(x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        out = x.new_zeros(())
        if c1:
            out = out + c1 * x.abs().sum()
        if c2:
            out = out + c2 * x.square().sum()
        return out

    return penalty
