"""The page's config: read from a file, checked and inspected as the CLI does, written back.

The page holds a config in its *page form*: the sections' values as the original strings
(booleans as JSON booleans) and every layer as its layer string, which the parser reads as it reads
any config. Checking runs the CLI's own steps (parse, plan, and on request the backend's
implementations and the data files) and returns every :class:`~dlae_core.errors.Problem` with its
JSON path (``layers.serial_layer_list[3]``), so the page puts each message at its field; the
``dlae inspect`` report comes with it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs

from dlae_core.config.schema import LAYER_LISTS, SECTIONS
from dlae_core.config.values import ValueProblem, format_tuple
from dlae_core.errors import DlaeError, Problem, ProblemsError
from dlae_core.gui.describe import page_value
from dlae_core.layers.grammar import format_layer, parse_layer

FORMS = ("typed", "legacy")


def problem_json(item: Problem) -> dict:
    """One problem for the page: where it is, its one line (as the CLI prints it), and what."""
    return {"where": item.where, "line": item.line(), "what": item.what}


def _raw_text(value: object) -> object:
    """A raw value that does not parse, kept as close to what was written as the page can edit."""
    if isinstance(value, (bool, str)):
        return value
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        return format_tuple(value)
    return json.dumps(value)


def _page_section(name: str, cls: type, raw: object) -> object:
    if not isinstance(raw, dict):
        return raw  # the parser says what is wrong with it
    fields = {f.name: f for f in attrs.fields(cls)}
    out = {}
    for key, value in raw.items():
        field = fields.get(key)
        if field is None or value == "":  # unknown keys are kept so the check names them
            out[key] = value
            continue
        kind = field.metadata["kind"]
        try:
            out[key] = page_value(kind, kind.parse(value))
        except ValueProblem:  # null where None is no value means "absent", as "" does
            out[key] = "" if value is None else _raw_text(value)
    return out


def _page_layer(entry: object, where: str, registry) -> object:
    spec, problems = parse_layer(entry, where, registry)
    if spec is None:
        return entry  # kept as written (a string, or an object the page edits as JSON)
    return format_layer(spec, registry, legacy=True)


def page_form(raw: dict, registry) -> dict:
    """The page form of a raw config dict (either value form). Each value that parses is written in
    the string form; one that does not is kept as written, so nothing is lost and the check names it."""
    out = {name: _page_section(name, cls, raw[name]) for name, cls in SECTIONS.items() if name in raw}
    out.update({name: value for name, value in raw.items() if name not in SECTIONS and name != "layers"})
    layers = raw.get("layers", {})
    if isinstance(layers, dict):
        out["layers"] = {name: [_page_layer(e, f"layers.{name}[{i}]", registry) for i, e in enumerate(entries)]
                         if isinstance(entries, list) else entries for name, entries in layers.items()}
        for name in LAYER_LISTS:
            out["layers"].setdefault(name, [])
    else:
        out["layers"] = layers
    return out


def read_config_file(path: str | Path, registry) -> dict:
    """The page form of a config file (ConfigFileError when it is not a readable JSON object)."""
    from dlae_core.config.parser import read_json

    return page_form(read_json(path), registry)


def parse_page(page: dict, registry, source: str | None = None):
    """Parse a page-form config: ``(config, problems)``, config None when a value does not parse."""
    from dlae_core.config.parser import parse_config

    try:
        return parse_config(page, registry, source=source), []
    except ProblemsError as exc:
        return None, list(exc.problems)


def check_page(page: dict, folder: str | Path, registry, *, data: bool = False, backend: str | None = None) -> dict:
    """Check a page-form config as ``dlae validate`` does (relative paths from ``folder``) and inspect
    it as ``dlae inspect --json`` does. Returns ``{"ok", "problems", "inspect", "summary"}``;
    ``inspect`` is None when a value does not parse, and covers the layers before a shape error."""
    from dlae_core.running.paths import resolve_relative_paths

    config, problems = parse_page(page, registry, str(Path(folder) / "config.json"))
    if config is None:
        return {"ok": False, "problems": [problem_json(p) for p in problems], "inspect": None, "summary": None}
    config = resolve_relative_paths(config, folder)
    report, problems, plan = _plan_and_inspect(config, registry)
    if not problems and (backend or data):
        problems = _deeper_checks(config, plan, registry, backend=backend, data=data)
    summary = None
    if plan is not None and not problems:
        summary = (f"{plan.technique} {config.config_file.type_signal}: "
                   + ", ".join(f"{g.list_name} -> {g.output_shape}" for g in plan.graphs.values())
                   + f", {report['total_params']:,} parameters")
    return {"ok": not problems, "problems": [problem_json(p) for p in problems], "inspect": report,
            "summary": summary}


def _deeper_checks(config, plan, registry, *, backend: str | None, data: bool) -> list[Problem]:
    """``dlae validate --backend B`` (implementations) and the data checks, as problems."""
    from dlae_core.data.checks import check_data
    from dlae_core.planning.implementations import check_implementations

    try:
        if backend:
            registry.check_backend(backend)
            check_implementations(config, plan, registry, backend)
    except ProblemsError as exc:
        return list(exc.problems)
    except DlaeError as exc:
        return [Problem("", exc.lines()[0])]
    return list(check_data(config, plan, registry)) if data else []


def _plan_and_inspect(config, registry):
    """(inspect report or None, problems, plan or None). When the plan fails, the graphs that can be
    built (up to the layer with a shape error) still give the table."""
    from dlae_core.planning.plan import ModelPlan, plan_model

    try:
        plan = plan_model(config, registry)
    except ProblemsError as exc:
        graphs = _partial_graphs(config, registry, exc.problems)
        if not graphs:
            return None, list(exc.problems), None
        technique = registry.techniques[config.config_file.model_signal]
        plan = ModelPlan(technique.name, graphs, next(iter(graphs)))
        return _report(config, plan, registry, partial=True), list(exc.problems), None
    return _report(config, plan, registry), [], plan


def _report(config, plan, registry, partial: bool = False) -> dict:
    """``dlae inspect --json``'s report; ``partial``: the layer rows of graphs that failed a check."""
    from dlae_core.planning.inspection import _graph_report, inspect_plan

    if partial:  # the technique's extras (BBD heads) need a valid plan: only the layer rows
        models = {role: _graph_report(graph, registry) for role, graph in plan.graphs.items()}
        rows = [row for model in models.values() for row in model["layers"]]
        total = sum(m["total_params"] for m in models.values())
        return {"technique": plan.technique, "layers": rows, "models": models, "total_params": total,
                "activation_bytes_per_sample": sum(m["activation_bytes_per_sample"] for m in models.values()),
                "partial": True}
    report = inspect_plan(config, plan, registry)
    report["partial"] = False
    return report


def _partial_graphs(config, registry, problems) -> dict:
    """The graph of the first layer list with a located problem, walked up to the faulty layer, so the
    table still shows the layers before it. Other lists are left out: walked alone they could show
    shapes the technique would not build (a pix2pix discriminator is conditioned on the source)."""
    from dlae_core.planning.graph import WalkError, _Builder

    for item in problems:
        name, position = _layer_position(item.where)
        if name is None or position < 1:
            continue
        specs = getattr(config.layers, name)
        builder = _Builder(name, registry)  # build_graph's walk, without its end-of-list checks
        try:
            builder.add_input(specs[0], 0)
            for index in range(1, position):
                builder.apply(specs[index], index)
        except WalkError:
            return {}
        return {name: builder.graph()}
    return {}


def _layer_position(where: str) -> tuple[str | None, int]:
    """``("serial_layer_list", 3)`` for ``layers.serial_layer_list[3]...``; ``(None, -1)`` otherwise."""
    for name in LAYER_LISTS:
        prefix = f"layers.{name}["
        if where.startswith(prefix):
            return name, int(where[len(prefix):].split("]")[0])
    return None, -1


def _rebase(value: str | None, old: Path, new: Path) -> str | None:
    """A relative path written for a config in ``old`` rewritten for one in ``new``."""
    if not value or Path(value).expanduser().is_absolute():
        return value
    return Path(os.path.relpath(old / value, new)).as_posix()


def rebase_paths(config, old: Path, new: Path):
    """``config`` with its relative data and output paths still naming the same files from ``new``."""
    from dlae_core.running.paths import INPUTS, OUTPUTS

    if old.resolve() == new.resolve():
        return config
    paths = {name: _rebase(getattr(config.paths, name), old, new) for name in INPUTS}
    saves = {key: _rebase(getattr(config.save_configurations, key), old, new) for _, key, _ in OUTPUTS}
    return config.evolve(paths=paths, save_configurations=saves)


def config_text(page: dict, registry, *, form: str, old_folder: Path | None = None,
                new_folder: Path | None = None) -> str:
    """The file text of a page-form config in ``form`` (typed or legacy), written by the CLI's
    converter (``dlae convert``); ConfigError when a value does not parse."""
    from dlae_core.config.convert import config_to_dict
    from dlae_core.errors import ConfigError

    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, not {form!r}")
    config, problems = parse_page(page, registry)
    if config is None:
        raise ConfigError(problems)
    if old_folder is not None and new_folder is not None:
        config = rebase_paths(config, old_folder, new_folder)
    return json.dumps(config_to_dict(config, registry, legacy=form == "legacy"), indent=1) + "\n"
