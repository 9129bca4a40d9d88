"""Framework-free shapes and weight counts of the 18 pretrained encoders.

The architectures are the keras-applications ones (default width multipliers, channels last,
``pooling=None``, ``classes=1000``), recorded layer by layer as built-in dlae layers with Keras names
(:mod:`dlae_core.pretrained.architectures`, :mod:`dlae_core.pretrained.inception`); the graph builder
expands a pretrained layer into that recording, and both backends build it with their ordinary layer
builders. The numbers were checked against Keras 3 (TensorFlow 2.21) ``keras.applications`` models
built with ``weights=None``.

Tap points (§2.5.1).  The five skip/hook tensors #1..#5 are the layers named in the spec table (for the two
Inception networks: the 1st, 4th, 29th, 75th auto-named ReLU of InceptionV3 and the 1st, 4th, 75th, 162nd
of InceptionResNetV2, i.e. Keras 2's ``activation_N``; for the ResNet-V2 family tap #1 is ``conv1_conv``
followed by a new BatchNormalization + ReLU, whose weights :func:`tap_extra_param_counts` reports).

Tap padding rule.  The original hardcodes zero paddings that are only right for 512×512 inputs.  Here each
tap k (k = 1..5) whose spatial size is smaller than its target size ``ceil(n / 2**k)`` (n = input rows,
resp. cols) is zero-padded by ``d = target - size``: ``ceil(d / 2)`` before (top / left) and
``floor(d / 2)`` after (bottom / right).  A tap already at (or above) its target is left alone.  For a 512
input this reproduces the spec table exactly (InceptionV3 #1 255 → 256 with (1, 0), #3 61 → 64 with
(2, 1), Xception #2 127 → 128 with (1, 0), ...).  VGG taps sit at strides 1, 2, 4, 8, 16 and are never
padded.  :func:`tap_paddings` gives the amounts a backend must apply.

Notes.
* Keras 3 builds MobileNet's first convolution with ``padding='same'`` (keras-applications 1.0.7 used a
  (0, 1) zero pad + 'valid'); the two differ for odd input sizes, and this module follows Keras 3.
* ResNeXt50/101 are not in Keras 3; they follow keras-applications 1.0.8 (32 groups, widths
  128/256/512/1024, output 2048).  Their grouped 3×3 convolution is a real grouped convolution here;
  keras-applications 1.0.8 computes the same thing with a DepthwiseConv2D (depth multiplier
  width / 32, the same weights, rearranged when a weights file is read) and a weight-free sum.
* Only sizes that reach 0 are rejected; Keras additionally refuses inputs under :data:`KERAS_MIN_SIZE`.
"""

from __future__ import annotations

from functools import lru_cache

from dlae_core.layers.spec import ShapeError
from dlae_core.pretrained import architectures as a
from dlae_core.pretrained import inception
from dlae_core.pretrained.recorder import INPUT, Recorder, Recording, target_padding, tap_target

__all__ = ["NETWORK_NAMES", "KERAS_MIN_SIZE", "record_network", "network_shapes", "network_param_counts",
           "tap_extra_param_counts", "tap_paddings"]

# name -> (walk function, the smallest input Keras accepts, auto-named ReLU ordinals that are taps)
ARCHITECTURES = {
    "Xception": (inception.xception, 71, ()),
    "VGG16": (a.vgg((2, 2, 3, 3, 3)), 32, ()),
    "VGG19": (a.vgg((2, 2, 4, 4, 4)), 32, ()),
    "ResNet50": (a.resnet_v1((3, 4, 6, 3)), 32, ()),
    "ResNet101": (a.resnet_v1((3, 4, 23, 3)), 32, ()),
    "ResNet152": (a.resnet_v1((3, 8, 36, 3)), 32, ()),
    "ResNet50V2": (a.resnet_v2((3, 4, 6, 3), (3, 4, 6, 0)), 32, ()),
    "ResNet101V2": (a.resnet_v2((3, 4, 23, 3), (3, 4, 16, 0)), 32, ()),
    "ResNet152V2": (a.resnet_v2((3, 8, 36, 3), (2, 8, 36, 0)), 32, ()),
    "ResNeXt50": (a.resnext((3, 4, 6, 3)), 32, ()),
    "ResNeXt101": (a.resnext((3, 4, 23, 3)), 32, ()),
    "InceptionV3": (inception.inception_v3, 75, (1, 4, 29, 75)),
    "InceptionResNetV2": (inception.inception_resnet_v2, 75, (1, 4, 75, 162)),
    "DenseNet121": (a.densenet((6, 12, 24, 16)), 32, ()),
    "DenseNet169": (a.densenet((6, 12, 32, 32)), 32, ()),
    "DenseNet201": (a.densenet((6, 12, 48, 32)), 32, ()),
    "MobileNet": (a.mobilenet, 32, ()),
    "MobileNetV2": (a.mobilenet_v2, 32, ()),
}
NETWORK_NAMES: tuple[str, ...] = tuple(ARCHITECTURES)
KERAS_MIN_SIZE: dict[str, int] = {name: spec[1] for name, spec in ARCHITECTURES.items()}
_UNPADDED = ("VGG16", "VGG19")


def _check(name: str, input_shape) -> tuple[int, int, int]:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown pretrained network {name!r}; known: {', '.join(NETWORK_NAMES)}")
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ShapeError(f"{name} needs an input shape (rows, cols, channels), got {input_shape!r}") from None
    if len(shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape):
        raise ShapeError(f"{name} needs a 3-D input shape (rows, cols, channels) of integers, got {shape}")
    if min(shape) <= 0:
        raise ShapeError(f"{name} needs positive input sizes, got {shape}")
    return shape


def _tap_rule(name: str, shape: tuple):
    """Tap processing: the ResNet-V2 family's new BatchNormalization + ReLU on tap #1, then the zero
    padding of the module docstring."""
    prefix = name.lower()

    def rule(b: Recorder, k: int, tap: int) -> int:
        if k == 1 and name.startswith("ResNet") and name.endswith("V2"):
            tap = b.act(b.bn(tap, f"{prefix}_tap1_bn"), f"{prefix}_tap1_relu")
        if name in _UNPADDED:
            return tap
        pads = tuple(target_padding(size, tap_target(n, k)) for n, size in zip(shape[:2], b.shape(tap)[:2]))
        if any(p != (0, 0) for p in pads):
            tap = b.pad(tap, pads, f"{prefix}_tap{k}_pad")
        return tap
    return rule


@lru_cache(maxsize=64)
def _record(name: str, shape: tuple[int, int, int], keep_heads: bool) -> tuple[Recording, int, tuple]:
    walk, _, relu_taps = ARCHITECTURES[name]
    b = Recorder(name, shape, relu_taps)
    try:
        output = walk(b, INPUT, keep_heads)
    except ShapeError as exc:
        smallest = _smallest_size(name)
        raise ShapeError(f"{exc}; the smallest input {name} accepts is {smallest}×{smallest}") from None
    raw_taps = tuple(b.shape(t) for t in b.taps)
    recording = b.finish(output, _tap_rule(name, shape))
    return recording, recording.body, raw_taps


@lru_cache(maxsize=None)
def _smallest_size(name: str) -> int:
    """The smallest square input the network (without heads) can be applied to."""
    walk, _, relu_taps = ARCHITECTURES[name]
    for size in range(1, KERAS_MIN_SIZE[name] + 1):
        try:
            walk(Recorder(name, (size, size, 3), relu_taps), INPUT, False)
        except ShapeError:
            continue
        return size
    return KERAS_MIN_SIZE[name]


def record_network(name: str, input_shape, keep_heads: bool) -> Recording:
    """The network's layers (built-in dlae layers with Keras names) in creation order, its output and
    its five processed taps. Raises ShapeError for a wrong shape or an input too small."""
    return _record(name, _check(name, input_shape), bool(keep_heads))[0]


def tap_paddings(name: str, input_shape) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Zero padding ((top, bottom), (left, right)) applied to each tap #1..#5 (see the module docstring)."""
    shape = _check(name, input_shape)
    raw_taps = _record(name, shape, False)[2]
    if name in _UNPADDED:
        return [((0, 0), (0, 0))] * 5
    return [tuple(target_padding(size, tap_target(n, k)) for n, size in zip(shape[:2], tap[:2]))
            for k, tap in enumerate(raw_taps, start=1)]


def network_shapes(name: str, input_shape, keep_heads: bool) -> tuple[tuple, list[tuple]]:
    """(output shape, [tap #1..#5 shapes after padding]) for the network applied to ``input_shape``.

    Shapes have no batch axis; the output is (rows, cols, channels), or (1000,) with ``keep_heads``.
    Raises ShapeError for a wrong rank or an input too small for the network."""
    recording = record_network(name, input_shape, keep_heads)
    shape_of = recording.layers
    return shape_of[recording.output].shape, [shape_of[t].shape for t in recording.taps]


def network_param_counts(name: str, input_shape, keep_heads: bool) -> tuple[int, int]:
    """(trainable, non-trainable) weights of the network itself, as Keras counts them (BatchNorm moving
    mean / variance are non-trainable)."""
    recording, body, _ = _record(name, _check(name, input_shape), bool(keep_heads))
    layers = recording.layers[:body]
    return sum(layer.trainable for layer in layers), sum(layer.non_trainable for layer in layers)


def tap_extra_param_counts(name: str, input_shape) -> tuple[int, int]:
    """(trainable, non-trainable) weights added by tap processing: the ResNet-V2 family's new
    BatchNormalization on tap #1 (gamma, beta / moving mean, variance); (0, 0) for the others."""
    recording, body, _ = _record(name, _check(name, input_shape), False)
    layers = recording.layers[body:]
    return sum(layer.trainable for layer in layers), sum(layer.non_trainable for layer in layers)
