"""Broken plugins of every kind, installed as real distributions (a ``.dist-info`` folder with an
``entry_points.txt`` next to the plugin's module, found by importlib.metadata): each costs exactly one
PluginLoadWarning naming the plugin and its distribution, the rest of dlae keeps working, and
``dlae plugins``, ``dlae list layers`` and ``dlae validate`` exit 0 with one ``warning:`` line."""

from __future__ import annotations

import importlib.metadata
import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlae_core.cli.main import cli
from dlae_core.config.parser import parse_config
from dlae_core.planning.plan import plan_model
from dlae_core.plugin.manager import PluginLoadWarning, make_plugin_manager
from dlae_core.plugin.registry import Registry, reset_registry

pytestmark = pytest.mark.usefixtures("fresh_default_registry")

WIDE = {"COLUMNS": "250"}

# dlae's own entry points, read from the installed dlae distribution before any test patches anything
OWN = {ep.name: ep for ep in importlib.metadata.entry_points(group="dlae") if ep.value.startswith("dlae_")
       and ep.dist is not None and ep.dist.name == "dlae"}

HEADER = """\
from dlae_core.api import LayerType, LossInfo, hookimpl


class Twice(LayerType):
    name = "Twice"
    doc = "x, twice"

    def output_shape(self, shape, spec):
        return shape
"""

# module source (after HEADER) of each kind of broken plugin
SOURCES = {
    "hook_raises": """
@hookimpl
def register_layers(register):
    register(Twice())  # registered before the failure: must not be kept


@hookimpl
def register_losses(register):
    raise RuntimeError("the loss table is corrupt\\nsecond line")
""",
    "hook_exits": """
@hookimpl
def register_layers(register):
    import sys
    sys.exit(4)
""",
    "import_exits": """
import sys
sys.exit("cannot run here")
""",
    "import_interrupts": """
raise KeyboardInterrupt
""",
    "import_fails": """
import dlae_no_such_module_anywhere  # noqa: F401
""",
    "shadows_dense": """
class Dense(LayerType):
    name = "Dense"


@hookimpl
def register_layers(register):
    register(Dense())
    register(Twice())
""",
    "also_twice": """
@hookimpl
def register_layers(register):
    register(Twice())
""",
    "stray_implementation": """
@hookimpl
def register_layers(register):
    register(Twice())


@hookimpl
def register_implementations(register):
    register("layer", "Twice", "torch", "dlae_nowhere:BUILD")
    register("layer", "Twise", "torch", "dlae_nowhere:BUILD")  # nobody registers 'Twise'
    register("layer", "Dense", "torch", "dlae_nowhere:DENSE")  # the torch backend has one already
""",
    "bad_hook_signature": """
@hookimpl
def register_layers(register):
    register(Twice())


@hookimpl
def register_losses(registrar):  # not the hookspec's argument name: pluggy refuses the plugin
    pass
""",
}


def install(root: Path, module: str, distribution: str, entry_name: str | None = None,
            version: str = "1.0.0") -> importlib.metadata.EntryPoint:
    """A real installed distribution under ``root``: the plugin module and its ``.dist-info``."""
    (root / f"{module}.py").write_text(HEADER + SOURCES[module.removeprefix("dlae_bp_")], encoding="utf-8")
    info = root / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[dlae]\n{entry_name or module} = {module}\n", encoding="utf-8")
    [ep] = importlib.metadata.Distribution.at(info).entry_points
    assert ep.dist.name == distribution
    return ep


@pytest.fixture
def site(tmp_path, monkeypatch):
    """``site(*(module, distribution[, entry name]), core_first=True, own=("core",))``: installs those
    distributions and makes them (with dlae's own entry points ``own``) the only ``dlae`` entry points."""
    assert "core" in OWN, "dlae's own entry point is not installed"
    monkeypatch.syspath_prepend(str(tmp_path))
    imported = set(sys.modules)

    def make(*plugins: tuple[str, ...], core_first: bool = True, own: tuple[str, ...] = ("core",)):
        points = [install(tmp_path, *plugin) for plugin in plugins]
        mine = [OWN[name] for name in own]
        points = mine + points if core_first else points + mine
        monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: list(points) if kw == {"group": "dlae"}
                            else pytest.fail(f"unexpected entry_points({kw})"))
        return points

    yield make
    for name in set(sys.modules) - imported:
        if name.startswith("dlae_bp_"):
            del sys.modules[name]


def build() -> tuple[Registry, list[str]]:
    with pytest.warns(PluginLoadWarning) as record:
        registry = Registry(make_plugin_manager())
    messages = [str(w.message) for w in record if issubclass(w.category, PluginLoadWarning)]
    for message in messages:
        assert "\n" not in message
    return registry, messages


def assert_works(registry: Registry, minimal_typed_config) -> None:
    assert registry.owner[("layers", "Dense")] == "core"
    assert "Convolution 2D" in registry.layers and "Adam" in registry.optimizers
    plan = plan_model(parse_config(minimal_typed_config(), registry), registry)
    assert plan.main.output_shape == (2,)


# ------------------------------------------------------------------ the registry

def test_a_hook_that_raises_drops_the_whole_plugin(site, minimal_typed_config):
    site(("dlae_bp_hook_raises", "dlae-hook-raises"))
    registry, messages = build()
    assert messages == [
        "plugin 'dlae_bp_hook_raises' from distribution dlae-hook-raises failed to load: its register_losses hook "
        "raised RuntimeError: the loss table is corrupt second line; nothing it registers is used"]
    assert "Twice" not in registry.layers  # no half-registered plugin
    assert registry.registered_by("dlae_bp_hook_raises") == {}
    assert_works(registry, minimal_typed_config)


def test_sys_exit_in_a_hook_is_caught(site, minimal_typed_config):
    site(("dlae_bp_hook_exits", "dlae-hook-exits"))
    registry, messages = build()
    assert messages == ["plugin 'dlae_bp_hook_exits' from distribution dlae-hook-exits failed to load: its "
                        "register_layers hook raised SystemExit: 4; nothing it registers is used"]
    assert_works(registry, minimal_typed_config)


@pytest.mark.parametrize("module,distribution,error", [
    ("dlae_bp_import_exits", "dlae-import-exits", "SystemExit: cannot run here"),
    ("dlae_bp_import_interrupts", "dlae-import-interrupts", "KeyboardInterrupt"),
    ("dlae_bp_import_fails", "dlae-import-fails",
     "ModuleNotFoundError: No module named 'dlae_no_such_module_anywhere'"),
])
def test_a_plugin_that_ends_or_fails_its_import_costs_one_warning(site, minimal_typed_config, module, distribution,
                                                                  error):
    site((module, distribution))
    registry, messages = build()
    assert messages == [f"plugin {module!r} from distribution {distribution} failed to load: {error}"]
    assert [p.name for p in registry.pm.dlae_loaded] == ["core"]
    [failed] = registry.pm.dlae_failed
    assert (failed.name, failed.distribution, failed.version) == (module, distribution, "1.0.0")
    assert_works(registry, minimal_typed_config)


@pytest.mark.parametrize("core_first", [True, False])
def test_re_registering_a_built_in_name_keeps_the_built_in(site, minimal_typed_config, core_first):
    site(("dlae_bp_shadows_dense", "dlae-shadows-dense"), core_first=core_first)
    registry, messages = build()
    assert messages == [
        "layer 'Dense' is registered twice: by plugin 'core' from distribution dlae and by plugin "
        "'dlae_bp_shadows_dense' from distribution dlae-shadows-dense; the registration by plugin "
        "'dlae_bp_shadows_dense' is ignored"]
    assert registry.owner[("layers", "Twice")] == "dlae_bp_shadows_dense"  # the rest of the plugin is kept
    assert registry.problems == {"dlae_bp_shadows_dense": messages}
    assert_works(registry, minimal_typed_config)


def test_two_plugins_registering_one_name_keep_the_first_and_name_both(site, minimal_typed_config):
    site(("dlae_bp_shadows_dense", "dlae-first"), ("dlae_bp_also_twice", "dlae-second"))
    registry, messages = build()
    assert len(messages) == 2
    assert messages[1] == (
        "layer 'Twice' is registered twice: by plugin 'dlae_bp_shadows_dense' from distribution dlae-first and by "
        "plugin 'dlae_bp_also_twice' from distribution dlae-second; the registration by plugin "
        "'dlae_bp_also_twice' is ignored")
    assert registry.owner[("layers", "Twice")] == "dlae_bp_shadows_dense"
    assert_works(registry, minimal_typed_config)


def test_stray_and_duplicate_implementations_cost_one_warning(site, minimal_typed_config):
    if "torch" not in OWN:
        pytest.skip("the torch backend plugin is not installed")
    site(("dlae_bp_stray_implementation", "dlae-stray"), core_first=False, own=("core", "torch"))
    registry, messages = build()
    assert messages == [
        "plugin 'dlae_bp_stray_implementation' from distribution dlae-stray registered a torch implementation of "
        "layer 'Twise', which no plugin registers (ignored). Did you mean 'Twice'?; the torch implementation of "
        "layer 'Dense' is registered twice: by plugin 'torch' from distribution dlae and by plugin "
        "'dlae_bp_stray_implementation' from distribution dlae-stray; the registration by plugin "
        "'dlae_bp_stray_implementation' is ignored"]
    assert registry.implementation_owner[("layer", "Twice", "torch")] == "dlae_bp_stray_implementation"
    assert registry.implementation_owner[("layer", "Dense", "torch")] == "torch"
    assert not registry.has_implementation("layer", "Twise", "torch")
    assert_works(registry, minimal_typed_config)


def test_a_plugin_pluggy_refuses_is_not_half_registered(site, minimal_typed_config):
    site(("dlae_bp_bad_hook_signature", "dlae-bad-signature"))
    registry, messages = build()
    [message] = messages
    assert message.startswith("plugin 'dlae_bp_bad_hook_signature' from distribution dlae-bad-signature failed to "
                              "load: PluginValidationError: ")
    assert registry.pm.get_plugin("dlae_bp_bad_hook_signature") is None
    assert "Twice" not in registry.layers
    assert_works(registry, minimal_typed_config)


def test_a_third_party_entry_point_named_core_does_not_replace_dlae(site, minimal_typed_config):
    site(("dlae_bp_also_twice", "dlae-impostor", "core"), core_first=False)
    registry, messages = build()
    assert messages == ["plugin 'core' from distribution dlae-impostor is not loaded: the plugin name 'core' is "
                        "taken by distribution dlae"]
    assert "Twice" not in registry.layers
    assert_works(registry, minimal_typed_config)


def test_many_problems_of_one_plugin_are_one_warning():
    import types

    import dlae_core.plugin.builtin
    from dlae_core.api import hookimpl

    copycat = types.ModuleType("dlae_copycat")

    @hookimpl
    def register_layers(register):
        for layer_type in dlae_core.plugin.builtin.utility.LAYER_TYPES:
            register(layer_type())

    copycat.register_layers = register_layers
    with pytest.warns(PluginLoadWarning) as record:
        Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin, copycat]))
    [warning] = record
    message = str(warning.message)
    assert message.startswith("layer 'Input' is registered twice")
    assert message.endswith("more problems with plugin 'dlae_copycat' (see `dlae plugins`)")


# ------------------------------------------------------------------ the CLI

def invoke(*args: str):
    reset_registry()
    with warnings.catch_warnings():
        warnings.simplefilter("always", PluginLoadWarning)
        return CliRunner().invoke(cli, list(args), env=WIDE)


BROKEN = [
    (("dlae_bp_hook_raises", "dlae-hook-raises"), "failed to load: its register_losses hook raised RuntimeError"),
    (("dlae_bp_hook_exits", "dlae-hook-exits"), "failed to load: its register_layers hook raised SystemExit: 4"),
    (("dlae_bp_import_exits", "dlae-import-exits"), "failed to load: SystemExit: cannot run here"),
    (("dlae_bp_import_interrupts", "dlae-import-interrupts"), "failed to load: KeyboardInterrupt"),
    (("dlae_bp_shadows_dense", "dlae-shadows-dense"), "layer 'Dense' is registered twice"),
]


@pytest.mark.parametrize("plugin,problem", BROKEN, ids=[p[0][0].removeprefix("dlae_bp_") for p in BROKEN])
def test_every_command_works_with_one_warning_line(site, tmp_path, write_config, minimal_typed_config, plugin,
                                                   problem):
    module, distribution = plugin
    site(plugin)
    config = str(write_config(tmp_path, minimal_typed_config()))
    for args, expected in ((("plugins",), "dlae plugins"), (("list", "layers"), "Convolution 2D"),
                           (("validate", "--skip-data", config), "OK ")):
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        assert expected in result.stdout
        [line] = result.stderr.splitlines()
        assert line.startswith("warning: ") and problem in line
        assert f"'{module}' from distribution {distribution}" in line
    # `dlae plugins` lists the broken plugin with what went wrong
    listing = invoke("plugins").stdout
    row = next(line for line in listing.splitlines() if f" {module} " in line)
    assert distribution in row and "1.0.0" in row
    assert "problems" in listing and problem.split(":")[0] in listing
