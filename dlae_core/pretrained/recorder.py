"""Records a pretrained network, layer by layer, as built-in dlae layers with Keras names.

An architecture (see :mod:`.architectures`) is a function ``walk(b, x, top)`` that calls the methods of
a :class:`Recorder` in the order keras-applications creates its layers. Each call appends one
:class:`NetLayer` — a built-in layer type (``Convolution 2D``, ``Batch normalization``, …) with the
network options it needs (``use_bias``, ``groups``, ``scale``, pooling ``padding``), or a merge — and
returns its id. Shapes and Keras weight counts come from the built-in layer types themselves, so the
graph the core assembles from a recording, its ``dlae inspect`` counts and what the backends build
agree by construction.

Naming. Layers Keras names explicitly keep that name. Layers Keras leaves unnamed get Keras 2's
automatic names (``conv2d_1``, ``batch_normalization_1``, ``activation_1`` …, numbered from 1 in
creation order within the network) and remember their family (``NetLayer.auto``): weights files match
them by rank within the family, because their numbers depend on what else a process built before.
"""

from __future__ import annotations

import math

import attrs

from dlae_core.layers.builtin import convolution, pooling, utility
from dlae_core.layers.spec import LayerSpec, ShapeError

__all__ = ["INPUT", "NetLayer", "Recording", "Recorder"]

INPUT = -1  # the id of the network's input in NetLayer.inputs

_TYPES = {t.name: t() for t in convolution.LAYER_TYPES + pooling.LAYER_TYPES + utility.LAYER_TYPES}
# Keras' automatic layer-name families of the layer types a network may leave unnamed
_FAMILIES = {"Convolution 2D": "conv2d", "Batch normalization": "batch_normalization",
             "Activation": "activation", "Max pooling 2D": "max_pooling2d", "Zero padding 2D": "zero_padding2d",
             "Average pooling 2D": "average_pooling2d", "add": "add", "concatenate": "concatenate",
             "scaled_add": "custom_scale_layer"}


@attrs.frozen
class NetLayer:
    """One layer of a recorded network: ``op`` is ``layer`` (``spec``) or ``merge`` (``mode``,
    ``scales``); ``inputs`` are ids of earlier layers or :data:`INPUT`."""

    name: str
    op: str
    spec: LayerSpec | None
    inputs: tuple[int, ...]
    shape: tuple
    mode: str | None = None
    scales: tuple[float, ...] | None = None
    trainable: int = 0
    non_trainable: int = 0
    auto: str | None = None  # Keras auto-name family, when Keras leaves the layer unnamed


@attrs.frozen
class Recording:
    """A whole network: its layers in creation order, the output layer id and the five tap ids
    (after tap processing, whose layers follow the network's own ``body`` layers)."""

    network: str
    input_shape: tuple
    layers: tuple[NetLayer, ...]
    output: int
    taps: tuple[int, ...]
    body: int

    def totals(self) -> tuple[int, int]:
        return (sum(layer.trainable for layer in self.layers), sum(layer.non_trainable for layer in self.layers))


class Recorder:
    """The ``b`` of an architecture walk. Methods take and return layer ids."""

    def __init__(self, network: str, input_shape: tuple, relu_taps: tuple[int, ...] = ()):
        self.network, self.input_shape = network, tuple(input_shape)
        self.layers: list[NetLayer] = []
        self.taps: list[int] = []
        self.counts: dict[str, int] = {}
        self.relu_taps = relu_taps  # Inception: the N-th automatically named ReLU is a tap

    # -- bookkeeping ----------------------------------------------------------------------------------
    def shape(self, x: int) -> tuple:
        return self.input_shape if x == INPUT else self.layers[x].shape

    def _name(self, name: str | None, family_key: str) -> tuple[str, str | None]:
        if name is not None:
            return name, None
        family = _FAMILIES[family_key]
        self.counts[family] = self.counts.get(family, 0) + 1
        return f"{family}_{self.counts[family]}", family

    def _append(self, layer: NetLayer) -> int:
        self.layers.append(layer)
        return len(self.layers) - 1

    def layer(self, type_name: str, x: int, name: str | None = None, **values) -> int:
        """Apply the built-in layer type ``type_name`` with its defaults overridden by ``values``."""
        layer_type = _TYPES[type_name]
        params = {p.name: p.default for p in layer_type.params}
        params.update(values)
        spec = LayerSpec(type_name, params)
        shape = self.shape(x)
        try:
            out = layer_type.output_shape(shape, spec)
        except ShapeError as exc:
            raise ShapeError(f"{self.network}: input too small: {exc}") from None
        trainable, frozen = layer_type.param_counts(shape, spec)
        name, auto = self._name(name, type_name)
        return self._append(NetLayer(name, "layer", spec, (x,), tuple(out), trainable=trainable,
                                     non_trainable=frozen, auto=auto))

    def tap(self, x: int) -> int:
        self.taps.append(x)
        return x

    # -- layers -------------------------------------------------------------------------------------
    def conv(self, x, filters, kernel, stride=1, padding="valid", bias=True, groups=1, name=None) -> int:
        return self.layer("Convolution 2D", x, name, filters=filters, kernel=_pair(kernel), stride=_pair(stride),
                          padding=padding, initializer="glorot_uniform", use_bias=bias, groups=groups)

    def depthwise(self, x, kernel=3, stride=1, padding="same", multiplier=1, bias=False, name=None) -> int:
        return self.layer("Depthwise separable convolution 2D", x, name, filters=multiplier, kernel=_pair(kernel),
                          stride=_pair(stride), padding=padding, initializer="glorot_uniform", use_bias=bias)

    def separable(self, x, filters, name, kernel=3, bias=False) -> int:
        return self.layer("Separable convolution 2D", x, name, filters=filters, kernel=_pair(kernel),
                          padding="same", initializer="glorot_uniform", use_bias=bias)

    def bn(self, x, name=None, epsilon=1e-3, momentum=0.99, scale=True) -> int:
        return self.layer("Batch normalization", x, name, momentum=momentum, epsilon=epsilon, scale=scale)

    def act(self, x, name=None, fn="relu") -> int:
        out = self.layer("Activation", x, name, activation=fn)
        if name is None and self.counts["activation"] in self.relu_taps:
            self.tap(out)
        return out

    def pad(self, x, pads, name=None) -> int:
        return self.layer("Zero padding 2D", x, name, padding=_pads(pads))

    def max_pool(self, x, size, stride, padding="valid", name=None) -> int:
        return self.layer("Max pooling 2D", x, name, pool=_pair(size), stride=_pair(stride), padding=padding)

    def avg_pool(self, x, size, stride, padding="valid", name=None) -> int:
        return self.layer("Average pooling 2D", x, name, pool=_pair(size), stride=_pair(stride), padding=padding)

    def gap(self, x, name="avg_pool") -> int:
        return self.layer("Global average pooling 2D", x, name)

    def dense(self, x, units, name, activation=None) -> int:
        out = self.layer("Dense", x, name, units=units)
        return self.act(out, f"{name}_{activation}", activation) if activation else out

    def merge(self, mode: str, xs, name=None, scales=None) -> int:
        shapes = [self.shape(x) for x in xs]
        if mode == "concatenate":
            if len({s[:-1] for s in shapes}) != 1:
                raise ShapeError(f"{self.network}: input too small (branches of sizes {shapes} cannot be joined)")
            out = shapes[0][:-1] + (sum(s[-1] for s in shapes),)
        else:
            if len(set(shapes)) != 1:
                raise ShapeError(f"{self.network}: input too small (branches of sizes {shapes} cannot be added)")
            out = shapes[0]
        name, _ = self._name(name, "scaled_add" if scales else mode)
        return self._append(NetLayer(name, "merge", None, tuple(xs), out, mode=mode,
                                     scales=tuple(scales) if scales else None))

    def add(self, xs, name=None, scales=None) -> int:
        return self.merge("add", xs, name, scales)

    def concat(self, xs, name=None) -> int:
        return self.merge("concatenate", xs, name)

    # -- the end of a walk ----------------------------------------------------------------------------
    def finish(self, output: int, tap_rule) -> Recording:
        """Apply the tap processing (``tap_rule(recorder, k, tap_id) -> id``) and freeze the recording."""
        if len(self.taps) != 5:
            raise AssertionError(f"{self.network}: {len(self.taps)} taps recorded, expected 5")
        body = len(self.layers)
        taps = tuple(tap_rule(self, k, tap) for k, tap in enumerate(self.taps, start=1))
        return Recording(self.network, self.input_shape, tuple(self.layers), output, taps, body)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _pads(value) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(value, int):
        return ((value, value), (value, value))
    return tuple(tuple(p) for p in value)


def target_padding(size: int, target: int) -> tuple[int, int]:
    """Zero padding (before, after) that brings ``size`` up to ``target``: the extra pixel goes first,
    as in the original's 512×512 table (255 → 256 pads (1, 0))."""
    d = max(target - size, 0)
    return (d - d // 2, d // 2)


def tap_target(n: int, k: int) -> int:
    """The spatial size tap ``k`` (1-based) must have for an input of size ``n``: ``ceil(n / 2**k)``."""
    return math.ceil(n / 2 ** k)
