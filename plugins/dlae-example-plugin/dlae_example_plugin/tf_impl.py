"""TensorFlow/Keras 3 implementations of the example plugin's layer, loss and activation.

Keras tensors are channels-last inside and outside dlae's models. Weight names follow the
canonical (Keras) layout, so ``dlae check`` can copy them from the PyTorch implementation.
"""

from __future__ import annotations

from dlae_tensorflow import require_tensorflow_keras

keras = require_tensorflow_keras()
ops = keras.ops


class SqueezeExcitation(keras.layers.Layer):
    def __init__(self, ratio: int, **kwargs):
        super().__init__(**kwargs)
        self.ratio = ratio

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = max(1, channels // self.ratio)
        self.reduce = keras.layers.Dense(hidden, activation="relu", name="reduce")
        self.expand = keras.layers.Dense(channels, activation="sigmoid", name="expand")
        self.reduce.build((None, channels))
        self.expand.build((None, hidden))

    def call(self, x):
        scale = self.expand(self.reduce(ops.mean(x, axis=(1, 2))))
        return x * scale[:, None, None, :]


def build_squeeze_excitation(spec, input_shape: tuple):
    return SqueezeExcitation(spec["ratio"])


def build_log_cosh(context):
    def log_cosh(pred, target):
        diff = ops.cast(pred, "float32") - ops.reshape(ops.cast(target, "float32"), ops.shape(pred))
        return ops.mean(ops.abs(diff) + ops.log1p(ops.exp(-2.0 * ops.abs(diff))) - ops.log(2.0))

    return log_cosh


class Mish(keras.layers.Layer):
    def call(self, x):
        return x * ops.tanh(ops.softplus(x))


def build_mish():
    return Mish()
