"""The hooks of the autoencoder plugin (entry point ``autoencoder`` in the ``dlae`` group)."""

from __future__ import annotations

from dlae_core.api import hookimpl


@hookimpl
def register_techniques(register):
    from dlae_autoencoder_plugin.technique import AE

    register(AE())
