"""The plugin manager factory: built-ins, backends and third-party plugins, all through the ``dlae``
entry-point group. Nothing is loaded at import time."""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Iterable

import attrs
import pluggy

from dlae_core.plugin import hookspecs

GROUP = "dlae"


class PluginLoadWarning(UserWarning):
    """A plugin distribution failed to load; dlae goes on without it."""


@attrs.define
class LoadedPlugin:
    name: str
    distribution: str | None
    version: str | None


def make_plugin_manager(*, load_entrypoints: bool = True, plugins: Iterable[object] = ()) -> pluggy.PluginManager:
    """A fresh plugin manager. Entry points of group ``dlae`` are loaded one by one so a
    broken plugin only costs a one-line warning naming its distribution; ``plugins`` (modules or
    objects with ``@hookimpl`` functions) are added after them, e.g. by tests."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    pm.dlae_loaded = []  # type: ignore[attr-defined]
    if load_entrypoints:
        for ep in importlib.metadata.entry_points(group=GROUP):
            dist = getattr(ep, "dist", None)
            dist_name, version = (dist.name, dist.version) if dist is not None else (None, None)
            if pm.get_plugin(ep.name) is not None:
                continue
            try:
                pm.register(ep.load(), name=ep.name)
            except Exception as exc:  # a third party's bug must not break dlae
                warnings.warn(f"plugin {ep.name!r} from distribution {dist_name or '?'} failed to load: "
                              f"{type(exc).__name__}: {exc}", PluginLoadWarning, stacklevel=2)
                continue
            pm.dlae_loaded.append(LoadedPlugin(ep.name, dist_name, version))
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or repr(plugin)
        pm.register(plugin, name=name)
        pm.dlae_loaded.append(LoadedPlugin(name, None, None))
    return pm
