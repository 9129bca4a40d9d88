"""What a ``dlae run`` leaves for a person on every backend: the run record, the pictures in
``<model>.report/`` (checked for what they show), report.html, and TensorBoard scalars, images and
weight/gradient histograms read back with the tensorboard package's own reader."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlae_core.report.images import GAP, panel_scale
from dlae_core.running.identity import config_hash
from support import cnn_layers, fcn_layers, invoke, make_config, make_data, read_h5, save_to, train
from tensorboard_support import accumulator

pytest.importorskip("matplotlib")
pytest.importorskip("tensorboard")


def _pixels(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_fcn_run_record_pictures_and_tensorboard(tmp_path, backend):
    data = make_data(tmp_path / "data", "segmentation", n=8, size=8)
    out = tmp_path / "out"
    config = make_config("FCN", (8, 8, 1), fcn_layers(8), data,
                         save_configurations={**save_to(out, tensorboard=True), "save_tensorboard_frequency": 1})
    result = train(backend, config, tmp_path / "config.json")
    lines = result.stdout.strip().splitlines()
    record_path = out / "model.pt.run.json"
    assert lines[0] == lines[-1] == f"run record: {record_path}"

    record = json.loads(record_path.read_text())
    assert record["status"] == "finished" and record["exit_code"] == 0 and record["backend"] == backend
    assert record["device"]["framework"] in ("PyTorch", "TensorFlow") and record["device"]["used"] == "cpu"
    assert [row["epoch"] for row in record["history"]] == [0, 1]

    folder = out / "model.pt.report"
    manifest = json.loads((folder / "pictures.json").read_text())
    assert [entry["file"] for entry in manifest] == ["curves.png", "samples.png"]
    # the overlays: image | ground truth | prediction per validation sample, the truth's colour exactly on the mask
    sheet = _pixels(folder / "samples.png")
    scale, count = panel_scale((8, 8)), len(read_h5(data["validation_X"]))
    panel = 8 * scale
    assert sheet.shape == (count * panel + (count - 1) * GAP, 3 * panel + 2 * GAP, 3)
    masks = read_h5(data["validation_y"])
    for row, name in enumerate(sorted(masks, key=int)):
        top = row * (panel + GAP)
        image = sheet[top:top + panel:scale, 0:panel:scale].astype(int)
        truth = sheet[top:top + panel:scale, panel + GAP:2 * panel + GAP:scale].astype(int)
        changed = np.any(image != truth, axis=-1)
        assert np.array_equal(changed, masks[name].reshape(8, 8) > 0), name
    page = (folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "finished" in page

    board = accumulator(out / "tb")
    tags = board.Tags()
    assert {"loss", "val_loss", "lr"} <= set(tags["scalars"])
    assert [e.step for e in board.Scalars("lr")] == [0, 1]
    weights = [t for t in tags["histograms"] if t.startswith("weights/")]
    gradients = [t for t in tags["histograms"] if t.startswith("gradients/")]
    assert weights and len(gradients) == len(weights)  # every trainable parameter, at epochs 1 and 2
    assert [e.step for e in board.Histograms(weights[0])] == [0, 1]
    assert {"report/curves", "report/samples"} <= set(tags["images"])


def test_cnn_confusion_matrix_counts_every_validation_sample(tmp_path, backend):
    data = make_data(tmp_path / "data", "classification", n=12, size=8)
    out = tmp_path / "out"
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(out))
    train(backend, config, tmp_path / "config.json")
    manifest = json.loads((out / "model.pt.report" / "pictures.json").read_text())
    confusion = next(entry for entry in manifest if entry["file"] == "confusion.png")
    matrix = np.array(confusion["matrix"])
    labels = read_h5(data["validation_y"])
    assert matrix.shape == (3, 3) and matrix.sum() == len(labels)
    assert list(matrix.sum(axis=1)) == [sum(int(np.ravel(v)[0]) == c for v in labels.values()) for c in range(3)]
    assert _pixels(out / "model.pt.report" / "confusion.png").shape == (450, 900, 3)


def test_dlae_report_rebuilds_the_page(tmp_path, backend):
    data = make_data(tmp_path / "data", "classification", n=8, size=8)
    out = tmp_path / "out"
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(out))
    train(backend, config, tmp_path / "config.json")
    folder = out / "model.pt.report"
    (folder / "report.html").unlink()
    (folder / "curves.png").unlink()
    result = invoke("report", out)
    assert result.stdout.strip() == f"wrote {folder / 'report.html'}"
    assert (folder / "curves.png").is_file() and (folder / "report.html").read_text().count("data:image/png") == 2
    from dlae_core.cli.loading import load_and_plan

    record = json.loads((out / "model.pt.run.json").read_text())
    parsed, _, registry = load_and_plan(str(tmp_path / "config.json"), check_data=False)
    assert record["hash"] == config_hash(parsed, registry) and record["config"]["config_file"]["model_signal"] == "CNN"
