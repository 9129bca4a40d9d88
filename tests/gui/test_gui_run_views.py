"""What the page shows of runs beyond the FCN of the browser test: boxes drawn where the detections
say (unit and through a BBD run, ``normalize_coordinates_switch`` on), class probabilities of a CNN,
GAN previews while the run goes on and its generated samples after, BBD's validation mAP, and
TensorBoard opened on a config's log folder."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import HOST, wait_until as _wait
from dlae_core.gui.colors import PREDICTED, TRUTH, box_edges
from dlae_core.gui.samples import draw_sample
from dlae_core.techniques.gan.preview import GAP

GREEN, RED = tuple(int(v) for v in TRUTH), tuple(int(v) for v in PREDICTED)


def _get(client, path):
    return client.get(client.prefix + path, headers={"Host": HOST})


def _post(client, path, body):
    return client.post(client.prefix + path, json=body, headers={"Host": HOST})



def _png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _needs_torch(registry):
    if registry.backends["torch"].missing():
        pytest.skip("torch is not installed")


def _run_to_end(c, config: Path, timeout: float = 300, during=None) -> dict:
    """Start a run of ``config`` from the page's API and follow it to its end; ``during(answer)`` is
    asked at every poll while it runs and must have said yes once (e.g. a preview was seen)."""
    run = _post(c, "api/runs", {"path": str(config), "backend": "torch"}).get_json()
    seen = during is None

    def ended():
        nonlocal seen
        answer = _get(c, f"api/runs/{run['id']}").get_json()
        seen = seen or (answer["state"] == "running" and during(answer))
        return answer if answer["state"] == "finished" else None

    done = _wait(ended, timeout, "the run to end")
    assert done["exit_code"] == 0, done["log"]
    assert seen, "not seen while the run went on"
    return done


def _image(c, path: str, config: Path) -> np.ndarray:
    answer = _get(c, "api/image?" + urlencode({"path": path, "config": str(config)}))
    assert answer.status_code == 200, path
    return _png(answer.data)


# -- drawing, without a model ------------------------------------------------------------------------
def test_boxes_are_drawn_on_the_pixels_they_name():
    image = np.zeros((8, 8, 1), np.float32)
    truth = np.array([[1, 2, 1, 5, 4]], np.float32)  # columns 2..4, rows 1..3
    found = np.array([[2, 0.9, 0.5, 4.5, 3.0, 8.0]], np.float32)  # half pixels; to the bottom edge
    [panel], info = draw_sample(image, found, truth, labels=False, rank=2, detections=True, scale=4)
    assert panel.shape == (32, 32, 3)
    colour = lambda row, col: tuple(int(v) for v in panel[row, col])  # noqa: E731
    # the true box spans pixels 8..19 (columns) and 4..15 (rows) of the 4x picture: its edges, not beyond
    for row, col in [(4, 8), (4, 19), (15, 8), (15, 19), (10, 8), (4, 14)]:
        assert colour(row, col) == GREEN, (row, col)
    for row, col in [(3, 8), (4, 7), (16, 19), (15, 20), (10, 12)]:
        assert colour(row, col) != GREEN, (row, col)
    # the detection: x 0.5..3 -> columns 2..11, y 4.5..8 -> rows 18..31 (clipped at the border)
    assert box_edges(found[0, 2:], 4, panel.shape) == (2, 18, 11, 31)
    for row, col in [(18, 2), (18, 11), (31, 2), (31, 11), (25, 2)]:
        assert colour(row, col) == RED, (row, col)
    assert colour(17, 2) != RED and colour(18, 12) != RED and colour(25, 6) == (0, 0, 0)
    assert info["boxes"] == {"truth": truth.tolist(), "detections": [[float(v) for v in found[0]]]}
    assert info["detections"] == 1


def test_a_sample_without_detections_is_still_a_detection_sample():
    _, info = draw_sample(np.ones((8, 8, 1)), np.zeros((0, 6)), np.zeros((0, 5)), labels=False, rank=2,
                          detections=True)
    assert info["detections"] == 0 and info["boxes"] == {"truth": [], "detections": []}


def test_vectors_are_class_probabilities_with_labels_else_values():
    _, info = draw_sample(np.ones((4, 4, 1)), np.array([0.2, 0.7, 0.1]), np.array([0, 1, 0]), labels=True, rank=2)
    assert info["probabilities"] == pytest.approx([0.2, 0.7, 0.1]) and info["target"] == 1
    _, info = draw_sample(np.ones((4, 4, 1)), np.array([2.5]), np.array([3.0]), labels=False, rank=2)
    assert info["values"] == [2.5] and info["target_values"] == [3.0] and "probabilities" not in info


def test_a_label_map_is_drawn_over_the_input_beside_the_target():
    x = np.zeros((4, 4, 1), np.float32)
    target = np.zeros((4, 4), np.int64)
    target[0, 0] = 1
    prediction = np.zeros((4, 4, 2), np.float32)
    prediction[..., 0] = 1.0
    prediction[3, 3] = (0.0, 1.0)  # class 1 at the bottom right only
    panels, info = draw_sample(x, prediction, target, labels=True, rank=2, scale=2)
    assert info["panels"] == ["input", "target", "prediction"] and [p.shape for p in panels] == [(8, 8, 3)] * 3
    coloured = lambda panel: {tuple(p) for p in np.argwhere(panel.sum(axis=-1) > 0)}  # noqa: E731
    assert coloured(panels[1]) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert coloured(panels[2]) == {(6, 6), (6, 7), (7, 6), (7, 7)}


# -- runs through the page's API ---------------------------------------------------------------------
def test_a_bbd_run_shows_val_map_and_draws_its_detections_at_their_pixels(client, gui_registry, small_example,
                                                                         tmp_path):
    _needs_torch(gui_registry)
    config = small_example("bbd", tmp_path / "bbd", n=8, training_configurations={"epochs": 1},
                           bbd_options={"normalize_coordinates_switch": True, "confidence_threshold": 0.05, "top_k": 3})
    c = client()
    done = _run_to_end(c, config)
    assert "val_mAP" in done["epochs"][0]["metrics"]  # the curve the page draws with the others
    samples = done["samples"]["samples"]
    folder = tmp_path / "bbd" / "out" / "samples"
    with h5py.File(folder / "predictions.h5") as predicted, \
            h5py.File(tmp_path / "bbd" / "data" / "detection_validation_y.h5") as truth:
        assert [s["name"] for s in samples] == sorted(truth, key=int)[:4]
        for sample in samples:
            rows, boxes = predicted[sample["name"]][()], truth[sample["name"]][()]
            np.testing.assert_allclose(np.reshape(sample["boxes"]["detections"], (-1, 6)), rows, rtol=1e-6)
            np.testing.assert_allclose(np.reshape(sample["boxes"]["truth"], (-1, 5)), boxes, rtol=1e-6)
            assert len(rows) > 0
            # in input pixels, not in 0..1 as the network works with normalize_coordinates_switch
            assert (rows[:, 4] - rows[:, 2] > 2).all() and (rows[:, 5] - rows[:, 3] > 2).all()
            picture = _image(c, sample["image"], config)
            scale = sample["scale"]
            assert picture.shape == (32 * scale, 32 * scale, 3)
            for row in rows:  # red is drawn last: every detection's corners are red
                x0, y0, x1, y1 = box_edges(row[2:], scale, picture.shape)
                for y, x in [(y0, x0), (y0, x1), (y1, x0), (y1, x1)]:
                    assert tuple(picture[y, x]) == RED, (sample["name"], row, (y, x))
            green = (picture == GREEN).all(axis=-1)
            assert green.any() == (len(boxes) > 0)


def test_a_gan_run_shows_previews_while_it_runs_then_generated_samples(client, gui_registry, small_example, tmp_path):
    _needs_torch(gui_registry)
    config = small_example("pix2pix", tmp_path / "gan", n=8, training_configurations={"epochs": 2})
    c = client()
    previews = []

    def preview_shown(answer):
        found = [path for path in answer["images"] if "/previews/" in path]
        if found:  # shown as it is written: the server gives the picture while the run goes on
            previews.append(_image(c, found[0], config))
        return bool(found)

    done = _run_to_end(c, config, during=preview_shown)
    assert previews[0].shape[0] > 32  # rows of source | generated | target, enlarged
    assert {m for e in done["epochs"] for m in e["metrics"]} >= {"g_loss", "d_loss"}
    samples = done["samples"]["samples"]
    assert len(samples) == 2  # the validation file's two samples
    for sample in samples:
        assert sample["panels"] == ["input", "prediction", "target"]
        side = 32 * sample["scale"]
        assert _image(c, sample["image"], config).shape == (side, 3 * side + 2 * GAP, 3)
        assert sample["image"] in done["images"]


def test_cnn_samples_list_the_class_probabilities_dlae_predict_gives(gui_registry, small_example, tmp_path):
    _needs_torch(gui_registry)
    from dlae_core.cli.main import cli
    from dlae_core.gui.samples import make_samples

    config = small_example("cnn", tmp_path / "cnn", n=8, training_configurations={"epochs": 0})
    assert CliRunner().invoke(cli, ["run", "--backend", "torch", str(config)]).exit_code == 0  # the model as built
    written = json.loads(make_samples(str(config), "torch", gui_registry).read_text())
    folder = tmp_path / "cnn" / "out" / "samples"
    with h5py.File(folder / "predictions.h5") as predicted, \
            h5py.File(tmp_path / "cnn" / "data" / "classification_validation_y.h5") as truth:
        assert len(written["samples"]) == 2
        for sample in written["samples"]:
            assert sample["probabilities"] == pytest.approx(predicted[sample["name"]][()].tolist())
            assert sum(sample["probabilities"]) == pytest.approx(1.0, abs=1e-5)
            assert sample["target"] == int(truth[sample["name"]][()][0])  # the file holds class numbers
            assert Path(sample["image"]).is_file()


# -- TensorBoard -------------------------------------------------------------------------------------
def test_tensorboard_opens_on_the_configs_log_folder(client, gui_registry, fcn_example, tmp_path):
    pytest.importorskip("tensorboard")
    from dlae_core.training.tensorboard import TensorBoardLog

    c = client(workdir=fcn_example)
    page = _get(c, "api/config?" + urlencode({"path": str(fcn_example / "config.json")})).get_json()["config"]
    refused = _post(c, "api/tensorboard", {"config": page, "path": str(fcn_example / "config.json")})
    assert refused.status_code == 400 and "writes no TensorBoard log" in refused.get_json()["error"][0]
    page["save_configurations"].update(save_tensorboard_switch=True, save_tensorboard_path=str(tmp_path / "tb"))
    with TensorBoardLog(tmp_path / "tb") as log:
        log.add_scalars(0, {"loss": 0.75})
        log.add_scalars(1, {"loss": 0.25})
    try:
        answer = _post(c, "api/tensorboard", {"config": page, "path": str(fcn_example / "config.json")}).get_json()
        assert answer["url"].startswith("http://127.0.0.1:") and answer["logdir"] == str(tmp_path / "tb")
        again = _post(c, "api/tensorboard", {"config": page, "path": str(fcn_example / "config.json")}).get_json()
        assert again["url"] == answer["url"]  # one TensorBoard per folder
        query = urlencode({"run": ".", "tag": "loss"})
        with urllib.request.urlopen(answer["url"] + f"data/plugin/scalars/scalars?{query}", timeout=30) as shown:
            assert [(step, value) for _, step, value in json.load(shown)] == [(0, 0.75), (1, 0.25)]
    finally:
        c.session.tensorboards.close()
