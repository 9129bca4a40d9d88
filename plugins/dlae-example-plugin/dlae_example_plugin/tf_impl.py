"""TensorFlow / Keras 3 implementations of the example plugin's layer, loss, activation and optimizer.

Imported by dlae only when the tensorflow backend uses one of them. Keras tensors are channels-last
inside and outside dlae's models. Weight names follow the canonical (Keras) layout, so ``dlae check``
can copy them from the PyTorch implementation.
"""

from __future__ import annotations

import os
import sys

if "keras" not in sys.modules:  # Keras 3 must run on TensorFlow for the tensorflow backend
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

ops = keras.ops
PACKAGE = "dlae_example_plugin"


# -- layer: builder(spec, input_shape) -> keras.layers.Layer ------------------------------------------------
@keras.saving.register_keras_serializable(package=PACKAGE)
class SqueezeExcitation(keras.layers.Layer):
    def __init__(self, ratio: int, **kwargs):
        super().__init__(**kwargs)
        self.ratio = ratio

    def build(self, input_shape):
        channels = input_shape[-1]
        hidden = max(1, channels // self.ratio)
        # the sublayers' variables are exchanged as reduce/kernel, reduce/bias, expand/kernel, expand/bias
        self.reduce = keras.layers.Dense(hidden, activation="relu", name="reduce")
        self.expand = keras.layers.Dense(channels, activation="sigmoid", name="expand")
        self.reduce.build((None, channels))
        self.expand.build((None, hidden))

    def call(self, x):
        scale = self.expand(self.reduce(ops.mean(x, axis=(1, 2))))
        return x * scale[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio}


def build_squeeze_excitation(spec, input_shape: tuple):
    return SqueezeExcitation(spec["ratio"])


# -- loss: builder(context) -> fn(prediction, target) -> scalar -----------------------------------------
def build_log_cosh(context):
    def log_cosh(pred, target):
        diff = ops.cast(pred, "float32") - ops.reshape(ops.cast(target, "float32"), ops.shape(pred))
        # log(cosh(d)) = |d| + log1p(exp(-2|d|)) - log 2, stable for large |d|
        return ops.mean(ops.abs(diff) + ops.log1p(ops.exp(-2.0 * ops.abs(diff))) - ops.log(2.0))

    return log_cosh


# -- activation: builder() -> keras.layers.Layer -----------------------------------------------------------
@keras.saving.register_keras_serializable(package=PACKAGE)
class Mish(keras.layers.Layer):
    def call(self, x):
        return x * ops.tanh(ops.softplus(x))

    def compute_output_shape(self, input_shape):
        return input_shape


def build_mish():
    return Mish()


# -- optimizer: factory(settings, None) -> keras.optimizers.Optimizer -------------------------------------------
@keras.saving.register_keras_serializable(package=PACKAGE)
class Lion(keras.optimizers.Optimizer):
    """Lion (Chen et al. 2023), the same rule as ``torch_impl.Lion``, per variable:

        update = sign(beta_1 * m + (1 - beta_1) * g)
        v      = v - lr * update          (no weight decay)
        m      = beta_2 * m + (1 - beta_2) * g

    ``learning_rate`` is the optimizer's variable, which dlae's schedules assign.
    """

    def __init__(self, learning_rate=1e-4, beta_1: float = 0.9, beta_2: float = 0.99, name: str = "lion", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not (0.0 <= beta_1 <= 1.0 and 0.0 <= beta_2 <= 1.0):
            raise ValueError(f"Lion needs beta_1 and beta_2 in [0, 1], got {beta_1}, {beta_2}")
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.momentums = [self.add_variable_from_reference(variable, "momentum") for variable in var_list]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        # The optimizer's index of the variable, as Keras' own optimizers look up their slots.
        momentum = self.momentums[self._get_variable_index(variable)]
        update = ops.sign(momentum * beta_1 + gradient * (1.0 - beta_1))
        self.assign_sub(variable, lr * update)
        self.assign(momentum, momentum * beta_2 + gradient * (1.0 - beta_2))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


def build_lion(settings, parameters=None) -> Lion:
    """Lion with the config's learning rate, beta1 and beta2 (Keras optimizers take the variables at
    their first step, so ``parameters`` is None)."""
    return Lion(learning_rate=settings.learning_rate, beta_1=settings.beta1, beta_2=settings.beta2)
