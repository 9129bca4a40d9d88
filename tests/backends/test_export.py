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


def built_model(tmp_path, backend: str, technique: str) -> tuple[dict, dict, str]:
    """(config, data, model path) of a tiny FCN or BBD saved as built (epochs 0)."""
    from support import bbd_config

    model = str(tmp_path / ("model.pt" if backend == "torch" else "model.keras"))
    save = {"save_model_switch": True, "save_model_path": model}
    if technique == "BBD":
        data = make_data(tmp_path / "data", "detection", n=6, size=16)
        config = bbd_config(data, epochs=0, save_configurations=save)
    else:
        data = make_data(tmp_path / "data", "segmentation", n=4, size=16)
        config = make_config("FCN", (16, 16, 1), fcn_layers(16), data, training_configurations={"epochs": 0},
                             save_configurations=save)
    train(backend, config, tmp_path / "train.json")
    return config, data, model


def test_a_detector_export_carries_its_decoding_and_predicts_the_same_boxes(tmp_path, backend):
    """The sidecar holds the anchors, variances and thresholds: onnxruntime plus the sidecar alone give
    the framework's detections, and dlae predict with the export folder gives them too."""
    if backend == "tensorflow":
        pytest.importorskip("tf2onnx")
    from types import SimpleNamespace

    import onnxruntime

    from dlae_core.techniques.bbd.decode import decode
    from support import BBD, BBD_ANCHORS

    config, data, model = built_model(tmp_path, backend, "BBD")
    invoke("export", tmp_path / "train.json", "--backend", backend, "-o", tmp_path / "export")
    sidecar = json.loads((tmp_path / "export" / "dlae_export.json").read_text())
    decoding = sidecar["decoding"]
    assert sidecar["output"]["shape"] == [BBD_ANCHORS, 2 + 1 + 4] and len(decoding["anchors"]) == BBD_ANCHORS
    assert decoding["variances"] == BBD["variances"] and decoding["image_size"] == [16, 16]
    assert (decoding["confidence_threshold"], decoding["top_k"]) == (BBD["confidence_threshold"], BBD["top_k"])

    inference = {**config, "config_file": {**config["config_file"], "type_signal": "Inference"},
                 "paths": {"load_model": model, "test_X": data["test_X"]}}
    invoke("predict", write_config(tmp_path / "backend.json", inference), "--backend", backend,
           "--predictions", tmp_path / "backend.h5")
    expected = read_h5(tmp_path / "backend.h5")
    assert sum(len(rows) for rows in expected.values()) > 0  # boxes to compare

    # a program without dlae's model code: the sidecar's preprocessing, onnxruntime, the sidecar's decoding
    session = onnxruntime.InferenceSession(str(tmp_path / "export" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert sidecar["preprocessing"]["normalization_type"] == "samplewise_unity_x"
    options = SimpleNamespace(normalize_coordinates_switch=decoding["normalize_coordinates"], **{
        key: decoding[key] for key in ("variances", "confidence_threshold", "iou_threshold", "top_k",
                                       "nms_maximum_output")})
    for name, image in read_h5(data["test_X"]).items():
        x = image.astype(np.float32).reshape(1, 16, 16, 1)
        x = (x - x.min()) / (x.max() - x.min())
        output = session.run([sidecar["output"]["name"]], {sidecar["input"]["name"]: x})[0]
        boxes = decode(output[..., :-4], output[..., -4:], np.asarray(decoding["anchors"]), options,
                       decoding["image_size"])[0]
        assert boxes.shape == expected[name].shape
        np.testing.assert_allclose(boxes, expected[name], atol=1e-4)

    inference["paths"]["load_model"] = str(tmp_path / "export")
    invoke("predict", write_config(tmp_path / "onnx.json", inference), "--predictions", tmp_path / "onnx.h5")
    got = read_h5(tmp_path / "onnx.h5")
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name].shape == expected[name].shape
        np.testing.assert_allclose(got[name], expected[name], atol=1e-4)


def test_the_frameworks_own_format_loads_back_with_the_models_outputs(tmp_path, backend, engine):
    """TorchScript (torch) and SavedModel (tensorflow) load in their framework alone and compute the
    model's outputs; dlae predict runs ONNX exports only and says so."""
    from support import load_network

    fmt = {"torch": "torchscript", "tensorflow": "savedmodel"}[backend]
    config, data, model = built_model(tmp_path, backend, "FCN")
    invoke("export", tmp_path / "train.json", "--backend", backend, "--format", fmt, "-o", tmp_path / "export")
    sidecar = json.loads((tmp_path / "export" / "dlae_export.json").read_text())
    assert sidecar["format"] == fmt and sidecar["check"] is None
    x = np.random.default_rng(2).random((3, 16, 16, 1), dtype=np.float32)
    expected = engine.forward(load_network(backend, model)[0], [x])
    path = str(tmp_path / "export" / sidecar["file"])
    if backend == "torch":
        import torch

        with torch.no_grad():
            got = torch.jit.load(path)(torch.from_numpy(x)).numpy()
    else:
        import tensorflow as tf

        signature = tf.saved_model.load(path).signatures["serving_default"]
        got = signature(**{sidecar["input"]["name"]: tf.constant(x)})[sidecar["output"]["name"]].numpy()
    assert got.shape == expected.shape == (3, 16, 16, 3)
    np.testing.assert_allclose(got, expected, atol=1e-5)

    inference = {**config, "config_file": {**config["config_file"], "type_signal": "Inference"},
                 "paths": {"load_model": str(tmp_path / "export"), "test_X": data["test_X"]}}
    result = invoke("predict", write_config(tmp_path / "p.json", inference), "--predictions", tmp_path / "p.h5",
                    expect=2)
    assert f"dlae predict runs ONNX exports; this folder holds format {fmt!r} (export with --format onnx)" \
        in result.output
