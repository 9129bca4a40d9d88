"""A parsed Config back to JSON: the typed form or the original all-strings form."""

from __future__ import annotations

import attrs

from dlae_core.layers.grammar import format_layer
from dlae_core.config.schema import LAYER_LISTS, SECTIONS, Config


def config_to_dict(config: Config, registry, *, legacy: bool) -> dict:
    """Every section and key (defaults included), in the GUI's order."""
    out: dict = {}
    for name in SECTIONS:
        section = getattr(config, name)
        values = {}
        for field in attrs.fields(type(section)):
            kind, value = field.metadata["kind"], getattr(section, field.name)
            values[field.name] = kind.format(value) if legacy else kind.typed(value)
        out[name] = values
    out["layers"] = {
        key: [format_layer(spec, registry, legacy=legacy) for spec in getattr(config.layers, key)]
        for key in LAYER_LISTS
    }
    return out
