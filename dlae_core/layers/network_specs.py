"""Layer-by-layer descriptions of the 18 pretrained encoders (keras-applications layouts).

Each ``_name(b, x, top)`` function walks one architecture with a :class:`Walker`: every call applies one
Keras layer to a shape ``(rows, cols, channels)`` and adds that layer's weights to the walker's counts.
Spatial sizes follow the Keras rules (``'valid'``: ``(n - k) // s + 1``; ``'same'``: ``ceil(n / s)``).
Tap points are recorded with ``b.tap(x)`` in order #1..#5.  Pure Python.
"""

from __future__ import annotations

import math

from dlae_core.layers.spec import ShapeError

__all__ = ["ARCHITECTURES", "Walker"]


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


class Walker:
    """Applies layers to shapes, summing Keras weight counts; raises ShapeError when a size reaches 0."""

    def __init__(self, name: str, relu_taps: tuple[int, ...] = ()):
        self.name = name
        self.trainable = 0
        self.non_trainable = 0
        self.taps: list[tuple] = []
        self.relu_taps = relu_taps      # Inception nets: the N-th auto-named ReLU (1-based) is a tap
        self.relus = 0

    def _spatial(self, x, kernel, stride, padding, what: str) -> tuple[int, int]:
        out = []
        for n, k, s in zip(x[:2], _pair(kernel), _pair(stride)):
            out.append(math.ceil(n / s) if padding == "same" else (n - k) // s + 1)
        if min(out) <= 0:
            raise ShapeError(f"{self.name}: input too small, the spatial size {x[:2]} cannot pass the "
                             f"{what} (kernel {_pair(kernel)}, stride {_pair(stride)}, padding '{padding}')")
        return out[0], out[1]

    def tap(self, x):
        self.taps.append(x)
        return x

    def conv(self, x, filters, kernel, stride=1, padding="valid", bias=True, groups=1):
        kh, kw = _pair(kernel)
        self.trainable += kh * kw * (x[2] // groups) * filters + (filters if bias else 0)
        return self._spatial(x, kernel, stride, padding, "convolution") + (filters,)

    def depthwise(self, x, kernel=3, stride=1, padding="same", multiplier=1):
        kh, kw = _pair(kernel)
        self.trainable += kh * kw * x[2] * multiplier
        return self._spatial(x, kernel, stride, padding, "depthwise convolution") + (x[2] * multiplier,)

    def separable(self, x, filters, kernel=3):
        """SeparableConv2D, 'same' padding, stride 1, no bias (Xception)."""
        self.trainable += 9 * x[2] + x[2] * filters
        return x[:2] + (filters,)

    def bn(self, x, scale=True):
        self.trainable += x[2] * (2 if scale else 1)
        self.non_trainable += 2 * x[2]
        return x

    def relu(self, x, counted=False):
        if counted:
            self.relus += 1
            if self.relus in self.relu_taps:
                self.tap(x)
        return x

    def pad(self, x, p):
        (t, b), (l, r) = ((p, p), (p, p)) if isinstance(p, int) else p
        return (x[0] + t + b, x[1] + l + r, x[2])

    def pool(self, x, size, stride, padding="valid"):
        return self._spatial(x, size, stride, padding, "pooling") + (x[2],)

    def dense(self, units, n_in):
        self.trainable += n_in * units + units
        return (units,)

    def concat(self, *xs):
        if len({x[:2] for x in xs}) != 1:
            raise ShapeError(f"{self.name}: internal spatial mismatch {xs}")
        return xs[0][:2] + (sum(x[2] for x in xs),)

    def add(self, a, b):
        if a != b:
            raise ShapeError(f"{self.name}: internal shape mismatch {a} + {b}")
        return a

    def gap_head(self, x, top):
        """GlobalAveragePooling + the 1000-way classifier when ``top`` (MobileNet's 1x1 conv counts the same)."""
        return self.dense(1000, x[2]) if top else x


# ---------------------------------------------------------------- VGG
def _vgg(convs):
    def walk(b, x, top):
        for n, filters in zip(convs, (64, 128, 256, 512, 512)):
            for _ in range(n):
                x = b.conv(x, filters, 3, padding="same")
            b.tap(x)
            x = b.pool(x, 2, 2)
        if top:
            x = b.dense(4096, x[0] * x[1] * x[2])
            x = b.dense(4096, 4096)
            x = b.dense(1000, 4096)
        return x
    return walk


# ---------------------------------------------------------------- ResNet / ResNeXt
def _resnet_v1(blocks):
    def walk(b, x, top):
        x = b.bn(b.conv(b.pad(x, 3), 64, 7, 2))
        b.tap(x)
        x = b.pool(b.pad(x, 1), 3, 2)
        for stage, (n, f) in enumerate(zip(blocks, (64, 128, 256, 512))):
            for i in range(n):
                stride = 2 if i == 0 and stage > 0 else 1
                short = b.bn(b.conv(x, 4 * f, 1, stride)) if i == 0 else x
                y = b.bn(b.conv(x, f, 1, stride))
                y = b.bn(b.conv(y, f, 3, padding="same"))
                x = b.add(short, b.bn(b.conv(y, 4 * f, 1)))
            b.tap(x)                                              # conv<k>_block<n>_out
        return b.gap_head(x, top)
    return walk


def _resnet_v2(blocks, taps):
    def walk(b, x, top):
        x = b.conv(b.pad(x, 3), 64, 7, 2)
        b.tap(x)                                     # + the new BN + ReLU (counted as a tap extra)
        x = b.pool(b.pad(x, 1), 3, 2)
        for stage, (n, f) in enumerate(zip(blocks, (64, 128, 256, 512))):
            for i in range(n):
                stride = 2 if i == n - 1 and stage < 3 else 1
                pre = b.bn(x)
                if i == 0:
                    short = b.conv(pre, 4 * f, 1, stride)
                else:
                    short = b.pool(x, 1, stride) if stride > 1 else x
                y = b.bn(b.conv(pre, f, 1, bias=False))
                if i + 1 == taps[stage]:
                    b.tap(y)
                y = b.bn(b.conv(b.pad(y, 1), f, 3, stride, bias=False))
                x = b.add(short, b.conv(y, 4 * f, 1))
        x = b.tap(b.bn(x))
        return b.gap_head(x, top)
    return walk


def _resnext(blocks):
    """keras-applications 1.0.7 ResNeXt (32x4d): the grouped 3x3 convolution is counted as a true
    grouped convolution (9 * width/32 * width weights, all trainable)."""
    def walk(b, x, top):
        x = b.bn(b.conv(b.pad(x, 3), 64, 7, 2, bias=False))
        b.tap(x)
        x = b.pool(b.pad(x, 1), 3, 2)
        for stage, (n, f) in enumerate(zip(blocks, (128, 256, 512, 1024))):
            for i in range(n):
                stride = 2 if i == 0 and stage > 0 else 1
                short = b.bn(b.conv(x, 2 * f, 1, stride, bias=False)) if i == 0 else x
                y = b.bn(b.conv(x, f, 1, bias=False))
                if i == 0 and stage > 0:
                    b.tap(y)
                y = b.bn(b.conv(b.pad(y, 1), f, 3, stride, bias=False, groups=32))
                x = b.add(short, b.bn(b.conv(y, 2 * f, 1, bias=False)))
        b.tap(x)
        return b.gap_head(x, top)
    return walk


# ---------------------------------------------------------------- Inception
def _cbn(b, x, filters, kernel, stride=1, padding="same"):
    """conv2d_bn: Conv (no bias) + BatchNorm(scale=False) + an auto-named ReLU."""
    return b.relu(b.bn(b.conv(x, filters, kernel, stride, padding, bias=False), scale=False), counted=True)


def _inception_stem(b, x):
    x = _cbn(b, x, 32, 3, 2, "valid")
    x = _cbn(b, x, 32, 3, padding="valid")
    x = b.pool(_cbn(b, x, 64, 3), 3, 2)
    x = _cbn(b, x, 80, 1, padding="valid")
    return b.pool(_cbn(b, x, 192, 3, padding="valid"), 3, 2)


def _chain(b, x, *convs):
    for conv in convs:
        x = _cbn(b, x, *conv)
    return x


def _inception_v3(b, x, top):
    x = _inception_stem(b, x)
    for pool_filters in (32, 64, 64):                                        # mixed0-2
        x = b.concat(_cbn(b, x, 64, 1), _chain(b, x, (48, 1), (64, 5)),
                     _chain(b, x, (64, 1), (96, 3), (96, 3)), _cbn(b, b.pool(x, 3, 1, "same"), pool_filters, 1))
    x = b.concat(_cbn(b, x, 384, 3, 2, "valid"),                             # mixed3
                 _chain(b, x, (64, 1), (96, 3), (96, 3, 2, "valid")), b.pool(x, 3, 2))
    for c in (128, 160, 160, 192):                                           # mixed4-7
        x = b.concat(_cbn(b, x, 192, 1), _chain(b, x, (c, 1), (c, (1, 7)), (192, (7, 1))),
                     _chain(b, x, (c, 1), (c, (7, 1)), (c, (1, 7)), (c, (7, 1)), (192, (1, 7))),
                     _cbn(b, b.pool(x, 3, 1, "same"), 192, 1))
    x = b.concat(_chain(b, x, (192, 1), (320, 3, 2, "valid")),              # mixed8
                 _chain(b, x, (192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3, 2, "valid")), b.pool(x, 3, 2))
    for _ in range(2):                                                       # mixed9-10
        b1 = _cbn(b, x, 320, 1)
        y = _cbn(b, x, 384, 1)
        b2 = b.concat(_cbn(b, y, 384, (1, 3)), _cbn(b, y, 384, (3, 1)))
        y = _chain(b, x, (448, 1), (384, 3))
        b3 = b.concat(_cbn(b, y, 384, (1, 3)), _cbn(b, y, 384, (3, 1)))
        x = b.concat(b1, b2, b3, _cbn(b, b.pool(x, 3, 1, "same"), 192, 1))
    b.tap(x)
    return b.gap_head(x, top)


def _inception_resnet_v2(b, x, top):
    x = _inception_stem(b, x)
    x = b.concat(_cbn(b, x, 96, 1), _chain(b, x, (48, 1), (64, 5)),           # mixed_5b
                 _chain(b, x, (64, 1), (96, 3), (96, 3)), _cbn(b, b.pool(x, 3, 1, "same"), 64, 1))
    branches = {
        35: lambda x: (_cbn(b, x, 32, 1), _chain(b, x, (32, 1), (32, 3)), _chain(b, x, (32, 1), (48, 3), (64, 3))),
        17: lambda x: (_cbn(b, x, 192, 1), _chain(b, x, (128, 1), (160, (1, 7)), (192, (7, 1)))),
        8: lambda x: (_cbn(b, x, 192, 1), _chain(b, x, (192, 1), (224, (1, 3)), (256, (3, 1)))),
    }

    def blocks(x, kind, n):
        for _ in range(n):      # residual: x + scale * conv1x1(concat(branches)) (with bias, no BN); named ReLU
            x = b.add(x, b.conv(b.concat(*branches[kind](x)), x[2], 1))
        return x

    x = blocks(x, 35, 10)
    x = b.concat(_cbn(b, x, 384, 3, 2, "valid"),                             # mixed_6a
                 _chain(b, x, (256, 1), (256, 3), (384, 3, 2, "valid")), b.pool(x, 3, 2))
    x = blocks(x, 17, 20)
    x = b.concat(_chain(b, x, (256, 1), (384, 3, 2, "valid")),              # mixed_7a
                 _chain(b, x, (256, 1), (288, 3, 2, "valid")),
                 _chain(b, x, (256, 1), (288, 3), (320, 3, 2, "valid")), b.pool(x, 3, 2))
    x = blocks(x, 8, 10)        # 9 blocks with ReLU + the last one without activation
    x = b.tap(b.bn(b.conv(x, 1536, 1, bias=False), scale=False))            # conv_7b (+ conv_7b_ac)
    return b.gap_head(x, top)


# ---------------------------------------------------------------- DenseNet
def _densenet(blocks):
    def walk(b, x, top):
        x = b.tap(b.bn(b.conv(b.pad(x, 3), 64, 7, 2, bias=False)))
        x = b.pool(b.pad(x, 1), 3, 2)
        for stage, n in enumerate(blocks):
            for _ in range(n):
                y = b.bn(b.conv(b.bn(x), 128, 1, bias=False))
                x = b.concat(x, b.conv(y, 32, 3, padding="same", bias=False))
            x = b.tap(b.bn(x))                                   # pool<k>_relu, resp. the final 'relu'
            if stage < 3:
                x = b.pool(b.conv(x, x[2] // 2, 1, bias=False), 2, 2)
        return b.gap_head(x, top)
    return walk


# ---------------------------------------------------------------- MobileNet
def _mobilenet(b, x, top):
    x = b.bn(b.conv(x, 32, 3, 2, "same", bias=False))
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for block, (filters, stride) in enumerate(plan, start=1):
        if stride == 2:
            x = b.depthwise(b.pad(x, ((0, 1), (0, 1))), 3, 2, "valid")
        else:
            x = b.depthwise(x)
        x = b.bn(b.conv(b.bn(x), filters, 1, bias=False))
        if block in (1, 3, 5, 11, 13):
            b.tap(x)
    return b.gap_head(x, top)


def _mobilenet_v2(b, x, top):
    x = b.bn(b.conv(x, 32, 3, 2, "same", bias=False))
    plan = [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
            (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
            (320, 1, 6)]
    for block, (filters, stride, expansion) in enumerate(plan):
        y = x
        if block:
            y = b.bn(b.conv(y, expansion * x[2], 1, bias=False))
            if block in (1, 3, 6, 13):
                b.tap(y)
        if stride == 2:       # correct_pad: ((n % 2, 1), ...) then a 'valid' depthwise (= ceil(n / 2))
            y = b.depthwise(b.pad(y, ((y[0] % 2, 1), (y[1] % 2, 1))), 3, 2, "valid")
        else:
            y = b.depthwise(y)
        y = b.bn(b.conv(b.bn(y), filters, 1, bias=False))
        x = b.add(x, y) if stride == 1 and x[2] == filters else y
    x = b.tap(b.bn(b.conv(x, 1280, 1, bias=False)))
    return b.gap_head(x, top)


# ---------------------------------------------------------------- Xception
def _xception(b, x, top):
    x = b.tap(b.bn(b.conv(x, 32, 3, 2, bias=False)))                          # block1_conv1_act
    x = b.bn(b.conv(x, 64, 3, bias=False))
    for filters, tap in ((128, False), (256, True), (728, True)):               # blocks 2-4
        short = b.bn(b.conv(x, filters, 1, 2, "same", bias=False))
        y = b.bn(b.separable(b.bn(b.separable(x, filters)), filters))
        if tap:
            b.tap(y)
        x = b.add(short, b.pool(y, 3, 2, "same"))
    for _ in range(8):                                                          # blocks 5-12
        y = x
        for _ in range(3):
            y = b.bn(b.separable(y, 728))
        x = b.add(x, y)
    short = b.bn(b.conv(x, 1024, 1, 2, "same", bias=False))                    # block 13
    y = b.tap(b.bn(b.separable(b.bn(b.separable(x, 728)), 1024)))
    x = b.add(short, b.pool(y, 3, 2, "same"))
    x = b.tap(b.bn(b.separable(b.bn(b.separable(x, 1536)), 2048)))             # block 14
    return b.gap_head(x, top)


# name -> (walk function, min keras size, ReLU ordinals used as taps)
ARCHITECTURES = {
    "Xception": (_xception, 71, ()),
    "VGG16": (_vgg((2, 2, 3, 3, 3)), 32, ()),
    "VGG19": (_vgg((2, 2, 4, 4, 4)), 32, ()),
    "ResNet50": (_resnet_v1((3, 4, 6, 3)), 32, ()),
    "ResNet101": (_resnet_v1((3, 4, 23, 3)), 32, ()),
    "ResNet152": (_resnet_v1((3, 8, 36, 3)), 32, ()),
    "ResNet50V2": (_resnet_v2((3, 4, 6, 3), (3, 4, 6, 0)), 32, ()),
    "ResNet101V2": (_resnet_v2((3, 4, 23, 3), (3, 4, 16, 0)), 32, ()),
    "ResNet152V2": (_resnet_v2((3, 8, 36, 3), (2, 8, 36, 0)), 32, ()),
    "ResNeXt50": (_resnext((3, 4, 6, 3)), 32, ()),
    "ResNeXt101": (_resnext((3, 4, 23, 3)), 32, ()),
    "InceptionV3": (_inception_v3, 75, (1, 4, 29, 75)),
    "InceptionResNetV2": (_inception_resnet_v2, 75, (1, 4, 75, 162)),
    "DenseNet121": (_densenet((6, 12, 24, 16)), 32, ()),
    "DenseNet169": (_densenet((6, 12, 32, 32)), 32, ()),
    "DenseNet201": (_densenet((6, 12, 48, 32)), 32, ()),
    "MobileNet": (_mobilenet, 32, ()),
    "MobileNetV2": (_mobilenet_v2, 32, ()),
}
