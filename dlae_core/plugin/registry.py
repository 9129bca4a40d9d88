"""The registry: every component registered by every plugin, keyed by name, with who registered it,
and the backend implementations attached to each."""

from __future__ import annotations

from collections import defaultdict

import pluggy

from dlae_core.errors import BackendUnavailableError, PluginError, did_you_mean
from dlae_core.plugin.components import IMPLEMENTABLE, resolve
from dlae_core.plugin.manager import make_plugin_manager

KINDS = ("layers", "losses", "optimizers", "activations", "techniques", "backends")
SINGULAR = {"layers": "layer", "losses": "loss", "optimizers": "optimizer", "activations": "activation",
            "techniques": "technique", "backends": "backend"}


class Registry:
    """Everything registered by all plugins, keyed by name, with who registered it.

    ``implementations[(kind, name, backend)]`` holds each attached implementation (a callable or a
    lazy reference) and ``implementation_owner`` the plugin that attached it."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self.owner: dict[tuple[str, str], str] = {}
        self.items: dict[str, dict[str, object]] = {kind: {} for kind in KINDS}
        self.implementations: dict[tuple[str, str, str], object] = {}
        self.implementation_owner: dict[tuple[str, str, str], str] = {}
        for kind in KINDS:
            hook = getattr(pm.hook, f"register_{kind}")
            for impl in hook.get_hookimpls():
                impl.function(lambda thing, _k=kind, _p=impl.plugin_name: self._add(_k, thing, _p))
        for impl in pm.hook.register_implementations.get_hookimpls():
            impl.function(lambda kind, name, backend, implementation, _p=impl.plugin_name:
                          self._attach(kind, name, backend, implementation, _p))
        self._resolved: dict[str, dict[str, dict[str, object]]] = {}

    def _add(self, kind: str, thing: object, plugin: str) -> None:
        name = getattr(thing, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {SINGULAR[kind]} without a name: {thing!r}")
        if name in self.items[kind]:
            first = self.owner[(kind, name)]
            raise PluginError(f"{SINGULAR[kind]} {name!r} is registered twice: by plugin {first!r} and by plugin {plugin!r}")
        self.items[kind][name] = thing
        self.owner[(kind, name)] = plugin
        for backend, implementation in (getattr(thing, "implementations", None) or {}).items():
            self._store(SINGULAR[kind], name, backend, implementation, plugin)

    def _attach(self, kind: str, name: str, backend: str, implementation: object, plugin: str) -> None:
        if kind not in IMPLEMENTABLE:
            raise PluginError(f"plugin {plugin!r} registered an implementation of unknown kind {kind!r} for "
                              f"{name!r}; use one of {', '.join(IMPLEMENTABLE)}")
        if name not in self.items[IMPLEMENTABLE[kind]]:
            hint = did_you_mean(name, self.items[IMPLEMENTABLE[kind]])
            extra = f" Did you mean {hint!r}?" if hint else ""
            raise PluginError(f"plugin {plugin!r} registered a {backend} implementation of {kind} {name!r}, "
                              f"which no plugin registers.{extra}")
        self._store(kind, name, backend, implementation, plugin)

    def _store(self, kind: str, name: str, backend: str, implementation: object, plugin: str) -> None:
        key = (kind, name, backend)
        if key in self.implementations:
            first = self.implementation_owner[key]
            raise PluginError(f"the {backend} implementation of {kind} {name!r} is registered twice: by plugin "
                              f"{first!r} and by plugin {plugin!r}")
        if not (callable(implementation) or (isinstance(implementation, str) and ":" in implementation)):
            raise PluginError(f"plugin {plugin!r} registered a {backend} implementation of {kind} {name!r} that "
                              f"is neither callable nor a 'module:attribute' reference: {implementation!r}")
        self.implementations[key] = implementation
        self.implementation_owner[key] = plugin

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
        for (kind, name, backend), owner in self.implementation_owner.items():
            if owner == plugin and self.owner.get((IMPLEMENTABLE[kind], name)) != plugin:
                out[f"{backend} implementations"].append(f"{kind} {name}")
        return dict(out)

    def check_backend(self, name: str) -> None:
        """BackendUnavailableError when ``name`` is not a registered backend or its framework is missing."""
        info = self.backends.get(name)
        if info is None:
            hint = did_you_mean(name, self.backends)
            extra = f" Did you mean {hint!r}?" if hint else ""
            raise BackendUnavailableError(f"unknown backend {name!r}; installed backends: "
                                          f"{', '.join(sorted(self.backends)) or 'none'}.{extra}")
        missing = info.missing()
        if missing:
            raise BackendUnavailableError(f"backend {name!r} needs {', '.join(missing)}, which is not installed "
                                          f"(pip install 'dlae[{name}]')")

    def backend(self, name: str):
        """The backend object ``name`` (a :class:`dlae_core.running.backend.Backend`), created on
        first use; BackendUnavailableError when unknown or its framework is missing."""
        self.check_backend(name)
        cache = self.__dict__.setdefault("_backends", {})
        if name not in cache:
            cache[name] = self.backends[name].load()(self)
        return cache[name]

    def has_implementation(self, kind: str, name: str, backend: str) -> bool:
        """Whether ``backend`` has an implementation of ``kind`` ``name`` (nothing is imported)."""
        return (kind, name, backend) in self.implementations

    def builders(self, backend: str) -> dict[str, dict[str, object]]:
        """The implementations registered for ``backend``, resolved (imported): kind -> name -> object."""
        if backend not in self._resolved:
            found: dict[str, dict[str, object]] = {kind: {} for kind in IMPLEMENTABLE}
            for (kind, name, owner_backend), reference in self.implementations.items():
                if owner_backend == backend:
                    found[kind][name] = resolve(reference, name)
            self._resolved[backend] = found
        return self._resolved[backend]


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
