"""Config paths: one way to name a place in a config, shared by the Python API and sweep files.

A config path is ``section.key`` (``loss_function.loss``), ``layers.<list>[i]`` (a whole entry of a layer
list, replaced by a layer string or object) or ``layers.<list>[i].<parameter>`` (one parameter of that
layer). Reading gives the parsed, typed value (defaults for absent keys); writing checks the value with
the config's own rules and stores it in the form the config is written in, so a config in the original
string form stays in that form.
"""

from __future__ import annotations

import re

import attrs

from dlae_core.config.schema import LAYER_LISTS, SECTIONS
from dlae_core.config.values import ValueProblem, to_json
from dlae_core.errors import ConfigError, Problem, problem

__all__ = ["ConfigPath", "parse_path", "get_value", "set_value", "is_legacy"]

_LAYER = re.compile(r"^layers\.(\w+)\[(-?\d+)\](?:\.(.+))?$")


@attrs.frozen
class ConfigPath:
    """A parsed config path: a section key, or a layer entry (``index``) and maybe one of its ``param``."""

    text: str
    section: str
    key: str | None = None  # section key, or the layer list name
    index: int | None = None
    param: str | None = None

    @property
    def is_layer(self) -> bool:
        return self.section == "layers"


def parse_path(text: object, where: str | None = None, registry=None) -> ConfigPath:
    """Parse ``text``; ConfigError (located at ``where``, default the path itself) when it names no key."""
    where = where or str(text)
    if not isinstance(text, str):
        raise ConfigError([problem(where, "a config path must be a string", expected="e.g. 'loss_function.loss'",
                                   received=text)])
    match = _LAYER.match(text)
    if match:
        name, index, param = match.group(1), int(match.group(2)), match.group(3)
        if name not in LAYER_LISTS:
            raise ConfigError([problem(where, "unknown layer list", expected="one of " + ", ".join(LAYER_LISTS),
                                       received=name, choices=LAYER_LISTS)])
        return ConfigPath(text, "layers", name, index, param)
    section, _, key = text.partition(".")
    if section not in SECTIONS:
        raise ConfigError([problem(where, "unknown config section", expected="a path such as 'loss_function.loss' "
                                   "or 'layers.serial_layer_list[3].filters'", received=section,
                                   choices=list(SECTIONS) + ["layers"])])
    fields = {f.name: f for f in attrs.fields(SECTIONS[section])}
    if key not in fields:
        raise ConfigError([problem(where, f"unknown key of section {section!r}",
                                   expected=f"a key of {section!r} (see docs/CONFIG.md)", received=key,
                                   choices=fields)])
    return ConfigPath(text, section, key)


def is_legacy(raw: dict) -> bool:
    """Whether ``raw`` is written in the original all-strings form (every section value a string)."""
    values = [v for name in SECTIONS for v in (raw.get(name) or {}).values()] if isinstance(raw, dict) else []
    return bool(values) and all(isinstance(v, str) for v in values)


def _field(path: ConfigPath):
    return {f.name: f for f in attrs.fields(SECTIONS[path.section])}[path.key]


def _layer_entries(raw: dict, path: ConfigPath, where: str) -> list:
    entries = raw.setdefault("layers", {}).setdefault(path.key, [])
    if not -len(entries) <= path.index < len(entries):
        raise ConfigError([problem(where, f"layers.{path.key} has {len(entries)} entries, so there is no "
                                   f"entry {path.index}", expected=f"an index in [0, {len(entries) - 1}]",
                                   received=path.index)])
    return entries


def get_value(raw: dict, path: ConfigPath, registry, where: str | None = None):
    """The parsed value at ``path`` (a LayerSpec for a whole layer entry)."""
    where = where or path.text
    if path.is_layer:
        from dlae_core.layers.grammar import parse_layer

        entries = _layer_entries(raw, path, where)
        spec, problems = parse_layer(entries[path.index], where, registry)
        if problems:
            raise ConfigError(problems)
        if path.param is None:
            return spec
        if path.param not in spec.params:
            raise ConfigError([problem(where, f"{spec.type} has no parameter {path.param!r}",
                                       expected="one of " + ", ".join(spec.params), received=path.param,
                                       choices=spec.params)])
        return spec.params[path.param]
    field = _field(path)
    value = (raw.get(path.section) or {}).get(path.key)
    if value is None or value == "":
        return field.default
    return _parse_field(field, value, where, registry)


def _parse_field(field, value, where: str, registry):
    try:
        parsed = field.metadata["kind"].parse(value)
    except ValueProblem as exc:
        raise ConfigError([Problem(where, "invalid value", exc.expected, value, exc.suggestion)]) from None
    names = field.metadata["registry"]
    if names and parsed not in registry.items[names]:
        noun = names[:-2] if names.endswith("sses") else names[:-1]
        raise ConfigError([problem(where, f"unknown {noun}", expected="one of " + ", ".join(
            repr(n) for n in sorted(registry.items[names])), received=parsed, choices=registry.items[names])])
    return parsed


def set_value(raw: dict, path: ConfigPath, value, registry, where: str | None = None) -> None:
    """Check ``value`` as the config would and store it at ``path`` in ``raw``'s form."""
    where = where or path.text
    legacy = is_legacy(raw)
    if path.is_layer:
        _set_layer(raw, path, value, registry, where, legacy)
        return
    field = _field(path)
    kind = field.metadata["kind"]
    if value is None and field.default is None:
        stored = "None" if legacy else None
    else:
        parsed = _parse_field(field, value, where, registry)
        stored = kind.format(parsed) if legacy else kind.typed(parsed)
    section = raw.setdefault(path.section, {})
    if not isinstance(section, dict):
        raise ConfigError([problem(path.section, "a section must be a JSON object", received=section)])
    section[path.key] = stored


def _set_layer(raw: dict, path: ConfigPath, value, registry, where: str, legacy_config: bool) -> None:
    from dlae_core.layers.grammar import format_layer, parse_layer
    from dlae_core.layers.spec import LayerSpec

    entries = _layer_entries(raw, path, where)
    old = entries[path.index]
    if path.param is None:
        spec = value if isinstance(value, LayerSpec) else None
        if spec is None:
            spec, problems = parse_layer(value, where, registry)
            if problems:
                raise ConfigError(problems)
        legacy = isinstance(value, str) or (isinstance(value, LayerSpec) and isinstance(old, str))
    else:
        current = get_value(raw, attrs.evolve(path, param=None), registry, where)
        if path.param not in current.params:
            raise ConfigError([problem(where, f"{current.type} has no parameter {path.param!r}",
                                       expected="one of " + ", ".join(current.params), received=path.param,
                                       choices=current.params)])
        # an object entry keeps its own keys (only this one changes); a string entry is rewritten whole
        edited = dict(old) if isinstance(old, dict) else format_layer(current, registry, legacy=False)
        edited[path.param] = to_json(value) if not isinstance(value, str) else value
        spec, problems = parse_layer(edited, where, registry)
        if problems:  # about this one parameter: located where the caller named it
            raise ConfigError([attrs.evolve(p, where=where) for p in problems])
        if isinstance(old, dict):
            entries[path.index] = edited
            return
        legacy = isinstance(old, str)
    entries[path.index] = format_layer(spec, registry, legacy=legacy or (legacy_config and isinstance(old, str)))
