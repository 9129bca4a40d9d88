"""Layer strings with shape bookkeeping, for generating prebuilt layer lists at any input size.

:class:`ListBuilder` appends layer strings (the original grammar, LAYER_GRAMMAR §2) and follows the
spatial size (rows, cols[, slices]) after each, so a generator can pad or crop exactly where a decoder
must meet a skip tensor, and can report an input that is too small (:class:`TooSmall`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["ListBuilder", "TooSmall", "tup"]


class TooSmall(Exception):
    """The input is too small for the network: a spatial size reached zero."""


def tup(values) -> str:
    """A tuple in the layer grammar's form: ``(3, 3)``, ``(1000,)``, ``((1, 0), (1, 0))``."""
    return str(tuple(tuple(v) if isinstance(v, (list, tuple)) else v for v in values))


def _num(value: float) -> str:
    return repr(float(value))


class ListBuilder:
    """One layer list being generated: ``layers`` (strings) and ``size``, the current spatial size.

    ``sources`` is the stack of spatial sizes pushed by outer skip sources (or an encoder's taps) that
    later targets merge with, last in first out, as the graph walk pairs them."""

    def __init__(self, input_shape: Sequence[int]):
        self.input_shape = tuple(input_shape)
        self.rank = len(self.input_shape) - 1
        self.size = self.input_shape[:-1]
        self.channels = self.input_shape[-1]
        self.layers: list[str] = [f"Input:{tup(self.input_shape)}"]
        self.sources: list[tuple[int, ...]] = []

    # -- helpers -------------------------------------------------------------------------------
    @property
    def dim(self) -> str:
        return f"{self.rank}D"

    def _axes(self, value) -> tuple[int, ...]:
        return tuple(value) if isinstance(value, (list, tuple)) else (value,) * self.rank

    def _set(self, size: Sequence[int]) -> None:
        size = tuple(int(s) for s in size)
        if min(size) < 1:
            raise TooSmall(size)
        self.size = size

    def add(self, text: str) -> ListBuilder:
        """A layer that keeps the spatial size (activations, normalization, dropout, markers)."""
        self.layers.append(text)
        return self

    # -- layers that change the size -------------------------------------------------------------
    def conv(self, filters: int, kernel=3, stride=1, padding: str = "same", dilation=1, *,
             initializer: str = "he_normal", regularizer: str = "None", l1: float = 0.0,
             l2: float = 0.0) -> ListBuilder:
        kernel, stride, dilation = self._axes(kernel), self._axes(stride), self._axes(dilation)
        if padding == "same":
            size = [math.ceil(n / s) for n, s in zip(self.size, stride)]
        else:
            size = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(self.size, kernel, stride, dilation)]
        self._set(size)
        self.channels = filters
        self.layers.append(f"Convolution {self.dim}:{filters}:{tup(kernel)}:{tup(stride)}:{padding}:"
                           f"{tup(dilation)}:{initializer}:{regularizer}:None:{_num(l1)}:{_num(l2)}")
        return self

    def resize(self, filters: int, kernel=3, upsample=2) -> ListBuilder:
        """Nearest-neighbour upsampling then a 'same' convolution."""
        kernel, upsample = self._axes(kernel), self._axes(upsample)
        self._set([n * u for n, u in zip(self.size, upsample)])
        self.channels = filters
        one = tup((1,) * self.rank)
        self.layers.append(f"Resize convolution {self.dim}:{filters}:{tup(kernel)}:{one}:{tup(upsample)}:same:"
                           f"{one}:he_normal:None:None:0.0:0.0")
        return self

    def pool(self, pool=2, stride=None) -> ListBuilder:
        pool = self._axes(pool)
        stride = pool if stride is None else self._axes(stride)
        self._set([(n - p) // s + 1 if n >= p else 0 for n, p, s in zip(self.size, pool, stride)])
        self.layers.append(f"Max pooling {self.dim}:{tup(pool)}:{tup(stride)}")
        return self

    def pad(self, pairs: Sequence[tuple[int, int]]) -> ListBuilder:
        self._set([n + a + b for n, (a, b) in zip(self.size, pairs)])
        self.layers.append(f"Zero padding {self.dim}:{tup(pairs)}")
        return self

    def crop(self, pairs: Sequence[tuple[int, int]]) -> ListBuilder:
        self._set([n - a - b for n, (a, b) in zip(self.size, pairs)])
        self.layers.append(f"Cropping {self.dim}:{tup(pairs)}")
        return self

    def fit(self, target: Sequence[int], *, centre: bool = False) -> ListBuilder:
        """Zero-pad the axes smaller than ``target`` and crop the larger ones, so the current map has
        the spatial size ``target``. The difference goes to the end (bottom / right / back) of each axis,
        where a floor or ceil division lost or gained it, or (``centre``) is split with the larger half
        first, as the original pads its Inception encoders' outputs."""
        target = tuple(target)[:self.rank]

        def split(d: int) -> tuple[int, int]:
            return (d - d // 2, d // 2) if centre else (0, d)

        grow = [split(max(t - n, 0)) for n, t in zip(self.size, target)]
        shrink = [split(max(n - t, 0)) for n, t in zip(self.size, target)]
        if any(sum(p) for p in grow):
            self.pad(grow)
        if any(sum(p) for p in shrink):
            self.crop(shrink)
        return self

    # -- skips and blocks ----------------------------------------------------------------------------
    def source(self) -> ListBuilder:
        self.sources.append(self.size)
        return self.add("Outer skip source:concatenate")

    def target(self) -> ListBuilder:
        """Fit the current map to the most recent unmerged source, then merge (concatenate) with it."""
        self.fit(self.sources.pop())
        return self.add("Outer skip target:concatenate")

    def bn(self, momentum: float = 0.99, epsilon: float = 0.001) -> ListBuilder:
        return self.add(f"Batch normalization:{_num(momentum)}:{_num(epsilon)}")

    def act(self, name: str) -> ListBuilder:
        return self.add(f"Activation:{name}")

    def cbr(self, filters: int, kernel=3) -> ListBuilder:
        """Convolution, batch normalization, ReLU: the block of the original U-Nets."""
        return self.conv(filters, kernel).bn().act("relu")
