"""Each backend's implementations.json names exactly what its tables implement, and every built-in
component has an implementation on every backend (checked without and with importing the framework)."""

import importlib
import json
from importlib import resources

import pytest

from dlae_core.plugin.components import IMPLEMENTABLE, resolve

BACKENDS = ("torch", "tensorflow")


def manifest(backend: str) -> dict:
    return json.loads(resources.files(f"dlae_{backend}").joinpath("implementations.json").read_text())


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_builtin_component_is_implemented_without_importing_the_framework(backend, registry):
    """The manifest covers every built-in layer, loss, activation, optimizer and technique that needs
    framework code; nothing is imported to know it."""
    listed = {(kind, name) for kind, tables in manifest(backend)["implementations"].items()
              for names in tables.values() for name in names}
    needed = {("layer", n) for n, t in registry.layers.items() if t.role == "layer"}
    needed |= {("loss", n) for n in registry.losses if registry.losses[n].target != "gan"}
    needed |= {("activation", n) for n in registry.activations}
    needed |= {("optimizer", n) for n in registry.optimizers}
    needed |= {("technique", n) for n, t in registry.techniques.items() if t.needs_implementation}
    assert manifest(backend)["backend"] == backend
    assert set(manifest(backend)["implementations"]) <= set(IMPLEMENTABLE)
    assert needed - listed == set()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_manifest_names_exactly_the_entries_of_its_tables(backend):
    """Each reference's table holds exactly the names listed under it, and each resolves."""
    pytest.importorskip(backend)
    for kind, tables in manifest(backend)["implementations"].items():
        for reference, names in tables.items():
            module, _, attribute = reference.partition(":")
            table = getattr(importlib.import_module(module), attribute)
            assert sorted(table) == sorted(names), (kind, reference)
            for name in names:
                assert callable(resolve(reference, name)), (kind, name)
