"""BBD (SSD-style detection) on every backend: the SSD loss against the numpy reference, the detector's
output layout, a tiny detector whose loss falls (CSV with val_mAP, checkpoint, final model), predictions
(k, 6) per image named as the input, bad annotations refused before training, ``dlae inspect`` counts.

The detector and its loss come from the backend's implementation of technique BBD
(``backend.technique_implementation("BBD")``: ``build``, ``loss``); the layer internals (L2
normalization, a gradient step on the heads) are tested in torch_only/ and tensorflow_only/."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from dlae_core.techniques.bbd.anchors import make_anchors
from dlae_core.techniques.bbd.encode import encode_boxes
from dlae_core.techniques.bbd.heads import head_specs
from dlae_core.techniques.bbd.loss_reference import ssd_loss as reference_loss
from dlae_core.techniques.bbd.parity import random_boxes
from support import (BBD, BBD_ANCHORS, BBD_SIZE, bbd_config, bbd_plan, error_lines, invoke, make_data, read_csv,
                     read_h5, write_config, write_h5)

SIZE = BBD_SIZE
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def random_case(seed: int, config, batch: int = 3):
    """Targets encoded from random boxes (positives, neutrals, background) and softmax predictions."""
    rng = np.random.default_rng(seed)
    bbd = config.bbd_options
    anchors = make_anchors(bbd, (SIZE, SIZE), [(8, 8), (4, 4)])
    targets = encode_boxes(random_boxes(rng, batch, (SIZE, SIZE), 2), anchors, bbd, (SIZE, SIZE), 2)
    logits = rng.normal(0, 2, (batch, len(anchors), 3))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    pred = np.concatenate([probabilities, rng.normal(0, 1.5, (batch, len(anchors), 4))], -1).astype(np.float32)
    return targets, pred


def test_ssd_loss_matches_the_numpy_reference(tmp_path, engine):
    detection = engine.technique_implementation("BBD")
    config, _, _ = bbd_plan(tmp_path, bbd_config({}))
    for seed, (ratio, alpha) in enumerate([(3, 1.0), (1, 0.5), (2.7, 2.0)]):
        targets, pred = random_case(seed, config)
        assert (targets[..., :3].sum(-1) == 0).any()  # neutral anchors present
        got = engine.evaluate_loss(detection.loss(ratio, alpha), pred, targets)
        assert got == pytest.approx(reference_loss(targets, pred, ratio, alpha), rel=1e-5)
    empty = np.zeros_like(targets)
    empty[..., 0] = 1.0  # no positives: k = 0 negatives, loss 0
    assert engine.evaluate_loss(detection.loss(3, 1.0), pred, empty) == 0.0


def test_output_layout_of_the_detector(tmp_path, engine):
    config, plan, _ = bbd_plan(tmp_path, bbd_config({}))
    model = engine.technique_implementation("BBD").build(plan.main, config.bbd_options)
    weights = engine.export_weights(model, plan.main)
    for spec in head_specs(config.bbd_options, plan.main):  # box heads output their bias: box b of a cell
        head = weights[spec.box_name]                        # gives offsets 10 b + k
        head["kernel"] = np.zeros_like(head["kernel"])
        head["bias"] = np.array([10.0 * b + k for b in range(4) for k in range(4)], np.float32)
    engine.import_weights(model, plan.main, weights)
    out = engine.forward(model, [np.random.default_rng(0).random((2, SIZE, SIZE, 1)).astype(np.float32)])
    assert out.shape == (2, BBD_ANCHORS, 3 + 4)
    offsets = out[0, :, 3:]
    box = np.arange(BBD_ANCHORS) % 4  # anchors row-major over (row, column, box) per layer
    assert np.array_equal(offsets, 10 * box[:, None] + np.arange(4)[None, :])
    np.testing.assert_allclose(out[..., :3].sum(-1), np.ones((2, BBD_ANCHORS)), rtol=1.3e-6, atol=1e-5)
    anchors = make_anchors(config.bbd_options, (SIZE, SIZE), plan.main.hook_shapes())
    assert len(anchors) == BBD_ANCHORS  # one anchor per output row


def test_tiny_detector_learns_and_predicts(tmp_path, backend):
    """A tiny detector: loss falls, val_mAP per epoch in the CSV, outputs written, predictions (k, 6) per
    test image named as the input, in pixels inside the image; training resumes from the final model."""
    data = make_data(tmp_path / "data", "detection", n=24, size=SIZE)
    out = tmp_path / "out"
    config = bbd_config(data, out)
    invoke("run", "--backend", backend, write_config(tmp_path / "c.json", config), "--quiet", "--workers", 0)
    header, rows = read_csv(out / "history.csv")
    assert header == ["epoch", "loss", "val_loss", "val_mAP", "lr"]
    assert len(rows) == 6
    assert rows[-1]["loss"] < 0.6 * rows[0]["loss"]
    assert all(0.0 <= r["val_mAP"] <= 1.0 for r in rows)
    assert (out / "model.bin").is_file() and (out / "best.bin").is_file()
    invoke("predict", "--backend", backend, write_config(tmp_path / "c.json", config), "--predictions",
           tmp_path / "pred.h5", "--workers", 0)
    predictions, inputs = read_h5(tmp_path / "pred.h5"), read_h5(data["test_X"])
    assert sorted(predictions) == sorted(inputs)
    with h5py.File(tmp_path / "pred.h5", "r") as handle:
        assert handle.attrs["technique"] == "BBD" and handle.attrs["backend"] == backend
    for rows6 in predictions.values():
        assert rows6.ndim == 2 and rows6.shape[1] == 6 and rows6.shape[0] <= BBD["top_k"]
        assert set(np.unique(rows6[:, 0])) <= {1.0, 2.0}
        assert np.all(rows6[:, 1] > BBD["confidence_threshold"]) and np.all(rows6[:, 1] <= 1.0)
        assert np.all(np.diff(rows6[:, 1]) <= 0)
        assert np.all(rows6[:, 4] > rows6[:, 2]) and np.all(rows6[:, 5] > rows6[:, 3])
    assert sum(len(r) for r in predictions.values()) > 0
    resumed = bbd_config(data, out, epochs=7, paths={"load_checkpoint": str(out / "model.bin")})
    invoke("run", "--backend", backend, write_config(tmp_path / "r.json", resumed), "--quiet", "--workers", 0,
           "--overwrite")
    _, more = read_csv(out / "history.csv")  # continued from the final model: one more epoch appended
    assert [r["epoch"] for r in more] == list(range(7)) and more[-1]["loss"] < rows[0]["loss"]


def test_bad_boxes_are_refused_before_training(tmp_path, backend):
    """Malformed annotations anywhere in the training targets stop the run before training."""
    data = make_data(tmp_path / "data", "detection", n=12, size=SIZE)
    original = dict(data)
    boxes = read_h5(data["train_y"])
    boxes["4"] = np.array([[1, 9, 2, 4, 8]], np.float32)  # xmax <= xmin
    boxes["7"] = np.array([[3, 1, 1, 6, 6]], np.float32)  # class 3 > number_classes
    data["train_y"] = write_h5(tmp_path / "bad_y.h5", boxes)
    out = tmp_path / "out"
    result = invoke("run", "--backend", backend, write_config(tmp_path / "c.json", bbd_config(data, out)),
                    "--quiet", "--workers", 0, expect=2)
    lines = error_lines(result)
    assert any("paths.train_y" in line and "sample '4'" in line and "xmax <= xmin" in line for line in lines)
    assert any("sample '7'" in line and "class 3" in line and "1..2" in line for line in lines)
    assert not (out / "history.csv").exists()
    boxes["4"] = np.array([[1, 2, 2, 9]], np.float32)  # four columns
    write_h5(tmp_path / "bad_y.h5", {**boxes, "7": boxes["6"]})
    lines = error_lines(invoke("validate", write_config(tmp_path / "c.json", bbd_config(data, out)), expect=2))
    assert any("sample '4'" in line and "(n, 5)" in line for line in lines)
    # validation targets without a single box: val_loss and mAP would be 0 every epoch
    empty = write_h5(tmp_path / "empty_y.h5", {name: np.zeros((0, 5), np.float32)
                                               for name in read_h5(original["validation_y"])})
    config = bbd_config({**original, "validation_y": empty}, out)
    lines = error_lines(invoke("run", "--backend", backend, write_config(tmp_path / "e.json", config), "--quiet",
                               "--workers", 0, expect=2))
    assert lines == [f"error: paths.validation_y: {empty} holds no boxes in any of its "
                     f"{len(read_h5(original['validation_y']))} samples used here. Expected annotated objects: "
                     f"(n_boxes, 5) rows [class_id, xmin, ymin, xmax, ymax] in at least one sample. Received: 0."]
    assert not (out / "history.csv").exists()


def test_inspect_counts_agree_with_the_built_detector(backend):
    """``dlae inspect --backend`` builds the detector (graph + heads) and agrees with the core's count."""
    report = json.loads(invoke("inspect", "--json", "--backend", backend, CONFIGS / "example_bbd.json").stdout)
    assert report["backend"]["models"]["model"] == {"trainable_params": report["trainable_params"],
                                                    "non_trainable_params": report["non_trainable_params"]}
    assert report["trainable_params"] == 26_218


def test_example_bbd_writes_a_valid_config_with_boxes(tmp_path, backend):
    """``dlae example bbd`` writes a config that validates, with every component implemented by the backend."""
    invoke("example", "bbd", tmp_path / "ex")
    result = invoke("validate", "--backend", backend, tmp_path / "ex" / "config.json")
    assert "BBD Train" in result.stdout
    boxes = read_h5(tmp_path / "ex" / "data" / "detection_train_y.h5")
    assert len(boxes) == 128 and all(b.ndim == 2 and b.shape[1] == 5 for b in boxes.values())
