"""Registry records for the things plugins register (besides layer types)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import attrs


@attrs.frozen
class LossInfo:
    """A loss: its name, what its two parameters mean, the target form it expects.

    ``target`` is one of ``onehot`` (needs categorical targets), ``sparse`` (integer labels),
    ``dense`` (raw values, same shape as the output), ``gan`` or ``ssd``.
    ``techniques`` lists the model types it may be used with.
    """

    name: str
    doc: str
    target: str = "dense"
    techniques: tuple[str, ...] = ("CNN", "FCN")
    parameter1: str | None = None
    parameter2: str | None = None
    spatial_only: bool = False  # needs image-shaped outputs (e.g. tversky)


@attrs.frozen
class OptimizerInfo:
    """An optimizer family and which config keys of ``optimizer`` it reads."""

    name: str
    doc: str
    reads: tuple[str, ...] = ()


@attrs.frozen
class ActivationInfo:
    name: str
    doc: str = ""


@attrs.frozen
class TechniqueInfo:
    """A model type: which layer lists it reads and which losses suit it."""

    name: str
    doc: str
    layer_lists: tuple[str, ...] = ("serial_layer_list",)


@attrs.frozen
class BackendInfo:
    """A backend: ``module`` is imported lazily and must expose ``Backend`` (a class)."""

    name: str
    doc: str
    module: str
    requires: tuple[str, ...] = ()  # importable framework modules, checked by ``available()``

    def missing(self) -> list[str]:
        """Framework modules that are not installed."""
        import importlib.util

        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def load(self) -> Callable:
        return importlib.import_module(self.module).Backend
