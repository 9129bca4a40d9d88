"""InceptionV3, InceptionResNetV2 and Xception as keras-applications builds them (see :mod:`.architectures`).

Most Inception layers are unnamed in Keras (``conv2d_bn`` without a name): the recorder gives them
Keras 2's automatic names in creation order, and the taps of these two networks are the N-th of those
automatically named ReLUs (the recorder's ``relu_taps``), found by structure, not by name.
"""

from __future__ import annotations

from dlae_core.pretrained.architectures import classifier_head


def _cbn(b, x, filters, kernel, stride=1, padding="same", name=None):
    """Keras' ``conv2d_bn``: convolution without bias, BatchNormalization without scale, ReLU."""
    bn_name = None if name is None else f"{name}_bn"
    x = b.conv(x, filters, kernel, stride, padding, bias=False, name=name)
    x = b.bn(x, bn_name, scale=False)
    return b.act(x, None if name is None else f"{name}_ac")


def _chain(b, x, *convs):
    for conv in convs:
        x = _cbn(b, x, *conv)
    return x


def _stem(b, x):
    x = _chain(b, x, (32, 3, 2, "valid"), (32, 3, 1, "valid"), (64, 3))
    x = b.max_pool(x, 3, 2)
    x = _chain(b, x, (80, 1, 1, "valid"), (192, 3, 1, "valid"))
    return b.max_pool(x, 3, 2)


def _pool_branch(b, x, filters):
    return _cbn(b, b.avg_pool(x, 3, 1, "same"), filters, 1)


# ---------------------------------------------------------------- InceptionV3
def inception_v3(b, x, top):
    x = _stem(b, x)
    for i, pool_filters in enumerate((32, 64, 64)):
        x = b.concat([_cbn(b, x, 64, 1), _chain(b, x, (48, 1), (64, 5)),
                      _chain(b, x, (64, 1), (96, 3), (96, 3)), _pool_branch(b, x, pool_filters)], f"mixed{i}")
    x = b.concat([_cbn(b, x, 384, 3, 2, "valid"), _chain(b, x, (64, 1), (96, 3), (96, 3, 2, "valid")),
                  b.max_pool(x, 3, 2)], "mixed3")
    for i, c in enumerate((128, 160, 160, 192), start=4):
        x = b.concat([_cbn(b, x, 192, 1), _chain(b, x, (c, 1), (c, (1, 7)), (192, (7, 1))),
                      _chain(b, x, (c, 1), (c, (7, 1)), (c, (1, 7)), (c, (7, 1)), (192, (1, 7))),
                      _pool_branch(b, x, 192)], f"mixed{i}")
    x = b.concat([_chain(b, x, (192, 1), (320, 3, 2, "valid")),
                  _chain(b, x, (192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3, 2, "valid")),
                  b.max_pool(x, 3, 2)], "mixed8")
    for i in range(2):
        branch1x1 = _cbn(b, x, 320, 1)
        y = _cbn(b, x, 384, 1)
        branch3x3 = b.concat([_cbn(b, y, 384, (1, 3)), _cbn(b, y, 384, (3, 1))], f"mixed9_{i}")
        y = _chain(b, x, (448, 1), (384, 3))
        branch3x3dbl = b.concat([_cbn(b, y, 384, (1, 3)), _cbn(b, y, 384, (3, 1))])
        x = b.concat([branch1x1, branch3x3, branch3x3dbl, _pool_branch(b, x, 192)], f"mixed{9 + i}")
    b.tap(x)
    return classifier_head(b, x, top)


# ---------------------------------------------------------------- InceptionResNetV2
_BRANCHES = {
    "block35": ((32, 1),), "block17": ((192, 1),), "block8": ((192, 1),),
}
_LONG_BRANCHES = {
    "block35": (((32, 1), (32, 3)), ((32, 1), (48, 3), (64, 3))),
    "block17": (((128, 1), (160, (1, 7)), (192, (7, 1))),),
    "block8": (((192, 1), (224, (1, 3)), (256, (3, 1))),),
}


def _residual(b, x, kind, index, scale, activation=True):
    """``inception_resnet_block``: x + scale * conv1x1(concat(branches)), then a named ReLU."""
    name = f"{kind}_{index}"
    branches = [_chain(b, x, *_BRANCHES[kind])] + [_chain(b, x, *convs) for convs in _LONG_BRANCHES[kind]]
    mixed = b.concat(branches, f"{name}_mixed")
    up = b.conv(mixed, b.shape(x)[-1], 1, name=f"{name}_conv")
    x = b.add([x, up], scales=(1.0, scale))
    return b.act(x, f"{name}_ac") if activation else x


def inception_resnet_v2(b, x, top):
    x = _stem(b, x)
    x = b.concat([_cbn(b, x, 96, 1), _chain(b, x, (48, 1), (64, 5)),
                  _chain(b, x, (64, 1), (96, 3), (96, 3)), _pool_branch(b, x, 64)], "mixed_5b")
    for i in range(1, 11):
        x = _residual(b, x, "block35", i, 0.17)
    x = b.concat([_cbn(b, x, 384, 3, 2, "valid"), _chain(b, x, (256, 1), (256, 3), (384, 3, 2, "valid")),
                  b.max_pool(x, 3, 2)], "mixed_6a")
    for i in range(1, 21):
        x = _residual(b, x, "block17", i, 0.1)
    x = b.concat([_chain(b, x, (256, 1), (384, 3, 2, "valid")), _chain(b, x, (256, 1), (288, 3, 2, "valid")),
                  _chain(b, x, (256, 1), (288, 3), (320, 3, 2, "valid")), b.max_pool(x, 3, 2)], "mixed_7a")
    for i in range(1, 10):
        x = _residual(b, x, "block8", i, 0.2)
    x = _residual(b, x, "block8", 10, 1.0, activation=False)
    x = b.tap(_cbn(b, x, 1536, 1, name="conv_7b"))
    return classifier_head(b, x, top)


# ---------------------------------------------------------------- Xception
def _shortcut(b, x, filters):
    """The strided 1x1 shortcut of blocks 2-4 and 13 (unnamed in Keras)."""
    return b.bn(b.conv(x, filters, 1, 2, "same", bias=False))


def _sep(b, x, block, i, filters, relu_first=True):
    name = f"block{block}_sepconv{i}"
    if relu_first:
        x = b.act(x, f"{name}_act")
    return b.bn(b.separable(x, filters, name), f"{name}_bn")


def xception(b, x, top):
    x = b.conv(x, 32, 3, 2, bias=False, name="block1_conv1")
    x = b.tap(b.act(b.bn(x, "block1_conv1_bn"), "block1_conv1_act"))
    x = b.act(b.bn(b.conv(x, 64, 3, bias=False, name="block1_conv2"), "block1_conv2_bn"), "block1_conv2_act")
    for block, filters in ((2, 128), (3, 256), (4, 728)):
        short = _shortcut(b, x, filters)
        y = _sep(b, x, block, 1, filters, relu_first=block > 2)
        y = _sep(b, y, block, 2, filters)
        if block > 2:
            b.tap(y)
        x = b.add([b.max_pool(y, 3, 2, "same", name=f"block{block}_pool"), short])
    for block in range(5, 13):
        y = x
        for i in range(1, 4):
            y = _sep(b, y, block, i, 728)
        x = b.add([y, x])
    short = _shortcut(b, x, 1024)
    y = b.tap(_sep(b, _sep(b, x, 13, 1, 728), 13, 2, 1024))
    x = b.add([b.max_pool(y, 3, 2, "same", name="block13_pool"), short])
    x = b.act(b.bn(b.separable(x, 1536, "block14_sepconv1"), "block14_sepconv1_bn"), "block14_sepconv1_act")
    x = b.act(b.bn(b.separable(x, 2048, "block14_sepconv2"), "block14_sepconv2_bn"), "block14_sepconv2_act")
    return classifier_head(b, b.tap(x), top)
