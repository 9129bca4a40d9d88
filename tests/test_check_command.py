"""``dlae check --backends torch,tensorflow``: the same config built on both frameworks, weights copied
through the canonical layout, gives the same parameter counts, output shapes, outputs and loss."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytest.importorskip("torch")
pytest.importorskip("tensorflow")

from click.testing import CliRunner  # noqa: E402

from dlae_core.cli.main import cli  # noqa: E402

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.json"))
EXAMPLE_CNN = Path(__file__).resolve().parents[1] / "configs" / "example_cnn.json"  # one graph, backend parity modules
NO_WEIGHT_DECAY = {"l1": 0.0, "l2": 0.0}


def check(*args, expect: int = 0):
    result = CliRunner().invoke(cli, ["check", *map(str, args)])
    if result.exit_code != expect:
        pytest.fail(f"dlae check {' '.join(map(str, args))}: exit code {result.exit_code}, expected {expect}\n"
                    f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n{result.exception!r}")
    return result


def conv(kind: str, filters: int, kernel, **extra) -> dict:
    return {"type": kind, "filters": filters, "kernel": list(kernel), **NO_WEIGHT_DECAY, **extra}


# Every built-in layer type except the pretrained encoders, in one chain: a 3D part, a Reshape into
# 2D, skips (outer concatenate, inner add), then vectors reshaped back into images to reach every
# global pooling. Shapes in the comments.
CHAIN = [
    {"type": "Input", "shape": [8, 8, 4, 2]},
    conv("Convolution 3D", 4, (3, 3, 3)),                                             # (8, 8, 4, 4)
    {"type": "Batch normalization", "momentum": 0.9, "epsilon": 0.001},
    {"type": "Activation", "activation": "relu"},
    conv("Transpose convolution 3D", 4, (3, 3, 3), stride=[2, 2, 2]),                 # (16, 16, 8, 4)
    {"type": "Max pooling 3D"},                                                       # (8, 8, 4, 4)
    conv("Resize convolution 3D", 4, (3, 3, 3)),                                      # (16, 16, 8, 4)
    {"type": "Average pooling 3D"},                                                   # (8, 8, 4, 4)
    {"type": "Upsample 3D", "size": [2, 2, 2]},                                       # (16, 16, 8, 4)
    {"type": "Cropping 3D", "cropping": [[4, 4], [4, 4], [2, 2]]},                    # (8, 8, 4, 4)
    {"type": "Zero padding 3D", "padding": [[1, 1], [1, 1], [0, 0]]},                 # (10, 10, 4, 4)
    {"type": "Spatial dropout 3D", "rate": 0.3},
    conv("Convolution 3D", 4, (3, 3, 1), padding="valid"),                            # (8, 8, 4, 4)
    {"type": "Reshape", "target_shape": [8, 8, 16]},
    conv("Convolution 2D", 8, (3, 3)),                                                # (8, 8, 8)
    {"type": "Outer skip source", "mode": "concatenate"},
    conv("Separable convolution 2D", 8, (3, 3)),
    {"type": "PreLU"},
    conv("Depthwise separable convolution 2D", 2, (3, 3)),                            # (8, 8, 16)
    {"type": "Leaky reLU", "alpha": 0.2},
    {"type": "Inner skip source", "mode": "add"},
    {"type": "ELU", "alpha": 0.5},
    {"type": "Thresholded reLU", "theta": 0.1},
    {"type": "Inner skip target", "mode": "add"},
    {"type": "Max pooling 2D"},                                                       # (4, 4, 16)
    conv("Transpose convolution 2D", 8, (3, 3), stride=[2, 2]),                       # (8, 8, 8)
    {"type": "Outer skip target", "mode": "concatenate"},                             # (8, 8, 16)
    {"type": "Average pooling 2D"},                                                   # (4, 4, 16)
    conv("Resize convolution 2D", 8, (3, 3)),                                         # (8, 8, 8)
    {"type": "Upsample 2D", "size": [2, 2]},                                          # (16, 16, 8)
    {"type": "Cropping 2D", "cropping": [[4, 4], [4, 4]]},                            # (8, 8, 8)
    {"type": "Zero padding 2D", "padding": [[1, 1], [1, 1]]},                         # (10, 10, 8)
    {"type": "Spatial dropout 2D", "rate": 0.3},
    {"type": "Permute", "dims": [2, 1, 3]},
    {"type": "Hook connection source"},
    {"type": "Activation", "activation": "tanh"},
    {"type": "Global max pooling 2D"},                                                # (8,)
    {"type": "Dense", "units": 16},
    {"type": "Dropout", "rate": 0.5},
    {"type": "Gaussian dropout", "rate": 0.3},
    {"type": "Gaussian noise", "stddev": 0.1},
    {"type": "Alpha dropout", "rate": 0.2},
    {"type": "Reshape", "target_shape": [2, 2, 4]},
    {"type": "Global average pooling 2D"},                                            # (4,)
    {"type": "Dense", "units": 16},
    {"type": "Reshape", "target_shape": [2, 2, 2, 2]},
    {"type": "Global max pooling 3D"},                                                # (2,)
    {"type": "Dense", "units": 16},
    {"type": "Reshape", "target_shape": [2, 2, 2, 2]},
    {"type": "Global average pooling 3D"},                                            # (2,)
    {"type": "Dense", "units": 32},
    {"type": "Reshape", "target_shape": [4, 4, 2]},
    {"type": "Flatten"},
    {"type": "Dense", "units": 3},
    {"type": "Activation", "activation": "softmax"},
]


def chain_config(tmp_path, loss: str = "categorical_crossentropy", parameter1: float = 0.0,
                 parameter2: float = 0.0) -> Path:
    config = {"config_file": {"model_signal": "CNN", "type_signal": "Train", "input_shape": [8, 8, 4, 2]},
              "preprocessing": {"image_context": "3D", "categorical_switch": True, "categories": 3},
              "loss_function": {"loss": loss, "parameter1": parameter1, "parameter2": parameter2},
              "layers": {"serial_layer_list": CHAIN}}
    path = tmp_path / "chain.json"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_agrees(config):
    result = check("--backends", "torch,tensorflow", config)
    assert "parity ok: torch and tensorflow agree within 0.0001" in result.stdout
    assert "DIFFERS" not in result.stdout


def test_the_chain_covers_every_builtin_non_pretrained_layer_type():
    from dlae_core.plugin.registry import get_registry

    registry = get_registry()
    builtin = {name for name, layer in registry.layers.items()
               if registry.owner[("layers", name)] == "core" and layer.family != "pretrained"}
    assert builtin - {layer["type"] for layer in CHAIN} == set()


def test_every_non_pretrained_layer_type_in_a_chain_agrees(tmp_path):
    result = check("--backends", "torch,tensorflow", chain_config(tmp_path))
    assert "parity ok" in result.stdout
    assert "6,011 / 8" in result.stdout  # trainable / non-trainable on both backends and in the graph


def test_weights_also_travel_from_tensorflow_to_torch(tmp_path):
    result = check("--backends", "tensorflow,torch", chain_config(tmp_path, "focal", 0.25, 2.0))
    assert "parity ok: tensorflow and torch agree" in result.stdout


def test_a_forced_output_difference_fails_with_a_reason_line(tmp_path, monkeypatch):
    from dlae_tensorflow.backend import TensorflowBackend

    forward = TensorflowBackend.forward
    monkeypatch.setattr(TensorflowBackend, "forward", lambda self, model, inputs: forward(self, model, inputs) + 1e-2)
    result = check(EXAMPLE_CNN, expect=1)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("parity check failed: model: largest relative output difference ")
    assert "exceeds 0.0001" in lines[0]
    assert "DIFFERS" in result.stdout


def test_a_parameter_count_difference_fails(tmp_path, monkeypatch):
    from dlae_torch.backend import TorchBackend

    monkeypatch.setattr(TorchBackend, "count_params", lambda self, model: (1, 0))
    result = check(EXAMPLE_CNN, expect=1)
    assert "parity check failed: model: parameter counts differ (torch 1/0, tensorflow" in result.stderr


def test_a_looser_tolerance_accepts_a_small_difference(monkeypatch):
    from dlae_tensorflow.backend import TensorflowBackend

    forward = TensorflowBackend.forward
    monkeypatch.setattr(TensorflowBackend, "forward",
                        lambda self, model, inputs: forward(self, model, inputs) * (1 + 1e-3))
    check(EXAMPLE_CNN, "--tolerance", "1e-2")
    check(EXAMPLE_CNN, expect=1)


def test_backends_must_be_two_different_names():
    result = check("--backends", "torch", EXAMPLE_CNN, expect=2)
    assert "two different backends" in result.stderr
    result = check("--backends", "torch,nonesuch", EXAMPLE_CNN, expect=2)
    assert "error: unknown backend 'nonesuch'" in result.stderr


def test_a_plugin_layer_and_loss_agree_across_backends(tmp_path):
    pytest.importorskip("dlae_example_plugin")
    layers = [{"type": "Input", "shape": [8, 8, 3]}, conv("Convolution 2D", 8, (3, 3)),
              {"type": "Activation", "activation": "mish"}, {"type": "Squeeze excitation 2D", "ratio": 2},
              {"type": "Global average pooling 2D"}, {"type": "Dense", "units": 2}]
    config = {"config_file": {"model_signal": "CNN", "type_signal": "Train", "input_shape": [8, 8, 3]},
              "loss_function": {"loss": "log_cosh"}, "layers": {"serial_layer_list": layers}}
    path = tmp_path / "plugin.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    for direction in ("torch,tensorflow", "tensorflow,torch"):
        result = check("--backends", direction, path)
        assert "parity ok" in result.stdout
        assert "DIFFERS" not in result.stdout
