"""What the page's forms are made of, as JSON: every section and key of the config schema and every
registered layer type with its parameters, each value with its widget, default and documentation.

Generated from the schema classes and the live registry, so a plugin's layers, losses, optimizers,
activations and techniques appear in the page without GUI code. Values are exchanged with the page
in the original string form (``kind.format``) except booleans (JSON true/false): the parser reads
both forms, so the page never needs to know how a kind parses.
"""

from __future__ import annotations

import attrs

from dlae_core.config import values
from dlae_core.config.docs import USED_BY
from dlae_core.config.schema import LAYER_LISTS, REQUIRED, SECTIONS
from dlae_core.layers.kinds import IntTuple, LiteralBool

# a kind's widget on the page; kinds not named here (shapes, pads, nested numbers, plugin kinds)
# are edited as text in the original string form, which every kind reads
_WIDGETS = (
    (values.Bool, "bool"), (LiteralBool, "bool"), (values.Choice, "choice"), (values.Path, "path"),
    (values.OptionalFloat, "optional-number"), (values.Int, "integer"), (values.Float, "number"),
)


def widget(kind: values.Kind) -> dict:
    """The widget of one value kind: ``{"widget": ..., "describe": ...}`` plus ``choices`` for a
    choice and ``length`` for a tuple of fixed length."""
    out = {"widget": "text", "describe": kind.describe()}
    for cls, name in _WIDGETS:
        if isinstance(kind, cls):
            out["widget"] = name
            break
    if isinstance(kind, values.Choice):
        out["choices"] = list(kind.choices)
    length = getattr(kind, "dims", None) if isinstance(kind, IntTuple) else None
    if isinstance(kind, values.NumberTuple):
        length = kind.length
    if length and out["widget"] == "text":
        out.update(widget="tuple", length=length, none=bool(getattr(kind, "allow_none", False)))
    return out


def page_value(kind: values.Kind, value: object) -> object:
    """A parsed value as the page edits it: a boolean, or the original string form."""
    if widget(kind)["widget"] == "bool":
        return bool(value)
    return kind.format(value)


def _registry_choices(widget_info: dict, registry_name: str | None, registry) -> dict:
    if registry_name:
        widget_info.update(widget="choice", choices=sorted(registry.items[registry_name]))
    return widget_info


def describe_sections(registry) -> list[dict]:
    """Every section and key in the GUI's order, with widget, default, doc and techniques."""
    sections = []
    for name, cls in SECTIONS.items():
        keys = []
        for field in attrs.fields(cls):
            meta, kind = field.metadata, field.metadata["kind"]
            info = _registry_choices(widget(kind), meta["registry"], registry)
            required = field.default is REQUIRED
            info.update(key=field.name, doc=meta["doc"], new=meta["new"], required=required,
                        used_by=[USED_BY[c] for c in meta["used_by"]],
                        default=None if required else page_value(kind, field.default))
            keys.append(info)
        sections.append({"name": name, "keys": keys})
    return sections


def describe_layer(layer_type, registry) -> dict:
    """A layer type: its name, role, family, doc and parameters in layer-string order."""
    params = []
    for param in layer_type.params:
        info = _registry_choices(widget(param.kind), param.registry, registry)
        required = param.default is attrs.NOTHING
        info.update(name=param.name, doc=param.doc, required=required,
                    default=None if required else page_value(param.kind, param.default))
        params.append(info)
    return {"name": layer_type.name, "role": layer_type.role, "family": layer_type.family,
            "rank": layer_type.rank, "doc": layer_type.doc or (type(layer_type).__doc__ or "").strip(),
            "params": params}


def describe_backends(registry) -> list[dict]:
    """Each registered backend and whether its framework is installed (nothing is imported)."""
    return [{"name": name, "installed": not info.missing(), "missing": info.missing()}
            for name, info in sorted(registry.backends.items())]


def describe(registry) -> dict:
    """The whole description the page builds itself from."""
    return {
        "sections": describe_sections(registry),
        "layer_lists": list(LAYER_LISTS),
        "layers": [describe_layer(t, registry) for t in registry.layers.values()],
        "losses": {name: {"doc": info.doc, "techniques": list(info.techniques), "parameter1": info.parameter1,
                          "parameter2": info.parameter2} for name, info in sorted(registry.losses.items())},
        "optimizers": sorted(registry.optimizers),
        "activations": sorted(registry.activations),
        "techniques": sorted(registry.techniques),
        "backends": describe_backends(registry),
    }
