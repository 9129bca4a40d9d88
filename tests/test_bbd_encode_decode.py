"""BBD target encoding, decoding, NMS and the numpy SSD loss reference (dlae_core.techniques.bbd)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlae_core.techniques.bbd.anchors import make_anchors
from dlae_core.techniques.bbd.decode import decode, decode_offsets, nms
from dlae_core.techniques.bbd.encode import check_boxes, corners_to_centroids, encode_boxes, encode_image, iou
from dlae_core.techniques.bbd.loss_reference import ssd_loss, ssd_loss_terms
from dlae_core.config.schema import BbdOptions
from dlae_core.errors import DataError


def bbd(**kw) -> BbdOptions:
    base = dict(aspect_ratios=(1.0,), scales=(0.5, 0.5), steps=None, offsets=None, variances=(0.1, 0.1, 0.2, 0.2),
                number_classes=2, confidence_threshold=0.5, iou_threshold=0.5, top_k=0, nms_maximum_output=0)
    base.update(kw)
    return BbdOptions(**base)


def hand_anchors(corners) -> np.ndarray:
    return corners_to_centroids(np.asarray(corners, dtype=np.float64))


def test_iou_corners():
    a = [[0, 0, 4, 4]]
    np.testing.assert_allclose(iou(a, [[0, 0, 4, 4], [2, 0, 6, 4], [4, 4, 8, 8], [1, 1, 3, 3]]),
                               [[1.0, 8 / 24, 0.0, 4 / 16]])
    assert iou(a, [[1, 1, 1, 1]])[0, 0] == 0.0  # empty box


def test_encode_hand_checked_offsets():
    options = bbd()
    anchors = make_anchors(options, (8, 8), [(2, 2, 1)])  # side 4: (0,0,4,4), (4,0,8,4), (0,4,4,8), (4,4,8,8)
    y = encode_boxes([np.array([[1, 0, 0, 4, 4], [2, 4.5, 4, 8, 8]])], anchors, options, (8, 8), 2)
    assert y.shape == (1, 4, 3 + 4) and y.dtype == np.float32
    np.testing.assert_allclose(y[0, :, :3], [[0, 1, 0], [1, 0, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(y[0, 0, 3:], 0, atol=1e-7)
    np.testing.assert_allclose(y[0, 3, 3:], [0.25 / (4 * 0.1), 0, math.log(3.5 / 4) / 0.2, 0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(y[0, 1:3, 3:], 0)


def test_threshold_matching_and_neutral_anchors():
    options = bbd(positive_iou_threshold=0.5, negative_iou_limit=0.3)
    anchors = hand_anchors([[0, 0, 4, 4], [1, 0, 5, 4], [2, 0, 6, 4], [6, 6, 8, 8]])
    y = encode_image(np.array([[2, 0, 0, 4, 4]], np.float32), anchors, options, (8, 8), 2)
    # IoU: 1 (bipartite), 0.6 (>= 0.5: positive), 1/3 (>= 0.3: neutral), 0 (background)
    np.testing.assert_allclose(y[:, :3], [[0, 0, 1], [0, 0, 1], [0, 0, 0], [1, 0, 0]])
    np.testing.assert_allclose(y[1, 3:], [-1 / (4 * 0.1), 0, 0, 0], atol=1e-6)


def test_bipartite_gives_every_box_an_anchor():
    options = bbd()
    anchors = hand_anchors([[0, 0, 4, 4], [4, 0, 8, 4]])
    boxes = np.array([[1, 0, 0, 4, 4], [2, 0.5, 0, 4.5, 4]], np.float32)  # both best on anchor 0
    y = encode_image(boxes, anchors, options, (8, 8), 2)
    np.testing.assert_allclose(y[:, :3], [[0, 1, 0], [0, 0, 1]])


def test_empty_boxes_encode_to_background():
    options = bbd()
    anchors = make_anchors(options, (8, 8), [(2, 2, 1)])
    y = encode_boxes([np.zeros((0, 5)), np.array([1, 0, 0, 4, 4.0])], anchors, options, (8, 8), 2)
    np.testing.assert_allclose(y[0, :, 0], 1)
    np.testing.assert_allclose(y[0, :, 1:], 0)
    assert y[1, 0, 1] == 1  # a 1-D single box is one row


@pytest.mark.parametrize("boxes, text", [
    (np.array([[1, 4, 0, 4, 4]]), "box 0 is empty"),
    (np.array([[1, 0, 0, 4, 4], [1, 0, 5, 4, 4]]), "box 1 is empty"),
    (np.array([[0, 0, 0, 4, 4]]), "class 0, which is not an object class"),
    (np.array([[3, 0, 0, 4, 4]]), "class 3, which is not an object class"),
    (np.array([[1.5, 0, 0, 4, 4]]), "class 1.5"),
    (np.array([[1, 0, 0, 4]]), "rows \\[class, xmin, ymin, xmax, ymax\\]"),
    (np.array([[1, 0, np.nan, 4, 4]]), "NaN"),
])
def test_bad_boxes_raise_data_error(boxes, text):
    with pytest.raises(DataError, match=text):
        check_boxes(boxes, 2, "y.h5, sample '0'")
    anchors = make_anchors(bbd(), (8, 8), [(2, 2, 1)])
    with pytest.raises(DataError, match="batch image 0"):
        encode_boxes([boxes], anchors, bbd(), (8, 8), 2)


@pytest.mark.parametrize("normalize", [False, True])
def test_encode_decode_round_trip(normalize):
    options = bbd(aspect_ratios=(0.5, 1.0, 2.0), scales=(0.2, 0.6), two_boxes_for_AR1_switch=True,
                  normalize_coordinates_switch=normalize, clip_boxes_switch=True)
    hw = (32, 48)
    anchors = make_anchors(options, hw, [(8, 12, 4), (4, 6, 4), (2, 3, 4)])
    boxes = [np.array([[1, 2, 3, 12.5, 10], [2, 20, 14, 44, 30], [2, 30, 1, 37, 8]], np.float32),
             np.array([[1, 0, 0, 48, 32]], np.float32)]
    y = encode_boxes(boxes, anchors, options, hw, 2)
    scores, offsets = y[..., :3], y[..., 3:]
    assert (scores[..., 1:].sum(axis=(1, 2)) >= [3, 1]).all()
    found = decode(scores, offsets, anchors, options, hw)
    for got, want in zip(found, boxes):
        got = got[np.lexsort((got[:, 2], got[:, 0]))]
        want = want[np.lexsort((want[:, 1], want[:, 0]))]
        np.testing.assert_allclose(got[:, 0], want[:, 0])
        np.testing.assert_allclose(got[:, 1], 1.0)
        np.testing.assert_allclose(got[:, 2:], want[:, 1:], atol=1e-4)


def test_decode_offsets_formula():
    options = bbd(variances=(0.1, 0.2, 0.5, 0.25))
    anchors = np.array([[10.0, 20.0, 4.0, 8.0]])
    box = decode_offsets(np.array([[1.0, -1.0, 0.0, math.log(2) / 0.25]]), anchors, options, (64, 64))
    # cx = 1*0.1*4 + 10 = 10.4, cy = -1*0.2*8 + 20 = 18.4, w = 4, h = 16
    np.testing.assert_allclose(box, [[8.4, 10.4, 12.4, 26.4]])


def test_nms_hand_made():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [5, 0, 15, 10], [21, 20, 31, 30]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.95])
    # IoU(0,1) = 81/119 > 0.5 (drop 1); IoU(0,3) = 1/3 (kept at 1/3, dropped at 0.3); IoU(4,2) = 90/110
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [4, 0, 3])
    np.testing.assert_array_equal(nms(boxes, scores, 1 / 3), [4, 0, 3])
    np.testing.assert_array_equal(nms(boxes, scores, 0.3), [4, 0])
    np.testing.assert_array_equal(nms(boxes, scores, 1.0), [4, 0, 1, 2, 3])
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).size == 0


def _scores_for(rows, n_anchors, n_classes=2):
    """One image: anchor a gets class c with confidence p (background 1 - p)."""
    scores = np.zeros((n_anchors, n_classes + 1))
    scores[:, 0] = 1
    for a, c, p in rows:
        scores[a] = 0
        scores[a, 0], scores[a, c] = 1 - p, p
    return scores


def test_decode_threshold_classes_top_k_and_cap():
    anchors = hand_anchors([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [40, 0, 50, 10], [0, 40, 10, 50]])
    scores = _scores_for([(0, 1, 0.9), (1, 1, 0.8), (2, 1, 0.7), (3, 1, 0.6), (4, 2, 0.5)], 5)
    scores[1, 2] = 0.85  # anchor 1 also class 2 (overlaps anchor 0, other class: not suppressed)
    scores[1, 0] = 0.0
    offsets = np.zeros((5, 4))
    [rows] = decode(scores, offsets, anchors, bbd(), (64, 64))
    # class 1: 0.9 suppresses 0.8; 0.7, 0.6 kept; class 2: 0.85; 0.5 is not > 0.5
    np.testing.assert_allclose(rows[:, :2], [[1, 0.9], [2, 0.85], [1, 0.7], [1, 0.6]], rtol=1e-6)
    np.testing.assert_allclose(rows[0, 2:], [0, 0, 10, 10])
    assert rows.dtype == np.float32
    [top] = decode(scores, offsets, anchors, bbd(top_k=2), (64, 64))
    np.testing.assert_allclose(top[:, 1], [0.9, 0.85], rtol=1e-6)
    [capped] = decode(scores, offsets, anchors, bbd(nms_maximum_output=2), (64, 64))
    # class 1 keeps only its two best (0.9, 0.8) before NMS -> 0.9 alone
    np.testing.assert_allclose(capped[:, :2], [[1, 0.9], [2, 0.85]], rtol=1e-6)
    [none] = decode(scores, offsets, anchors, bbd(confidence_threshold=0.95), (64, 64))
    assert none.shape == (0, 6)


def test_ssd_loss_reference_hand_computed():
    # one image, 4 anchors, C = 1: anchor 0 positive, anchor 1 neutral, anchors 2, 3 background
    y_true = np.array([[[0, 1, 0.5, 0, 0, 0], [0, 0, 9, 9, 9, 9], [1, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]]], float)
    y_pred = np.array([[[0.2, 0.8, 0, 0, 3, 0], [0.5, 0.5, 0, 0, 0, 0], [0.9, 0.1, 0, 0, 0, 0],
                        [0.6, 0.4, 0, 0, 0, 0]]], float)
    pos_cls, loc = -math.log(0.8), 0.5 * 0.25 + (3 - 0.5)
    # ratio 1 -> the one hardest negative (anchor 3, -log 0.6)
    assert ssd_loss(y_true, y_pred, 1, 1.0) == pytest.approx(pos_cls - math.log(0.6) + loc)
    # ratio 3 -> both negatives (only 2 non-zero candidates); alpha 2; parameter 3.9 truncates to 3
    assert ssd_loss(y_true, y_pred, 3.9, 2.0) == pytest.approx(pos_cls - math.log(0.6) - math.log(0.9) + 2 * loc)
    terms = ssd_loss_terms(y_true, y_pred, 0, 1.0)
    assert terms["n_positive"] == 1 and terms["n_negative"] == 0
    assert terms["loss"] == pytest.approx(pos_cls + loc)


def test_ssd_loss_batch_wide_mining_and_normalization():
    y_true = np.zeros((2, 3, 6))
    y_true[:, :, 0] = 1
    y_true[0, 0, :2] = [0, 1]  # one positive in image 0, none in image 1
    y_pred = np.zeros((2, 3, 6))
    y_pred[..., 0], y_pred[..., 1] = 0.9, 0.1
    y_pred[1, 2, :2] = [0.1, 0.9]  # the hardest negative is in image 1
    terms = ssd_loss_terms(y_true, y_pred, 1, 1.0)
    np.testing.assert_allclose(terms["negative_cls"], [0, -math.log(0.1)])
    assert terms["loss"] == pytest.approx(-math.log(0.1) * 2)
    # no positive in the batch: no negatives mined, loss 0
    background = np.zeros((2, 3, 6))
    background[..., 0] = 1
    assert ssd_loss(background, y_pred, 3, 1.0) == 0.0
