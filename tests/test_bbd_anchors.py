"""BBD anchor generator (dlae_core.techniques.bbd.anchors): counts, positions, shapes, clip, normalize."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlae_core.techniques.bbd.anchors import anchors_to_corners, boxes_per_cell, make_anchors, predictor_layouts
from dlae_core.config.schema import BbdOptions
from dlae_core.errors import ConfigError


def bbd(**kw) -> BbdOptions:
    base = dict(aspect_ratios=(1.0,), scales=(0.25, 0.5), steps=None, offsets=None, variances=(1.0, 1.0, 1.0, 1.0))
    base.update(kw)
    return BbdOptions(**base)


def test_two_by_two_map_on_eight_by_eight_image_centres_and_order():
    anchors = make_anchors(bbd(), (8, 8), [(2, 2, 16)])
    assert anchors.shape == (4, 4)
    # row-major over (row, column): (cx, cy) = (2, 2), (6, 2), (2, 6), (6, 6)
    np.testing.assert_allclose(anchors[:, :2], [[2, 2], [6, 2], [2, 6], [6, 6]])
    np.testing.assert_allclose(anchors[:, 2:], 2.0)  # scale 0.25 of size 8


def test_every_aspect_ratio_gets_its_own_shape():
    anchors = make_anchors(bbd(aspect_ratios=(1.0, 2.0, 0.5)), (8, 8), [(2, 2, 3)])
    assert anchors.shape == (12, 4)
    cell = anchors[:3]
    np.testing.assert_allclose(cell[:, :2], [[2, 2]] * 3)
    s = 0.25 * 8
    np.testing.assert_allclose(cell[:, 2:], [[s, s], [s * math.sqrt(2), s / math.sqrt(2)],
                                             [s * math.sqrt(0.5), s / math.sqrt(0.5)]])
    np.testing.assert_allclose(anchors[3:6, :2], [[6, 2]] * 3)  # next cell: next column


def test_two_boxes_for_ar1_adds_geometric_mean_square_after_ar1():
    options = bbd(aspect_ratios=(2.0, 1.0), two_boxes_for_AR1_switch=True)
    assert boxes_per_cell(options, 1) == [3]
    anchors = make_anchors(options, (8, 8), [(2, 2, 3)])
    assert anchors.shape == (12, 4)
    s, s_next = 0.25 * 8, math.sqrt(0.25 * 0.5) * 8
    np.testing.assert_allclose(anchors[:3, 2:], [[s * math.sqrt(2), s / math.sqrt(2)], [s, s], [s_next, s_next]])
    assert boxes_per_cell(bbd(aspect_ratios=(2.0,), two_boxes_for_AR1_switch=True), 2) == [1, 1]


def test_global_scales_linear_between_two_smallest_and_layer_counts():
    options = bbd(scales=(0.9, 0.2, 0.5), aspect_ratios=(1.0, 2.0))  # sorted: 0.2, 0.5 used
    layouts = predictor_layouts(options, (16, 16), [(4, 4, 8), (2, 2, 8), (1, 1, 8)])
    np.testing.assert_allclose([lay.scale for lay in layouts], [0.2, 0.3, 0.4])
    np.testing.assert_allclose([lay.next_scale for lay in layouts], [0.3, 0.4, 0.5])
    anchors = make_anchors(options, (16, 16), [(4, 4, 8), (2, 2, 8), (1, 1, 8)])
    assert anchors.shape == ((16 + 4 + 1) * 2, 4)
    np.testing.assert_allclose(anchors[-2:, :2], [[8, 8], [8, 8]])  # 1x1 map: image centre
    np.testing.assert_allclose(anchors[-2, 2:], [0.4 * 16, 0.4 * 16])


def test_per_layer_scales_and_ratios():
    options = bbd(scaling_type="per predictor layer", scales=(0.1, 0.3, 0.6),
                  aspect_ratios_type="per predictor layer", aspect_ratios=((1.0,), (1.0, 2.0)))
    assert boxes_per_cell(options, 2) == [1, 2]
    anchors = make_anchors(options, (10, 20), [(5, 10, 4), (1, 2, 4)])
    assert anchors.shape == (50 + 4, 4)
    np.testing.assert_allclose(anchors[0], [1, 1, 1, 1])  # size = min(10, 20) = 10, s = 0.1
    np.testing.assert_allclose(anchors[50:52, 2:], [[3, 3], [3 * math.sqrt(2), 3 / math.sqrt(2)]])
    np.testing.assert_allclose(anchors[52, :2], [15, 5])  # second column of the 1x2 map


def test_steps_and_offsets_numbers_and_pairs():
    anchors = make_anchors(bbd(steps=(3.0,), offsets=(0.0,)), (8, 8), [(2, 2, 1)])
    np.testing.assert_allclose(anchors[:, :2], [[0, 0], [3, 0], [0, 3], [3, 3]])
    anchors = make_anchors(bbd(steps=((2.0, 4.0),), offsets=((0.5, 0.25),)), (8, 8), [(2, 2, 1)])
    # step_h 2, step_w 4, off_h 0.5, off_w 0.25: cy = 1, 3; cx = 1, 5
    np.testing.assert_allclose(anchors[:, :2], [[1, 1], [5, 1], [1, 3], [5, 3]])


def test_clip_keeps_corners_inside():
    options = bbd(scales=(1.0, 1.0), clip_boxes_switch=True)
    anchors = make_anchors(options, (8, 8), [(2, 2, 1)])
    corners = anchors_to_corners(anchors)
    # unclipped first anchor: centre (2, 2), side 8 -> (-2, -2, 6, 6) -> clipped (0, 0, 6, 6)
    np.testing.assert_allclose(corners[0], [0, 0, 6, 6])
    # last anchor (6, 6): (2, 2, 10, 10) -> x >= W becomes W - 1 = 7
    np.testing.assert_allclose(corners[3], [2, 2, 7, 7])
    assert corners.min() >= 0 and corners.max() <= 7


def test_normalized_coordinates():
    anchors = make_anchors(bbd(normalize_coordinates_switch=True), (8, 16), [(2, 2, 1)])
    # step_h 4, step_w 8; side 0.25 * 8 = 2 -> w 2/16, h 2/8
    np.testing.assert_allclose(anchors[:, :2], [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])
    np.testing.assert_allclose(anchors[:, 2:], [[0.125, 0.25]] * 4)


def test_mismatched_per_layer_settings_raise_config_error():
    with pytest.raises(ConfigError, match="steps"):
        make_anchors(bbd(steps=(8.0, 16.0)), (8, 8), [(2, 2, 1)])
    with pytest.raises(ConfigError, match="scales"):
        make_anchors(bbd(scaling_type="per predictor layer", scales=(0.1, 0.2, 0.3)), (8, 8), [(2, 2, 1)])
    with pytest.raises(ConfigError, match="aspect"):
        make_anchors(bbd(aspect_ratios=((1.0,), (2.0,))), (8, 8), [(2, 2, 1)])
    with pytest.raises(ConfigError, match="outside"):
        make_anchors(bbd(steps=(16.0,), clip_boxes_switch=True), (8, 8), [(2, 2, 1)])


def test_inspect_counts_the_predictor_heads_of_a_bbd():
    """example_bbd: two hooks (16x16x32 and 8x8x32), 3 boxes per cell, 2 classes + background."""
    import json
    from pathlib import Path

    from click.testing import CliRunner

    from dlae_core.cli.main import cli

    config = Path(__file__).resolve().parents[1] / "configs" / "example_bbd.json"
    result = CliRunner().invoke(cli, ["inspect", "--json", str(config)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = {row["name"]: row for row in report["layers"]}
    assert rows["bbd_l2_normalization"]["trainable_params"] == 32
    assert rows["bbd_class_head_0"]["output_shape"] == [16, 16, 9]
    assert rows["bbd_class_head_0"]["trainable_params"] == (9 * 32 + 1) * 9
    assert rows["bbd_box_head_1"]["output_shape"] == [8, 8, 12]
    assert rows["bbd_box_head_1"]["trainable_params"] == (9 * 32 + 1) * 12
    assert rows["bbd_output"]["output_shape"] == [16 * 16 * 3 + 8 * 8 * 3, 3 + 4]
    heads = 32 + 2 * (9 * 32 + 1) * (9 + 12)
    body = sum(row["trainable_params"] for row in report["layers"] if row["op"] != "bbd_head")
    assert report["trainable_params"] == body + heads == 26_218
    assert report["models"]["model"]["output_shape"] == [960, 7]
