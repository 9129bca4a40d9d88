"""Shared fixtures of the foundation suite.

* ``registry`` -- a fresh Registry holding only the built-in plugin (no entry points),
* ``original_dir`` -- ../shared/dlae-original (the test is skipped where it is absent),
* ``write_config`` -- ``write_config(tmp_path, dict, name="config.json") -> Path``,
* ``minimal_typed_config`` -- ``minimal_typed_config(**section_overrides) -> dict``: a small,
  valid CNN config in the typed form (absent keys take their defaults).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import dlae_core.plugin.builtin
from dlae_core.plugin.registry import Registry, make_plugin_manager, reset_registry

ORIGINAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "dlae-original"

# Conv 3x3 'same' on (8, 8, 3) with 4 filters: 3*3*3*4 + 4 = 112 parameters; Flatten -> 256;
# Dense 2: 256*2 + 2 = 514 parameters. Output (2,).
MINIMAL_LAYERS = [
    "Input:(8, 8, 3)",
    {"type": "Convolution 2D", "filters": 4, "kernel": [3, 3]},
    "Activation:relu",
    "Flatten",
    {"type": "Dense", "units": 2},
    "Activation:softmax",
]
MINIMAL_PARAMS = 112 + 514


def make_registry() -> Registry:
    return Registry(make_plugin_manager(load_entrypoints=False, plugins=[dlae_core.plugin.builtin]))


@pytest.fixture
def registry() -> Registry:
    return make_registry()


@pytest.fixture
def original_dir() -> Path:
    if not ORIGINAL_DIR.is_dir():
        pytest.skip("../shared/dlae-original is not present (a user's clone has no ../shared)")
    return ORIGINAL_DIR


def _write_config(tmp_path: Path, data: dict, name: str = "config.json") -> Path:
    path = Path(tmp_path) / name
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def _minimal_typed_config(**sections: dict) -> dict:
    """A valid typed CNN config; each keyword replaces keys of that section (``layers`` too)."""
    config = {
        "config_file": {"model_signal": "CNN", "type_signal": "Train", "input_shape": [8, 8, 3]},
        "preprocessing": {"categorical_switch": False, "categories": 2},
        "loss_function": {"loss": "sparse_categorical_crossentropy", "parameter1": 0.0, "parameter2": 0.0},
        "optimizer": {"optimizer": "Adam", "beta1": 0.9, "beta2": 0.999, "epsilon": None},
        "training_configurations": {"batch_size": 4, "epochs": 2, "validation_split": 0.0},
        "layers": {"serial_layer_list": copy.deepcopy(MINIMAL_LAYERS),
                   "generator_layer_list": [], "discriminator_layer_list": []},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(copy.deepcopy(values))
    return config


@pytest.fixture
def write_config():
    return _write_config


@pytest.fixture
def minimal_typed_config():
    return _minimal_typed_config


@pytest.fixture
def fresh_default_registry():
    """Reset the process-wide registry the CLI uses before and after a test."""
    reset_registry()
    yield
    reset_registry()
