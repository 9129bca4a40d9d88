"""What a ``dlae run`` leaves for a person on every backend: the run record, the pictures in
``<model>.report/`` (checked for what they show: FCN overlays, the CNN confusion matrix, BBD boxes,
GAN previews), report.html, TensorBoard scalars, images, weight/gradient histograms and the model
graph read back with the tensorboard package's own reader, an Inference session's record and
pictures, and the session in MLflow read back with MLflow's client."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from dlae_core.report.images import GAP, panel_scale
from dlae_core.running.identity import config_hash
from support import (bbd_config, cnn_layers, fcn_layers, gan_config, invoke, make_config, make_data, read_h5, save_to,
                     train, write_config)
from tensorboard_support import accumulator

pytest.importorskip("PIL")
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
    graph = board.Graph()  # the model graph, traced by the backend, its nodes named after dlae's layers
    assert any("convolution_2d_1" in node.name for node in graph.node) and len(graph.node) > 10

    # dlae predict: a record beside the predictions, the predicted labels overlaid on the test images
    inference = {**config, "config_file": {**config["config_file"], "type_signal": "Inference"},
                 "paths": {"test_X": data["validation_X"], "load_model": str(out / "model.pt")}}
    predictions = tmp_path / "predictions.h5"
    result = invoke("predict", "--backend", backend, write_config(tmp_path / "inference.json", inference),
                    "--predictions", predictions, "--workers", 0)
    assert result.stdout.strip().splitlines()[-1] == f"run record: {predictions}.run.json"
    record = json.loads((tmp_path / "predictions.h5.run.json").read_text())
    assert (record["session"], record["status"], record["predicted"]) == ("Inference", "finished", count)
    entry = json.loads((tmp_path / "predictions.h5.report" / "pictures.json").read_text())[0]
    sheet = _pixels(tmp_path / "predictions.h5.report" / "predictions.png")
    assert sheet.shape == (count * panel + (count - 1) * GAP, 2 * panel + GAP, 3)
    predicted = read_h5(predictions)
    for row, name in enumerate(entry["samples"]):
        top = row * (panel + GAP)
        image = sheet[top:top + panel:scale, 0:panel:scale].astype(int)
        shown = sheet[top:top + panel:scale, panel + GAP:2 * panel + GAP:scale].astype(int)
        assert np.array_equal(np.any(image != shown, axis=-1), np.argmax(predicted[name], axis=-1) > 0), name
    page = tmp_path / "predictions.h5.report" / "report.html"
    assert page.read_text().count("data:image/png;base64,") == 1
    page.unlink()  # dlae report rebuilds it (no training curves: the config's CSV is the training's)
    invoke("report", tmp_path / "predictions.h5.run.json")
    assert page.read_text().count("data:image/png;base64,") == 1 and "Inference" in page.read_text()


def test_cnn_confusion_matrix_counts_every_validation_sample(tmp_path, backend, monkeypatch):
    data = make_data(tmp_path / "data", "classification", n=12, size=8)
    out = tmp_path / "out"
    config = make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save_to(out))
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow's local file store: no database to set up
    uri = (tmp_path / "mlruns").as_uri()
    train(backend, config, tmp_path / "config.json", "--mlflow", uri)
    manifest = json.loads((out / "model.pt.report" / "pictures.json").read_text())
    confusion = next(entry for entry in manifest if entry["file"] == "confusion.png")
    matrix = np.array(confusion["matrix"])
    labels = read_h5(data["validation_y"])
    assert matrix.shape == (3, 3) and matrix.sum() == len(labels)
    assert list(matrix.sum(axis=1)) == [sum(int(np.ravel(v)[0]) == c for v in labels.values()) for c in range(3)]
    assert _pixels(out / "model.pt.report" / "confusion.png").shape == (450, 900, 3)

    # the same session in MLflow: metrics per epoch as the CSV history, the model and the report as artifacts
    record = json.loads((out / "model.pt.run.json").read_text())
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    run = client.get_run(record["mlflow"]["run_id"])
    assert run.info.status == "FINISHED" and run.data.params["config_file.model_signal"] == "CNN"
    history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader((out / "history.csv").open())]
    for key in ("loss", "val_loss", "val_accuracy"):
        logged = client.get_metric_history(run.info.run_id, key)
        assert [(m.step, m.value) for m in logged] == [(i, pytest.approx(row[key])) for i, row in enumerate(history)]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"run.json", "model", "report", "history.csv"}
    assert "report/confusion.png" in {a.path for a in client.list_artifacts(run.info.run_id, "report")}


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


def test_bbd_detections_drawn_for_training_and_inference(tmp_path, backend):
    from dlae_core.report.boxes import class_colour, outline

    data = make_data(tmp_path / "data", "detection", n=8, size=16)
    out = tmp_path / "out"
    config = bbd_config(data, out, epochs=1)
    train(backend, config, tmp_path / "config.json")
    folder = out / "model.bin.report"
    entry = next(e for e in json.loads((folder / "pictures.json").read_text()) if e["file"] == "detections.png")
    sheet = _pixels(folder / "detections.png")
    scale, panel = entry["scale"], 16 * entry["scale"]
    truths = read_h5(data["validation_y"])
    for row, name in enumerate(sorted(truths, key=int)[:entry["samples"]]):
        top = row * (panel + GAP)
        left_panel = sheet[top:top + panel, :panel]
        for box in np.asarray(truths[name]).reshape(-1, 5):  # every true box's bottom edge in its colour
            left, _, right, bottom = outline(box[1:], scale, panel, panel)
            assert np.all(left_panel[bottom, left:right + 1] == class_colour(int(box[0]))), (name, box)
        assert len(entry["detections"][row]) <= 10

    inference = {**config, "config_file": {**config["config_file"], "type_signal": "Inference"}}
    inference["paths"] = {"test_X": data["test_X"], "load_model": str(out / "model.bin")}
    predictions = tmp_path / "boxes.h5"
    invoke("run", "--backend", backend, write_config(tmp_path / "inference.json", inference), "--predictions",
           predictions, "--workers", 0)
    report = tmp_path / "boxes.h5.report"
    entry = json.loads((report / "pictures.json").read_text())[0]
    stored = read_h5(predictions)
    assert entry["detections"] == [np.round(stored[name][:10].astype(np.float64), 4).tolist()
                                   for name in entry["samples"]]
    assert json.loads((tmp_path / "boxes.h5.run.json").read_text())["predicted"] == len(stored)


def test_gan_previews_in_the_report_and_tensorboard(tmp_path, backend):
    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    out = tmp_path / "out"
    save = {"save_model_switch": True, "save_model_path": str(out / "generator.pt"), "save_tensorboard_switch": True,
            "save_tensorboard_path": str(out / "tb")}
    train(backend, gan_config(data, "pix2pix", epochs=1, save_configurations=save), tmp_path / "config.json")
    folder = out / "generator.pt.report"
    manifest = json.loads((folder / "pictures.json").read_text())
    assert [entry["file"] for entry in manifest] == ["curves.png", "technique_epoch_0.png"]
    preview = _pixels(out / "previews" / "epoch_0.png")
    assert np.array_equal(_pixels(folder / "technique_epoch_0.png"), preview)
    image = accumulator(out / "tb").Images("report/previews")[0]  # the same sheet, in TensorBoard
    assert (image.step, image.width, image.height) == (0, preview.shape[1], preview.shape[0])
