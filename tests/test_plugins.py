"""Plugins on a fresh plugin manager: an in-test plugin registering a layer type (with its own shape
rule), a loss and an activation; duplicate names; a broken entry point."""

from __future__ import annotations

import importlib.metadata
import sys
import types
import warnings

import pytest
from click.testing import CliRunner

import dlae_core.plugin.builtin
from dlae_core.plugin.components import ActivationInfo, LossInfo
from dlae_core.config.parser import parse_config
from dlae_core.config.values import Int
from dlae_core.errors import ConfigError
from dlae_core.plugin.hookspecs import hookimpl
from dlae_core.layers.spec import LayerSpec, LayerType, Param, ShapeError
from dlae_core.planning.plan import plan_model
from dlae_core.plugin.manager import PluginLoadWarning, make_plugin_manager
from dlae_core.plugin.registry import Registry, reset_registry

PLUGIN_NAME = "dlae_test_plugin"


class PixelShuffle2D(LayerType):
    """Depth-to-space: (r, c, ch) -> (r * f, c * f, ch / f^2); no weights."""

    name = "Pixel shuffle 2D"
    rank = 2
    family = "convolution"
    params = (Param("factor", Int(minimum=1), 2, "block size"),)
    doc = "Depth-to-space rearrangement."

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        self.check_rank(shape)
        f = spec["factor"]
        if shape[-1] % (f * f):
            raise ShapeError(f"{self.name} needs channels divisible by {f * f}, got {shape[-1]}")
        return (shape[0] * f, shape[1] * f, shape[-1] // (f * f))


class ScaledDense(LayerType):
    """A dense layer with one extra trainable scale and two frozen statistics (to check the counts)."""

    name = "Scaled dense"
    params = (Param("units", Int(minimum=1), 8, "output units"),)

    def output_shape(self, shape, spec):
        return shape[:-1] + (spec["units"],)

    def param_counts(self, shape, spec):
        return (shape[-1] * spec["units"] + spec["units"] + 1, 2)


def make_plugin_module(name: str = PLUGIN_NAME) -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def register_layers(register):
        register(PixelShuffle2D())
        register(ScaledDense())

    @hookimpl
    def register_losses(register):
        register(LossInfo("charbonnier", "sqrt((p - y)^2 + eps^2)", "dense", ("CNN", "FCN"), "eps"))

    @hookimpl
    def register_activations(register):
        register(ActivationInfo("tanhshrink", "x - tanh(x)"))

    module.register_layers = register_layers
    module.register_losses = register_losses
    module.register_activations = register_activations
    return module


@pytest.fixture
def plugin_registry() -> Registry:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, make_plugin_module()])
    return Registry(pm)


def fcn_config(*layers, loss="charbonnier"):
    return {
        "config_file": {"model_signal": "FCN", "type_signal": "Train", "input_shape": [8, 8, 4]},
        "loss_function": {"loss": loss},
        "layers": {"serial_layer_list": ["Input:(8, 8, 4)", *layers]},
    }


def test_plugin_things_are_registered_with_their_owner(plugin_registry):
    reg = plugin_registry
    assert isinstance(reg.layers["Pixel shuffle 2D"], PixelShuffle2D)
    assert reg.losses["charbonnier"].parameter1 == "eps"
    assert reg.activations["tanhshrink"].doc == "x - tanh(x)"
    assert reg.owner[("layers", "Pixel shuffle 2D")] == PLUGIN_NAME
    assert reg.owner[("losses", "charbonnier")] == PLUGIN_NAME
    assert reg.owner[("activations", "tanhshrink")] == PLUGIN_NAME
    assert reg.owner[("layers", "Dense")] == "dlae_core.plugin.builtin"
    assert reg.registered_by(PLUGIN_NAME) == {"layers": ["Pixel shuffle 2D", "Scaled dense"],
                                              "losses": ["charbonnier"], "activations": ["tanhshrink"]}
    assert [p.name for p in reg.pm.dlae_loaded] == ["dlae_core.plugin.builtin", PLUGIN_NAME]


def test_the_builtin_registry_does_not_know_the_plugin(registry):
    assert "Pixel shuffle 2D" not in registry.layers
    with pytest.raises(ConfigError) as info:
        parse_config(fcn_config("Pixel shuffle 2D:2"), registry)
    assert info.value.lines()[0].startswith("loss_function.loss: unknown loss")


def test_a_config_using_the_plugin_validates(plugin_registry):
    raw = fcn_config("Convolution 2D:16", "Pixel shuffle 2D:2", "Activation:tanhshrink", "Scaled dense:3")
    plan = plan_model(parse_config(raw, plugin_registry), plugin_registry)
    shapes = [n.output_shape for n in plan.main.nodes]
    assert shapes == [(8, 8, 4), (8, 8, 16), (16, 16, 4), (16, 16, 4), (16, 16, 3)]
    assert plan.main.totals() == (9 * 4 * 16 + 16 + 4 * 3 + 3 + 1, 2)
    # the typed form reaches the same layer
    typed = fcn_config({"type": "Pixel shuffle 2D", "factor": 2})
    typed["layers"]["serial_layer_list"].insert(1, {"type": "Convolution 2D", "filters": 16})
    spec = parse_config(typed, plugin_registry).layers.serial_layer_list[2]
    assert spec == LayerSpec("Pixel shuffle 2D", {"factor": 2})


def test_the_plugin_shape_rule_reports_through_the_walk(plugin_registry):
    with pytest.raises(ConfigError) as info:
        plan_model(parse_config(fcn_config("Convolution 2D:6", "Pixel shuffle 2D:2"), plugin_registry),
                   plugin_registry)
    assert info.value.lines() == ["layers.serial_layer_list[2]: cannot apply Pixel shuffle 2D to the shape (8, 8, 6): "
                                  "Pixel shuffle 2D needs channels divisible by 4, got 6. "
                                  "Received: 'Pixel shuffle 2D:2'."]


@pytest.mark.parametrize("raw,where,suggestion", [
    (fcn_config("Pixel shufle 2D:2"), "layers.serial_layer_list[1]", "Pixel shuffle 2D"),
    (fcn_config("Convolution 2D:16", "Activation:tanhshrnk"), "layers.serial_layer_list[2]", "tanhshrink"),
    (fcn_config("Convolution 2D:16", loss="charbonier"), "loss_function.loss", "charbonnier"),
])
def test_misspelled_plugin_names_get_did_you_mean(plugin_registry, raw, where, suggestion):
    with pytest.raises(ConfigError) as info:
        parse_config(raw, plugin_registry)
    [line] = info.value.lines()
    assert line.startswith(f"{where}: ")
    assert line.endswith(f"Did you mean {suggestion!r}?")


def test_plugin_layers_convert_both_ways(plugin_registry):
    from dlae_core.config.convert import config_to_dict
    config = parse_config(fcn_config("Convolution 2D:16", "Pixel shuffle 2D:2"), plugin_registry)
    legacy = config_to_dict(config, plugin_registry, legacy=True)
    assert legacy["layers"]["serial_layer_list"][2] == "Pixel shuffle 2D:2"
    typed = config_to_dict(config, plugin_registry, legacy=False)
    assert typed["layers"]["serial_layer_list"][2] == {"type": "Pixel shuffle 2D", "factor": 2}
    assert parse_config(legacy, plugin_registry) == parse_config(typed, plugin_registry) == config


def test_duplicate_names_warn_naming_both_plugins_and_the_first_is_kept():
    duplicate = types.ModuleType("dlae_dup_plugin")

    @hookimpl
    def register_layers(register):
        class Dense(LayerType):
            name = "Dense"
        register(Dense())
        register(PixelShuffle2D())

    duplicate.register_layers = register_layers
    pm = make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, duplicate])
    with pytest.warns(PluginLoadWarning) as record:
        registry = Registry(pm)
    assert [str(w.message) for w in record] == [
        "layer 'Dense' is registered twice: by plugin 'dlae_core.plugin.builtin' and by plugin 'dlae_dup_plugin'; "
        "the registration by plugin 'dlae_dup_plugin' is ignored"]
    assert registry.owner[("layers", "Dense")] == "dlae_core.plugin.builtin"
    assert registry.owner[("layers", "Pixel shuffle 2D")] == "dlae_dup_plugin"  # the rest of it is kept
    assert registry.problems == {"dlae_dup_plugin": [str(record[0].message)]}


def test_duplicate_loss_names_both_plugins():
    duplicate = types.ModuleType("dlae_dup_loss")

    @hookimpl
    def register_losses(register):
        register(LossInfo("focal", "another focal"))

    duplicate.register_losses = register_losses
    pm = make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, duplicate])
    with pytest.warns(PluginLoadWarning) as record:
        registry = Registry(pm)
    [warning] = record
    message = str(warning.message)
    assert "'focal' is registered twice" in message
    assert "'dlae_core.plugin.builtin'" in message and "'dlae_dup_loss'" in message
    assert registry.losses["focal"].doc != "another focal"


def test_built_ins_win_whatever_the_order_of_registration():
    duplicate = types.ModuleType("dlae_early_dup")

    @hookimpl
    def register_layers(register):
        class Dense(LayerType):
            name = "Dense"
        register(Dense())

    duplicate.register_layers = register_layers
    pm = make_plugin_manager(load_entrypoints=False, plugins=[duplicate, dlae_core.plugin.builtin])
    with pytest.warns(PluginLoadWarning, match="the registration by plugin 'dlae_early_dup' is ignored"):
        registry = Registry(pm)
    assert registry.owner[("layers", "Dense")] == "dlae_core.plugin.builtin"


def test_a_nameless_registration_is_ignored_with_a_warning():
    bad = types.ModuleType("dlae_nameless")

    @hookimpl
    def register_activations(register):
        register(ActivationInfo(""))
        register(ActivationInfo("tanhshrink", "x - tanh(x)"))

    bad.register_activations = register_activations
    with pytest.warns(PluginLoadWarning, match=r"plugin 'dlae_nameless' registered an activation without a name"):
        registry = Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, bad]))
    assert "" not in registry.activations and "tanhshrink" in registry.activations


# ------------------------------------------------------------------ entry points

class _Dist:
    name = "dlae-broken-plugin"
    version = "9.9.9"


class BrokenEntryPoint:
    name = "broken"
    group = "dlae"
    value = "dlae_broken_plugin_module"
    dist = _Dist()

    def load(self):
        raise ImportError("No module named 'dlae_broken_plugin_module'")


def _entry_points(monkeypatch, *points):
    def fake(**kwargs):
        assert kwargs == {"group": "dlae"}
        return list(points)
    monkeypatch.setattr(importlib.metadata, "entry_points", fake)


CORE_EP = importlib.metadata.EntryPoint(name="core", value="dlae_core.plugin.builtin", group="dlae")


def test_entry_points_are_loaded_by_name(monkeypatch):
    monkeypatch.setitem(sys.modules, PLUGIN_NAME, make_plugin_module())
    _entry_points(monkeypatch, CORE_EP,
                  importlib.metadata.EntryPoint(name="shuffle", value=PLUGIN_NAME, group="dlae"))
    registry = Registry(make_plugin_manager())
    assert [p.name for p in registry.pm.dlae_loaded] == ["core", "shuffle"]
    assert registry.owner[("layers", "Pixel shuffle 2D")] == "shuffle"
    assert registry.owner[("layers", "Dense")] == "core"


def test_a_broken_entry_point_warns_once_and_the_rest_works(monkeypatch, minimal_typed_config):
    _entry_points(monkeypatch, BrokenEntryPoint(), CORE_EP)
    with pytest.warns(PluginLoadWarning) as record:
        pm = make_plugin_manager()
    assert len(record) == 1
    message = str(record[0].message)
    assert "\n" not in message
    assert message == ("plugin 'broken' from distribution dlae-broken-plugin failed to load: "
                       "ImportError: No module named 'dlae_broken_plugin_module'")
    registry = Registry(pm)
    assert [p.name for p in pm.dlae_loaded] == ["core"]
    assert "Convolution 2D" in registry.layers
    plan = plan_model(parse_config(minimal_typed_config(), registry), registry)
    assert plan.main.output_shape == (2,)


def test_the_cli_still_works_with_a_broken_plugin(monkeypatch, tmp_path, write_config, minimal_typed_config):
    from dlae_core.cli.main import cli
    _entry_points(monkeypatch, BrokenEntryPoint(), CORE_EP)
    reset_registry()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", PluginLoadWarning)
            result = CliRunner().invoke(cli, ["list", "techniques", "--names"])
            validated = CliRunner().invoke(cli, ["validate", "--skip-data",
                                                 str(write_config(tmp_path, minimal_typed_config()))])
    finally:
        reset_registry()
    assert result.exit_code == 0
    assert result.stdout.split() == ["CNN", "FCN", "GAN", "BBD"]
    assert result.stderr.splitlines() == [
        "warning: plugin 'broken' from distribution dlae-broken-plugin failed to load: "
        "ImportError: No module named 'dlae_broken_plugin_module'"]
    assert validated.exit_code == 0
    assert validated.stdout.startswith("OK ")
