"""Layer lists of the catalog's networks without a pretrained encoder, at any input size.

Structures of the original's ``unet2d``/``unet3d``, ``lenet5``, ``alexnet``, ``ssd`` (the SSD of its
``example_bbd``) and ``pix2pix``/``cyclegan`` prebuilt configs. Where the original assumes a size divisible
by the network's total stride, a decoder stage that meets its skip source one pixel short (a floor
division) or long (a ceil division) is zero-padded or cropped at the end of the axis before the merge.
"""

from __future__ import annotations

from dlae_core.prebuilt.layers import ListBuilder

__all__ = ["alexnet", "gan_discriminator", "gan_generator", "lenet5", "ssd", "ssd_aspect_ratios", "unet"]


def unet(input_shape: tuple, classes: int) -> list[str]:
    """The original U-Net (2D or 3D from the input's rank): four levels of two conv-BN-ReLU blocks
    (64 … 512 maps) with max pooling, a 1024-map bottleneck with dropout 0.5, resize-convolution decoder
    stages merged with the levels (concatenate), and a softmax map with ``classes`` channels."""
    b = ListBuilder(input_shape)
    for level, maps in enumerate((64, 128, 256, 512)):
        b.cbr(maps).cbr(maps).source()
        if level == 3:
            b.add("Dropout:0.5")
        b.pool(2)
    b.cbr(1024).cbr(1024).add("Dropout:0.5")
    for maps in (512, 256, 128, 64):
        b.resize(maps).bn().act("relu").target()
        b.cbr(maps).cbr(maps)
    b.conv(classes).bn().act("softmax")
    assert b.size == tuple(input_shape[:-1])
    return b.layers


def lenet5(input_shape: tuple, classes: int) -> list[str]:
    """LeNet-5 as in the original: two 5×5 convolution blocks with BN, ReLU and pooling, then dense
    layers of 120 and 84 units and a softmax over ``classes``."""
    b = ListBuilder(input_shape)
    b.conv(6, 5, padding="valid").bn().act("relu").pool(2)
    b.conv(16, 5).bn().act("relu").pool(2)
    b.add("Flatten").add("Dense:120").act("relu").add("Dense:84").act("relu")
    return b.add(f"Dense:{classes}").act("softmax").layers


def alexnet(input_shape: tuple, classes: int) -> list[str]:
    """The original's AlexNet variant: 11×11/4 and 11×11 'valid' convolutions, three 3×3 'valid' ones,
    each with BN and ReLU, three max poolings, two 4096-unit dense layers with dropout 0.4, and a dense
    layer over ``classes`` (the original ends without an activation; a softmax is added here so the
    sparse cross-entropy loss receives probabilities)."""
    b = ListBuilder(input_shape)
    b.conv(96, 11, 4, "valid").bn().act("relu").pool(2)
    b.conv(256, 11, padding="valid").bn().act("relu").pool(2)
    for maps in (384, 384, 256):
        b.conv(maps, 3, padding="valid").bn().act("relu")
    b.pool(2).add("Flatten")
    for _ in range(2):
        b.add("Dense:4096").act("relu").add("Dropout:0.4")
    return b.add(f"Dense:{classes}").act("softmax").layers


def _ssd_conv(b: ListBuilder, maps: int, kernel=3, stride=1, padding="same", dilation=1) -> ListBuilder:
    b.conv(maps, kernel, stride, padding, dilation, regularizer="l2", l2=0.0005)
    return b.act("relu")


def ssd(input_shape: tuple) -> list[str]:
    """The original's SSD (VGG-16 base, L2 5e-4 on every kernel): hooks at conv4_3 (stride 8) and fc7
    (3×3 pool with stride 1, a 3×3 convolution with dilation 6, then another 3×3 as in the original), then extra feature layers
    (1×1 convolution, zero padding 1, 3×3 stride-2 'valid' convolution) each a hook, and a last 4×4
    'valid' stage. At 512×512 this is the original's list (seven hooks: 64, 30, 15, 8, 4, 2, 1); smaller
    inputs get fewer extra stages: a stride-2 stage is added while the map has at least 3 rows and
    columns (at most four), the 4×4 stage while it has at least 2."""
    b = ListBuilder(input_shape)
    for block, (maps, count) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))):
        if block:
            b.pool(2)
        for _ in range(count):
            _ssd_conv(b, maps)
        if block == 3:
            b.add("Hook connection source")
    b.pool(3, 1)
    _ssd_conv(b, 1024, dilation=6)
    _ssd_conv(b, 1024)
    b.add("Hook connection source")
    for stage, (reduce, maps) in enumerate(((256, 512), (128, 256), (128, 256), (128, 256))):
        if min(b.size) < 3:
            break
        _ssd_conv(b, reduce, kernel=1)
        b.pad([(1, 1)] * 2)
        _ssd_conv(b, maps, stride=2, padding="valid").add("Hook connection source")
    if min(b.size) >= 2:
        _ssd_conv(b, 128, kernel=1)
        b.pad([(1, 1)] * 2)
        _ssd_conv(b, 256, kernel=4, padding="valid").add("Hook connection source")
    return b.layers


def ssd_aspect_ratios(hooks: int) -> tuple[tuple[float, ...], ...]:
    """Per-predictor-layer aspect ratios as the original's SSDs: (1, 2, 1/2) on the first and the last two
    layers, (1, 2, 1/2, 3, 1/3) on the others (seven layers: 3, 5, 5, 5, 5, 3, 3 ratios)."""
    three, five = (1.0, 2.0, 0.5), (1.0, 2.0, 0.5, 3.0, 0.333)
    return tuple(three if j == 0 or j >= hooks - 2 else five for j in range(hooks))


_GAN_DOWN = (64, 128, 256, 512, 512, 512, 512)
_GAN_UP = (512, 512, 512, 256, 128, 64)


def gan_generator(input_shape: tuple, out_channels: int) -> list[str]:
    """The original's pix2pix/cycleGAN generator: seven 4×4 stride-2 convolutions (leaky ReLU 0.2, BN with
    momentum 0.8 after the first), the first six outputs skip sources; six 4×4 resize convolutions (ReLU,
    BN) merging them back; a last resize convolution to ``out_channels`` maps with tanh, at the input size."""
    b = ListBuilder(input_shape)
    for index, maps in enumerate(_GAN_DOWN):
        b.conv(maps, 4, 2).add("Leaky reLU:0.2")
        if index:
            b.bn(0.8)
        if index < len(_GAN_DOWN) - 1:
            b.source()
    for maps in _GAN_UP:
        b.resize(maps, 4).act("relu").bn(0.8).target()
    b.resize(out_channels, 4).fit(input_shape[:-1]).act("tanh")
    assert b.size == tuple(input_shape[:-1]) and not b.sources
    return b.layers


def gan_discriminator(target_shape: tuple) -> list[str]:
    """The original's PatchGAN discriminator: four 4×4 stride-2 convolutions (leaky ReLU 0.2, BN with momentum
    0.8 after the first) and a 4×4 convolution to one map (no activation). Its Input is the target image."""
    b = ListBuilder(target_shape)
    for index, maps in enumerate((64, 128, 256, 512)):
        b.conv(maps, 4, 2).add("Leaky reLU:0.2")
        if index:
            b.bn(0.8)
    return b.conv(1, 4).layers
