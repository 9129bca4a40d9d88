"""Activation builders: ``builder() -> keras.layers.Layer`` on channels-last tensors, so softmax
normalises over the last axis. Definitions follow Keras 3 (the torch backend matches them)."""

from __future__ import annotations

from dlae_tensorflow import require_tensorflow_keras

keras = require_tensorflow_keras()
ops = keras.ops


def _softmax(x):
    return ops.softmax(x, axis=-1)


def _linear(x):
    return x


def _gelu(x):
    return ops.gelu(x, approximate=False)  # exact erf form


def _elu(x):
    return ops.elu(x, alpha=1.0)


FUNCTIONS = {
    "relu": ops.relu,
    "relu6": ops.relu6,
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
    "softmax": _softmax,
    "hard_sigmoid": ops.hard_sigmoid,  # relu6(x + 3) / 6, the Keras 3 definition
    "linear": _linear,
    "softplus": ops.softplus,
    "softsign": ops.softsign,
    "selu": ops.selu,
    "elu": _elu,
    "exponential": ops.exp,
    "swish": ops.silu,
    "gelu": _gelu,
}


def _builder(name: str):
    def build() -> keras.layers.Layer:
        return keras.layers.Activation(FUNCTIONS[name])

    build.__name__ = f"build_{name}"
    return build


BUILDERS = {name: _builder(name) for name in FUNCTIONS}
