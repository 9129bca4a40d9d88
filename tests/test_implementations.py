"""Implementations attached by registration: lazy until a backend is used, one per (kind, name,
backend), only for registered names; `dlae validate --backend` names every component a backend
cannot run before any data is read; an unknown backend is reported first (framework-free)."""

from __future__ import annotations

import sys
import types

import pytest
from click.testing import CliRunner

import dlae_core.plugin.builtin
import dlae_core.plugin.registry as registry_module
from dlae_core.cli.main import cli
from dlae_core.plugin.components import BackendInfo, LossInfo
from dlae_core.plugin.hookspecs import hookimpl
from dlae_core.plugin.manager import PluginLoadWarning, make_plugin_manager
from dlae_core.plugin.registry import Registry


def plugin(name: str, **hooks) -> types.ModuleType:
    """A plugin module named ``name`` whose hook ``h`` calls ``hooks[h](register)``."""
    module = types.ModuleType(name)
    for hook, function in hooks.items():
        setattr(module, hook, hookimpl(specname=hook)(_calling(function)))
    return module


def _calling(function):
    def hook(register):  # pluggy matches the hookspec's argument name
        return function(register)

    return hook


def registry_of(*plugins) -> Registry:
    return Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, *plugins]))


def fake_backend(register):
    register(BackendInfo("fake", "a backend of these tests", "dlae_core_tests_missing_module"))


def test_a_lazy_reference_is_imported_only_when_its_backend_is_used(tmp_path, monkeypatch):
    module = tmp_path / "dlae_lazy_impl.py"
    module.write_text("BUILDERS = {'charbonnier': lambda context: 'built'}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    owner = plugin("dlae_lazy", register_losses=lambda r: r(LossInfo(
        "charbonnier", "sqrt((p - y)^2 + eps^2)", implementations={"fake": "dlae_lazy_impl:BUILDERS"})),
        register_backends=fake_backend)
    registry = registry_of(owner)
    assert registry.has_implementation("loss", "charbonnier", "fake")
    assert "dlae_lazy_impl" not in sys.modules
    assert registry.builders("fake")["loss"]["charbonnier"](None) == "built"
    assert "dlae_lazy_impl" in sys.modules
    assert registry.builders("fake")["layer"] == {}  # nothing else for this backend


def test_an_implementation_for_an_unregistered_name_names_the_plugin_and_is_ignored():
    stray = plugin("dlae_stray", register_implementations=lambda r: r("loss", "focall", "torch", "x.y:z"))
    with pytest.warns(PluginLoadWarning) as record:
        registry = registry_of(stray)
    assert [str(w.message) for w in record] == [
        "plugin 'dlae_stray' registered a torch implementation of loss 'focall', which no plugin registers "
        "(ignored). Did you mean 'focal'?"]
    assert not registry.has_implementation("loss", "focall", "torch")
    assert "focal" in registry.losses  # the registry still works


def test_two_implementations_of_one_component_name_both_plugins_and_the_first_is_kept():
    first = plugin("dlae_first", register_implementations=lambda r: r("loss", "focal", "fake", "a.b:c"))
    second = plugin("dlae_second", register_implementations=lambda r: r("loss", "focal", "fake", "d.e:f"))
    with pytest.warns(PluginLoadWarning) as record:
        registry = registry_of(first, second)
    assert [str(w.message) for w in record] == [
        "the fake implementation of loss 'focal' is registered twice: by plugin 'dlae_first' and by plugin "
        "'dlae_second'; the registration by plugin 'dlae_second' is ignored"]
    assert registry.implementations[("loss", "focal", "fake")] == "a.b:c"
    assert registry.implementation_owner[("loss", "focal", "fake")] == "dlae_first"


def test_an_implementation_of_an_unknown_kind_or_form_is_refused():
    with pytest.warns(PluginLoadWarning, match="unknown kind 'metric'"):
        registry_of(plugin("dlae_kind", register_implementations=lambda r: r("metric", "focal", "fake", "a:b")))
    with pytest.warns(PluginLoadWarning, match=r"neither callable nor a 'module:attribute' reference \(ignored\): "
                                               r"'no_colon'"):
        registry = registry_of(plugin("dlae_form", register_implementations=lambda r: r("loss", "focal", "fake",
                                                                                          "no_colon")))
    assert not registry.has_implementation("loss", "focal", "fake")


@pytest.fixture
def cli_registry(monkeypatch):
    """The CLI's process registry: built-ins plus a plugin whose layer and loss have no implementation."""
    from dlae_core.layers.spec import LayerType

    class Identity(LayerType):
        name = "Identity"
        doc = "x"

        def output_shape(self, shape, spec):
            return shape

    orphan = plugin("dlae_orphan", register_layers=lambda r: r(Identity()),
                    register_losses=lambda r: r(LossInfo("charbonnier", "sqrt((p - y)^2 + eps^2)")))
    registry = Registry(make_plugin_manager(load_entrypoints=True, plugins=[orphan]))
    monkeypatch.setattr(registry_module, "_default", registry)
    return registry


def test_validate_with_a_backend_names_each_component_it_cannot_run(cli_registry, tmp_path, write_config,
                                                                     minimal_typed_config):
    if "torch" not in cli_registry.backends:
        pytest.skip("the torch backend plugin is not installed")
    raw = minimal_typed_config(
        config_file={"model_signal": "CNN", "input_shape": [8, 8, 3]},
        paths={"train_X": str(tmp_path / "missing_X.h5"), "train_y": str(tmp_path / "missing_y.h5")},
        loss_function={"loss": "charbonnier"},
        layers={"serial_layer_list": ["Input:(8, 8, 3)", "Identity", "Flatten", "Dense:2", "Identity",
                                      "Activation:softmax"]})
    result = CliRunner().invoke(cli, ["validate", "--backend", "torch", str(write_config(tmp_path, raw))])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    # located, one per component (not per use), and before the data checks (the files do not exist)
    assert lines == [
        "error: layers.serial_layer_list[1]: layer 'Identity' (registered by plugin 'dlae_orphan') has no torch "
        "implementation. Expected a backend that implements it: none installed. Received: 'torch'.",
        "error: loss_function.loss: loss 'charbonnier' (registered by plugin 'dlae_orphan') has no torch "
        "implementation. Expected a backend that implements it: none installed. Received: 'torch'."]
    without = CliRunner().invoke(cli, ["validate", "--skip-data", str(write_config(tmp_path, raw))])
    assert without.exit_code == 0, without.output  # the config itself is valid


def test_an_unknown_backend_is_reported_first(cli_registry, tmp_path, write_config, minimal_typed_config):
    raw = minimal_typed_config(training_configurations={"batch_size": "many"})  # a config error too
    for command in (["validate", "--backend", "torchh"], ["run", "--backend", "torchh"],
                    ["inspect", "--backend", "torchh"]):
        result = CliRunner().invoke(cli, [*command, str(write_config(tmp_path, raw))])
        assert result.exit_code == 2
        lines = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and lines[0].startswith("error: unknown backend 'torchh'; installed backends: ")
        assert lines[0].endswith("Did you mean 'torch'?") or "torch" not in cli_registry.backends


def test_dlae_list_names_the_backends_of_each_component(cli_registry):
    """`dlae list` shows which backends implement a component, without importing any framework."""
    from dlae_core.cli.registry_commands import _rows

    columns, rows = _rows(cli_registry, "losses")
    by_name = {row[0]: dict(zip(columns, row)) for row in rows}
    assert by_name["charbonnier"]["backends"] == "-"
    expected = ", ".join(sorted(b for b in ("tensorflow", "torch") if b in cli_registry.backends))
    assert by_name["focal"]["backends"] == expected
    columns, rows = _rows(cli_registry, "techniques")
    techniques = {row[0]: dict(zip(columns, row)) for row in rows}
    assert techniques["CNN"]["backends"] == "any (core flow)"
    assert techniques["GAN"]["backends"] == expected
