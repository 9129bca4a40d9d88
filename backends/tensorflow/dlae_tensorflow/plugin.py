"""The tensorflow backend's pluggy plugin (entry point ``tensorflow = "dlae_tensorflow.plugin"``,
group ``dlae``).

Importing this module never imports tensorflow or keras: the implementations are lazy references
(``"module:TABLE"``, the entry of the table under the component's name) that the registry imports
only when the tensorflow backend is used (its backend module and the layer tables, the first
resolved, select Keras on TensorFlow with :func:`dlae_tensorflow.require_tensorflow_keras` before
tensorflow loads). ``implementations.json`` (beside this module) lists what each table
implements; a test checks it against the tables.
"""

from __future__ import annotations

from dlae_core.plugin.components import BackendInfo, register_manifest
from dlae_core.plugin.hookspecs import hookimpl


@hookimpl
def register_backends(register):
    register(BackendInfo("tensorflow", "TensorFlow backend (Keras 3; CPU and GPU).", "dlae_tensorflow.backend",
                         requires=("tensorflow",)))


@hookimpl
def register_implementations(register):
    register_manifest(register, "dlae_tensorflow")
