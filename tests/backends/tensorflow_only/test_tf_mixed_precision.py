"""What ``precision: bf16`` selects on a GPU (Keras' mixed_bfloat16 policy), run on the CPU: training
works with float32 variables and the global policy is restored."""

import math

import pytest

pytest.importorskip("tensorflow")

from support import fcn_layers, make_config, make_data, read_csv, save_to, stored_dtypes, train  # noqa: E402


def test_mixed_precision_policy_trains_with_float32_variables(tmp_path, monkeypatch):
    import dlae_tensorflow.backend as backend
    from dlae_tensorflow.device import Placement

    monkeypatch.setattr(backend, "choose_placement",
                        lambda config, rank=None: Placement("/CPU:0", "mixed_bfloat16", note="test policy"))
    data = make_data(tmp_path / "data", "segmentation", n=8, size=8)
    out = tmp_path / "out"
    config = make_config("FCN", (8, 8, 1), fcn_layers(8), data, save_configurations=save_to(out),
                         training_configurations={"epochs": 1})
    result = train("tensorflow", config, tmp_path / "config.json")
    assert "note: test policy" in result.stderr
    _, rows = read_csv(out / "history.csv")
    assert math.isfinite(rows[0]["loss"])
    assert stored_dtypes("tensorflow", out / "model.pt") == {"float32"}
    import keras

    assert keras.mixed_precision.dtype_policy().name == "float32"  # the global policy is restored
