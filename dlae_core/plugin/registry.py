"""The registry: every component registered by every plugin, keyed by name, with who registered it,
and the backend implementations attached to each."""

from __future__ import annotations

from collections import defaultdict

import pluggy

from dlae_core.errors import BackendUnavailableError, did_you_mean
from dlae_core.plugin.components import IMPLEMENTABLE, resolve
from dlae_core.plugin.manager import (PLUGIN_FAULTS, describe_plugin, exception_line, is_builtin,
                                      make_plugin_manager, warn_plugin)

KINDS = ("layers", "losses", "optimizers", "activations", "techniques", "backends")
SINGULAR = {"layers": "layer", "losses": "loss", "optimizers": "optimizer", "activations": "activation",
            "techniques": "technique", "backends": "backend"}


class Registry:
    """Everything registered by all plugins, keyed by name, with who registered it.

    ``implementations[(kind, name, backend)]`` holds each attached implementation (a callable or a
    lazy reference) and ``implementation_owner`` the plugin that attached it.

    A broken plugin never stops the registry: a plugin whose hook raises is dropped whole (nothing
    it registers is kept); a registration that breaks the rules (a name registered twice, an
    implementation for a name nobody registers or registered twice, a nameless component) is
    dropped alone. Either costs one :class:`PluginLoadWarning` per plugin, naming the plugin and
    its distribution (both plugins for a name registered twice); dlae's own plugins are registered
    first, so they always win. ``problems[plugin]`` keeps what went wrong for ``dlae plugins``."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self.owner: dict[tuple[str, str], str] = {}
        self.items: dict[str, dict[str, object]] = {kind: {} for kind in KINDS}
        self.implementations: dict[tuple[str, str, str], object] = {}
        self.implementation_owner: dict[tuple[str, str, str], str] = {}
        self.problems: dict[str, list[str]] = {}
        self._about = {p.name: p for p in getattr(pm, "dlae_loaded", ())}
        self._resolved: dict[str, dict[str, dict[str, object]]] = {}
        self._backend_objects: dict[str, object] = {}
        staged = self._collect()
        for plugin, components, _ in staged:  # every component first: implementations may attach to any
            for kind, thing in components:
                self._add(kind, thing, plugin)
        for plugin, _, attached in staged:
            for kind, name, backend, implementation in attached:
                self._attach(kind, name, backend, implementation, plugin)
        for plugin, problems in self.problems.items():
            more = len(problems) - 3
            warn_plugin("; ".join(problems[:3]) + (f"; and {more} more problems with plugin {plugin!r} "
                                                   f"(see `dlae plugins`)" if more > 0 else ""))

    def _collect(self) -> list[tuple[str, list, list]]:
        """Call every plugin's hooks (dlae's own plugins first), each plugin's registrations kept
        apart: (plugin, [(kind, thing)], [(kind, name, backend, implementation)]). A plugin whose
        hook raises is left out whole."""
        hooks = {f"register_{kind}": kind for kind in KINDS}
        hooks["register_implementations"] = None
        impls: dict[str, list] = {}
        for hook in hooks:
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                impls.setdefault(impl.plugin_name, []).append((hook, impl))
        names = [name for name, plugin in self.pm.list_name_plugin() if plugin is not None]
        names.sort(key=lambda name: not is_builtin(self.pm.get_plugin(name)))
        staged = []
        for plugin in names:
            components: list[tuple[str, object]] = []
            attached: list[tuple[str, str, str, object]] = []
            for hook, impl in sorted(impls.get(plugin, ()), key=lambda pair: list(hooks).index(pair[0])):
                kind = hooks[hook]
                if kind is None:
                    def register(kind, name, backend, implementation, _to=attached):
                        _to.append((kind, name, backend, implementation))
                else:
                    def register(thing, _kind=kind, _to=components):
                        _to.append((_kind, thing))
                try:
                    impl.function(register)
                except PLUGIN_FAULTS as exc:  # a third party's bug (even sys.exit) must not break dlae
                    self._problem(plugin, f"{self._describe(plugin)} failed to load: its {hook} hook raised "
                                          f"{exception_line(exc)}; nothing it registers is used")
                    break
            else:
                staged.append((plugin, components, attached))
        return staged

    def _describe(self, plugin: str) -> str:
        return describe_plugin(plugin, self._about.get(plugin))

    def _problem(self, plugin: str, message: str) -> None:
        self.problems.setdefault(plugin, []).append(" ".join(message.split()))  # one line, whatever a repr holds

    def _add(self, kind: str, thing: object, plugin: str) -> None:
        name = getattr(thing, "name", None)
        if not isinstance(name, str) or not name:
            what = SINGULAR[kind]
            self._problem(plugin, f"{self._describe(plugin)} registered {'an' if what[0] in 'aeiou' else 'a'} "
                                  f"{what} without a name (ignored): {thing!r}")
            return
        if name in self.items[kind]:
            first = self.owner[(kind, name)]
            self._problem(plugin, f"{SINGULAR[kind]} {name!r} is registered twice: by {self._describe(first)} and "
                                  f"by {self._describe(plugin)}; the registration by plugin {plugin!r} is ignored")
            return
        implementations = getattr(thing, "implementations", None) or {}
        if not isinstance(implementations, dict):
            self._problem(plugin, f"{self._describe(plugin)} registered the {SINGULAR[kind]} {name!r} with "
                                  f"implementations that are not a dict of backend -> implementation (ignored): "
                                  f"{implementations!r}")
            return
        self.items[kind][name] = thing
        self.owner[(kind, name)] = plugin
        for backend, implementation in implementations.items():
            self._store(SINGULAR[kind], name, backend, implementation, plugin)

    def _attach(self, kind: str, name: str, backend: str, implementation: object, plugin: str) -> None:
        if not all(isinstance(v, str) for v in (kind, name, backend)):
            self._problem(plugin, f"{self._describe(plugin)} registered an implementation with a kind, name and "
                                  f"backend that are not all strings (ignored): {kind!r}, {name!r}, {backend!r}")
            return
        if kind not in IMPLEMENTABLE:
            self._problem(plugin, f"{self._describe(plugin)} registered an implementation of unknown kind {kind!r} "
                                  f"for {name!r} (ignored); use one of {', '.join(IMPLEMENTABLE)}")
            return
        if name not in self.items[IMPLEMENTABLE[kind]]:
            hint = did_you_mean(name, self.items[IMPLEMENTABLE[kind]])
            extra = f" Did you mean {hint!r}?" if hint else ""
            self._problem(plugin, f"{self._describe(plugin)} registered a {backend} implementation of {kind} "
                                  f"{name!r}, which no plugin registers (ignored).{extra}")
            return
        self._store(kind, name, backend, implementation, plugin)

    def _store(self, kind: str, name: str, backend: str, implementation: object, plugin: str) -> None:
        key = (kind, name, backend)
        if key in self.implementations:
            first = self.implementation_owner[key]
            self._problem(plugin, f"the {backend} implementation of {kind} {name!r} is registered twice: by "
                                  f"{self._describe(first)} and by {self._describe(plugin)}; the registration by "
                                  f"plugin {plugin!r} is ignored")
            return
        if not (callable(implementation) or (isinstance(implementation, str) and ":" in implementation)):
            self._problem(plugin, f"{self._describe(plugin)} registered a {backend} implementation of {kind} "
                                  f"{name!r} that is neither callable nor a 'module:attribute' reference "
                                  f"(ignored): {implementation!r}")
            return
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
        if name not in self._backend_objects:
            self._backend_objects[name] = self.backends[name].load()(self)
        return self._backend_objects[name]

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
