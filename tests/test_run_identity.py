"""The run identity (dlae_core.running.identity): one hash per experiment, whatever the value form,
key order or output locations."""

from __future__ import annotations

import json

from dlae_core.config.convert import config_to_dict
from dlae_core.config.parser import load_config
from dlae_core.plugin.registry import get_registry
from dlae_core.running.identity import config_hash


def _load(path, raw: dict):
    path.write_text(json.dumps(raw))
    return load_config(str(path), get_registry())


def test_both_value_forms_and_output_paths_share_one_hash(tmp_path, minimal_typed_config):
    registry = get_registry()
    typed = _load(tmp_path / "typed.json", minimal_typed_config())
    legacy = _load(tmp_path / "legacy.json", config_to_dict(typed, registry, legacy=True))
    assert config_hash(typed, registry) == config_hash(legacy, registry)
    moved = minimal_typed_config(save_configurations={"save_model_switch": True,
                                                      "save_model_path": "elsewhere/model.pt"})
    assert config_hash(_load(tmp_path / "moved.json", moved), registry) == config_hash(typed, registry)
    assert len(config_hash(typed, registry)) == 16


def test_a_changed_setting_or_layer_changes_the_hash(tmp_path, minimal_typed_config):
    registry = get_registry()
    base = config_hash(_load(tmp_path / "a.json", minimal_typed_config()), registry)
    rate = minimal_typed_config(learning_rate_schedule={"learning_rate": 0.5})
    assert config_hash(_load(tmp_path / "b.json", rate), registry) != base
    raw = minimal_typed_config()
    raw["layers"]["serial_layer_list"].insert(2, "Batch normalization")
    assert config_hash(_load(tmp_path / "c.json", raw), registry) != base
