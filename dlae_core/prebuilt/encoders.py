"""Layer lists around the 18 pretrained encoders: a classifier, a U-Net and an SSD for each.

The structures are those of the original's prebuilt catalog (``<encoder>.json``, ``<encoder>_unet.json``,
``<encoder>_ssd.json``), written for 512×512 inputs there and generated here for any input size from the
encoder's own shapes (:func:`dlae_core.layers.networks.network_shapes`):

* classifier -- the encoder without its ImageNet head, then the original's head: global average pooling and
  a softmax dense layer; VGG: flatten and two 4096-unit ReLU dense layers first; MobileNet: a 1×1
  convolution head (reshape, dropout 0.001, convolution, reshape).
* U-Net -- the encoder with ``skip_starts`` (its five taps become the skip sources), a 1024-map bottleneck
  and a decoder that resizes ×2 and merges the taps #5 … #1 in turn (concatenate), then softmax maps with
  ``classes`` channels at the input's size. See :func:`unet`.
* SSD -- the encoder with ``hook_connections``: its five taps are the predictor layers.
"""

from __future__ import annotations

import math

from dlae_core.layers.networks import KERAS_MIN_SIZE, NETWORK_NAMES, network_shapes
from dlae_core.layers.spec import ShapeError
from dlae_core.prebuilt.layers import ListBuilder, TooSmall, tup

__all__ = ["ENCODERS", "VGG", "classifier", "encoder_shapes", "ssd", "unet"]

ENCODERS: tuple[str, ...] = ("Xception", "VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2",
                             "ResNet101V2", "ResNet152V2", "ResNeXt50", "ResNeXt101", "InceptionV3",
                             "InceptionResNetV2", "DenseNet121", "DenseNet169", "DenseNet201", "MobileNet",
                             "MobileNetV2")
assert set(ENCODERS) == set(NETWORK_NAMES), "the catalog must cover every pretrained network"
VGG = ("VGG16", "VGG19")  # taps at strides 1..16 and an output at stride 32; the others: taps at 2..32


def encoder_shapes(name: str, input_shape: tuple) -> tuple[tuple, list[tuple]]:
    """(output shape, five tap shapes) of encoder ``name`` on ``input_shape``; TooSmall below the smallest
    input the network accepts (:data:`KERAS_MIN_SIZE`)."""
    if len(input_shape) != 3:
        raise ValueError(f"{name} takes a 2D input (rows, cols, channels), got {input_shape}")
    if min(input_shape[:2]) < KERAS_MIN_SIZE[name]:
        raise TooSmall(input_shape)
    try:
        return network_shapes(name, input_shape, False)
    except ShapeError:
        raise TooSmall(input_shape) from None


def _encoder(builder: ListBuilder, name: str, weights: str, *, skips: bool, hooks: bool) -> tuple[tuple, list]:
    out, taps = encoder_shapes(name, builder.input_shape)
    builder.add(f"{name}:False:{weights}:{tup(builder.input_shape)}:{skips}:{hooks}")
    builder.size, builder.channels = tuple(out[:2]), out[2]
    return out, taps


def classifier(name: str, input_shape: tuple, classes: int, weights: str) -> list[str]:
    """The encoder and the original's classification head for ``classes`` classes."""
    b = ListBuilder(input_shape)
    out, _ = _encoder(b, name, weights, skips=False, hooks=False)
    if name in VGG:
        b.add("Flatten").add("Dense:4096").act("relu").add("Dense:4096").act("relu")
    elif name == "MobileNet":
        b.add("Global average pooling 2D").add(f"Reshape:{tup((1, 1, out[2]))}").add("Dropout:0.001")
        b.add(f"Convolution 2D:{classes}:(1, 1):(1, 1):same:(1, 1):he_normal:None:None:0.0:0.0")
        b.add(f"Reshape:{tup((classes,))}").act("softmax")
        return b.layers
    else:
        b.add("Global average pooling 2D")
    return b.add(f"Dense:{classes}").act("softmax").layers


# decoder stages after the bottleneck: (resize maps, merge a tap?, convolution maps), as in the originals
_DECODER = ((512, True, (512, 512)), (512, True, (512, 512)), (512, True, (512, 512)), (256, True, (256, 256)),
            (128, True, (128,)), (64, False, (64,)))
_DECODER_VGG = ((512, True, (512, 512)), (512, True, (512, 512)), (256, True, (256, 256)), (128, True, (128,)),
                (64, True, (64,)))


def unet(name: str, input_shape: tuple, classes: int, weights: str) -> list[str]:
    """The encoder's U-Net: output (rows, cols, classes) for any input size the encoder accepts.

    Sizes: the taps #k sit at ``ceil(n / 2**k)`` (VGG: ``n // 2**(k-1)``, pooled) and the encoder output at
    the tap #5 level (VGG: one pooling below it). The bottleneck is one level below tap #5: the encoder
    output is fitted to twice that level's size (zero padding, split as the original pads the Inception
    outputs 14 → 16 at 512) and max-pooled (VGG: used as it is). Each decoder stage resizes ×2, which meets
    the next tap up to one pixel (the division rounded); that pixel is cropped or zero-padded at the bottom /
    right before the merge. A last ×2 stage (not VGG) reaches the input size the same way."""
    b = ListBuilder(input_shape)
    _, taps = _encoder(b, name, weights, skips=True, hooks=False)
    b.sources = [tuple(t[:2]) for t in taps]  # #1 .. #5, so #5 merges first
    if name not in VGG:
        level5 = b.sources[-1]
        b.fit([2 * math.ceil(s / 2) for s in level5], centre=True).pool(2)
    for _ in range(3):
        b.cbr(1024)
    for resize_maps, merge, conv_maps in (_DECODER_VGG if name in VGG else _DECODER):
        b.resize(resize_maps).bn().act("relu")
        if merge:
            b.target()
        else:
            b.fit(input_shape[:2])
        for maps in conv_maps:
            b.cbr(maps)
    b.conv(classes).bn().act("softmax")
    assert b.size == tuple(input_shape[:2]) and not b.sources, (name, input_shape, b.size, b.sources)
    return b.layers


def ssd(name: str, input_shape: tuple, classes: int, weights: str) -> list[str]:
    """The encoder with its five taps as the SSD predictor layers (the main path is not used)."""
    b = ListBuilder(input_shape)
    _encoder(b, name, weights, skips=False, hooks=True)
    return b.layers
