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

pytest.importorskip("matplotlib")


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

    monkeypatch.setattr(extras, "_installed", lambda module: module != "matplotlib")
    run = types.SimpleNamespace(options=types.SimpleNamespace(report_folder="out/model.pt.report"))
    reporter, note = for_session(None, run, None, None)
    assert reporter is None and note.startswith("pictures and report.html skipped (matplotlib not installed")
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
