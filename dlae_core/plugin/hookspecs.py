"""The dlae plugin hooks. A plugin is a module with ``@hookimpl`` functions,
registered through the ``dlae`` entry-point group (built-ins use the same path).

Each ``register_<things>(register)`` hook receives a ``register`` callable and
calls it once per thing it provides. The core collects them into dicts keyed by
name; two plugins registering the same name is an error that names both.
"""

import pluggy

hookspec = pluggy.HookspecMarker("dlae")
hookimpl = pluggy.HookimplMarker("dlae")


@hookspec
def register_layers(register):
    """Register layer types: ``register(layer_type_instance)`` (a dlae_core.layers.spec.LayerType)."""


@hookspec
def register_losses(register):
    """Register losses: ``register(loss_info)`` (a dlae_core.plugin.components.LossInfo)."""


@hookspec
def register_optimizers(register):
    """Register optimizers: ``register(optimizer_info)`` (a dlae_core.plugin.components.OptimizerInfo)."""


@hookspec
def register_activations(register):
    """Register activation names usable in ``Activation:<name>``: ``register(activation_info)``."""


@hookspec
def register_techniques(register):
    """Register techniques (model types): ``register(technique_info)`` (dlae_core.plugin.components.TechniqueInfo)."""


@hookspec
def register_backends(register):
    """Register backends: ``register(backend_info)`` (dlae_core.plugin.components.BackendInfo).
    Never import the framework here: BackendInfo.load() does that on first use."""


@hookspec
def register_builders(backend, register):
    """Register framework implementations for ``backend`` (e.g. "torch").

    Call ``register(kind, name, builder)`` with kind "layer", "loss" or "activation".
    Import the framework inside this function (it only runs once that backend is in use).
    """
