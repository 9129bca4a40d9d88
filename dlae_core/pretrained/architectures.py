"""VGG, ResNet (V1, V2), ResNeXt, DenseNet and MobileNet (V1, V2) as keras-applications builds them.

Each ``walk(b, x, top)`` records one network with a :class:`~.recorder.Recorder` in Keras' creation
order and with Keras 3's layer names (ResNeXt: keras-applications 1.0.8's). ``b.tap`` marks the five
skip/hook tensors of LAYER_GRAMMAR §2.5.1, in order; the walk returns the network's output id.
"""

from __future__ import annotations

RESNET_EPS = 1.001e-5  # the epsilon keras-applications gives the BatchNormalization of ResNets and DenseNets


def classifier_head(b, x, top: bool):
    """Global average pooling + the 1000-way softmax classifier, when ``top``."""
    return b.dense(b.gap(x), 1000, "predictions", "softmax") if top else x


# ---------------------------------------------------------------- VGG
def vgg(convs: tuple[int, ...]):
    def walk(b, x, top):
        for block, (n, filters) in enumerate(zip(convs, (64, 128, 256, 512, 512)), start=1):
            for i in range(1, n + 1):
                name = f"block{block}_conv{i}"
                x = b.act(b.conv(x, filters, 3, padding="same", name=name), f"{name}_relu")
            b.tap(x)
            x = b.max_pool(x, 2, 2, name=f"block{block}_pool")
        if top:
            x = b.layer("Flatten", x, "flatten")
            x = b.dense(x, 4096, "fc1", "relu")
            x = b.dense(x, 4096, "fc2", "relu")
            x = b.dense(x, 1000, "predictions", "softmax")
        return x
    return walk


# ---------------------------------------------------------------- ResNet V1
def _stem(b, x, bias: bool, bn: bool):
    x = b.conv(b.pad(x, 3, "conv1_pad"), 64, 7, 2, bias=bias, name="conv1_conv")
    if bn:
        x = b.tap(b.act(b.bn(x, "conv1_bn", RESNET_EPS), "conv1_relu"))
    return x


def _block_v1(b, x, filters, stride, shortcut_conv, name):
    if shortcut_conv:
        short = b.bn(b.conv(x, 4 * filters, 1, stride, name=f"{name}_0_conv"), f"{name}_0_bn", RESNET_EPS)
    else:
        short = x
    y = b.act(b.bn(b.conv(x, filters, 1, stride, name=f"{name}_1_conv"), f"{name}_1_bn", RESNET_EPS),
              f"{name}_1_relu")
    y = b.act(b.bn(b.conv(y, filters, 3, padding="same", name=f"{name}_2_conv"), f"{name}_2_bn", RESNET_EPS),
              f"{name}_2_relu")
    y = b.bn(b.conv(y, 4 * filters, 1, name=f"{name}_3_conv"), f"{name}_3_bn", RESNET_EPS)
    return b.act(b.add([short, y], f"{name}_add"), f"{name}_out")


def _post_activation_stages(b, x, blocks, widths, block):
    """The four stages of ResNet V1 / ResNeXt: the first block of a stage has the shortcut convolution
    and (from conv3 on) the stride 2; ``block(b, x, filters, stride, first, name)``."""
    for stage, (n, filters) in enumerate(zip(blocks, widths), start=2):
        for i in range(1, n + 1):
            x = block(b, x, filters, 2 if i == 1 and stage > 2 else 1, i == 1, f"conv{stage}_block{i}")
        yield x


def resnet_v1(blocks: tuple[int, ...]):
    def walk(b, x, top):
        x = _stem(b, x, bias=True, bn=True)
        x = b.max_pool(b.pad(x, 1, "pool1_pad"), 3, 2, name="pool1_pool")
        for x in _post_activation_stages(b, x, blocks, (64, 128, 256, 512), _block_v1):
            b.tap(x)  # conv<k>_block<n>_out
        return classifier_head(b, x, top)
    return walk


# ---------------------------------------------------------------- ResNet V2
def _block_v2(b, x, filters, stride, shortcut_conv, name, tap):
    pre = b.act(b.bn(x, f"{name}_preact_bn", RESNET_EPS), f"{name}_preact_relu")
    if shortcut_conv:
        short = b.conv(pre, 4 * filters, 1, stride, name=f"{name}_0_conv")
    else:
        short = b.max_pool(x, 1, stride) if stride > 1 else x
    y = b.act(b.bn(b.conv(pre, filters, 1, bias=False, name=f"{name}_1_conv"), f"{name}_1_bn", RESNET_EPS),
              f"{name}_1_relu")
    if tap:
        b.tap(y)
    y = b.conv(b.pad(y, 1, f"{name}_2_pad"), filters, 3, stride, bias=False, name=f"{name}_2_conv")
    y = b.act(b.bn(y, f"{name}_2_bn", RESNET_EPS), f"{name}_2_relu")
    return b.add([short, b.conv(y, 4 * filters, 1, name=f"{name}_3_conv")], f"{name}_out")


def resnet_v2(blocks: tuple[int, ...], taps: tuple[int, ...]):
    """``taps[s]``: the block of stage ``s`` whose ``_1_relu`` is a tap (0: none)."""
    def walk(b, x, top):
        x = b.tap(_stem(b, x, bias=True, bn=False))  # + a new BatchNormalization and ReLU (tap rule)
        x = b.max_pool(b.pad(x, 1, "pool1_pad"), 3, 2, name="pool1_pool")
        for stage, (n, filters) in enumerate(zip(blocks, (64, 128, 256, 512)), start=2):
            for i in range(1, n + 1):
                stride = 2 if i == n and stage < 5 else 1
                x = _block_v2(b, x, filters, stride, i == 1, f"conv{stage}_block{i}", i == taps[stage - 2])
        x = b.tap(b.act(b.bn(x, "post_bn", RESNET_EPS), "post_relu"))
        return classifier_head(b, x, top)
    return walk


# ---------------------------------------------------------------- ResNeXt (keras-applications 1.0.8)
def _block_x(b, x, filters, stride, shortcut_conv, name):
    """The 32-group bottleneck; keras-applications' depthwise-conv-and-sum is a grouped convolution.
    The ``_1_relu`` of a stage's strided first block is a tap."""
    if shortcut_conv:
        short = b.conv(x, 2 * filters, 1, stride, bias=False, name=f"{name}_0_conv")
        short = b.bn(short, f"{name}_0_bn", RESNET_EPS)
    else:
        short = x
    y = b.act(b.bn(b.conv(x, filters, 1, bias=False, name=f"{name}_1_conv"), f"{name}_1_bn", RESNET_EPS),
              f"{name}_1_relu")
    if stride == 2:
        b.tap(y)
    y = b.conv(b.pad(y, 1, f"{name}_2_pad"), filters, 3, stride, bias=False, groups=32, name=f"{name}_2_conv")
    y = b.act(b.bn(y, f"{name}_2_bn", RESNET_EPS), f"{name}_2_relu")
    y = b.bn(b.conv(y, 2 * filters, 1, bias=False, name=f"{name}_3_conv"), f"{name}_3_bn", RESNET_EPS)
    return b.act(b.add([short, y], f"{name}_add"), f"{name}_out")


def resnext(blocks: tuple[int, ...]):
    def walk(b, x, top):
        x = _stem(b, x, bias=False, bn=True)
        x = b.max_pool(b.pad(x, 1, "pool1_pad"), 3, 2, name="pool1_pool")
        *_, x = _post_activation_stages(b, x, blocks, (128, 256, 512, 1024), _block_x)
        b.tap(x)
        return classifier_head(b, x, top)
    return walk


# ---------------------------------------------------------------- DenseNet
def densenet(blocks: tuple[int, ...]):
    def walk(b, x, top):
        x = b.conv(b.pad(x, 3), 64, 7, 2, bias=False, name="conv1_conv")
        x = b.tap(b.act(b.bn(x, "conv1_bn", RESNET_EPS), "conv1_relu"))
        x = b.max_pool(b.pad(x, 1), 3, 2, name="pool1")
        for stage, n in enumerate(blocks, start=2):
            for i in range(1, n + 1):
                name = f"conv{stage}_block{i}"
                y = b.act(b.bn(x, f"{name}_0_bn", RESNET_EPS), f"{name}_0_relu")
                y = b.act(b.bn(b.conv(y, 128, 1, bias=False, name=f"{name}_1_conv"), f"{name}_1_bn", RESNET_EPS),
                          f"{name}_1_relu")
                x = b.concat([x, b.conv(y, 32, 3, padding="same", bias=False, name=f"{name}_2_conv")],
                             f"{name}_concat")
            if stage == 5:
                break
            name = f"pool{stage}"
            x = b.tap(b.act(b.bn(x, f"{name}_bn", RESNET_EPS), f"{name}_relu"))
            x = b.conv(x, b.shape(x)[-1] // 2, 1, bias=False, name=f"{name}_conv")
            x = b.avg_pool(x, 2, 2, name=f"{name}_pool")
        x = b.tap(b.act(b.bn(x, "bn", RESNET_EPS), "relu"))
        return classifier_head(b, x, top)
    return walk


# ---------------------------------------------------------------- MobileNet
_MOBILENET_PLAN = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)) + ((512, 1),) * 5 + ((1024, 2), (1024, 1))


def mobilenet(b, x, top):
    x = b.act(b.bn(b.conv(x, 32, 3, 2, "same", bias=False, name="conv1"), "conv1_bn"), "conv1_relu", "relu6")
    for block, (filters, stride) in enumerate(_MOBILENET_PLAN, start=1):
        if stride == 2:
            x = b.depthwise(b.pad(x, ((0, 1), (0, 1)), f"conv_pad_{block}"), 3, 2, "valid", name=f"conv_dw_{block}")
        else:
            x = b.depthwise(x, name=f"conv_dw_{block}")
        x = b.act(b.bn(x, f"conv_dw_{block}_bn"), f"conv_dw_{block}_relu", "relu6")
        x = b.conv(x, filters, 1, padding="same", bias=False, name=f"conv_pw_{block}")
        x = b.act(b.bn(x, f"conv_pw_{block}_bn"), f"conv_pw_{block}_relu", "relu6")
        if block in (1, 3, 5, 11, 13):
            b.tap(x)
    if top:  # Keras: pooling kept 1x1, dropout 1e-3, a 1x1 convolution as the classifier
        x = b.layer("Reshape", b.gap(x, "global_average_pooling2d"), "reshape_1", target_shape=(1, 1, 1024))
        x = b.layer("Dropout", x, "dropout", rate=1e-3)
        x = b.conv(x, 1000, 1, padding="same", name="conv_preds")
        x = b.act(b.layer("Reshape", x, "reshape_2", target_shape=(1000,)), "predictions", "softmax")
    return x


# block id -> (filters, stride, expansion)
_MOBILENET_V2_PLAN = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6),
                      (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6),
                      (160, 1, 6), (160, 1, 6), (320, 1, 6))


def _bn_v2(b, x, name):
    return b.bn(x, name, 1e-3, momentum=0.999)


def mobilenet_v2(b, x, top):
    x = b.conv(x, 32, 3, 2, "same", bias=False, name="Conv1")
    x = b.act(_bn_v2(b, x, "bn_Conv1"), "Conv1_relu", "relu6")
    for block, (filters, stride, expansion) in enumerate(_MOBILENET_V2_PLAN):
        prefix = f"block_{block}_" if block else "expanded_conv_"
        channels = b.shape(x)[-1]
        y = x
        if block:
            y = b.conv(y, expansion * channels, 1, padding="same", bias=False, name=f"{prefix}expand")
            y = b.act(_bn_v2(b, y, f"{prefix}expand_BN"), f"{prefix}expand_relu", "relu6")
            if block in (1, 3, 6, 13):
                b.tap(y)
        if stride == 2:  # Keras' correct_pad: one pixel after, and one before on odd sizes
            rows, cols = b.shape(y)[:2]
            y = b.pad(y, ((rows % 2, 1), (cols % 2, 1)), f"{prefix}pad")
            y = b.depthwise(y, 3, 2, "valid", name=f"{prefix}depthwise")
        else:
            y = b.depthwise(y, name=f"{prefix}depthwise")
        y = b.act(_bn_v2(b, y, f"{prefix}depthwise_BN"), f"{prefix}depthwise_relu", "relu6")
        y = _bn_v2(b, b.conv(y, filters, 1, padding="same", bias=False, name=f"{prefix}project"), f"{prefix}project_BN")
        x = b.add([x, y], f"{prefix}add") if stride == 1 and channels == filters else y
    x = b.conv(x, 1280, 1, bias=False, name="Conv_1")
    x = b.tap(b.act(_bn_v2(b, x, "Conv_1_bn"), "out_relu", "relu6"))
    return classifier_head(b, x, top)
