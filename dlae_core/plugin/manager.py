"""The plugin manager factory: built-ins, backends and third-party plugins, all through the ``dlae``
entry-point group. Nothing is loaded at import time.

A broken plugin never breaks dlae: an entry point whose import raises (any exception, ``sys.exit``
or ``KeyboardInterrupt`` included) costs one :class:`PluginLoadWarning` naming the plugin and its
distribution, and is listed by ``dlae plugins`` with what went wrong (``pm.dlae_failed``)."""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Iterable

import attrs
import pluggy

from dlae_core.plugin import hookspecs

GROUP = "dlae"

# dlae's own plugins (the dlae distribution's entry points): loaded first, and their registrations
# always win over a third-party plugin registering the same name.
BUILTIN_MODULES = frozenset({"dlae_core.plugin.builtin", "dlae_torch.plugin", "dlae_tensorflow.plugin"})

# What a plugin may raise while it is imported or registered without taking dlae down with it.
PLUGIN_FAULTS = (Exception, SystemExit, KeyboardInterrupt)


class PluginLoadWarning(UserWarning):
    """A plugin distribution failed to load (or part of what it registers is refused); dlae goes on without it."""


@attrs.define
class LoadedPlugin:
    name: str
    distribution: str | None
    version: str | None
    problem: str | None = None  # why it failed to load (for ``pm.dlae_failed``)


def is_builtin(plugin: object) -> bool:
    """Whether ``plugin`` (a registered plugin object) is one of dlae's own."""
    return getattr(plugin, "__name__", None) in BUILTIN_MODULES


def exception_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line (newlines folded, long messages cut)."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_plugin(name: str, loaded: LoadedPlugin | None) -> str:
    """``plugin 'name' from distribution dist`` (without the distribution where none is known)."""
    if loaded is not None and loaded.distribution:
        return f"plugin {name!r} from distribution {loaded.distribution}"
    return f"plugin {name!r}"


def warn_plugin(message: str) -> None:
    """One PluginLoadWarning, on one line (the CLI prints it as one ``warning:`` line)."""
    warnings.warn(" ".join(message.split()), PluginLoadWarning, stacklevel=3)


def _entry_point_is_builtin(ep) -> bool:
    dist = getattr(ep, "dist", None)
    return getattr(ep, "value", None) in BUILTIN_MODULES or getattr(dist, "name", None) == "dlae"


def make_plugin_manager(*, load_entrypoints: bool = True, plugins: Iterable[object] = ()) -> pluggy.PluginManager:
    """A fresh plugin manager. Entry points of group ``dlae`` are loaded one by one (dlae's own
    first) so a broken plugin only costs a one-line warning naming its distribution; ``plugins``
    (modules or objects with ``@hookimpl`` functions) are added after them, e.g. by tests.

    ``pm.dlae_loaded`` lists the plugins registered, ``pm.dlae_failed`` those that failed to load
    (with ``problem`` saying why)."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    pm.dlae_loaded = []  # type: ignore[attr-defined]
    pm.dlae_failed = []  # type: ignore[attr-defined]
    if load_entrypoints:
        points = sorted(importlib.metadata.entry_points(group=GROUP), key=lambda ep: not _entry_point_is_builtin(ep))
        values: dict[str, tuple[str, str | None]] = {}
        for ep in points:
            dist = getattr(ep, "dist", None)
            dist_name, version = (dist.name, dist.version) if dist is not None else (None, None)
            loaded = LoadedPlugin(ep.name, dist_name, version)
            if ep.name in values:
                first_value, first_dist = values[ep.name]
                if first_value != ep.value:  # not the same distribution seen twice on sys.path
                    loaded.problem = (f"not loaded: the plugin name {ep.name!r} is taken by "
                                      f"{'distribution ' + first_dist if first_dist else 'another plugin'}")
                    pm.dlae_failed.append(loaded)
                    warn_plugin(f"{describe_plugin(ep.name, loaded)} is {loaded.problem}")
                continue
            values[ep.name] = (ep.value, dist_name)
            try:
                pm.register(ep.load(), name=ep.name)
            except PLUGIN_FAULTS as exc:  # a third party's bug (even sys.exit at import) must not break dlae
                if pm.get_plugin(ep.name) is not None:  # pluggy may have added some of its hooks already
                    pm.unregister(name=ep.name)
                loaded.problem = f"failed to load: {exception_line(exc)}"
                pm.dlae_failed.append(loaded)
                warn_plugin(f"plugin {ep.name!r} from distribution {dist_name or '?'} {loaded.problem}")
                continue
            pm.dlae_loaded.append(loaded)
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or repr(plugin)
        pm.register(plugin, name=name)
        pm.dlae_loaded.append(LoadedPlugin(name, None, None))
    return pm
