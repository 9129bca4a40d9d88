"""mAP of BBD detections (dlae_core.techniques.bbd.metrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlae_core.techniques.bbd.metrics import average_precision, mean_average_precision

GT = [np.array([[1, 0, 0, 10, 10], [2, 20, 20, 30, 30]], np.float32),
      np.array([[1, 5, 5, 15, 15]], np.float32)]


def det(*rows):
    return np.array(rows, np.float32).reshape(-1, 6)


def test_perfect_detections_give_one():
    dets = [det([1, 0.9, 0, 0, 10, 10], [2, 0.8, 20, 20, 30, 30]), det([1, 0.7, 5, 5, 15, 15])]
    m, per_class = mean_average_precision(dets, GT, 2)
    assert m == 1.0
    np.testing.assert_allclose(per_class, [1.0, 1.0])


def test_false_positive_ranked_first():
    dets = [det([1, 0.99, 40, 40, 50, 50], [1, 0.9, 0, 0, 10, 10], [2, 0.8, 20, 20, 30, 30]),
            det([1, 0.7, 5, 5, 15, 15])]
    m, per_class = mean_average_precision(dets, GT, 2)
    # class 1: FP, TP, TP -> precision 0, 1/2, 2/3 at recall 0, 1/2, 1 -> AP = 1/2*2/3 + 1/2*2/3 = 2/3
    assert per_class[0] == pytest.approx(2 / 3)
    assert per_class[1] == 1.0
    assert m == pytest.approx((2 / 3 + 1) / 2)


def test_missed_box_and_duplicate():
    dets = [det([1, 0.9, 0, 0, 10, 10], [1, 0.85, 0, 0, 10, 10.5], [2, 0.8, 20, 20, 30, 30]), det()]
    m, per_class = mean_average_precision(dets, GT, 2)
    # class 1: TP then a duplicate (FP); the box of image 1 is missed -> recall 1/2, AP = 1/2
    assert per_class[0] == pytest.approx(0.5)
    assert m == pytest.approx(0.75)


def test_iou_threshold_and_class_must_match():
    shifted = [det([1, 0.9, 0, 0, 10, 20]), det([2, 0.9, 5, 5, 15, 15])]  # IoU 0.5 exactly; wrong class
    gts = [GT[0][:1], GT[1]]
    m, per_class = mean_average_precision(shifted, gts, 3)
    assert per_class[0] == pytest.approx(0.5)  # IoU 0.5 >= 0.5 counts; the class-2 box does not
    assert math.isnan(per_class[1]) and math.isnan(per_class[2])  # no ground truth: excluded
    assert m == pytest.approx(0.5)
    assert mean_average_precision(shifted, gts, 3, iou_threshold=0.6)[0] == 0.0


def test_no_ground_truth_and_input_forms():
    assert mean_average_precision([det([1, 0.9, 0, 0, 1, 1])], [np.zeros((0, 5))], 1)[0] == 0.0
    m, _ = mean_average_precision([det([1, 0.9, 0, 0, 10, 10])], [np.array([1, 0, 0, 10, 10.0])], 1)
    assert m == 1.0
    with pytest.raises(ValueError):
        mean_average_precision([det()], [], 1)


def test_average_precision_envelope():
    # precision rises later: the envelope uses the later, higher precision
    assert average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(
        0.5 * 1.0 + 0.5 * 2 / 3)
