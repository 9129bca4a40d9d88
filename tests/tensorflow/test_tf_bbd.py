"""BBD on the tensorflow backend: the torch suite's scenarios (tests/torch/test_bbd.py) with
``backend="tensorflow"``, the SSD loss against the numpy reference, and what needs both frameworks:
``dlae check`` gives the same detector outputs, loss and decoded boxes for the same weights, and a
model trained on one backend and exchanged through the canonical weights predicts the same boxes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "torch"))

from e2e_support import invoke, write_config  # noqa: E402
from test_bbd import (BBD, SIZE, bad_boxes_scenario, bbd_config, learning_scenario, plan_of,  # noqa: E402
                      random_case)

from dlae_core.techniques.bbd.loss_reference import ssd_loss as reference_loss  # noqa: E402

BACKEND = "tensorflow"


def test_ssd_loss_matches_the_numpy_reference(tmp_path):
    from dlae_tensorflow.bbd_model import ssd_loss

    config, _, _ = plan_of(tmp_path, bbd_config({}))
    for seed, (ratio, alpha) in enumerate([(3, 1.0), (1, 0.5), (2.7, 2.0)]):
        targets, pred = random_case(seed, config)
        got = float(ssd_loss(ratio, alpha)(tf.constant(pred), tf.constant(targets)))
        assert got == pytest.approx(reference_loss(targets, pred, ratio, alpha), rel=1e-5)


def test_l2_normalization_scales_unit_vectors_by_20():
    from dlae_tensorflow.bbd_model import L2Normalization

    layer = L2Normalization()
    out = layer(tf.constant([[[[3.0, 4.0, 0.0]]]]))
    np.testing.assert_allclose(out.numpy().reshape(-1), [12.0, 16.0, 0.0], rtol=1e-6)
    assert [w.name for w in layer.weights] == ["gamma"]


def test_tiny_detector_learns_and_predicts(tmp_path):
    learning_scenario(tmp_path, BACKEND)


def test_bad_boxes_are_refused_before_training(tmp_path):
    bad_boxes_scenario(tmp_path, BACKEND)


def test_check_compares_outputs_loss_and_decoded_boxes(tmp_path):
    config = bbd_config({})
    path = write_config(tmp_path / "c.json", config)
    for backends in ("torch,tensorflow", "tensorflow,torch"):
        result = invoke("check", path, "--backends", backends)
        assert "parity ok" in result.stdout and "decoded boxes" in result.stdout


def test_the_same_weights_give_the_same_boxes_on_both_backends(tmp_path):
    from dlae_core.techniques.bbd.anchors import make_anchors
    from dlae_core.techniques.bbd.decode import decode
    from dlae_core.techniques.bbd.heads import split_output
    from dlae_core.techniques.bbd.parity import check_bbd_parity

    config, plan, registry = plan_of(tmp_path, bbd_config({}))
    report = check_bbd_parity(config, plan, registry, ("torch", "tensorflow"), batch=3, seed=2)
    assert report.ok, report.problems()
    assert report.detections.counts[0] == report.detections.counts[1] > 0
    torch_backend, tf_backend = registry.backend("torch"), registry.backend(BACKEND)

    def build(backend):
        backend.seed(0)
        return backend.technique_implementation("BBD").build(plan.main, config.bbd_options)

    t_model, k_model = build(torch_backend), build(tf_backend)
    with torch.no_grad():
        for head in t_model.class_heads:  # confident class-1 scores, so decoding keeps boxes
            head.bias.copy_(torch.tensor([0.0, 3.0, 0.0] * (head.bias.numel() // 3)))
    tf_backend.import_weights(k_model, plan.main, torch_backend.export_weights(t_model, plan.main))
    x = np.random.default_rng(0).random((2, SIZE, SIZE, 1)).astype(np.float32)
    anchors = make_anchors(config.bbd_options, (SIZE, SIZE), plan.main.hook_shapes())
    boxes = [decode(*split_output(backend.forward(m, [x])), anchors, config.bbd_options, (SIZE, SIZE))
             for backend, m in ((torch_backend, t_model), (tf_backend, k_model))]
    for a, b in zip(*boxes):
        assert 0 < len(a) == len(b) <= BBD["top_k"]
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_inspect_counts_agree_with_the_built_detector():
    from test_bbd import inspect_counts_scenario

    inspect_counts_scenario(BACKEND)
