"""The Pillow chart kit of the run report (dlae_core.report.plot, charts): ticks, data placed at
the right pixels, and charts without matplotlib."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from dlae_core.report import charts  # noqa: E402
from dlae_core.report.plot import PALETTE, Chart, nice_ticks  # noqa: E402


def _image(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_nice_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(1, 50) == [10, 20, 30, 40, 50]
    assert nice_ticks(0.013, 0.047) == [0.02, 0.03, 0.04]
    assert nice_ticks(3.0, 3.0) == [3.0, 4.0, 5.0, 6.0]  # an empty range still gets ticks
    assert nice_ticks(float("nan"), 1.0) == []


def test_points_land_where_the_data_say():
    chart = Chart(400, 300)
    panel = chart.panels[0]
    panel.limits((0.0, 10.0), (0.0, 1.0), pad=0.0)
    panel.axes("t")
    panel.dots([2.0, 8.0], [0.25, 0.75], PALETTE[3], radius=3)
    pixels = _image(chart.png())
    left, top, right, bottom = panel.area
    for x, y in ((2.0, 0.25), (8.0, 0.75)):
        px, py = left + x / 10 * (right - left), bottom - y * (bottom - top)
        assert tuple(pixels[round(py), round(px)]) == PALETTE[3]
    assert tuple(pixels[round((top + bottom) / 2), round((left + right) / 2)]) != PALETTE[3]


def test_charts_are_drawn_without_matplotlib():
    code = ("import sys; sys.modules['matplotlib'] = None\n"  # importing it now fails
            "import numpy as np\n"
            "from dlae_core.report import charts\n"
            "h = [{'epoch': i, 'loss': 1 / (i + 1), 'val_loss': 2 / (i + 1), 'lr': 0.1} for i in range(4)]\n"
            "print(len(charts.curves(h)), len(charts.confusion(np.eye(3, dtype=int))),"
            " len(charts.predicted_vs_true(np.arange(5.), np.arange(5.))), len(charts.class_counts(np.array([1, 2]))))")
    sizes = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert len(sizes) == 4 and all(int(size) > 1000 for size in sizes)


def test_curves_show_both_series_and_a_confusion_matrix_its_counts():
    history = [{"epoch": i, "loss": 1.0 / (i + 1), "val_loss": 1.5 / (i + 1), "lr": 0.01} for i in range(5)]
    pixels = _image(charts.curves(history))
    assert pixels.shape == (charts.HEIGHT, charts.WIDTH, 3)
    colours = {tuple(p) for p in pixels.reshape(-1, 3)}
    assert PALETTE[0] in colours and PALETTE[1] in colours  # train and validation lines
    matrix = np.array([[5, 0], [1, 4]])
    image = _image(charts.confusion(matrix))
    dark = np.all(image == (8, 48, 107), axis=-1)  # the cell of the largest count is the darkest blue
    assert dark.sum() > 1000
