"""Keras builders of the convolution-family and pooling layer types (channels-last, like the IR).

These are the conventions the torch backend reproduces: 'same' padding puts the odd extra pixel
at the end; transposed convolutions have Keras output sizes ('same': n * s, 'valid':
n * s + max(k - s, 0)); separable convolution = depthwise (multiplier 1, no bias) + pointwise
(with bias), initializer and kernel regularizer on both kernels; depthwise output channel
c * multiplier + m comes from input channel c; pooling is 'valid' with stride None = pool size.
The convolution classes are the Keras ones plus :class:`ActivityPenalty` (activity penalties not
divided by the batch size); the resize convolution is nearest upsampling followed by the convolution
inside one layer, so its weights are the plain ``kernel`` and ``bias``.
"""

from __future__ import annotations

from dlae_tensorflow import require_tensorflow_keras
from dlae_tensorflow.initializers import initializer, regularizer
from dlae_tensorflow.layers import CHANNELS_LAST, ActivityPenalty

keras = require_tensorflow_keras()
ops = keras.ops


class Conv2D(ActivityPenalty, keras.layers.Conv2D):
    pass


class Conv3D(ActivityPenalty, keras.layers.Conv3D):
    pass


class Conv2DTranspose(ActivityPenalty, keras.layers.Conv2DTranspose):
    pass


class Conv3DTranspose(ActivityPenalty, keras.layers.Conv3DTranspose):
    pass


class SeparableConv2D(ActivityPenalty, keras.layers.SeparableConv2D):
    pass


class DepthwiseConv2D(ActivityPenalty, keras.layers.DepthwiseConv2D):
    pass


def upsample_nearest(x, factors):
    """Nearest-neighbour upsampling of a channels-last tensor by integer factors (each value repeated),
    as keras.layers.UpSampling2D/3D does."""
    for axis, factor in enumerate(factors, start=1):
        if factor != 1:
            x = ops.repeat(x, int(factor), axis=axis)
    return x


def _upsampled(input_shape, factors) -> tuple:
    spatial = tuple(None if n is None else n * f for n, f in zip(input_shape[1:-1], factors))
    return (input_shape[0],) + spatial + (input_shape[-1],)


class _Resize:
    """Mixin: nearest upsampling by ``upsample`` before the convolution of the base class."""

    def __init__(self, upsample, **kwargs):
        super().__init__(**kwargs)
        self.upsample = tuple(int(f) for f in upsample)

    def build(self, input_shape):
        super().build(_upsampled(input_shape, self.upsample))

    def compute_output_shape(self, input_shape):
        return super().compute_output_shape(_upsampled(input_shape, self.upsample))

    def call(self, inputs, *args, **kwargs):
        return super().call(upsample_nearest(inputs, self.upsample), *args, **kwargs)

    def get_config(self):
        return {**super().get_config(), "upsample": self.upsample}


class ResizeConv2D(_Resize, Conv2D):
    pass


class ResizeConv3D(_Resize, Conv3D):
    pass


def _conv_kwargs(spec, kernel_keys=("kernel",)) -> dict:
    """Keras keyword arguments shared by the convolution family (initializer and kernel regularizer
    on every kernel named in ``kernel_keys``)."""
    params = spec.params
    reg = regularizer(params.get("kernel_regularizer"), params.get("l1", 0.0), params.get("l2", 0.0))
    # use_bias: an option of pretrained networks (dlae_core.layers.builtin.convolution.option)
    kwargs = {"kernel_size": tuple(spec["kernel"]), "strides": tuple(spec["stride"]), "padding": spec["padding"],
              "data_format": CHANNELS_LAST, "use_bias": params.get("use_bias", True), "bias_initializer": "zeros"}
    for key in kernel_keys:
        kwargs[f"{key}_initializer"] = initializer(spec["initializer"])
        kwargs[f"{key}_regularizer"] = reg
    if params.get("dilation") is not None:
        kwargs["dilation_rate"] = tuple(spec["dilation"])
    return kwargs


def _with_activity(layer, spec):
    layer.setup_activity(spec)
    return layer


def build_conv(spec, input_shape):
    cls = Conv2D if len(input_shape) == 3 else Conv3D
    groups = spec.params.get("groups", 1)  # ResNeXt's grouped convolution
    return _with_activity(cls(spec["filters"], groups=groups, **_conv_kwargs(spec)), spec)


def build_resize_conv(spec, input_shape):
    cls = ResizeConv2D if len(input_shape) == 3 else ResizeConv3D
    return _with_activity(cls(spec["upsample"], filters=spec["filters"], **_conv_kwargs(spec)), spec)


def build_transpose_conv(spec, input_shape):
    cls = Conv2DTranspose if len(input_shape) == 3 else Conv3DTranspose
    return _with_activity(cls(spec["filters"], **_conv_kwargs(spec)), spec)


def build_separable_conv(spec, input_shape):
    kwargs = _conv_kwargs(spec, ("depthwise", "pointwise"))
    return _with_activity(SeparableConv2D(spec["filters"], depth_multiplier=1, **kwargs), spec)


def build_depthwise_conv(spec, input_shape):
    kwargs = _conv_kwargs(spec, ("depthwise",))
    kwargs.pop("dilation_rate", None)
    return _with_activity(DepthwiseConv2D(depth_multiplier=spec["filters"], **kwargs), spec)


def build_pool(kind: str, dims: int):
    cls = {("max", 2): keras.layers.MaxPooling2D, ("max", 3): keras.layers.MaxPooling3D,
           ("avg", 2): keras.layers.AveragePooling2D, ("avg", 3): keras.layers.AveragePooling3D}[(kind, dims)]

    def build(spec, input_shape):
        stride = tuple(spec["stride"]) if spec["stride"] is not None else None  # None = pool size
        padding = spec.params.get("padding", "valid")  # 'same': an option of pretrained networks
        return cls(pool_size=tuple(spec["pool"]), strides=stride, padding=padding, data_format=CHANNELS_LAST)

    return build


def build_global_pool(kind: str, dims: int):
    cls = {("max", 2): keras.layers.GlobalMaxPooling2D, ("max", 3): keras.layers.GlobalMaxPooling3D,
           ("avg", 2): keras.layers.GlobalAveragePooling2D, ("avg", 3): keras.layers.GlobalAveragePooling3D}[
        (kind, dims)]
    return lambda spec, input_shape: cls(data_format=CHANNELS_LAST)


def _pairs(value) -> tuple:
    return tuple(tuple(int(v) for v in pair) for pair in value)


BUILDERS = {
    "Convolution 2D": build_conv,
    "Convolution 3D": build_conv,
    "Resize convolution 2D": build_resize_conv,
    "Resize convolution 3D": build_resize_conv,
    "Transpose convolution 2D": build_transpose_conv,
    "Transpose convolution 3D": build_transpose_conv,
    "Separable convolution 2D": build_separable_conv,
    "Depthwise separable convolution 2D": build_depthwise_conv,
    "Upsample 2D": lambda spec, shape: keras.layers.UpSampling2D(tuple(spec["size"]), data_format=CHANNELS_LAST,
                                                                 interpolation="nearest"),
    "Upsample 3D": lambda spec, shape: keras.layers.UpSampling3D(tuple(spec["size"]), data_format=CHANNELS_LAST),
    "Zero padding 2D": lambda spec, shape: keras.layers.ZeroPadding2D(_pairs(spec["padding"]),
                                                                      data_format=CHANNELS_LAST),
    "Zero padding 3D": lambda spec, shape: keras.layers.ZeroPadding3D(_pairs(spec["padding"]),
                                                                      data_format=CHANNELS_LAST),
    "Cropping 2D": lambda spec, shape: keras.layers.Cropping2D(_pairs(spec["cropping"]), data_format=CHANNELS_LAST),
    "Cropping 3D": lambda spec, shape: keras.layers.Cropping3D(_pairs(spec["cropping"]), data_format=CHANNELS_LAST),
    "Max pooling 2D": build_pool("max", 2),
    "Max pooling 3D": build_pool("max", 3),
    "Average pooling 2D": build_pool("avg", 2),
    "Average pooling 3D": build_pool("avg", 3),
    "Global max pooling 2D": build_global_pool("max", 2),
    "Global max pooling 3D": build_global_pool("max", 3),
    "Global average pooling 2D": build_global_pool("avg", 2),
    "Global average pooling 3D": build_global_pool("avg", 3),
}
