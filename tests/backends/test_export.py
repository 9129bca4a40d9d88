"""``dlae export`` on every backend: an ONNX file plus sidecar, checked with onnxruntime at export
time, that ``dlae predict`` runs with onnxruntime alone (in a process where importing torch,
tensorflow or keras fails) to the backend's own predictions."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from support import fcn_layers, invoke, make_config, make_data, read_h5, train, write_config  # noqa: E402

BLOCKED_PREDICT = textwrap.dedent("""
    import importlib.abc, sys

    class BlockFrameworks(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("torch", "tensorflow", "keras"):
                raise ImportError(f"{name} is blocked (no deep-learning framework installed)")
            return None

    sys.meta_path.insert(0, BlockFrameworks())
    from dlae_core.cli.main import cli
    cli.main(sys.argv[1:], standalone_mode=False)
    assert not any(m.partition(".")[0] in ("torch", "tensorflow", "keras") for m in sys.modules)
    print("no framework imported")
""")


def test_onnx_export_runs_without_frameworks_like_the_backend(tmp_path, backend):
    if backend == "tensorflow":
        pytest.importorskip("tf2onnx")
    data = make_data(tmp_path / "data", "segmentation", n=12, size=16)
    model = str(tmp_path / ("model.pt" if backend == "torch" else "model.keras"))
    config = make_config("FCN", (16, 16, 1), fcn_layers(16), data, training_configurations={"epochs": 1},
                         save_configurations={"save_model_switch": True, "save_model_path": model})
    config_path = tmp_path / "train.json"
    train(backend, config, config_path)
    result = invoke("export", config_path, "--backend", backend, "-o", tmp_path / "export", "--class-names", "a,b,c")
    assert "onnxruntime matches" in result.output
    sidecar = json.loads((tmp_path / "export" / "dlae_export.json").read_text())
    assert sidecar["check"]["max_abs_difference"] <= 1e-4
    assert sidecar["input"]["shape"] == [16, 16, 1] and sidecar["output"]["shape"] == [16, 16, 3]
    assert sidecar["classes"] == {"count": 3, "names": ["a", "b", "c"]}
    assert sidecar["preprocessing"]["normalization_type"] == "samplewise_unity_x"
    assert sidecar["backend"] == backend and len(sidecar["config_sha256"]) == 64
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["dlae_export.json", "model.onnx"]
    # an export is not overwritten silently
    assert "already exist" in invoke("export", config_path, "--backend", backend, "-o", tmp_path / "export",
                                     expect=2).output

    inference = {**config, "config_file": {**config["config_file"], "type_signal": "Inference"},
                 "paths": {"load_model": model, "test_X": data["train_X"]}}
    invoke("predict", write_config(tmp_path / "backend.json", inference), "--backend", backend,
           "--predictions", tmp_path / "backend.h5")
    inference["paths"]["load_model"] = str(tmp_path / "export")
    onnx_config = write_config(tmp_path / "onnx.json", inference)
    run = subprocess.run([sys.executable, "-c", BLOCKED_PREDICT, "predict", onnx_config, "--predictions",
                          str(tmp_path / "onnx.h5")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "no framework imported" in run.stdout
    expected, got = read_h5(tmp_path / "backend.h5"), read_h5(tmp_path / "onnx.h5")
    assert expected.keys() == got.keys()
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], atol=1e-4)


def test_export_needs_a_model_and_a_format_the_backend_writes(tmp_path, backend):
    data = make_data(tmp_path / "data", "segmentation", n=4, size=16)
    config = make_config("FCN", (16, 16, 1), fcn_layers(16), data)
    path = write_config(tmp_path / "c.json", config)
    result = invoke("export", path, "--backend", backend, "-o", tmp_path / "e", expect=2)
    assert "error: paths.load_model: dlae export needs a saved model" in result.output
    other = "savedmodel" if backend == "torch" else "torchscript"
    result = invoke("export", path, "--backend", backend, "--format", other, "-o", tmp_path / "e", expect=2)
    assert f"--format {other}: the {backend} backend exports" in result.output


def test_a_format_the_backend_cannot_write_is_one_clear_refusal(engine, backend, tmp_path):
    from dlae_core.errors import UnsupportedSettingError

    other = {"torch": "savedmodel", "tensorflow": "torchscript"}[backend]
    with pytest.raises(UnsupportedSettingError) as info:
        engine.export_model(None, (8, 8, 1), other, str(tmp_path / "model"))
    assert str(info.value) == (f"the {engine.framework} backend cannot export format {other!r}; it exports "
                               f"{', '.join(engine.export_formats)}")
    assert not (tmp_path / "model").exists()
