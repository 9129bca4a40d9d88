"""Plugin manager factory and the registry the core collects from the hooks."""

from __future__ import annotations

import importlib.metadata
import warnings
from collections import defaultdict
from collections.abc import Iterable

import attrs
import pluggy

from dlae_core.plugin import hookspecs
from dlae_core.errors import BackendError, PluginError, did_you_mean

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
    broken plugin only costs a one-line warning naming its distribution."""
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


KINDS = ("layers", "losses", "optimizers", "activations", "techniques", "backends")
SINGULAR = {"layers": "layer", "losses": "loss", "optimizers": "optimizer", "activations": "activation",
            "techniques": "technique", "backends": "backend"}


class Registry:
    """Everything registered by all plugins, keyed by name, with who registered it."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self.owner: dict[tuple[str, str], str] = {}
        self.items: dict[str, dict[str, object]] = {kind: {} for kind in KINDS}
        for kind in KINDS:
            hook = getattr(pm.hook, f"register_{kind}")
            for impl in hook.get_hookimpls():
                impl.function(lambda thing, _k=kind, _p=impl.plugin_name: self._add(_k, thing, _p))
        self._builders: dict[str, dict[str, dict[str, object]]] = {}

    def _add(self, kind: str, thing: object, plugin: str) -> None:
        name = getattr(thing, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {SINGULAR[kind]} without a name: {thing!r}")
        if name in self.items[kind]:
            first = self.owner[(kind, name)]
            raise PluginError(f"{SINGULAR[kind]} {name!r} is registered twice: by plugin {first!r} and by plugin {plugin!r}")
        self.items[kind][name] = thing
        self.owner[(kind, name)] = plugin

    # -- lookups ---------------------------------------------------------------------------
    @property
    def layers(self) -> dict:
        return self.items["layers"]

    @property
    def losses(self) -> dict:
        return self.items["losses"]

    @property
    def optimizers(self) -> dict:
        return self.items["optimizers"]

    @property
    def activations(self) -> dict:
        return self.items["activations"]

    @property
    def techniques(self) -> dict:
        return self.items["techniques"]

    @property
    def backends(self) -> dict:
        return self.items["backends"]

    def registered_by(self, plugin: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for (kind, name), owner in self.owner.items():
            if owner == plugin:
                out[kind].append(name)
        return dict(out)

    def backend(self, name: str):
        """Load the backend class; BackendError when unknown or its framework is missing."""
        info = self.backends.get(name)
        if info is None:
            hint = did_you_mean(name, self.backends)
            extra = f" Did you mean {hint!r}?" if hint else ""
            raise BackendError(f"unknown backend {name!r}; installed backends: "
                               f"{', '.join(sorted(self.backends)) or 'none'}.{extra}")
        missing = info.missing()
        if missing:
            raise BackendError(f"backend {name!r} needs {', '.join(missing)}, which is not installed "
                               f"(pip install 'dlae[{name}]')")
        return info.load()

    def builders(self, backend: str) -> dict[str, dict[str, object]]:
        """Framework implementations registered for ``backend``: kind -> name -> builder."""
        if backend not in self._builders:
            found: dict[str, dict[str, object]] = {"layer": {}, "loss": {}, "activation": {}}

            def register(kind: str, name: str, builder: object) -> None:
                if kind not in found:
                    raise PluginError(f"unknown builder kind {kind!r} for {name!r}; use layer, loss or activation")
                found[kind][name] = builder

            self.pm.hook.register_builders(backend=backend, register=register)
            self._builders[backend] = found
        return self._builders[backend]


_default: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry from installed plugins (built on first use)."""
    global _default
    if _default is None:
        _default = Registry(make_plugin_manager())
    return _default


def reset_registry() -> None:
    global _default
    _default = None
