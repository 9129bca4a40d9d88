"""Torch builders of the utility layer types, the merge modules and the layout helpers.

Builder signature: ``builder(spec: LayerSpec, input_shape: tuple) -> torch.nn.Module`` where
``input_shape`` is the channels-last IR shape without the batch axis.

Internal layout: a tensor whose IR shape has >= 2 axes is stored channels-FIRST, i.e. the IR's
last axis is dim 1 ((L, C) -> (N, C, L); (H, W, C) -> (N, C, H, W)); vectors stay (N, C).
Layers whose result depends on the element order (Flatten, Reshape, Permute) move channels last
first, so they reproduce channels-last (Keras) semantics exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dlae_torch import activations
from dlae_torch.initializers import dense_to_torch, init_kernel, regularizer


# -- layout ---------------------------------------------------------------------------------------------
def to_internal(x: torch.Tensor) -> torch.Tensor:
    """Channels-last (N, ..., C) -> internal (channels at dim 1); vectors unchanged."""
    return x.movedim(-1, 1) if x.dim() >= 3 else x


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """Internal -> channels-last (N, ..., C); vectors unchanged."""
    return x.movedim(1, -1) if x.dim() >= 3 else x


class Regularized:
    """Mixin for modules with Keras kernel / activity regularizers.

    Modules whose class sets ``overwritable_output = True`` do not need their output for their
    backward, so the next step may overwrite it in place (see ``GraphModel``) unless an activity
    penalty was computed from it (``activity_reg``).

    ``kernel_penalty()`` sums the penalties of ``regularized_kernels()``; ``activity_loss`` is the
    activity penalty of the latest forward (None without an activity regularizer)."""

    kernel_reg = None
    activity_reg = None
    activity_loss = None

    def setup_regularizers(self, spec) -> None:
        params = spec.params
        l1, l2 = params.get("l1", 0.0), params.get("l2", 0.0)
        self.kernel_reg = regularizer(params.get("kernel_regularizer"), l1, l2)
        self.activity_reg = regularizer(params.get("activity_regularizer"), l1, l2)

    def regularized_kernels(self) -> list:
        return [self.weight]

    def kernel_penalty(self):
        if self.kernel_reg is None:
            return None
        return sum(self.kernel_reg(w) for w in self.regularized_kernels())

    def record_activity(self, out: torch.Tensor) -> torch.Tensor:
        if self.activity_reg is not None:  # else activity_loss stays None (no per-call module setattr)
            self.activity_loss = self.activity_reg(out)
        return out


# -- reshaping --------------------------------------------------------------------------------------------
class Reshape(nn.Module):
    def __init__(self, target: tuple):
        super().__init__()
        self.target = tuple(target)

    def forward(self, x):
        y = to_channels_last(x).reshape(x.shape[0], *self.target)
        return to_internal(y)

    def extra_repr(self) -> str:
        return f"target_shape={self.target}"


class Permute(nn.Module):
    def __init__(self, dims: tuple):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        y = to_channels_last(x).permute(0, *self.dims)
        return to_internal(y)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class Flatten(nn.Module):
    def forward(self, x):
        return to_channels_last(x).reshape(x.shape[0], -1)


class Dense(nn.Module):
    """Linear map on the channel axis (Keras Dense on the last axis), Glorot-uniform kernel."""

    overwritable_output = True

    def __init__(self, in_features: int, units: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(units, in_features))
        self.bias = nn.Parameter(torch.zeros(units))
        init_kernel(self.weight, "glorot_uniform", (in_features, units), dense_to_torch)

    def forward(self, x):
        if x.dim() <= 2:
            return F.linear(x, self.weight, self.bias)
        return F.linear(x.movedim(1, -1), self.weight, self.bias).movedim(-1, 1)

    def extra_repr(self) -> str:
        return f"in_features={self.weight.shape[1]}, units={self.weight.shape[0]}"


# -- regularization (training only) --------------------------------------------------------------------------
class Dropout(nn.Module):
    def __init__(self, rate: float):
        super().__init__()
        self.rate = float(rate)

    def forward(self, x):
        return F.dropout(x, self.rate, self.training)


class SpatialDropout(Dropout):
    """Drops whole channels (feature maps / volumes) of a (N, C, ...) tensor."""

    def forward(self, x):
        if not self.training or self.rate == 0.0:
            return x
        keep = torch.empty(x.shape[:2] + (1,) * (x.dim() - 2), device=x.device, dtype=x.dtype)
        keep.bernoulli_(1.0 - self.rate)
        return x * keep / (1.0 - self.rate)


class GaussianDropout(Dropout):
    def forward(self, x):
        if not self.training or self.rate == 0.0:
            return x
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return x * (1.0 + stddev * torch.randn_like(x))


class GaussianNoise(nn.Module):
    def __init__(self, stddev: float):
        super().__init__()
        self.stddev = float(stddev)

    def forward(self, x):
        if not self.training or self.stddev == 0.0:
            return x
        return x + self.stddev * torch.randn_like(x)


class AlphaDropout(Dropout):
    def forward(self, x):
        return F.alpha_dropout(x, self.rate, self.training)


class BatchNorm(nn.Module):
    """Keras batch normalization over the channel axis (dim 1).

    Training normalises with the biased batch variance and updates the moving statistics with
    it (Keras): ``moving = moving * momentum + batch * (1 - momentum)``. ``momentum`` here is the
    torch convention (weight of the new batch) = 1 - Keras momentum."""

    overwritable_output = True  # the backward needs the input and the batch statistics only
    frozen = False  # freeze_pretrained: inference mode, moving statistics kept, even while training

    def __init__(self, channels: int, momentum: float, eps: float, scale: bool = True):
        super().__init__()
        self.momentum, self.eps = float(momentum), float(eps)
        # without ``scale`` (Inception's BatchNormalization) there is no gamma: weight None
        self.weight = nn.Parameter(torch.ones(channels)) if scale else None
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x):
        # statistics in fp32 even under autocast (no copy for fp32 input and parameters)
        xf = x if x.dtype == torch.float32 else x.float()
        weight, bias = self.weight, self.bias
        if bias.dtype != torch.float32:
            weight, bias = (weight.float() if weight is not None else None), bias.float()
        mean, var = self.running_mean, self.running_var
        if not self.training or self.frozen:
            out = F.batch_norm(xf, mean.float(), var.float(), weight, bias, False, 0.0, self.eps)
            return out if out.dtype == x.dtype else out.to(x.dtype)
        # torch's fused kernel (forward and backward) normalises with the biased batch variance, as
        # Keras does, and updates the moving mean the Keras way (moving * (1 - m) + batch * m). Its
        # moving-variance update uses the UNBIASED batch variance v * n / (n - 1); subtracting
        # m * v / (n - 1) turns it into the Keras update with the biased v, recovered from the
        # kernel's 1 / sqrt(v + eps) (a few ulp of v + eps). Three tiny ops instead of var_mean & co.
        count = xf.numel() // xf.shape[1] if xf.shape[1] else 0
        if count > 1 and mean.dtype == torch.float32 and var.dtype == torch.float32:
            out, _, invstd = torch.native_batch_norm(xf, weight, bias, mean, var, True, self.momentum, self.eps)
            # .data: the kernel saved running_var for its backward, which reads it in eval mode only;
            # the correction must not bump its version (the kernel's own update does not either)
            var.data.sub_(invstd.detach().pow(-2).sub_(self.eps), alpha=self.momentum / (count - 1))
            return out if out.dtype == x.dtype else out.to(x.dtype)
        out, batch_mean, invstd = torch.native_batch_norm(xf, weight, bias, None, None, True, 0.0, self.eps)
        with torch.no_grad():  # one value per channel (biased variance 0) or non-fp32 moving statistics
            batch_var = invstd.pow(-2).sub_(self.eps).clamp_min_(0.0)
            mean.lerp_(batch_mean.to(mean.dtype), self.momentum)
            var.lerp_(batch_var.to(var.dtype), self.momentum)
        return out if out.dtype == x.dtype else out.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.bias.shape[0]}, momentum={self.momentum}, eps={self.eps}, scale={self.weight is not None}"


# -- advanced activations --------------------------------------------------------------------------------------
class LeakyReLU(nn.Module):
    def __init__(self, alpha: float):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        return F.leaky_relu(x, self.alpha)


class ELU(LeakyReLU):
    def forward(self, x):
        return F.elu(x, self.alpha)


class ThresholdedReLU(nn.Module):
    def __init__(self, theta: float):
        super().__init__()
        self.theta = float(theta)

    def forward(self, x):
        return x * (x > self.theta).to(x.dtype)


class PReLU(nn.Module):
    """One slope per element; ``alpha`` is stored in the channels-last (Keras) shape, init 0."""

    def __init__(self, shape: tuple):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(tuple(shape)))

    def forward(self, x):
        alpha = self.alpha.movedim(-1, 0) if self.alpha.dim() >= 2 else self.alpha
        return F.relu(x) - alpha * F.relu(-x)


# -- merges ------------------------------------------------------------------------------------------------------
MERGES = {
    "concatenate": lambda skip, x: torch.cat([skip, x], dim=1),
    "add": lambda skip, x: skip + x,
    "subtract": lambda skip, x: skip - x,
    "multiply": lambda skip, x: skip * x,
    "average": lambda skip, x: (skip + x) / 2.0,
    "maximum": torch.maximum,
}


class Merge(nn.Module):
    """Merge of (skip, current): concatenate puts the skip's channels first; subtract = skip - current.
    Inside pretrained networks: concatenations and additions of several tensors, an addition
    optionally weighted by ``scales`` (InceptionResNetV2's x + 0.17 * r)."""

    overwritable_output = True  # no merge's backward needs its output

    def __init__(self, mode: str, scales: tuple[float, ...] | None = None):
        super().__init__()
        if mode not in MERGES:
            raise ValueError(f"unknown merge mode {mode!r}")
        self.mode, self.scales = mode, tuple(scales) if scales else None

    def forward(self, *xs):
        if self.scales is not None:
            out = xs[0] * self.scales[0] if self.scales[0] != 1.0 else xs[0]
            for scale, x in zip(self.scales[1:], xs[1:]):
                out = out + x * scale
            return out
        if len(xs) == 2:
            return MERGES[self.mode](*xs)
        if self.mode == "concatenate":
            return torch.cat(xs, dim=1)
        if self.mode == "add":
            return torch.stack(xs).sum(0) if len(xs) > 4 else sum(xs[1:], xs[0])
        raise ValueError(f"merge {self.mode!r} takes two inputs, got {len(xs)}")

    def extra_repr(self) -> str:
        return self.mode + (f", scales={self.scales}" if self.scales else "")


# -- builders ------------------------------------------------------------------------------------------------------
def build_activation(spec, input_shape, activations_builders: dict | None = None):
    """``Activation:<name>``; ``activations_builders`` (the registry's) lets plugins add names."""
    table = activations_builders if activations_builders is not None else activations.BUILDERS
    name = spec["activation"]
    if name not in table:
        raise ValueError(f"no torch implementation of the activation {name!r}")
    return table[name]()


BUILDERS = {
    "Reshape": lambda spec, shape: Reshape(spec["target_shape"]),
    "Permute": lambda spec, shape: Permute(spec["dims"]),
    "Flatten": lambda spec, shape: Flatten(),
    "Dense": lambda spec, shape: Dense(shape[-1], spec["units"]),
    "Activation": build_activation,
    "Dropout": lambda spec, shape: Dropout(spec["rate"]),
    "Spatial dropout 2D": lambda spec, shape: SpatialDropout(spec["rate"]),
    "Spatial dropout 3D": lambda spec, shape: SpatialDropout(spec["rate"]),
    "Gaussian dropout": lambda spec, shape: GaussianDropout(spec["rate"]),
    "Gaussian noise": lambda spec, shape: GaussianNoise(spec["stddev"]),
    "Alpha dropout": lambda spec, shape: AlphaDropout(spec["rate"]),
    "Batch normalization": lambda spec, shape: BatchNorm(shape[-1], 1.0 - spec["momentum"], spec["epsilon"],
                                                         spec.params.get("scale", True)),
    "Leaky reLU": lambda spec, shape: LeakyReLU(spec["alpha"]),
    "ELU": lambda spec, shape: ELU(spec["alpha"]),
    "Thresholded reLU": lambda spec, shape: ThresholdedReLU(spec["theta"]),
    "PreLU": lambda spec, shape: PReLU(shape),
}
