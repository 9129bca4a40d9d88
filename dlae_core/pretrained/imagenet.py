"""``normalization_type: imagenet``: the input preprocessing each network's ImageNet weights expect.

Inputs are images in 0..255, as keras.applications' ``preprocess_input`` takes them. The three modes
of Keras' preprocessing (the network decides which):

* ``caffe`` (VGG, ResNet V1): RGB → BGR, then the BGR ImageNet means subtracted, no scaling;
* ``tf`` (Xception, Inception, MobileNet, ResNet V2): x / 127.5 − 1;
* ``torch`` (DenseNet, ResNeXt): x / 255, then the RGB means subtracted and divided by the RGB stds.

Other channel counts follow the first-kernel adaptation of :mod:`.weights_file`: one channel is a grey
image seen as R = G = B, so it gets the average of the three channels' constants; C channels take the
constants of R, G, B cyclically (the channel order is kept).
"""

from __future__ import annotations

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN_RGB, TORCH_STD_RGB = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

MODES = {
    "caffe": ("VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152"),
    "tf": ("Xception", "InceptionV3", "InceptionResNetV2", "MobileNet", "MobileNetV2", "ResNet50V2",
           "ResNet101V2", "ResNet152V2"),
    "torch": ("DenseNet121", "DenseNet169", "DenseNet201", "ResNeXt50", "ResNeXt101"),
}


def preprocessing_mode(network: str) -> str:
    return next(mode for mode, names in MODES.items() if network in names)


def _rgb_constants(mode: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(offset, scale) per RGB channel, out = (x - offset) * scale, before any channel reordering."""
    if mode == "caffe":
        return CAFFE_MEAN_BGR, (1.0, 1.0, 1.0)
    if mode == "tf":
        return (127.5,) * 3, (1 / 127.5,) * 3
    return (tuple(255.0 * m for m in TORCH_MEAN_RGB), tuple(1 / (255.0 * s) for s in TORCH_STD_RGB))


def imagenet_normalization(network: str | None, channels: int) -> tuple[tuple, tuple, tuple]:
    """(channel order, offset, scale) of the ``channels`` normalization for ``network``."""
    if network is None:
        raise ValueError("imagenet normalization needs a pretrained network")
    mode = preprocessing_mode(network)
    offset, scale = _rgb_constants(mode)
    if channels == 3:
        order = (2, 1, 0) if mode == "caffe" else (0, 1, 2)
        return order, offset, scale
    if channels == 1:
        return (0,), (sum(offset) / 3,), (sum(scale) / 3,)
    return tuple(range(channels)), tuple(offset[i % 3] for i in range(channels)), tuple(
        scale[i % 3] for i in range(channels))
