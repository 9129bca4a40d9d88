"""The tensorflow backend's pluggy plugin (entry point ``tensorflow = "dlae_tensorflow.plugin"``,
group ``dlae``).

Importing this module never imports tensorflow or keras; the builders are imported in
``register_builders`` only when the tensorflow backend is asked for them.
"""

from __future__ import annotations

from dlae_core.plugin.components import BackendInfo
from dlae_core.plugin.hookspecs import hookimpl


@hookimpl
def register_backends(register):
    register(BackendInfo("tensorflow", "TensorFlow backend (Keras 3; CPU and GPU).", "dlae_tensorflow.backend",
                         requires=("tensorflow",)))


@hookimpl
def register_builders(backend, register):
    if backend != "tensorflow":
        return
    from dlae_tensorflow import require_tensorflow_keras

    require_tensorflow_keras()
    from dlae_tensorflow import activations, layers, layers_conv, losses

    for table in (layers.BUILDERS, layers_conv.BUILDERS):
        for name, builder in table.items():
            register("layer", name, builder)
    for name, builder in losses.BUILDERS.items():
        register("loss", name, builder)
    from dlae_tensorflow.bbd_model import ssd_builder

    register("loss", "ssd", ssd_builder)
    for name, builder in activations.BUILDERS.items():
        register("activation", name, builder)
