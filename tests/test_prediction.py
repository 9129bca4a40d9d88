"""The framework-free side of inference (dlae_core.running.prediction): the saved model's plan."""

import json
from pathlib import Path

import pytest

from dlae_core.errors import ModelFileError
from dlae_core.plugin.registry import get_registry
from dlae_core.running.prediction import saved_plan

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def payload(name: str) -> dict:
    return {"config": json.loads((CONFIGS / name).read_text())}


def test_the_saved_config_rebuilds_without_its_data_paths():
    plan = saved_plan(payload("example_fcn.json"), get_registry(), "m.pt", technique="FCN")
    assert plan.technique == "FCN"
    assert plan.main.output_shape == (16, 16, 3)


def test_a_model_of_another_technique_is_refused_by_name():
    with pytest.raises(ModelFileError) as info:
        saved_plan(payload("example_fcn.json"), get_registry(), "m.pt", technique="BBD")
    assert str(info.value) == ("'m.pt' holds a FCN model, not a BBD model; set config_file.model_signal to 'FCN' "
                               "or load a BBD model")


def test_a_stored_network_that_no_longer_builds_is_one_clear_error():
    broken = payload("example_cnn.json")
    broken["config"]["layers"]["serial_layer_list"][1] = "Convolution 2D:8:(3, 3):(1, 1):same:(1, 1):bad_init"
    with pytest.raises(ModelFileError) as info:
        saved_plan(broken, get_registry(), "m.pt")
    assert str(info.value).startswith("the network stored in 'm.pt' cannot be rebuilt here: ")
    assert "\n" not in str(info.value)
