"""Layer types (what a layer *is*) and layer specs (one parsed entry of a layer list).

A :class:`LayerType` is registered through the ``register_layers`` hook. It
declares its parameters in grammar order, how its output shape follows from its
input shape, and how many weights it has — all without a framework. Backends
build the real layer from a :class:`LayerSpec` through their own builders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import attrs

from dlae_core.config.values import Kind

REQUIRED = attrs.NOTHING


class ShapeError(Exception):
    """A layer cannot be applied to its input shape; the message says why."""


@attrs.frozen
class Param:
    """One positional parameter of a layer string, in grammar order."""

    name: str
    kind: Kind
    default: object = REQUIRED
    doc: str = ""
    registry: str | None = None  # value must be a name in this registry (e.g. "activations")


@attrs.frozen(eq=True, hash=False)
class LayerSpec:
    """One parsed layer: its registered type name and its parameter values (by name)."""

    type: str
    params: Mapping[str, object] = attrs.field(factory=dict, converter=dict)

    def __getitem__(self, name: str) -> object:
        return self.params[name]


class LayerType:
    """Base class of every layer type; subclass and register an instance.

    Class attributes:
      name     -- the exact layer-string name, e.g. ``"Convolution 2D"``
      params   -- :class:`Param` tuple in layer-string order
      role     -- ``layer`` (applied to the current tensor), ``input``, ``pretrained``,
                  ``outer_source``, ``outer_target``, ``inner_source``, ``inner_target``, ``hook``
      rank     -- spatial rank the input must have (2 or 3), or None for any
      family   -- grouping used by ``dlae list layers``
      example_params / example_input -- a valid instance for contract tests
    """

    name: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    role: ClassVar[str] = "layer"
    rank: ClassVar[int | None] = None
    family: ClassVar[str] = "utility"
    doc: ClassVar[str] = ""
    example_params: ClassVar[dict] = {}
    example_input: ClassVar[tuple | None] = None

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        """Shape (without batch axis) produced from ``shape``; raise ShapeError if invalid."""
        return shape

    def param_counts(self, shape: tuple, spec: LayerSpec) -> tuple[int, int]:
        """(trainable, non-trainable) weight counts, counted as Keras counts them."""
        return (0, 0)

    # -- helpers for subclasses -------------------------------------------------
    def check_rank(self, shape: tuple) -> None:
        if self.rank is not None and len(shape) != self.rank + 1:
            want = "(rows, cols, channels)" if self.rank == 2 else "(rows, cols, slices, channels)"
            raise ShapeError(f"{self.name} needs a {self.rank + 1}-D input {want}, got shape {shape}")

    def example_spec(self) -> LayerSpec:
        values = {p.name: p.default for p in self.params}
        values.update(self.example_params)
        return LayerSpec(self.name, values)

    def default_example_input(self) -> tuple:
        if self.example_input is not None:
            return self.example_input
        return {2: (8, 8, 3), 3: (8, 8, 8, 2)}.get(self.rank, (8, 8, 3))


def numel(shape: tuple) -> int:
    return int(math.prod(shape))
