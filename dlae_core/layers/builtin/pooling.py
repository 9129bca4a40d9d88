"""Pooling layer types ('valid' padding, as in the original; a pretrained network's pooling may
carry the option ``padding='same'``, Keras' rule: max ignores the padding, average counts only
the values inside the input)."""

from __future__ import annotations

from dlae_core.layers.kinds import IntTuple
from dlae_core.layers.spec import LayerSpec, LayerType, Param, ShapeError
from dlae_core.layers.builtin.convolution import conv_length, option


class Pooling(LayerType):
    family = "pooling"

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        self.check_rank(shape)
        stride = spec["stride"] or spec["pool"]
        padding = option(spec, "padding", "valid")
        out = tuple(conv_length(n, p, s, padding) for n, p, s in zip(shape[:-1], spec["pool"], stride))
        if any(n <= 0 for n in out):
            raise ShapeError(f"{self.name} window {spec['pool']} is larger than the input {shape}")
        return out + (shape[-1],)


def _pool_params(dims: int) -> tuple[Param, ...]:
    two = (2,) * dims
    return (
        Param("pool", IntTuple(dims), two, "pooling window"),
        Param("stride", IntTuple(dims, allow_none=True), two, "strides (None = pool size)"),
    )


class MaxPooling2D(Pooling):
    name, rank, params, doc = "Max pooling 2D", 2, _pool_params(2), "Max pooling, 'valid' padding."


class AveragePooling2D(Pooling):
    name, rank, params, doc = "Average pooling 2D", 2, _pool_params(2), "Average pooling, 'valid' padding."


class MaxPooling3D(Pooling):
    name, rank, params, doc = "Max pooling 3D", 3, _pool_params(3), "3D max pooling, 'valid' padding."


class AveragePooling3D(Pooling):
    name, rank, params, doc = "Average pooling 3D", 3, _pool_params(3), "3D average pooling, 'valid' padding."


class GlobalPooling(LayerType):
    family = "pooling"

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        self.check_rank(shape)
        return (shape[-1],)


class GlobalMaxPooling2D(GlobalPooling):
    name, rank, doc = "Global max pooling 2D", 2, "Max over rows and columns -> (channels,)."


class GlobalAveragePooling2D(GlobalPooling):
    name, rank, doc = "Global average pooling 2D", 2, "Mean over rows and columns -> (channels,)."


class GlobalMaxPooling3D(GlobalPooling):
    name, rank, doc = "Global max pooling 3D", 3, "Max over the three spatial axes -> (channels,)."


class GlobalAveragePooling3D(GlobalPooling):
    name, rank, doc = "Global average pooling 3D", 3, "Mean over the three spatial axes -> (channels,)."


LAYER_TYPES = (
    MaxPooling2D, AveragePooling2D, MaxPooling3D, AveragePooling3D,
    GlobalMaxPooling2D, GlobalAveragePooling2D, GlobalMaxPooling3D, GlobalAveragePooling3D,
)
