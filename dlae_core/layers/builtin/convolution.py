"""Convolution-family layer types (2D and 3D): shapes and weight counts."""

from __future__ import annotations

import math

from dlae_core.config.values import Choice, Float, Int
from dlae_core.layers.kinds import INITIALIZERS, Dilation, IntTuple, Pads, Regularizer
from dlae_core.layers.spec import LayerSpec, LayerType, Param, ShapeError

PADDING = Choice(("same", "valid"))


def conv_length(size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    """Output length of a convolution or pooling window along one axis (Keras rules)."""
    if padding == "same":
        return math.ceil(size / stride)
    effective = dilation * (kernel - 1) + 1
    return (size - effective) // stride + 1


def transpose_length(size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis (Keras rules)."""
    effective = kernel + (kernel - 1) * (dilation - 1)
    if padding == "same":
        return size * stride
    return size * stride + max(effective - stride, 0)


def option(spec: LayerSpec, name: str, default):
    """A network option of a built-in layer: set by the core when it expands a pretrained network
    (``use_bias``, ``groups``, ``scale``, pooling ``padding``), never written in a layer string."""
    return spec.params.get(name, default)


def _conv_params(dims: int, upsample: bool = False, dilation: bool = True) -> tuple[Param, ...]:
    k = "(3, 3)" if dims == 2 else "(3, 3, 3)"
    ones = (1,) * dims
    params = [
        Param("filters", Int(minimum=1), 64, "number of output feature maps"),
        Param("kernel", IntTuple(dims), (3,) * dims, f"kernel size, e.g. {k}"),
        Param("stride", IntTuple(dims), ones, "strides"),
    ]
    if upsample:
        params.append(Param("upsample", IntTuple(dims), (2,) * dims, "nearest-neighbour upsampling factors"))
    params.append(Param("padding", PADDING, "same", "'same' or 'valid'"))
    if dilation:
        params.append(Param("dilation", Dilation(dims), ones, "dilation rate (None = 1)"))
    params += [
        Param("initializer", Choice(INITIALIZERS), "he_normal", "kernel initializer"),
        Param("kernel_regularizer", Regularizer(), None, "penalty on the kernel weights"),
        Param("activity_regularizer", Regularizer(), None, "penalty on the layer output"),
        Param("l1", Float(minimum=0.0), 0.001, "L1 coefficient of the regularizers"),
        Param("l2", Float(minimum=0.0), 0.001, "L2 coefficient of the regularizers"),
    ]
    return tuple(params)


class Convolution(LayerType):
    family = "convolution"
    transpose = False

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        self.check_rank(shape)
        spatial = self.spatial_input(shape, spec)
        length = transpose_length if self.transpose else conv_length
        out = tuple(
            length(size, k, s, spec["padding"], d)
            for size, k, s, d in zip(spatial, spec["kernel"], spec["stride"], spec["dilation"])
        )
        if any(n <= 0 for n in out):
            raise ShapeError(f"{self.name} with kernel {spec['kernel']} and padding "
                             f"'{spec['padding']}' does not fit the input {shape}")
        if any(d > 1 for d in spec["dilation"]) and any(s > 1 for s in spec["stride"]):
            raise ShapeError(f"{self.name} cannot combine a dilation {spec['dilation']} with a stride {spec['stride']}")
        groups = option(spec, "groups", 1)
        if shape[-1] % groups or self.out_channels(shape, spec) % groups:
            raise ShapeError(f"{self.name} with {groups} groups needs input channels ({shape[-1]}) and filters "
                             f"({self.out_channels(shape, spec)}) divisible by {groups}")
        return out + (self.out_channels(shape, spec),)

    def spatial_input(self, shape: tuple, spec: LayerSpec) -> tuple:
        return shape[:-1]

    def out_channels(self, shape: tuple, spec: LayerSpec) -> int:
        return spec["filters"]

    def param_counts(self, shape: tuple, spec: LayerSpec) -> tuple[int, int]:
        filters, groups = spec["filters"], option(spec, "groups", 1)
        bias = filters if option(spec, "use_bias", True) else 0
        return (math.prod(spec["kernel"]) * (shape[-1] // groups) * filters + bias, 0)


class Convolution2D(Convolution):
    name = "Convolution 2D"
    rank = 2
    params = _conv_params(2)
    doc = "2D convolution with bias, linear output."


class Convolution3D(Convolution):
    name = "Convolution 3D"
    rank = 3
    params = _conv_params(3)
    doc = "3D convolution with bias, linear output."


class TransposeConvolution2D(Convolution):
    name = "Transpose convolution 2D"
    rank = 2
    transpose = True
    params = _conv_params(2)
    doc = "Transposed 2D convolution; 'same' output = input x stride."


class TransposeConvolution3D(Convolution):
    name = "Transpose convolution 3D"
    rank = 3
    transpose = True
    params = _conv_params(3)
    doc = "Transposed 3D convolution."


class ResizeConvolution(Convolution):
    def spatial_input(self, shape: tuple, spec: LayerSpec) -> tuple:
        return tuple(n * u for n, u in zip(shape[:-1], spec["upsample"]))


class ResizeConvolution2D(ResizeConvolution):
    name = "Resize convolution 2D"
    rank = 2
    params = _conv_params(2, upsample=True)
    doc = "Nearest-neighbour upsampling by `upsample`, then a 2D convolution."


class ResizeConvolution3D(ResizeConvolution):
    name = "Resize convolution 3D"
    rank = 3
    params = _conv_params(3, upsample=True)
    doc = "Nearest-neighbour upsampling by `upsample`, then a 3D convolution."


class SeparableConvolution2D(Convolution):
    name = "Separable convolution 2D"
    rank = 2
    params = _conv_params(2)
    doc = ("Depthwise k x k convolution per input channel, then a 1x1 pointwise convolution to "
           "`filters` maps; initializer and regularizers apply to both kernels.")

    def param_counts(self, shape: tuple, spec: LayerSpec) -> tuple[int, int]:
        channels, filters = shape[-1], spec["filters"]
        bias = filters if option(spec, "use_bias", True) else 0
        return (math.prod(spec["kernel"]) * channels + channels * filters + bias, 0)


class DepthwiseConvolution2D(Convolution):
    name = "Depthwise separable convolution 2D"
    rank = 2
    params = tuple(p for p in _conv_params(2, dilation=False))
    doc = ("Depthwise k x k convolution with depth multiplier `filters` "
           "(output channels = input channels x filters).")

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        return super().output_shape(shape, LayerSpec(spec.type, {**spec.params, "dilation": (1, 1)}))

    def out_channels(self, shape: tuple, spec: LayerSpec) -> int:
        return shape[-1] * spec["filters"]

    def param_counts(self, shape: tuple, spec: LayerSpec) -> tuple[int, int]:
        out = shape[-1] * spec["filters"]
        return (math.prod(spec["kernel"]) * out + (out if option(spec, "use_bias", True) else 0), 0)


class Upsample(LayerType):
    family = "convolution"

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        self.check_rank(shape)
        return tuple(n * f for n, f in zip(shape[:-1], spec["size"])) + (shape[-1],)


class Upsample2D(Upsample):
    name = "Upsample 2D"
    rank = 2
    params = (Param("size", IntTuple(2), (2, 2), "integer upsampling factors"),)
    doc = "Nearest-neighbour upsampling."


class Upsample3D(Upsample):
    name = "Upsample 3D"
    rank = 3
    params = (Param("size", IntTuple(3), (2, 2, 2), "integer upsampling factors"),)
    doc = "Nearest-neighbour 3D upsampling."


class ZeroPadding(LayerType):
    family = "convolution"
    sign = 1

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        self.check_rank(shape)
        pads = spec[self.params[0].name]
        out = tuple(n + self.sign * (a + b) for n, (a, b) in zip(shape[:-1], pads))
        if any(n <= 0 for n in out):
            raise ShapeError(f"{self.name} {pads} removes the whole input {shape}")
        return out + (shape[-1],)


class ZeroPadding2D(ZeroPadding):
    name = "Zero padding 2D"
    rank = 2
    params = (Param("padding", Pads(2), ((1, 1), (1, 1)), "int, (rows, cols) or ((top, bottom), (left, right))"),)
    doc = "Pads rows and columns with zeros."


class ZeroPadding3D(ZeroPadding):
    name = "Zero padding 3D"
    rank = 3
    params = (Param("padding", Pads(3), ((1, 1), (1, 1), (1, 1)), "int, 3 ints or 3 (before, after) pairs"),)
    doc = "Pads the three spatial axes with zeros."


class Cropping2D(ZeroPadding):
    name = "Cropping 2D"
    rank = 2
    sign = -1
    params = (Param("cropping", Pads(2), ((0, 0), (0, 0)), "int, (rows, cols) or ((top, bottom), (left, right))"),)
    doc = "Crops rows and columns."


class Cropping3D(ZeroPadding):
    name = "Cropping 3D"
    rank = 3
    sign = -1
    params = (Param("cropping", Pads(3), ((0, 0), (0, 0), (0, 0)), "int, 3 ints or 3 (before, after) pairs"),)
    doc = "Crops the three spatial axes."


LAYER_TYPES = (
    Convolution2D, Convolution3D, SeparableConvolution2D, DepthwiseConvolution2D,
    TransposeConvolution2D, TransposeConvolution3D, ResizeConvolution2D, ResizeConvolution3D,
    Upsample2D, Upsample3D, ZeroPadding2D, ZeroPadding3D, Cropping2D, Cropping3D,
)
