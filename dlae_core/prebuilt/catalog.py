"""The prebuilt model catalog: ready configs generated for any input shape and class count.

Entries (61): for each of the 18 pretrained encoders a classifier (``resnet50``, CNN), a U-Net
(``resnet50_unet``, FCN) and an SSD (``resnet50_ssd``, BBD); and ``unet2d``, ``unet3d``, ``lenet5``,
``alexnet``, ``ssd``, ``pix2pix``, ``cyclegan``. The layer lists follow the original's prebuilt configs
(fixed at 512×512×1 there) and are generated in code (:mod:`.encoders`, :mod:`.plain`) so that decoders
meet their skip tensors and output the input's size whatever it is.

:func:`generate` returns a :class:`Generated` model (the layer lists and the settings), and
:func:`build_config` the complete config (:mod:`.settings`).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from dlae_core.errors import UsageError, problem
from dlae_core.prebuilt import encoders, plain
from dlae_core.prebuilt.layers import TooSmall

__all__ = ["ENTRIES", "Entry", "Generated", "PrebuiltError", "generate", "get_entry", "minimum_size"]

WEIGHTS = ("none", "imagenet")


class PrebuiltError(UsageError):
    """A catalog request that cannot be generated: unknown name, unfit input shape, class count or weights."""


@attrs.frozen
class Entry:
    """One catalog model. ``build(input_shape, classes, weights) -> {list name: layer strings}``."""

    name: str
    technique: str
    description: str
    build: Callable[[tuple, int, str], dict[str, list[str]]]
    encoder: str | None = None
    rank: int = 2  # spatial axes of the input
    default_shape: tuple = (512, 512, 1)
    default_classes: int = 2
    min_classes: int = 2
    family: str = ""  # "classifier", "unet", "ssd", "gan"

    @property
    def pretrained(self) -> bool:
        return self.encoder is not None


@attrs.frozen
class Generated:
    """A catalog model generated for one input shape, class count and weights."""

    entry: Entry
    input_shape: tuple
    classes: int  # CNN/FCN: classes; BBD: object classes (no background); GAN: generated channels
    weights: str
    layers: dict[str, list[str]]


def _serial(function: Callable) -> Callable:
    return lambda shape, classes, weights: {"serial_layer_list": function(shape, classes)}


def _encoder_entry(encoder: str, family: str) -> Entry:
    build = {"classifier": encoders.classifier, "unet": encoders.unet, "ssd": encoders.ssd}[family]
    suffix, technique, text = {
        "classifier": ("", "CNN", "classifier: {e} features, {head}, softmax over the classes"),
        "unet": ("_unet", "FCN", "U-Net: {e} encoder, five skips into a resize-convolution decoder, softmax maps"),
        "ssd": ("_ssd", "BBD", "SSD detector: predictor heads on the five {e} tap points"),
    }[family]
    head = ("flatten and two 4096-unit dense layers" if encoder in encoders.VGG else
            "a 1x1 convolution head" if encoder == "MobileNet" else "global average pooling")
    return Entry(encoder.lower() + suffix, technique, text.format(e=encoder, head=head),
                 lambda shape, classes, weights, f=build, e=encoder: {"serial_layer_list": f(e, shape, classes, weights)},
                 encoder=encoder, default_classes=1 if family == "ssd" else 2, min_classes=1 if family == "ssd" else 2,
                 family=family)


def _gan(shape: tuple, classes: int, weights: str) -> dict[str, list[str]]:
    return {"generator_layer_list": plain.gan_generator(shape, classes),
            "discriminator_layer_list": plain.gan_discriminator(shape[:-1] + (classes,))}


def _entries() -> dict[str, Entry]:
    out = [_encoder_entry(e, family) for family in ("classifier", "unet", "ssd") for e in encoders.ENCODERS]
    out += [
        Entry("unet2d", "FCN", "U-Net 2D: four pooling levels (64-512 maps), 1024-map bottleneck, softmax maps",
              _serial(plain.unet), family="unet"),
        Entry("unet3d", "FCN", "U-Net 3D: the 2D U-Net with 3D convolutions, pooling and resizing",
              _serial(plain.unet), rank=3, default_shape=(128, 128, 64, 1), family="unet"),
        Entry("lenet5", "CNN", "LeNet-5: two 5x5 convolution blocks, dense 120 and 84, softmax",
              _serial(plain.lenet5), default_shape=(32, 32, 1), default_classes=10, family="classifier"),
        Entry("alexnet", "CNN", "AlexNet: five convolutions with BN, three poolings, two 4096-unit dense layers",
              _serial(plain.alexnet), family="classifier"),
        Entry("ssd", "BBD", "SSD detector: VGG-16 base with L2 penalty, hooks at conv4_3, fc7 and the extra layers",
              lambda shape, classes, weights: {"serial_layer_list": plain.ssd(shape)},
              default_classes=1, min_classes=1, family="ssd"),
        Entry("pix2pix", "GAN", "pix2pix: U-Net generator (7 stride-2 levels) and PatchGAN discriminator, "
              "conditional", _gan, default_classes=0, min_classes=1, family="gan"),
        Entry("cyclegan", "GAN", "cycleGAN: two U-Net generators and two PatchGAN discriminators, unpaired",
              _gan, default_classes=0, min_classes=1, family="gan"),
    ]
    return {entry.name: entry for entry in out}


ENTRIES: dict[str, Entry] = _entries()


def get_entry(name: str) -> Entry:
    """The entry called ``name``; PrebuiltError with the closest name otherwise."""
    if name in ENTRIES:
        return ENTRIES[name]
    line = problem("NAME", "unknown prebuilt model", expected="one of the names `dlae prebuilt list` shows",
                   received=name, choices=ENTRIES).line()
    raise PrebuiltError(line)


def _shape_text(shape: tuple) -> str:
    return str(tuple(shape))


def minimum_size(entry: Entry, channels: int = 1) -> int:
    """The smallest side (rows, cols[, slices]) the entry's network accepts."""
    if entry.pretrained:
        return encoders.KERAS_MIN_SIZE[entry.encoder]
    for n in range(1, 4097):
        try:
            entry.build((n,) * entry.rank + (channels,), max(entry.min_classes, 1), "none")
        except TooSmall:
            continue
        return n
    raise AssertionError(f"{entry.name}: no input size up to 4096 works")


def _check_shape(entry: Entry, shape: tuple) -> None:
    want = "(rows, cols, channels)" if entry.rank == 2 else "(rows, cols, slices, channels)"
    if len(shape) != entry.rank + 1:
        raise PrebuiltError(problem("--input-shape", f"{entry.name} takes a {entry.rank}D input",
                                    expected=f"{entry.rank + 1} numbers {want} such as "
                                             f"{_shape_text(entry.default_shape)}", received=shape).line())


def generate(name: str, input_shape: tuple | None = None, classes: int | None = None,
             weights: str | None = None) -> Generated:
    """Generate entry ``name`` for ``input_shape`` (default: the entry's), ``classes`` and ``weights``
    ("none" or "imagenet"; encoder entries only). Raises PrebuiltError, one line, for an unknown name, an
    input of the wrong rank or too small for the network (naming the smallest size), a class count the
    technique cannot use, or weights for an entry without an encoder."""
    entry = get_entry(name)
    shape = tuple(entry.default_shape if input_shape is None else input_shape)
    _check_shape(entry, shape)
    if weights is not None and weights not in WEIGHTS:
        raise PrebuiltError(problem("--weights", "unknown weights", expected="imagenet or none",
                                    received=weights, choices=WEIGHTS).line())
    if weights == "imagenet" and not entry.pretrained:
        raise PrebuiltError(f"--weights: {entry.name} has no pretrained encoder, so it cannot load ImageNet "
                            f"weights; pick an encoder entry such as resnet50, or leave --weights out")
    weights = weights or "none"
    if entry.technique == "GAN":
        count = shape[-1] if classes is None else classes
    else:
        count = entry.default_classes if classes is None else classes
    if count < entry.min_classes:
        what = {"BBD": "object classes (without the background)", "GAN": "generated image channels"}.get(
            entry.technique, "classes (a softmax over one class is constant)")
        raise PrebuiltError(problem("--classes", f"{entry.name} needs at least {entry.min_classes} {what}",
                                    received=count).line())
    if entry.name == "cyclegan" and count != shape[-1]:
        raise PrebuiltError(problem("--classes", "cyclegan translates both ways, so its images keep the input's "
                                    "channels", expected=f"{shape[-1]} (or leave --classes out)", received=count).line())
    try:
        layers = entry.build(shape, count, weights)
    except TooSmall:
        low = minimum_size(entry, shape[-1])
        axes = "rows and cols" if entry.rank == 2 else "rows, cols and slices"
        network = f", {entry.encoder}'s smallest input" if entry.pretrained else ""
        raise PrebuiltError(problem("--input-shape", f"{entry.name} needs {axes} of at least {low}{network}",
                                    expected="e.g. " + _shape_text(tuple(max(n, low) for n in shape[:-1]) + shape[-1:]),
                                    received=shape).line()) from None
    return Generated(entry, shape, count, weights, layers)
