"""Read a config (original string form or typed form) into a frozen :class:`Config`.

Every problem is collected with its JSON path; nothing is silently "fixed".
Absent keys (and, in the string form, empty strings) take their defaults.
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs

from dlae_core.errors import ConfigError, ConfigFileError, Problem, problem
from dlae_core.layers.grammar import parse_layer
from dlae_core.config.schema import LAYER_LISTS, REQUIRED, SECTIONS, Config, Layers
from dlae_core.config.values import ValueProblem


def read_json(path: str | Path) -> dict:
    """Load a JSON file; a syntax error names the line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"cannot read config file {str(path)!r}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ConfigFileError(f"{path}: the JSON nests arrays or objects too deeply to be read; a config nests "
                              f"at most {MAX_DEPTH} levels") from None
    except (ValueError, MemoryError) as exc:  # e.g. an integer of more than 4300 digits
        raise ConfigFileError(f"{path}: invalid JSON: {_first_line(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: a config must be a JSON object with sections such as "
                              f"'config_file' and 'layers'; received a {type(data).__name__}")
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


MAX_DEPTH = 32  # nesting levels of a config (a real one has at most 6: root, layers, list, layer, pads, pair)


def _too_deep(raw: object) -> str | None:
    """Where (the key or layer holding it) a value nests deeper than MAX_DEPTH levels, or None.
    Iterative, so it never recurses itself."""
    stack = [(raw, "", 1)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, dict):
            children = [(f"{where}.{k}" if where else str(k), v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            children = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
        else:
            continue
        if depth > MAX_DEPTH:
            return where
        # name the place down to a key of a section or an entry of a layer list, not every level below
        named = 4 if where.startswith("layers") else 3  # "layers.<list>[i]" or "<section>.<key>"
        stack.extend((v, w if depth < named else where, depth + 1) for w, v in children)
    return None


def load_config(path: str | Path, registry) -> Config:
    """Read and parse a config file (see :func:`parse_config`)."""
    return parse_config(read_json(path), registry, source=str(path))


def parse_config(raw: dict, registry, source: str | None = None) -> Config:
    """Parse a config dict; raise ConfigError listing every problem found."""
    if not isinstance(raw, dict):
        raise ConfigError([problem("", "a config must be a JSON object with sections such as 'config_file' and "
                                   "'layers'", received=type(raw).__name__)])
    deep = _too_deep(raw)
    if deep is not None:
        raise ConfigError([problem(deep, f"the value nests arrays or objects more than {MAX_DEPTH} levels deep",
                                   expected="a value of this key (a config nests at most 6 levels)")])
    problems: list[Problem] = []
    known = set(SECTIONS) | {"layers"}
    for name in raw:
        if name not in known:
            problems.append(problem(name, "unknown section", expected="one of " + ", ".join(SECTIONS) + ", layers",
                                    received=name, choices=known))
    given: set[str] = set()
    sections = {name: _parse_section(name, cls, raw.get(name, {}), registry, problems, given)
                for name, cls in SECTIONS.items()}
    sections["layers"] = _parse_layers(raw.get("layers", {}), registry, problems)
    if problems:
        raise ConfigError(problems)
    _validation_files_without_split(sections, given)
    return Config(**sections, source=source, given=frozenset(given))


def _validation_files_without_split(sections: dict, given: set[str]) -> None:
    """Validation files given and no ``validation_split`` key: the files are the validation data (no
    split of the training file; the default 0.2 applies only without validation files). An explicit
    ``validation_split`` > 0 still wins over the files, as documented."""
    paths, options = sections["paths"], sections["training_configurations"]
    if "training_configurations.validation_split" in given or options.validation_split == 0:
        return
    if paths.validation_X or paths.validation_y:
        sections["training_configurations"] = attrs.evolve(options, validation_split=0.0)


def _parse_section(name: str, cls: type, raw: object, registry, problems: list[Problem], given: set[str]):
    if not isinstance(raw, dict):
        problems.append(problem(name, "a section must be a JSON object", received=raw))
        raw = {}
    fields = {f.name: f for f in attrs.fields(cls)}
    for key in raw:
        if key not in fields:
            problems.append(problem(f"{name}.{key}", "unknown key", expected=f"a key of section {name!r}",
                                    received=key, choices=fields))
    values = {}
    for key, field in fields.items():
        where = f"{name}.{key}"
        value = raw.get(key, None) if key in raw else None
        absent = key not in raw or value == "" or (value is None and not _accepts_none(field))
        if absent:
            if field.default is REQUIRED:
                problems.append(problem(where, "required key is missing or empty",
                                        expected=_expected(field, registry), received=value if key in raw else None))
            else:
                values[key] = field.default
            continue
        given.add(where)
        parsed = _parse_value(field, value, where, registry, problems)
        if parsed is not _FAILED:
            values[key] = parsed
    if len(values) < len(fields):
        return None
    return cls(**values)


_FAILED = object()


def singular(kind: str) -> str:
    """'losses' -> 'loss', 'optimizers' -> 'optimizer' (registry kind names in messages)."""
    return kind[:-2] if kind.endswith("sses") else kind[:-1]


def _accepts_none(field) -> bool:
    """Whether JSON null is a value of this key (e.g. bbd_options.steps) rather than "absent"."""
    if field.default is None:
        return True
    try:
        field.metadata["kind"].parse_typed(None)
    except ValueProblem:
        return False
    return True


def _expected(field, registry) -> str:
    registry_name = field.metadata["registry"]
    if registry_name:
        return "one of " + ", ".join(repr(n) for n in sorted(registry.items[registry_name]))
    return field.metadata["kind"].describe()


def _parse_value(field, value, where: str, registry, problems: list[Problem]):
    kind = field.metadata["kind"]
    try:
        parsed = kind.parse(value)
    except ValueProblem as exc:
        problems.append(Problem(where, "invalid value", exc.expected, value, exc.suggestion))
        return _FAILED
    registry_name = field.metadata["registry"]
    if registry_name and parsed not in registry.items[registry_name]:
        problems.append(problem(where, f"unknown {singular(registry_name)}", expected=_expected(field, registry),
                                received=parsed, choices=registry.items[registry_name]))
        return _FAILED
    return parsed


def _parse_layers(raw: object, registry, problems: list[Problem]) -> Layers | None:
    if not isinstance(raw, dict):
        problems.append(problem("layers", "a section must be a JSON object", received=raw))
        return None
    for key in raw:
        if key not in LAYER_LISTS:
            problems.append(problem(f"layers.{key}", "unknown key", expected="one of " + ", ".join(LAYER_LISTS),
                                    received=key, choices=LAYER_LISTS))
    lists, before = {}, len(problems)
    for key in LAYER_LISTS:
        entries = raw.get(key, [])
        if not isinstance(entries, list):
            problems.append(problem(f"layers.{key}", "a layer list must be a JSON array", received=entries))
            continue
        specs = []
        for index, entry in enumerate(entries):
            spec, found = parse_layer(entry, f"layers.{key}[{index}]", registry)
            problems.extend(found)
            specs.append(spec)
        lists[key] = tuple(specs)
    return Layers(**lists) if len(problems) == before else None
