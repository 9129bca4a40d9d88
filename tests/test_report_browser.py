"""report.html opened offline in headless Chromium (the GUI tests' browser set-up: Debian's chromium
and chromedriver through selenium): every picture is decoded at its own size from the page itself,
nothing is fetched from anywhere, and no script runs. Skipped, saying why, where the browser is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "gui"))
from browser import find_browser, start_chromium  # noqa: E402

BINARY, DRIVER, MISSING = find_browser()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
pytest.importorskip("PIL")


def test_report_html_shows_every_picture_offline(tmp_path):
    from dlae_core.report import charts, html, pictures

    rng = np.random.default_rng(0)
    found = {"kind": "maps", "dense": False, "x": rng.random((2, 8, 8, 1)), "y": rng.integers(0, 3, (2, 8, 8)),
             "pred": rng.random((2, 8, 8, 3))}
    pictures.draw(tmp_path, [{"loss": 1.0, "val_loss": 1.2, "lr": 0.1}, {"loss": 0.5, "val_loss": 0.7, "lr": 0.1}],
                  found)
    page = html.write_report(tmp_path, {"status": "finished", "hash": "0123abcd", "technique": "FCN"})
    driver = start_chromium(BINARY, DRIVER)
    try:
        driver.get(page.as_uri())
        shown = driver.execute_script(
            "return [...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight,"
            " i.src.slice(0, 22)])")
        fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        title = driver.title
        scripts = driver.execute_script("return document.scripts.length")
    finally:
        driver.quit()
    from PIL import Image

    with Image.open(tmp_path / "samples.png") as samples:
        sample_size = samples.size
    assert shown == [["Training curves", True, charts.WIDTH, charts.HEIGHT, "data:image/png;base64,"],
                     ["Validation samples", True, *sample_size, "data:image/png;base64,"]]
    assert fetched == [] and scripts == 0
    assert title == "dlae run 0123abcd (FCN, finished)"
