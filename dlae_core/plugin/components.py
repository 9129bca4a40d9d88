"""Registry records for the things plugins register (besides layer types and techniques).

Every record may carry ``implementations``: backend name -> implementation, where an
implementation is a callable or a lazy reference ``"package.module:attribute"`` that is imported
only when that backend is used (so the CLI stays framework-free). A reference whose attribute is
a mapping (a backend's table of builders) stands for the entry of that mapping under the
component's name. Implementations can also be attached to an already registered component with
the ``register_implementations`` hook (that is how the backends implement dlae's own components).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

import attrs

#: Component kinds that take backend implementations, with their registry (plural) names.
IMPLEMENTABLE = {"layer": "layers", "loss": "losses", "optimizer": "optimizers", "activation": "activations",
                 "technique": "techniques"}


def _frozen_dict(value) -> dict:
    return dict(value or {})


@attrs.frozen
class LossInfo:
    """A loss: its name, what its two parameters mean, the target form it expects.

    ``target`` is one of ``onehot`` (needs categorical targets), ``sparse`` (integer labels),
    ``dense`` (raw values, same shape as the output), ``gan`` or ``ssd``.
    ``techniques`` lists the model types it may be used with.
    Implementation signature: ``builder(context: LossContext) -> loss(prediction, target) -> scalar``.
    """

    name: str
    doc: str
    target: str = "dense"
    techniques: tuple[str, ...] = ("CNN", "FCN")
    parameter1: str | None = None
    parameter2: str | None = None
    spatial_only: bool = False  # needs image-shaped outputs (e.g. tversky)
    implementations: dict = attrs.field(factory=dict, converter=_frozen_dict, eq=False, kw_only=True)


@attrs.frozen
class OptimizerInfo:
    """An optimizer family and which config keys of ``optimizer`` it reads.

    Implementation signature: ``factory(settings: OptimizerSettings, parameters)`` returning the
    framework's optimizer; ``parameters`` is what the backend optimizes (torch: an iterable of
    tensors; tensorflow: None, Keras optimizers take the variables at the first step).
    """

    name: str
    doc: str
    reads: tuple[str, ...] = ()
    implementations: dict = attrs.field(factory=dict, converter=_frozen_dict, eq=False, kw_only=True)


@attrs.frozen
class OptimizerSettings:
    """The hyper-parameters of one optimizer record of the config, as an implementation receives them
    (Keras' meanings: ``rho`` of RMSprop/Adadelta, ``epsilon`` None = the Keras default 1e-7)."""

    name: str
    learning_rate: float
    beta1: float = 0.9
    beta2: float = 0.999
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float | None = None

    @classmethod
    def from_record(cls, record, learning_rate: float) -> "OptimizerSettings":
        """From a config optimizer record (``config.optimizer`` or its GAN sub-records)."""
        name = getattr(record, "optimizer", None) or record.name
        return cls(name, learning_rate, record.beta1, record.beta2, record.rho, record.momentum, record.epsilon)


@attrs.frozen
class ActivationInfo:
    """An activation usable in ``Activation:<name>``; implementation: ``builder() -> layer/module``."""

    name: str
    doc: str = ""
    implementations: dict = attrs.field(factory=dict, converter=_frozen_dict, eq=False, kw_only=True)


@attrs.frozen
class BackendInfo:
    """A backend: ``module`` is imported lazily and must expose ``Backend``, a subclass of
    :class:`dlae_core.running.backend.Backend`."""

    name: str
    doc: str
    module: str
    requires: tuple[str, ...] = ()  # importable framework modules, checked by ``missing()``

    def missing(self) -> list[str]:
        """Framework modules that are not installed."""
        import importlib.util

        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def load(self) -> Callable:
        return importlib.import_module(self.module).Backend


def resolve(reference: object, name: str) -> object:
    """The implementation a registration points at: a callable as it is, a ``"module:attribute"``
    string imported now (the entry ``name`` when the attribute is a mapping)."""
    if not isinstance(reference, str):
        return reference
    module_name, _, attribute = reference.partition(":")
    target = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if isinstance(target, Mapping):
        return target[name]
    return target


def register_manifest(register, package: str, filename: str = "implementations.json") -> None:
    """Register the implementations a package lists in its JSON manifest ``filename`` (read from the
    package's files, nothing imported): ``{"backend": NAME, "implementations": {kind: {reference:
    [component names]}}}``, each name implemented by the entry of the lazy ``reference`` under it.
    A backend plugin calls this from its ``register_implementations`` hook."""
    import json
    from importlib import resources

    manifest = json.loads(resources.files(package).joinpath(filename).read_text(encoding="utf-8"))
    backend = manifest["backend"]
    for kind, tables in manifest["implementations"].items():
        for reference, names in tables.items():
            for name in names:
                register(kind, name, backend, reference)
