"""Keras 3 kernel initializers and L1/L2 regularizers (by their dlae names).

The torch backend draws its kernels in the Keras shape to match these; here Keras does it itself.
Activity penalties are applied by the layers (``dlae_tensorflow.layers.ActivityPenalty``), not by
Keras' ``activity_regularizer``, because Keras 3 divides that by the batch size and dlae does not.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlae_tensorflow import require_tensorflow_keras

keras = require_tensorflow_keras()
ops = keras.ops

INITIALIZERS = (
    "he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal", "lecun_uniform",
    "zeros", "ones", "random_normal", "random_uniform", "truncated_normal", "orthogonal",
)


def initializer(name: str) -> keras.initializers.Initializer:
    """The Keras 3 initializer called ``name`` (random_normal/uniform and truncated_normal use
    Keras' 0.05 defaults)."""
    if name not in INITIALIZERS:
        raise ValueError(f"unknown kernel initializer {name!r}")
    return keras.initializers.get(name)


def keras_kernel(name: str, shape: tuple) -> np.ndarray:
    """A kernel of Keras shape ``shape`` drawn by Keras 3's initializer ``name`` (float32)."""
    return np.asarray(initializer(name)(tuple(shape), dtype="float32"))


# -- regularizers ---------------------------------------------------------------------------------------
def regularizer(kind: str | None, l1: float, l2: float) -> Callable | None:
    """Keras L1 / L2 / L1L2 penalty (sums, never means), or None; usable as a Keras
    ``kernel_regularizer`` and as an activity penalty (see ``activity_penalty``)."""
    if kind is None:
        return None
    if kind == "l1":
        return keras.regularizers.L1(float(l1))
    if kind == "l2":
        return keras.regularizers.L2(float(l2))
    if kind == "l1_l2":
        return keras.regularizers.L1L2(l1=float(l1), l2=float(l2))
    raise ValueError(f"unknown regularizer {kind!r}")


def activity_penalty(kind: str | None, l1: float, l2: float) -> Callable | None:
    """The penalty of a layer output, computed in float32 and NOT divided by the batch size."""
    reg = regularizer(kind, l1, l2)
    if reg is None:
        return None

    def penalty(x):
        return reg(ops.cast(x, "float32"))

    return penalty
