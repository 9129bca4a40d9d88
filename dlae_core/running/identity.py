"""The identity of a run: a hash of its canonical config.

The canonical config is the typed form of the parsed config (so the original all-strings form and the
typed form of the same experiment are one config) without what only says what is saved where (the
``save_configurations`` section and the checkpoint to resume from): two runs with the same identity
train the same model on the same data with the same settings, whatever they keep and wherever. Paths the config reads are part of it, made
absolute against the config's folder as every session resolves them.
"""

from __future__ import annotations

import hashlib
import json

from dlae_core.config.convert import config_to_dict

__all__ = ["OUTPUT_SECTIONS", "OUTPUT_KEYS", "canonical_config", "config_hash"]

#: what is left out of the identity: what a run keeps and where, not what it trains
OUTPUT_SECTIONS = ("save_configurations",)
OUTPUT_KEYS = (("paths", "load_checkpoint"),)


def canonical_config(config, registry) -> dict:
    """The typed form of ``config`` without its output locations (see the module docstring)."""
    data = config_to_dict(config, registry, legacy=False)
    for section in OUTPUT_SECTIONS:
        data.pop(section, None)
    for section, key in OUTPUT_KEYS:
        data.get(section, {}).pop(key, None)
    return _same_numbers(data)


def _same_numbers(value):
    """Whole floats as ints, tuples as lists: ``8`` and ``8.0`` (a string form parses some numbers as
    floats) are one value."""
    if isinstance(value, dict):
        return {key: _same_numbers(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_same_numbers(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def config_hash(config, registry, length: int = 16) -> str:
    """Hex digest (``length`` characters) of the canonical config: stable across value forms, key
    order and output paths."""
    text = json.dumps(canonical_config(config, registry), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf8")).hexdigest()[:length]
