"""Registries and backends for plugin tests: which backends are installed, pytest parameters over them."""

from __future__ import annotations

import itertools

from dlae_core.plugin.manager import LoadedPlugin, make_plugin_manager
from dlae_core.plugin.registry import Registry


def make_registry(*plugins: object, entrypoints: bool = True) -> Registry:
    """A fresh registry of the installed plugins (entry points of group ``dlae``: dlae's built-ins,
    the backends, every installed plugin) plus ``plugins`` (modules or objects with ``@hookimpl``
    functions) that are not installed already -- so a plugin's tests work whether or not the plugin
    is pip-installed. ``entrypoints=False``: only ``plugins`` (pass ``dlae_core.plugin.builtin`` and
    the backend plugins yourself)."""
    pm = make_plugin_manager(load_entrypoints=entrypoints)
    for plugin in plugins:
        if pm.is_registered(plugin):
            continue
        name = getattr(plugin, "__name__", None) or repr(plugin)
        pm.register(plugin, name=name)
        pm.dlae_loaded.append(LoadedPlugin(name, None, None))  # type: ignore[attr-defined]
    return Registry(pm)


def installed_backends(registry: Registry) -> list[str]:
    """The registered backends whose framework is installed (importable), sorted by name. Nothing is
    imported: a backend whose framework is installed but broken fails in the checks, not here."""
    return sorted(name for name, info in registry.backends.items() if not info.missing())


def backend_pairs(registry: Registry) -> list[tuple[str, str]]:
    """Every pair of installed backends (for cross-backend comparisons)."""
    return list(itertools.combinations(installed_backends(registry), 2))


def backend_params(registry: Registry) -> list:
    """``pytest.param`` per registered backend, marked skip where its framework is missing, for
    ``@pytest.mark.parametrize("backend", backend_params(REGISTRY))``."""
    import pytest

    installed = set(installed_backends(registry))
    params = []
    for name in sorted(registry.backends):
        marks = () if name in installed else pytest.mark.skip(
            reason=f"backend {name!r} needs {', '.join(registry.backends[name].missing())}, which is not installed")
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def backend_pair_params(registry: Registry) -> list:
    """``pytest.param`` per pair of installed backends; one skipped parameter when fewer than two are
    installed, so the test shows up as skipped rather than silently absent."""
    import pytest

    pairs = backend_pairs(registry)
    if not pairs:
        installed = installed_backends(registry)
        return [pytest.param(None, id="no-pair", marks=pytest.mark.skip(
            reason=f"comparing backends needs two installed backends; installed: {', '.join(installed) or 'none'}"))]
    return [pytest.param(pair, id=f"{pair[0]}-{pair[1]}") for pair in pairs]
