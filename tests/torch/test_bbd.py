"""BBD (SSD-style detection) on the torch backend: heads, output layout, SSD loss against the numpy
reference, a tiny detector whose loss falls (CSV with val_mAP, checkpoint, final model), predictions
(k, 6) per image named as the input, bad annotations refused before training.

The scenarios take the backend name; tests/tensorflow/test_tf_bbd.py runs them on tensorflow."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from e2e_support import error_lines, invoke, make_data, read_csv, read_h5, write_config, write_h5  # noqa: E402

from dlae_core.techniques.bbd.anchors import make_anchors  # noqa: E402
from dlae_core.techniques.bbd.encode import encode_boxes  # noqa: E402
from dlae_core.techniques.bbd.loss_reference import ssd_loss as reference_loss  # noqa: E402
from dlae_core.techniques.bbd.parity import random_boxes  # noqa: E402

SIZE = 16
LAYERS = [f"Input:({SIZE}, {SIZE}, 1)",
          "Convolution 2D:8:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.0:0.0", "Activation:relu",
          "Max pooling 2D:(2, 2):(2, 2)", "Hook connection source",
          "Convolution 2D:8:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.0:0.0", "Activation:relu",
          "Max pooling 2D:(2, 2):(2, 2)", "Hook connection source"]
BBD = {"number_classes": 2, "scaling_type": "per predictor layer", "scales": [0.3, 0.5, 0.7],
       "aspect_ratios": [1.0, 0.5, 2.0], "two_boxes_for_AR1_switch": True, "steps": None,
       "variances": [0.1, 0.1, 0.2, 0.2], "confidence_threshold": 0.3, "top_k": 10}
N_ANCHORS = (8 * 8 + 4 * 4) * 4


def bbd_config(data: dict, out: Path | None = None, epochs: int = 6, **sections) -> dict:
    config = {
        "config_file": {"model_signal": "BBD", "type_signal": "Train", "input_shape": [SIZE, SIZE, 1]},
        "paths": {k: data.get(k) for k in ("train_X", "train_y", "validation_X", "validation_y", "test_X")},
        "preprocessing": {"normalization_type": "samplewise_unity_x"},
        "augmentation": {"apply_augmentation_switch": False, "random_seed": 3},
        "loss_function": {"loss": "ssd", "parameter1": 3, "parameter2": 1.0},
        "learning_rate_schedule": {"learning_rate": 0.005},
        "optimizer": {"optimizer": "Adam"},
        "training_configurations": {"hardware": "cpu", "batch_size": 8, "epochs": epochs, "validation_split": 0.0,
                                    "early_stop_switch": False},
        "save_configurations": {"save_model_switch": False},
        "bbd_options": dict(BBD),
        "layers": {"serial_layer_list": list(LAYERS)},
    }
    if out is not None:
        config["save_configurations"] = {
            "save_model_switch": True, "save_model_path": str(out / "model.bin"),
            "save_csv_switch": True, "save_csv_path": str(out / "history.csv"),
            "save_checkpoints_switch": True, "save_checkpoints_path": str(out / "best.bin")}
        config["paths"]["load_model"] = str(out / "model.bin")
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    return config


def plan_of(tmp_path: Path, config: dict):
    from dlae_core.config.parser import load_config
    from dlae_core.planning.plan import plan_model
    from dlae_core.plugin.registry import get_registry

    registry = get_registry()
    loaded = load_config(write_config(tmp_path / "plan.json", config), registry)
    return loaded, plan_model(loaded, registry), registry


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


# -- scenarios (backend = "torch" | "tensorflow") ----------------------------------------------------
def learning_scenario(tmp_path: Path, backend: str) -> None:
    """A tiny detector: loss falls, val_mAP per epoch in the CSV, outputs written, predictions
    (k, 6) per test image named as the input, in pixels inside the image."""
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
    import h5py

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


def bad_boxes_scenario(tmp_path: Path, backend: str) -> None:
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


# -- torch ---------------------------------------------------------------------------------------------
BACKEND = "torch"


def test_ssd_loss_matches_the_numpy_reference(tmp_path):
    from dlae_torch.bbd_model import ssd_loss

    config, _, _ = plan_of(tmp_path, bbd_config({}))
    for seed, (ratio, alpha) in enumerate([(3, 1.0), (1, 0.5), (2.7, 2.0)]):
        targets, pred = random_case(seed, config)
        assert (targets[..., :3].sum(-1) == 0).any()  # neutral anchors present
        got = ssd_loss(ratio, alpha)(torch.from_numpy(pred), torch.from_numpy(targets))
        assert float(got) == pytest.approx(reference_loss(targets, pred, ratio, alpha), rel=1e-5)
    empty = np.zeros_like(targets)
    empty[..., 0] = 1.0  # no positives: k = 0 negatives, loss 0
    assert float(ssd_loss(3, 1.0)(torch.from_numpy(pred), torch.from_numpy(empty))) == 0.0


def test_l2_normalization_and_output_layout(tmp_path):
    from dlae_core.techniques.bbd.heads import L2_INIT
    from dlae_torch.bbd_model import L2Normalization, build_detector

    layer = L2Normalization(3)
    x = torch.tensor([[[[3.0]], [[4.0]], [[0.0]]]])  # (1, 3, 1, 1) internal layout
    assert torch.allclose(layer(x).flatten(), torch.tensor([0.6, 0.8, 0.0]) * L2_INIT)
    config, plan, registry = plan_of(tmp_path, bbd_config({}))
    model = build_detector(plan.main, config.bbd_options, registry.builders("torch"))
    with torch.no_grad():  # box heads output their bias: box b of a cell gives offsets 10 b + k
        for head in model.box_heads:
            head.weight.zero_()
            head.bias.copy_(torch.tensor([10.0 * b + k for b in range(4) for k in range(4)]))
        out = model(torch.rand(2, SIZE, SIZE, 1))
    assert out.shape == (2, N_ANCHORS, 3 + 4)
    offsets = out[0, :, 3:].numpy()
    box = np.arange(N_ANCHORS) % 4  # anchors row-major over (row, column, box) per layer
    assert np.array_equal(offsets, 10 * box[:, None] + np.arange(4)[None, :])
    assert torch.allclose(out[..., :3].sum(-1), torch.ones(2, N_ANCHORS))
    anchors = make_anchors(config.bbd_options, (SIZE, SIZE), plan.main.hook_shapes())
    assert len(anchors) == N_ANCHORS  # one anchor per output row


def test_gradient_step_lowers_the_loss(tmp_path):
    from dlae_torch.bbd_model import build_detector, ssd_loss

    config, plan, registry = plan_of(tmp_path, bbd_config({}))
    torch.manual_seed(0)
    model = build_detector(plan.main, config.bbd_options, registry.builders("torch"))
    targets, _ = random_case(5, config, batch=4)
    x, y = torch.rand(4, SIZE, SIZE, 1), torch.from_numpy(targets)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = ssd_loss(3, 1.0)(model(x), y)
        loss.backward()
        losses.append(loss.item())
        optimizer.step()
    assert all(math.isfinite(v) for v in losses) and losses[-1] < 0.5 * losses[0]
    assert model.l2.gamma.grad is not None and model.l2.gamma.grad.abs().sum() > 0


def test_tiny_detector_learns_and_predicts(tmp_path):
    learning_scenario(tmp_path, BACKEND)


def test_bad_boxes_are_refused_before_training(tmp_path):
    bad_boxes_scenario(tmp_path, BACKEND)


def test_example_bbd_writes_a_valid_config_with_boxes(tmp_path):
    invoke("example", "bbd", tmp_path / "ex")
    result = invoke("validate", tmp_path / "ex" / "config.json")
    assert "BBD Train" in result.stdout
    boxes = read_h5(tmp_path / "ex" / "data" / "detection_train_y.h5")
    assert len(boxes) == 128 and all(b.ndim == 2 and b.shape[1] == 5 for b in boxes.values())


def inspect_counts_scenario(backend: str) -> None:
    """``dlae inspect --backend`` builds the detector (graph + heads) and agrees with the core's count."""
    import json

    config = Path(__file__).resolve().parents[2] / "configs" / "example_bbd.json"
    report = json.loads(invoke("inspect", "--json", "--backend", backend, config).stdout)
    assert report["backend"]["models"]["model"] == {"trainable_params": report["trainable_params"],
                                                    "non_trainable_params": report["non_trainable_params"]}
    assert report["trainable_params"] == 26_218


def test_inspect_counts_agree_with_the_built_detector():
    inspect_counts_scenario("torch")
