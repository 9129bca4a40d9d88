"""Keras builders of the utility layer types, the merge layers and the activity-penalty mixin.

Builder signature: ``builder(spec: LayerSpec, input_shape: tuple) -> keras.layers.Layer`` where
``input_shape`` is the channels-last IR shape without the batch axis. Keras is natively
channels-last, so unlike the torch backend there is no internal layout to convert: every layer
sees and returns the IR layout. Keras layers are used wherever one has the dlae semantics; the
few custom layers here cover what Keras 3 lacks or defines differently.
"""

from __future__ import annotations

from dlae_tensorflow import activations, require_tensorflow_keras
from dlae_tensorflow.initializers import activity_penalty

keras = require_tensorflow_keras()
ops = keras.ops

CHANNELS_LAST = "channels_last"  # passed explicitly: a user's keras.json must not change the layout


class ActivityPenalty:
    """Mixin for Keras layers with a dlae activity regularizer.

    ``dlae_activity`` is a penalty function of the layer output (or None); each call adds it with
    ``add_loss`` *without* dividing by the batch size (Keras 3's own ``activity_regularizer``
    divides, the torch backend and dlae do not). ``model.losses`` then holds the penalties of the
    latest forward next to the kernel penalties."""

    dlae_activity = None

    def setup_activity(self, spec) -> None:
        params = spec.params
        self.dlae_activity = activity_penalty(params.get("activity_regularizer"), params.get("l1", 0.0),
                                              params.get("l2", 0.0))

    def call(self, inputs, *args, **kwargs):
        outputs = super().call(inputs, *args, **kwargs)
        if self.dlae_activity is not None:
            self.add_loss(self.dlae_activity(outputs))
        return outputs


# -- custom layers ---------------------------------------------------------------------------------------------
class ThresholdedReLU(keras.layers.Layer):
    """x if x > theta else 0 (strictly greater, as Keras 2 and the torch backend; Keras 3's
    ReLU(threshold=...) keeps x == theta)."""

    def __init__(self, theta: float, **kwargs):
        super().__init__(**kwargs)
        self.theta = float(theta)

    def call(self, inputs):
        return inputs * ops.cast(ops.greater(inputs, self.theta), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "theta": self.theta}


# -- merges ------------------------------------------------------------------------------------------------------
MERGES = {
    "concatenate": lambda: keras.layers.Concatenate(axis=-1),
    "add": keras.layers.Add,
    "subtract": keras.layers.Subtract,
    "multiply": keras.layers.Multiply,
    "average": keras.layers.Average,
    "maximum": keras.layers.Maximum,
}


class WeightedSum(keras.layers.Layer):
    """sum(scale_i * input_i): InceptionResNetV2's residual x + scale * r (its CustomScaleLayer)."""

    def __init__(self, scales, **kwargs):
        super().__init__(**kwargs)
        self.scales = tuple(float(v) for v in scales)

    def call(self, inputs):
        out = inputs[0] if self.scales[0] == 1.0 else inputs[0] * self.scales[0]
        for scale, x in zip(self.scales[1:], inputs[1:]):
            out = out + x * scale
        return out

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "scales": self.scales}


def merge_layer(mode: str, scales: tuple[float, ...] | None = None) -> keras.layers.Layer:
    """Merge of [skip, current]: concatenate puts the skip's channels first; subtract = skip - current.
    Inside pretrained networks also concatenations and (``scales``: weighted) sums of several inputs."""
    if mode not in MERGES:
        raise ValueError(f"unknown merge mode {mode!r}")
    if scales:
        return WeightedSum(scales)
    return MERGES[mode]()


# -- builders ------------------------------------------------------------------------------------------------------
def build_activation(spec, input_shape, activations_builders: dict | None = None):
    """``Activation:<name>``; ``activations_builders`` (the registry's) lets plugins add names."""
    table = activations_builders if activations_builders is not None else activations.BUILDERS
    name = spec["activation"]
    if name not in table:
        raise ValueError(f"no tensorflow implementation of the activation {name!r}")
    return table[name]()


def build_dense(spec, input_shape):
    """Dense on the last axis, linear, Glorot-uniform kernel, zero bias."""
    return keras.layers.Dense(spec["units"], kernel_initializer="glorot_uniform", bias_initializer="zeros")


def build_batch_norm(spec, input_shape):
    """Keras batch normalization over the last axis (moving = moving * momentum + batch * (1 - momentum),
    biased batch variance)."""
    return keras.layers.BatchNormalization(axis=-1, momentum=float(spec["momentum"]),
                                           epsilon=float(spec["epsilon"]), scale=spec.params.get("scale", True))


def build_prelu(spec, input_shape):
    """One slope per element (no shared axes), initialised to 0."""
    return keras.layers.PReLU(alpha_initializer="zeros")


BUILDERS = {
    "Reshape": lambda spec, shape: keras.layers.Reshape(tuple(spec["target_shape"])),
    "Permute": lambda spec, shape: keras.layers.Permute(tuple(spec["dims"])),
    "Flatten": lambda spec, shape: keras.layers.Flatten(data_format=CHANNELS_LAST),
    "Dense": build_dense,
    "Activation": build_activation,
    "Dropout": lambda spec, shape: keras.layers.Dropout(float(spec["rate"])),
    "Spatial dropout 2D": lambda spec, shape: keras.layers.SpatialDropout2D(float(spec["rate"]),
                                                                            data_format=CHANNELS_LAST),
    "Spatial dropout 3D": lambda spec, shape: keras.layers.SpatialDropout3D(float(spec["rate"]),
                                                                            data_format=CHANNELS_LAST),
    "Gaussian dropout": lambda spec, shape: keras.layers.GaussianDropout(float(spec["rate"])),
    "Gaussian noise": lambda spec, shape: keras.layers.GaussianNoise(float(spec["stddev"])),
    "Alpha dropout": lambda spec, shape: keras.layers.AlphaDropout(float(spec["rate"])),
    "Batch normalization": build_batch_norm,
    "Leaky reLU": lambda spec, shape: keras.layers.LeakyReLU(negative_slope=float(spec["alpha"])),
    "ELU": lambda spec, shape: keras.layers.ELU(alpha=float(spec["alpha"])),
    "Thresholded reLU": lambda spec, shape: ThresholdedReLU(spec["theta"]),
    "PreLU": build_prelu,
}
