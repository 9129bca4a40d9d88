"""The torch backend's pluggy plugin (entry point ``torch = "dlae_torch.plugin"``, group ``dlae``).

Importing this module never imports torch: ``implementations.json`` (beside it) lists lazy
references (``"module:TABLE"``, the entry of the table under the component's name) that the
registry imports only when the torch backend is used; a test checks it against the tables.
"""

from __future__ import annotations

from dlae_core.plugin.components import BackendInfo, register_manifest
from dlae_core.plugin.hookspecs import hookimpl


@hookimpl
def register_backends(register):
    register(BackendInfo("torch", "PyTorch backend (CPU and CUDA).", "dlae_torch.backend", requires=("torch",)))


@hookimpl
def register_implementations(register):
    register_manifest(register, "dlae_torch")
