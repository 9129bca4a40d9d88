"""The report's pictures and page without a framework: overlays where the masks are, volumes by
their middle slices, regression maps, the confusion matrix, curves, a self-contained report.html,
and a run without the extra still training with one note."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

from dlae_core.report import charts, html, images, pictures

pytest.importorskip("PIL")


def _png(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def test_overlay_colours_exactly_the_mask():
    base = images.grey_rgb(np.random.default_rng(0).random((6, 5, 1)))
    labels = np.zeros((6, 5), int)
    labels[1:3, 2:4], labels[5, 0] = 1, 2
    shown = images.overlay(base, labels)
    assert np.array_equal(np.any(shown != base, axis=-1), labels > 0)
    assert not np.array_equal(shown[1, 2], shown[5, 0])  # two classes, two colours


def test_volume_rows_show_the_middle_slice_of_each_axis():
    x = np.zeros((4, 6, 8, 1), np.float32)
    y = np.zeros((4, 6, 8, 1), np.float32)
    y[2, 3, 4] = 1  # the voxel on all three middle slices
    rows = images.segmentation_rows(x, y, y, 2)
    assert [row[0].shape[:2] for row in rows] == [(12, 16), (8, 16), (8, 12)]
    for row, where in zip(rows, [(3, 4), (2, 4), (2, 3)]):
        changed = np.argwhere(np.any(row[1] != row[0], axis=-1)) // 2
        assert {tuple(p) for p in changed} == {where}
    sheet = images.grid(rows)
    assert sheet.shape == (3 * 12 + 2 * images.GAP, 3 * 16 + 2 * images.GAP, 3)


def test_maps_and_labels_pictures_and_manifest(tmp_path):
    rng = np.random.default_rng(1)
    found = {"kind": "maps", "dense": True, "x": rng.random((2, 8, 8, 1)), "y": rng.random((2, 8, 8, 1)),
             "pred": rng.random((2, 8, 8, 1))}
    entries = pictures.draw(tmp_path, [{"loss": 1.0, "lr": 0.1}, {"loss": 0.5, "val_loss": 0.6, "lr": 0.05}], found)
    assert [e["file"] for e in entries] == ["curves.png", "samples.png"]
    assert _png((tmp_path / "curves.png").read_bytes()).shape == (charts.HEIGHT, charts.WIDTH, 3)
    labels = {"kind": "labels", "dense": False, "y": np.array([0, 1, 1, 2, 2, 2]),
              "pred": np.eye(3)[[0, 1, 2, 2, 2, 0]]}
    entry = pictures.draw(tmp_path, [], labels)[0]
    assert np.array(entry["matrix"]).sum() == 6 and entry["matrix"][2] == [1, 0, 2]
    assert entry["precision"][2] == pytest.approx(2 / 3) and entry["recall"][1] == pytest.approx(0.5)
    assert not (tmp_path / "samples.png").exists()  # the earlier pictures not listed any more are gone
    regression = pictures.draw(tmp_path, [], {"kind": "labels", "dense": True, "y": rng.random((5, 2)),
                                              "pred": rng.random((5, 2))})[0]
    assert regression["file"] == "predicted_vs_true.png"


def test_report_html_is_self_contained(tmp_path):
    pictures.draw(tmp_path, [{"loss": 1.0}, {"loss": 0.5}], None)
    page = html.write_report(tmp_path, {"status": "finished", "hash": "abc", "technique": "FCN",
                                        "error": "<script>", "config": {"a": 1}}).read_text()
    assert page.count("data:image/png;base64,") == 1 and "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)=["'](?!data:)""", page) and "<script" not in page
    from html.parser import HTMLParser

    HTMLParser().feed(page)  # parses


def test_a_run_without_the_extra_gets_one_note(monkeypatch):
    import types

    import dlae_core.extras as extras
    from dlae_core.report.reporter import for_session

    monkeypatch.setattr(extras, "_installed", lambda module: module != "PIL")
    run = types.SimpleNamespace(options=types.SimpleNamespace(report_folder="out/model.pt.report"))
    reporter, note = for_session(None, run, None, None)
    assert reporter is None and note.startswith("pictures and report.html skipped (PIL not installed")
    assert 'pip install "dlae[report]"' in note
    assert json.loads(json.dumps(note))  # one line
    assert "\n" not in note


def test_dlae_info_lists_versions_backends_weights_folder_and_extras(monkeypatch, tmp_path):
    from click.testing import CliRunner

    import dlae_core.extras as extras
    from dlae_core.cli.main import cli

    monkeypatch.setenv("DLAE_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setattr(extras, "_installed", lambda module: module != "flask")
    result = CliRunner().invoke(cli, ["info", "--no-frameworks"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "dlae: 0.1.0" and any(line.startswith("python: ") for line in lines)
    assert f"weights cache: {tmp_path / 'weights'}" in lines
    assert any(line.startswith("backend torch: ") for line in lines)
    assert "extra report: usable -- pictures, report.html, TensorBoard logs, GAN previews" in lines
    assert any(line.startswith('extra gui: missing flask (pip install "dlae[gui]")') for line in lines)


def test_boxes_are_outlined_on_their_pixels_in_their_class_colour():
    from dlae_core.report.boxes import class_colour, draw_boxes

    base = np.full((10, 12, 3), 50, np.uint8)
    truth = draw_boxes(base, np.array([[1, 2, 3, 9, 8], [2, 0, 0, 12, 10]]), 3, detections=False)
    assert truth.shape == (30, 36, 3)
    assert np.all(truth[23, 6:27] == class_colour(1))   # bottom edge: rows ymax*3-1, columns xmin*3..xmax*3-1
    assert np.all(truth[12:24, 26] == class_colour(1))  # right edge below the label
    assert np.all(truth[29, :] == class_colour(2)) and np.all(truth[10:29, 35] == class_colour(2))  # the whole image
    assert np.all(truth[15:23, 18:26] == 50)            # inside, right of the label: the image untouched
    found = draw_boxes(base, np.array([[2, 0.875, 2, 3, 9, 8]]), 3, detections=True)
    assert np.all(found[23, 6:27] == class_colour(2))
    assert not np.array_equal(found[3:9, 6:27], truth[3:9, 6:27])  # the tag says "2 0.88", not "1"


def test_detection_pictures_show_truth_and_detections(tmp_path):
    x = np.zeros((2, 16, 16, 1), np.float32)
    boxes = np.array([[[1, 2, 4, 10, 12], [0, 0, 0, 0, 0]], [[2, 1, 1, 5, 5], [1, 8, 8, 15, 14]]], np.float32)
    found = {"kind": "boxes", "dense": False, "x": x, "boxes": boxes, "n_boxes": np.array([1, 2]),
             "pred": [np.array([[1, 0.9, 2, 4, 10, 12]], np.float32), np.zeros((0, 6), np.float32)]}
    entry = pictures.draw(tmp_path, [], found)[0]
    assert entry["file"] == "detections.png" and entry["detections"] == [[[1.0, 0.9, 2.0, 4.0, 10.0, 12.0]], []]
    sheet = _png((tmp_path / "detections.png").read_bytes())
    scale, panel = entry["scale"], 16 * entry["scale"]
    assert sheet.shape == (2 * panel + images.GAP, 2 * panel + images.GAP, 3)
    from dlae_core.report.boxes import class_colour

    bottom = 12 * scale - 1  # sample 0: the truth (left) and the detection (right) on the same pixels
    assert np.all(sheet[bottom, 2 * scale:10 * scale] == class_colour(1))
    assert np.all(sheet[bottom, panel + images.GAP + 2 * scale:panel + images.GAP + 10 * scale] == class_colour(1))
    second = panel + images.GAP  # sample 1: two true boxes, no detection (the panel is the image alone)
    assert np.all(sheet[second + 14 * scale - 1, 8 * scale:15 * scale] == class_colour(1))
    assert len(np.unique(sheet[second:second + panel, panel + images.GAP:].reshape(-1, 3), axis=0)) == 1


class _Technique:
    def __init__(self, pictures="", generates_images=False):
        self.report_pictures, self.generates_images = pictures, generates_images


def _h5(path, samples: dict):
    import h5py

    with h5py.File(path, "w") as handle:
        for name, array in samples.items():
            handle.create_dataset(name, data=np.asarray(array))
    return path


def _inference_config(tmp_path, x: dict):
    import types

    return types.SimpleNamespace(paths=types.SimpleNamespace(test_X=str(_h5(tmp_path / "test_X.h5", x))))


def test_inference_maps_overlay_the_predicted_labels(tmp_path):
    from dlae_core.report import inference

    rng = np.random.default_rng(2)
    x = {str(i): rng.random((6, 6)) for i in range(3)}  # stored without a channel axis
    labels = {name: np.zeros((6, 6), int) for name in x}
    labels["1"][2:4, 1:5] = 2
    pred = {name: np.eye(3)[labels[name]] for name in x}  # (6, 6, 3) probabilities
    config = _inference_config(tmp_path, x)
    entries = inference.draw(tmp_path / "report", _Technique("maps"), config, _h5(tmp_path / "p.h5", pred), False)
    assert [e["file"] for e in entries] == ["predictions.png"] and entries[0]["samples"] == ["0", "1", "2"]
    sheet = _png((tmp_path / "report" / "predictions.png").read_bytes())
    scale = entries[0]["scale"]
    panel = 6 * scale
    top = panel + images.GAP  # sample "1": image | overlay, the overlay differs exactly on the predicted labels
    image = sheet[top:top + panel:scale, 0:panel:scale].astype(int)
    shown = sheet[top:top + panel:scale, panel + images.GAP:2 * panel + images.GAP:scale].astype(int)
    assert np.array_equal(np.any(image != shown, axis=-1), labels["1"] > 0)


def test_inference_classes_are_counted_and_captioned(tmp_path):
    from dlae_core.report import inference

    x = {str(i): np.full((8, 8, 1), i, np.float32) for i in range(5)}
    pred = {str(i): np.eye(3)[[0, 2, 2, 1, 2][i]] * 0.75 + 0.05 for i in range(5)}
    config = _inference_config(tmp_path, x)
    entries = inference.draw(tmp_path / "r", _Technique("labels"), config, _h5(tmp_path / "p.h5", pred), False)
    assert [e["file"] for e in entries] == ["predictions.png", "predicted_classes.png"]
    assert entries[0]["labels"][1] == "class 2 (0.80)" and entries[1]["counts"] == [1, 1, 3]
    sheet = _png((tmp_path / "r" / "predictions.png").read_bytes())
    scale = entries[0]["scale"]
    assert sheet.shape[0] == 8 * scale + images.CAPTION_HEIGHT  # one row of captioned panels
    assert _png((tmp_path / "r" / "predicted_classes.png").read_bytes()).shape == (charts.HEIGHT, charts.HEIGHT, 3)


def test_inference_detections_and_generated_images(tmp_path):
    from dlae_core.report import inference
    from dlae_core.report.boxes import class_colour

    x = {"0": np.zeros((16, 16, 1), np.float32), "1": np.ones((16, 16, 1), np.float32)}
    found = {"0": np.array([[2, 0.7, 3, 2, 11, 9]], np.float32), "1": np.zeros((0, 6), np.float32)}
    config = _inference_config(tmp_path, x)
    entry = inference.draw(tmp_path / "b", _Technique("boxes"), config, _h5(tmp_path / "b.h5", found), False)[0]
    sheet = _png((tmp_path / "b" / "predictions.png").read_bytes())
    scale = entry["scale"]
    assert np.all(sheet[9 * scale - 1, 3 * scale:11 * scale] == class_colour(2))
    generated = {name: -value for name, value in x.items()}
    entry = inference.draw(tmp_path / "g", _Technique(generates_images=True), config,
                           _h5(tmp_path / "g.h5", generated), False)[0]
    assert entry["title"] == "Generated images"
    sheet = _png((tmp_path / "g" / "predictions.png").read_bytes())
    assert sheet.shape == (2 * 16 * entry["scale"] + images.GAP, 2 * 16 * entry["scale"] + images.GAP, 3)
    assert inference.draw(tmp_path / "n", _Technique(), config, _h5(tmp_path / "n.h5", generated), False) == []
