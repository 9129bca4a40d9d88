"""Utility layer types: input, dense, reshape, dropout family, batch norm, activations."""

from __future__ import annotations

import math

from dlae_core.config.values import Float, Int, Shape, Text
from dlae_core.layers.kinds import Permutation, TargetShape
from dlae_core.layers.spec import LayerSpec, LayerType, Param, ShapeError, numel

RATE = Float(0.0, 1.0, max_open=True)


class Input(LayerType):
    name = "Input"
    role = "input"
    params = (Param("shape", Shape(min_rank=1, max_rank=4), (512, 512, 1), "input shape without batch axis, channels last"),)
    doc = "Graph input; must be the first entry of every layer list."


class Reshape(LayerType):
    name = "Reshape"
    params = (Param("target_shape", TargetShape(), (262144, 1), "new shape (one entry may be -1)"),)
    doc = "Reshape (total size must match)."
    example_params = {"target_shape": (-1, 3)}

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        target, total = spec["target_shape"], numel(shape)
        known = math.prod(v for v in target if v != -1)
        if -1 in target:
            if total % known:
                raise ShapeError(f"cannot reshape {shape} ({total} values) to {target}")
            return tuple(total // known if v == -1 else v for v in target)
        if known != total:
            raise ShapeError(f"cannot reshape {shape} ({total} values) to {target} ({known} values)")
        return tuple(target)


class Permute(LayerType):
    name = "Permute"
    params = (Param("dims", Permutation(), (2, 1, 3), "1-based permutation of the non-batch axes"),)
    doc = "Permute the non-batch axes."

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        dims = spec["dims"]
        if len(dims) != len(shape):
            raise ShapeError(f"Permute dims {dims} do not match the {len(shape)} axes of {shape}")
        return tuple(shape[d - 1] for d in dims)


class Flatten(LayerType):
    name = "Flatten"
    doc = "Flatten to 1-D."

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        return (numel(shape),)


class Dense(LayerType):
    name = "Dense"
    params = (Param("units", Int(minimum=1), 1024, "output units"),)
    doc = "Fully connected on the last axis, linear, Glorot-uniform kernel, zero bias."
    example_params = {"units": 5}

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        return shape[:-1] + (spec["units"],)

    def param_counts(self, shape: tuple, spec: LayerSpec) -> tuple[int, int]:
        return (shape[-1] * spec["units"] + spec["units"], 0)


class Activation(LayerType):
    name = "Activation"
    family = "activation"
    params = (Param("activation", Text(), "relu", "activation name", registry="activations"),)
    doc = "Element-wise activation; softmax over the last axis."


class Dropout(LayerType):
    name = "Dropout"
    family = "regularization"
    params = (Param("rate", RATE, 0.5, "fraction dropped"),)
    doc = "Inverted dropout, training only."


class SpatialDropout2D(LayerType):
    name, rank, family = "Spatial dropout 2D", 2, "regularization"
    params = (Param("rate", RATE, 0.5, "fraction of feature maps dropped"),)
    doc = "Drops whole 2D feature maps."

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        self.check_rank(shape)
        return shape


class SpatialDropout3D(SpatialDropout2D):
    name, rank = "Spatial dropout 3D", 3
    doc = "Drops whole 3D feature volumes."


class GaussianDropout(LayerType):
    name, family = "Gaussian dropout", "regularization"
    params = (Param("rate", RATE, 0.5, "noise rate; multiplicative N(1, rate/(1-rate))"),)
    doc = "Multiplicative Gaussian noise, training only."


class GaussianNoise(LayerType):
    name, family = "Gaussian noise", "regularization"
    params = (Param("stddev", Float(minimum=0.0), 0.1, "noise standard deviation"),)
    doc = "Additive Gaussian noise, training only."


class AlphaDropout(LayerType):
    name, family = "Alpha dropout", "regularization"
    params = (Param("rate", RATE, 0.5, "fraction dropped"),)
    doc = "Dropout that keeps SELU self-normalization."


class BatchNormalization(LayerType):
    name, family = "Batch normalization", "normalization"
    params = (
        Param("momentum", Float(0.0, 1.0), 0.99, "moving-average momentum (Keras convention)"),
        Param("epsilon", Float(minimum=0.0, min_open=True), 0.001, "variance epsilon"),
    )
    doc = "Batch normalization over the channel (last) axis with learnable scale and offset."

    def param_counts(self, shape: tuple, spec: LayerSpec) -> tuple[int, int]:
        # gamma and beta train; the moving mean and variance are non-trainable weights. Without
        # ``scale`` (an option of pretrained networks, e.g. Inception) there is no gamma.
        scaled = spec.params.get("scale", True)
        return ((2 if scaled else 1) * shape[-1], 2 * shape[-1])


class LeakyReLU(LayerType):
    name, family = "Leaky reLU", "activation"
    params = (Param("alpha", Float(minimum=0.0), 0.2, "slope for x < 0"),)
    doc = "x for x >= 0, alpha * x otherwise."


class ELU(LayerType):
    name, family = "ELU", "activation"
    params = (Param("alpha", Float(minimum=0.0), 0.2, "scale of the negative part"),)
    doc = "x for x >= 0, alpha * (exp(x) - 1) otherwise."


class ThresholdedReLU(LayerType):
    name, family = "Thresholded reLU", "activation"
    params = (Param("theta", Float(minimum=0.0), 0.2, "threshold"),)
    doc = "x if x > theta else 0."


class PReLU(LayerType):
    name, family = "PreLU", "activation"
    doc = "Parametric ReLU with one learnable slope per element (initialised to 0)."

    def param_counts(self, shape: tuple, spec: LayerSpec) -> tuple[int, int]:
        return (numel(shape), 0)


LAYER_TYPES = (
    Input, Reshape, Permute, Flatten, Dense, Activation, Dropout, SpatialDropout2D, SpatialDropout3D,
    GaussianDropout, GaussianNoise, AlphaDropout, BatchNormalization, LeakyReLU, ELU, ThresholdedReLU, PReLU,
)
