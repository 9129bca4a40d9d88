"""The plugin hooks are a contract with every installed plugin: their names, their argument names, the
arguments of the ``register`` callables they receive, the entry-point group and the implementation
kinds are pinned here. Changing one breaks third-party plugins; change this file only together with
a documented migration (docs/PLUGINS.md)."""

from __future__ import annotations

import inspect
import types
from pathlib import Path

import pluggy
import pytest

import dlae_core.api
import dlae_core.plugin.builtin
from dlae_core.plugin import hookspecs
from dlae_core.plugin.components import IMPLEMENTABLE, LossInfo
from dlae_core.plugin.manager import GROUP, make_plugin_manager
from dlae_core.plugin.registry import Registry

#: hook name -> argument names of the hook
HOOKS = {
    "register_layers": ("register",),
    "register_losses": ("register",),
    "register_optimizers": ("register",),
    "register_activations": ("register",),
    "register_techniques": ("register",),
    "register_backends": ("register",),
    "register_implementations": ("register",),
}
#: argument names of the ``register`` callable of ``register_implementations`` (the other hooks'
#: ``register`` takes the one record, positionally)
IMPLEMENTATION_ARGUMENTS = ("kind", "name", "backend", "implementation")
IMPLEMENTATION_KINDS = ("layer", "loss", "optimizer", "activation", "technique")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "PLUGINS.md"


def declared_hooks() -> dict[str, tuple[str, ...]]:
    found = {}
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if hasattr(function, "dlae_spec"):
            found[name] = tuple(inspect.signature(function).parameters)
    return found


def test_hook_names_and_argument_names_are_pinned():
    assert declared_hooks() == HOOKS


def test_the_plugin_manager_sees_the_same_hooks():
    pm = make_plugin_manager(load_entrypoints=False)
    for name, arguments in HOOKS.items():
        caller = getattr(pm.hook, name)
        assert caller.spec is not None, name
        assert tuple(caller.spec.argnames) == arguments, name


def test_project_name_and_entry_point_group():
    assert GROUP == "dlae"
    assert hookspecs.hookimpl.project_name == "dlae"
    assert hookspecs.hookspec.project_name == "dlae"
    assert dlae_core.api.hookimpl is hookspecs.hookimpl


def test_implementation_kinds_are_pinned():
    assert tuple(IMPLEMENTABLE) == IMPLEMENTATION_KINDS


def test_the_register_callables_take_the_documented_arguments():
    """A plugin may call ``register`` with keywords; the names it may use are pinned."""
    plugin = types.ModuleType("dlae_keyword_plugin")

    @hookspecs.hookimpl
    def register_losses(register):
        register(LossInfo("keyword_loss", "registered with a positional argument"))

    @hookspecs.hookimpl
    def register_implementations(register):
        register(**dict(zip(IMPLEMENTATION_ARGUMENTS, ("loss", "keyword_loss", "torch", "somewhere.module:attribute"))))

    plugin.register_losses = register_losses
    plugin.register_implementations = register_implementations
    registry = Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, plugin]))
    assert registry.implementations[("loss", "keyword_loss", "torch")] == "somewhere.module:attribute"
    assert registry.implementation_owner[("loss", "keyword_loss", "torch")] == "dlae_keyword_plugin"


def test_a_hook_with_an_unknown_argument_is_refused():
    """pluggy refuses an implementation asking for an argument its hook does not have, so a typo in a
    plugin fails at load time, not silently."""
    plugin = types.ModuleType("dlae_bad_argument_plugin")

    @hookspecs.hookimpl
    def register_layers(register, backend):  # no such argument
        pass

    plugin.register_layers = register_layers
    with pytest.raises(pluggy.PluginValidationError):
        make_plugin_manager(load_entrypoints=False, plugins=[plugin])


def test_the_removed_builders_hook_is_not_declared():
    assert "register_builders" not in declared_hooks()


def test_every_hook_is_documented_for_plugin_authors():
    text = DOCS.read_text(encoding="utf-8")
    for name, arguments in HOOKS.items():
        assert f"`{name}({', '.join(arguments)})`" in text, name
    assert f"register({', '.join(IMPLEMENTATION_ARGUMENTS)})" in text
