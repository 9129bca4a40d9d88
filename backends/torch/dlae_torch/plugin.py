"""The torch backend's pluggy plugin (entry point ``torch = "dlae_torch.plugin"``, group ``dlae``).

Importing this module never imports torch; the builders are imported in ``register_builders``
only when the torch backend is asked for them.
"""

from __future__ import annotations

from dlae_core.plugin.components import BackendInfo
from dlae_core.plugin.hookspecs import hookimpl


@hookimpl
def register_backends(register):
    register(BackendInfo("torch", "PyTorch backend (CPU and CUDA).", "dlae_torch.backend", requires=("torch",)))


@hookimpl
def register_builders(backend, register):
    if backend != "torch":
        return
    from dlae_torch import activations, layers, layers_conv, losses

    for table in (layers.BUILDERS, layers_conv.BUILDERS):
        for name, builder in table.items():
            register("layer", name, builder)
    for name, builder in losses.BUILDERS.items():
        register("loss", name, builder)
    from dlae_torch.bbd_model import ssd_builder

    register("loss", "ssd", ssd_builder)
    for name, builder in activations.BUILDERS.items():
        register("activation", name, builder)
