"""The dlae plugin hooks. A plugin is a module with ``@hookimpl`` functions,
registered through the ``dlae`` entry-point group (dlae's own components and both
backends use the same path).

Each ``register_<things>(register)`` hook receives a ``register`` callable and
calls it once per thing it provides. The core collects them into dicts keyed by
name; two plugins registering the same name is one warning that names both, and the later
registration is ignored (dlae's own components always win).

The hook names and signatures are pinned by tests/test_hookspecs.py: renaming one breaks every
installed plugin.
"""

import pluggy

hookspec = pluggy.HookspecMarker("dlae")
hookimpl = pluggy.HookimplMarker("dlae")


@hookspec
def register_layers(register):
    """Register layer types: ``register(layer_type_instance)`` (a :class:`dlae_core.api.LayerType`).
    A layer type may carry ``implementations = {"torch": ..., "tensorflow": ...}``."""


@hookspec
def register_losses(register):
    """Register losses: ``register(loss_info)`` (a :class:`dlae_core.api.LossInfo`)."""


@hookspec
def register_optimizers(register):
    """Register optimizers: ``register(optimizer_info)`` (a :class:`dlae_core.api.OptimizerInfo`)."""


@hookspec
def register_activations(register):
    """Register activation names usable in ``Activation:<name>``: ``register(activation_info)``
    (a :class:`dlae_core.api.ActivationInfo`)."""


@hookspec
def register_techniques(register):
    """Register techniques (model types): ``register(technique)`` (a :class:`dlae_core.api.Technique`
    instance, which carries the technique's behaviour)."""


@hookspec
def register_backends(register):
    """Register backends: ``register(backend_info)`` (a :class:`dlae_core.api.BackendInfo`).
    Never import the framework here: BackendInfo.load() does that on first use."""


@hookspec
def register_implementations(register):
    """Attach backend implementations to components registered by any plugin:
    ``register(kind, name, backend, implementation)`` with kind ``layer``, ``loss``, ``optimizer``,
    ``activation`` or ``technique``; ``implementation`` is a callable or a lazy reference
    ``"package.module:attribute"`` (imported only when ``backend`` is used). Registering a second
    implementation for the same (kind, name, backend), or one for a name nobody registered, is one
    warning naming the plugins, and that registration is ignored."""
