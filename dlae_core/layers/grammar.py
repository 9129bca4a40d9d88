"""Layer strings <-> LayerSpec.

String form: ``"Convolution 2D:64:(3, 3):(1, 1):same:..."``.
Typed form: ``{"type": "Convolution 2D", "filters": 64, "kernel": [3, 3], ...}``.
Absent or empty parameters take the documented defaults.
"""

from __future__ import annotations

from dlae_core.config.values import ValueProblem, to_json
from dlae_core.errors import Problem, did_you_mean, problem
from dlae_core.layers.spec import REQUIRED, LayerSpec, LayerType


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _lookup(name: object, where: str, layers: dict) -> tuple[LayerType | None, list[Problem]]:
    if isinstance(name, str) and name in layers:
        return layers[name], []
    return None, [problem(where, "unknown layer type", expected="a registered layer name such as "
                          "'Convolution 2D' (see `dlae list layers`)", received=name, choices=layers)]


def parse_layer(raw: object, where: str, registry) -> tuple[LayerSpec | None, list[Problem]]:
    """Parse one entry of a layer list (string or object). Returns (spec, problems)."""
    if isinstance(raw, str):
        name, *fields = raw.split(":")
        layer_type, problems = _lookup(name.strip() if name.strip() in registry.layers else name, where,
                                       registry.layers)
        if layer_type is None:
            return None, problems
        return _from_fields(layer_type, fields, raw, where, registry)
    if isinstance(raw, dict):
        layer_type, problems = _lookup(raw.get("type"), f"{where}.type", registry.layers)
        if layer_type is None:
            return None, problems
        return _from_mapping(layer_type, raw, where, registry)
    return None, [problem(where, "a layer must be a layer string or an object with a 'type'",
                          expected='e.g. "Dense:10" or {"type": "Dense", "units": 10}', received=raw)]


def _from_fields(layer_type: LayerType, fields: list[str], raw: str, where: str, registry):
    params = layer_type.params
    if len(fields) > len(params):
        names = ":".join(p.name for p in params) or "no parameters"
        return None, [problem(where, f"{layer_type.name} takes {len(params)} parameter(s) ({names}) "
                              f"but {len(fields)} were given", expected=f"{layer_type.name}:{names}"
                              if params else layer_type.name, received=raw)]
    values, problems = {}, []
    for index, param in enumerate(params):
        text = fields[index].strip() if index < len(fields) else ""
        label = f"{layer_type.name} parameter {param.name!r} ({_ordinal(index + 1)} field)"
        if text == "":
            values[param.name] = _default(param, where, label, problems)
            continue
        values[param.name] = _parse_value(param, text, where, label, raw, registry, problems)
    return (LayerSpec(layer_type.name, values), []) if not problems else (None, problems)


def _from_mapping(layer_type: LayerType, raw: dict, where: str, registry):
    known = {p.name for p in layer_type.params}
    problems = [
        problem(f"{where}.{key}", f"{layer_type.name} has no parameter {key!r}",
                expected="one of " + (", ".join(sorted(known)) or "no parameters"), received=key, choices=known)
        for key in raw if key != "type" and key not in known
    ]
    values = {}
    for param in layer_type.params:
        label = f"{layer_type.name} parameter {param.name!r}"
        if param.name not in raw or raw[param.name] == "":  # empty, as in the string form: the default
            values[param.name] = _default(param, f"{where}.{param.name}", label, problems)
        else:
            values[param.name] = _parse_value(param, raw[param.name], f"{where}.{param.name}", label,
                                              raw[param.name], registry, problems)
    return (LayerSpec(layer_type.name, values), []) if not problems else (None, problems)


def _default(param, where: str, label: str, problems: list) -> object:
    if param.default is REQUIRED:
        problems.append(problem(where, f"{label} is missing", expected=param.kind.describe()))
        return None
    return param.default


def _parse_value(param, value, where: str, label: str, raw, registry, problems: list) -> object:
    try:
        parsed = param.kind.parse(value)
    except ValueProblem as exc:
        problems.append(Problem(where, f"{label} is invalid", exc.expected, raw, exc.suggestion))
        return None
    if param.registry:
        names = registry.items[param.registry]
        noun = param.registry[:-2] if param.registry.endswith("sses") else param.registry[:-1]
        if parsed not in names:
            problems.append(problem(where, f"{label}: unknown {noun} {parsed!r}",
                                    expected=f"a registered {noun} (see `dlae list {param.registry}`)",
                                    received=parsed, choices=names))
    return parsed


def format_layer(spec: LayerSpec, registry, *, legacy: bool) -> str | dict:
    """Write a LayerSpec back as a layer string (legacy) or a typed object."""
    layer_type = registry.layers[spec.type]
    if legacy:
        fields = [p.kind.format(spec.params[p.name]) for p in layer_type.params]
        return ":".join([spec.type, *fields])
    return {"type": spec.type, **{p.name: to_json(spec.params[p.name]) for p in layer_type.params}}


def suggest_layer(name: str, registry) -> str | None:
    return did_you_mean(name, registry.layers)
