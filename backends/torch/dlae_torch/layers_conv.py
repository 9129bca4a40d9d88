"""Torch builders of the convolution-family and pooling layer types (internal layout: N, C, spatial...).

Keras/TensorFlow conventions reproduced: 'same' padding puts the odd extra pixel at the end
(bottom/right/back); transposed convolutions have Keras output sizes and TF's cropping; separable
convolution = depthwise (bias-free) + pointwise (with bias); kernels are drawn in their Keras shape.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dlae_torch.initializers import conv_to_torch, depthwise_to_torch, init_kernel
from dlae_torch.layers import Regularized


def same_pads(sizes, kernel, stride, dilation) -> tuple[tuple[int, int], ...]:
    """TensorFlow 'same' padding per spatial axis: (before, after) with the extra pixel after."""
    pads = []
    for n, k, s, d in zip(sizes, kernel, stride, dilation):
        effective = d * (k - 1) + 1
        total = max((math.ceil(n / s) - 1) * s + effective - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def torch_pad(pads) -> list[int]:
    """((before, after) per axis, first axis first) -> F.pad's flat list (last axis first)."""
    return [v for pair in reversed(pads) for v in pair]


def apply_pads(x: torch.Tensor, pads) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Symmetric pads go to the convolution itself; asymmetric ones are applied explicitly."""
    if all(a == b for a, b in pads):
        return x, tuple(a for a, _ in pads)
    return F.pad(x, torch_pad(pads)), (0,) * len(pads)


def upsample_nearest(x: torch.Tensor, factors) -> torch.Tensor:
    """Exact nearest-neighbour upsampling by integer factors (each value repeated) with torch's
    upsampling kernels (forward and backward several times faster on CPU than a broadcast view, whose
    backward is a strided sum). Factors of 1 and 2 take "nearest" (exact index arithmetic: identity
    or a shift); other factors "nearest-exact", whose source index floor((i + 0.5) / f) stays at least
    0.5 / f away from a rounding boundary, so it is exact too. Both backwards are deterministic."""
    factors = tuple(int(f) for f in factors)
    if all(f == 1 for f in factors):
        return x
    mode = "nearest" if all(f in (1, 2) for f in factors) else "nearest-exact"
    return F.interpolate(x, scale_factor=tuple(float(f) for f in factors), mode=mode)


_CONV = {2: F.conv2d, 3: F.conv3d}
_CONV_T = {2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _option(spec, name: str, default):
    """A network option of a built-in layer (``dlae_core.layers.builtin.convolution.option``)."""
    return spec.params.get(name, default)


def _bias(spec, size: int) -> nn.Parameter | None:
    return nn.Parameter(torch.zeros(size)) if _option(spec, "use_bias", True) else None


class Conv(Regularized, nn.Module):
    """Convolution 2D/3D with bias; with ``upsample`` it is the resize convolution (nearest
    upsampling, then the convolution). Pretrained networks add the options ``use_bias`` and
    ``groups`` (ResNeXt's grouped convolution)."""

    overwritable_output = True

    def __init__(self, spec, input_shape: tuple, upsample: tuple | None = None):
        super().__init__()
        self.dims = len(input_shape) - 1
        channels, filters, kernel = input_shape[-1], spec["filters"], tuple(spec["kernel"])
        self.upsample = tuple(upsample) if upsample is not None else None
        spatial = input_shape[:-1]
        if self.upsample is not None:
            spatial = tuple(n * u for n, u in zip(spatial, self.upsample))
        self.stride = tuple(spec["stride"])
        self.dilation = tuple(spec.params.get("dilation") or (1,) * self.dims)
        self.pads = (same_pads(spatial, kernel, self.stride, self.dilation) if spec["padding"] == "same"
                     else ((0, 0),) * self.dims)
        self.groups = _option(spec, "groups", 1)
        self.weight = nn.Parameter(torch.empty(filters, channels // self.groups, *kernel))
        self.bias = _bias(spec, filters)
        init_kernel(self.weight, spec["initializer"], kernel + (channels // self.groups, filters), conv_to_torch)
        self.setup_regularizers(spec)
        # the padding the convolution takes itself when 'same' is symmetric (decided once, not per call)
        self.symmetric = all(a == b for a, b in self.pads)
        self.conv_padding = tuple(a for a, _ in self.pads)

    def forward(self, x):
        if self.upsample is not None:
            x = upsample_nearest(x, self.upsample)
        x, padding = (x, self.conv_padding) if self.symmetric else apply_pads(x, self.pads)
        out = _CONV[self.dims](x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)
        return self.record_activity(out)

    def extra_repr(self) -> str:
        up = f", upsample={self.upsample}" if self.upsample else ""
        return (f"{self.weight.shape[1]}, {self.weight.shape[0]}, kernel={tuple(self.weight.shape[2:])}, "
                f"stride={self.stride}, pads={self.pads}, dilation={self.dilation}{up}")


class TransposeConv(Regularized, nn.Module):
    """Transposed convolution with Keras output sizes ('same': n * s; 'valid': n * s + max(k - s, 0))."""

    overwritable_output = True  # y[crop] + bias: a new tensor, backward needs no output

    def __init__(self, spec, input_shape: tuple):
        super().__init__()
        self.dims = len(input_shape) - 1
        channels, filters, kernel = input_shape[-1], spec["filters"], tuple(spec["kernel"])
        self.stride, self.dilation = tuple(spec["stride"]), tuple(spec["dilation"])
        self.crops = []  # per axis: (start, length of the Keras output, padding after the full output)
        for n, k, s, d in zip(input_shape[:-1], kernel, self.stride, self.dilation):
            effective = d * (k - 1) + 1
            full = (n - 1) * s + effective
            target = n * s if spec["padding"] == "same" else n * s + max(effective - s, 0)
            start = (full - target) // 2 if full > target else 0
            self.crops.append((start, target, max(target - full, 0)))
        # torch weight (in, out, k...) = Keras kernel (k..., out, in) rearranged
        self.weight = nn.Parameter(torch.empty(channels, filters, *kernel))
        self.bias = nn.Parameter(torch.zeros(filters))
        init_kernel(self.weight, spec["initializer"], kernel + (filters, channels), conv_to_torch)
        self.setup_regularizers(spec)

    def forward(self, x):
        y = _CONV_T[self.dims](x, self.weight, None, self.stride, 0, 0, 1, self.dilation)
        extra = [(0, after) for _, _, after in self.crops]
        if any(after for _, after in extra):
            y = F.pad(y, torch_pad(extra))
        index = (slice(None), slice(None)) + tuple(slice(a, a + n) for a, n, _ in self.crops)
        y = y[index]
        out = y + self.bias.view((1, -1) + (1,) * self.dims)
        return self.record_activity(out)


class SeparableConv(Regularized, nn.Module):
    """Depthwise k x k (multiplier 1, no bias) then pointwise 1 x 1 with bias; initializer and
    kernel regularizer apply to both kernels."""

    overwritable_output = True

    def __init__(self, spec, input_shape: tuple):
        super().__init__()
        channels, filters, kernel = input_shape[-1], spec["filters"], tuple(spec["kernel"])
        self.stride, self.dilation = tuple(spec["stride"]), tuple(spec["dilation"])
        self.pads = (same_pads(input_shape[:-1], kernel, self.stride, self.dilation)
                     if spec["padding"] == "same" else ((0, 0), (0, 0)))
        self.depthwise_weight = nn.Parameter(torch.empty(channels, 1, *kernel))
        self.pointwise_weight = nn.Parameter(torch.empty(filters, channels, 1, 1))
        self.bias = _bias(spec, filters)
        init_kernel(self.depthwise_weight, spec["initializer"], kernel + (channels, 1), depthwise_to_torch)
        init_kernel(self.pointwise_weight, spec["initializer"], (1, 1, channels, filters), conv_to_torch)
        self.setup_regularizers(spec)

    def regularized_kernels(self) -> list:
        return [self.depthwise_weight, self.pointwise_weight]

    def forward(self, x):
        x, padding = apply_pads(x, self.pads)
        y = F.conv2d(x, self.depthwise_weight, None, self.stride, padding, self.dilation, x.shape[1])
        return self.record_activity(F.conv2d(y, self.pointwise_weight, self.bias))


class DepthwiseConv(Regularized, nn.Module):
    """Depthwise k x k convolution with depth multiplier ``filters`` and bias
    (output channel c * filters + m comes from input channel c, as in Keras)."""

    overwritable_output = True

    def __init__(self, spec, input_shape: tuple):
        super().__init__()
        channels, mult, kernel = input_shape[-1], spec["filters"], tuple(spec["kernel"])
        self.stride = tuple(spec["stride"])
        self.pads = (same_pads(input_shape[:-1], kernel, self.stride, (1, 1))
                     if spec["padding"] == "same" else ((0, 0), (0, 0)))
        self.weight = nn.Parameter(torch.empty(channels * mult, 1, *kernel))
        self.bias = _bias(spec, channels * mult)
        init_kernel(self.weight, spec["initializer"], kernel + (channels, mult), depthwise_to_torch)
        self.setup_regularizers(spec)

    def forward(self, x):
        x, padding = apply_pads(x, self.pads)
        out = F.conv2d(x, self.weight, self.bias, self.stride, padding, 1, x.shape[1])
        return self.record_activity(out)


class Upsample(nn.Module):
    def __init__(self, size: tuple):
        super().__init__()
        self.size = tuple(size)

    def forward(self, x):
        return upsample_nearest(x, self.size)


class ZeroPad(nn.Module):
    def __init__(self, pads):
        super().__init__()
        self.pads = tuple(tuple(p) for p in pads)

    def forward(self, x):
        return F.pad(x, torch_pad(self.pads))


class Crop(nn.Module):
    def __init__(self, crops):
        super().__init__()
        self.crops = tuple(tuple(c) for c in crops)

    def forward(self, x):
        index = (slice(None), slice(None)) + tuple(
            slice(a, x.shape[axis] - b) for axis, (a, b) in enumerate(self.crops, start=2))
        return x[index]


class Pool(nn.Module):
    """Max or average pooling; stride None means the pool size. 'valid' padding, or (pretrained
    networks) 'same' with Keras' rule: max ignores the padding, average divides by the number of
    values inside the input."""

    overwritable_output = True  # max pooling's backward uses its input and indices

    def __init__(self, kind: str, pool: tuple, stride: tuple | None, input_shape: tuple = (), padding="valid"):
        super().__init__()
        self.kind, self.pool = kind, tuple(pool)
        self.stride = tuple(stride) if stride is not None else self.pool
        self.pads = (same_pads(input_shape[:-1], self.pool, self.stride, (1,) * len(self.pool))
                     if padding == "same" else ((0, 0),) * len(self.pool))
        self.symmetric = all(a == b for a, b in self.pads)

    def forward(self, x):
        dims = x.dim() - 2
        fn = getattr(F, f"{self.kind}_pool{dims}d")
        if not any(a or b for a, b in self.pads):
            return fn(x, self.pool, self.stride)
        if self.symmetric:  # torch pads max pooling with -inf and can leave padding out of the average
            extra = {"count_include_pad": False} if self.kind == "avg" else {}
            return fn(x, self.pool, self.stride, tuple(a for a, _ in self.pads), **extra)
        if self.kind == "max":
            return fn(F.pad(x, torch_pad(self.pads), value=float("-inf")), self.pool, self.stride)
        total = fn(F.pad(x, torch_pad(self.pads)), self.pool, self.stride)
        inside = fn(F.pad(torch.ones_like(x[:1, :1]), torch_pad(self.pads)), self.pool, self.stride)
        return total / inside

    def extra_repr(self) -> str:
        return f"{self.kind}, pool={self.pool}, stride={self.stride}"


class GlobalPool(nn.Module):
    """Max or mean over all spatial axes -> (N, C)."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, x):
        axes = tuple(range(2, x.dim()))
        return x.amax(dim=axes) if self.kind == "max" else x.mean(dim=axes)

    def extra_repr(self) -> str:
        return self.kind


BUILDERS = {
    "Convolution 2D": lambda spec, shape: Conv(spec, shape),
    "Convolution 3D": lambda spec, shape: Conv(spec, shape),
    "Resize convolution 2D": lambda spec, shape: Conv(spec, shape, upsample=spec["upsample"]),
    "Resize convolution 3D": lambda spec, shape: Conv(spec, shape, upsample=spec["upsample"]),
    "Transpose convolution 2D": lambda spec, shape: TransposeConv(spec, shape),
    "Transpose convolution 3D": lambda spec, shape: TransposeConv(spec, shape),
    "Separable convolution 2D": lambda spec, shape: SeparableConv(spec, shape),
    "Depthwise separable convolution 2D": lambda spec, shape: DepthwiseConv(spec, shape),
    "Upsample 2D": lambda spec, shape: Upsample(spec["size"]),
    "Upsample 3D": lambda spec, shape: Upsample(spec["size"]),
    "Zero padding 2D": lambda spec, shape: ZeroPad(spec["padding"]),
    "Zero padding 3D": lambda spec, shape: ZeroPad(spec["padding"]),
    "Cropping 2D": lambda spec, shape: Crop(spec["cropping"]),
    "Cropping 3D": lambda spec, shape: Crop(spec["cropping"]),
    "Max pooling 2D": lambda spec, shape: Pool("max", spec["pool"], spec["stride"], shape,
                                                   _option(spec, "padding", "valid")),
    "Max pooling 3D": lambda spec, shape: Pool("max", spec["pool"], spec["stride"], shape,
                                                   _option(spec, "padding", "valid")),
    "Average pooling 2D": lambda spec, shape: Pool("avg", spec["pool"], spec["stride"], shape,
                                                   _option(spec, "padding", "valid")),
    "Average pooling 3D": lambda spec, shape: Pool("avg", spec["pool"], spec["stride"], shape,
                                                   _option(spec, "padding", "valid")),
    "Global max pooling 2D": lambda spec, shape: GlobalPool("max"),
    "Global max pooling 3D": lambda spec, shape: GlobalPool("max"),
    "Global average pooling 2D": lambda spec, shape: GlobalPool("avg"),
    "Global average pooling 3D": lambda spec, shape: GlobalPool("avg"),
}
