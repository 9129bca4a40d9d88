"""Framework-free shapes and weight counts of the 18 pretrained encoders.

The architectures are the keras-applications ones (default width multipliers, channels last,
``pooling=None``, ``classes=1000``), walked layer by layer in :mod:`.network_specs`; the numbers were
checked against Keras 3 (TensorFlow 2.21) ``keras.applications`` models built with ``weights=None``.

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
* ResNeXt50/101 are not in Keras 3; they follow keras-applications 1.0.7 (32 groups, widths
  128/256/512/1024, output 2048).  Their grouped 3×3 convolution is counted as a real grouped convolution;
  keras-applications emulated it with a DepthwiseConv2D (the same trainable count) followed by a frozen
  0/1 1×1 convolution ``*_2_gconv`` (width × width/32 × width extra non-trainable weights), which is not
  counted here.
* Only sizes that reach 0 are rejected; Keras additionally refuses inputs under :data:`KERAS_MIN_SIZE`.
"""

from __future__ import annotations

import math
from functools import lru_cache

from dlae_core.layers.network_specs import ARCHITECTURES, Walker
from dlae_core.layers.spec import ShapeError

__all__ = ["NETWORK_NAMES", "KERAS_MIN_SIZE", "network_shapes", "network_param_counts",
           "tap_extra_param_counts", "tap_paddings"]

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


@lru_cache(maxsize=256)
def _walk(name: str, shape: tuple[int, int, int], keep_heads: bool) -> tuple[tuple, tuple, int, int]:
    walk, _, relu_taps = ARCHITECTURES[name]
    b = Walker(name, relu_taps)
    out = walk(b, shape, keep_heads)
    assert len(b.taps) == 5, (name, b.taps)
    return out, tuple(b.taps), b.trainable, b.non_trainable


def tap_paddings(name: str, input_shape) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Zero padding ((top, bottom), (left, right)) applied to each tap #1..#5 (see the module docstring)."""
    shape = _check(name, input_shape)
    taps = _walk(name, shape, False)[1]
    pads = []
    for k, tap in enumerate(taps, start=1):
        pair = []
        for n, size in zip(shape[:2], tap[:2]):
            d = 0 if name in _UNPADDED else max(math.ceil(n / 2 ** k) - size, 0)
            pair.append((d - d // 2, d // 2))
        pads.append(tuple(pair))
    return pads


def network_shapes(name: str, input_shape, keep_heads: bool) -> tuple[tuple, list[tuple]]:
    """(output shape, [tap #1..#5 shapes after padding]) for the network applied to ``input_shape``.

    Shapes have no batch axis; the output is (rows, cols, channels), or (1000,) with ``keep_heads``.
    Raises ShapeError for a wrong rank or an input too small for the network."""
    shape = _check(name, input_shape)
    out, taps, _, _ = _walk(name, shape, bool(keep_heads))
    padded = [(t[0] + sum(ph), t[1] + sum(pw), t[2]) for t, (ph, pw) in zip(taps, tap_paddings(name, shape))]
    return out, padded


def network_param_counts(name: str, input_shape, keep_heads: bool) -> tuple[int, int]:
    """(trainable, non-trainable) weights of the network itself, as Keras counts them (BatchNorm moving
    mean / variance are non-trainable)."""
    _, _, trainable, non_trainable = _walk(name, _check(name, input_shape), bool(keep_heads))
    return trainable, non_trainable


def tap_extra_param_counts(name: str, input_shape) -> tuple[int, int]:
    """(trainable, non-trainable) weights added by tap processing: the ResNet-V2 family's new
    BatchNormalization on tap #1 (gamma, beta / moving mean, variance); (0, 0) for the others."""
    shape = _check(name, input_shape)
    if name.startswith("ResNet") and name.endswith("V2"):
        channels = _walk(name, shape, False)[1][0][2]
        return 2 * channels, 2 * channels
    return 0, 0
