"""Ground-truth boxes -> SSD training targets, numpy only.

Boxes are float arrays (k, 5) of rows ``[class, xmin, ymin, xmax, ymax]`` in
pixels of the network input, x = column, y = row, width = xmax - xmin (no +1).
Classes are 1..C (0 is background). :func:`check_boxes` turns one sample's
raw target into that form or raises :class:`~dlae_core.errors.DataError`.

Target layout per anchor (matches the network output of :mod:`.anchors`)::

    [C+1 one-hot class vector (background at 0; all zeros = neutral) | t_cx, t_cy, t_w, t_h]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlae_core.errors import DataError, problem
from dlae_core.techniques.bbd.anchors import anchors_to_corners, variances

__all__ = ["iou", "check_boxes", "encode_boxes", "encode_image", "match_anchors", "corners_to_centroids"]


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of corner boxes (..., 4) (xmin, ymin, xmax, ymax);
    area = (xmax - xmin) * (ymax - ymin). Pairs with an empty union give 0."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def corners_to_centroids(corners: np.ndarray) -> np.ndarray:
    """(..., 4) (xmin, ymin, xmax, ymax) -> (..., 4) (cx, cy, w, h), float64."""
    c = np.asarray(corners, dtype=np.float64)
    return np.stack([(c[..., 0] + c[..., 2]) / 2, (c[..., 1] + c[..., 3]) / 2,
                     c[..., 2] - c[..., 0], c[..., 3] - c[..., 1]], axis=-1)


def check_boxes(y, n_classes: int, where: str = "boxes") -> np.ndarray:
    """One sample's boxes as float32 (k, 5): a 1-D row of 5 becomes one row, an empty array
    (any shape with no elements) gives (0, 5). Raises DataError (located at ``where``, e.g.
    ``"<y file>, sample '3'"``) for a wrong column count, NaN/Inf, a class that is not an
    integer in 1..n_classes, or xmax <= xmin / ymax <= ymin."""
    y = np.asarray(y, dtype=np.float32)
    if y.size == 0:
        return np.zeros((0, 5), np.float32)
    if y.ndim == 1 and y.shape[0] == 5:
        y = y[None, :]
    if y.ndim != 2 or y.shape[1] != 5:
        raise DataError([problem(where, "boxes must be rows [class, xmin, ymin, xmax, ymax]",
                                 expected="an array (n, 5), (5,) for one box, or an empty array",
                                 received=y.shape)])
    for index, row in enumerate(y):
        cls = float(row[0])
        what = None
        if not np.isfinite(row).all():
            what, expected = "holds NaN or Inf", "finite numbers"
        elif cls != int(cls) or not 1 <= cls <= n_classes:
            what = f"has class {cls:g}, which is not an object class"
            expected = f"an integer in 1..{n_classes} (bbd_options.number_classes; 0 is background)"
        elif row[3] <= row[1] or row[4] <= row[2]:
            what = "is empty (xmax <= xmin or ymax <= ymin)"
            expected = "xmin < xmax and ymin < ymax (x = column, y = row)"
        if what:
            raise DataError([problem(where, f"box {index} {what}", expected=expected,
                                     received=[float(v) for v in row])])
    return y


def match_anchors(overlaps: np.ndarray, positive_iou: float, negative_limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Match boxes to anchors from the IoU matrix ``overlaps`` (k boxes, N anchors).

    Returns ``(match, neutral)``: ``match`` (N,) int, the box of each anchor or -1;
    ``neutral`` (N,) bool. Bipartite greedy matching first (repeatedly the
    largest IoU among unassigned boxes and anchors, so every box gets one anchor
    even with a tiny IoU; ties go to the lowest box, then anchor index), then
    every other anchor whose best IoU is >= ``positive_iou`` takes its best box;
    remaining anchors with best IoU >= ``negative_limit`` are neutral.
    """
    k, n = overlaps.shape
    match = np.full(n, -1, dtype=np.int64)
    if k == 0:
        return match, np.zeros(n, dtype=bool)
    work = np.array(overlaps, dtype=np.float64)
    for _ in range(min(k, n)):
        box, anchor = np.unravel_index(int(np.argmax(work)), work.shape)
        match[anchor] = box
        work[box, :] = -1.0
        work[:, anchor] = -1.0
    free = match < 0
    best_box = np.argmax(overlaps, axis=0)
    best = overlaps[best_box, np.arange(n)]
    threshold = free & (best >= positive_iou)
    match[threshold] = best_box[threshold]
    neutral = (match < 0) & (best >= negative_limit)
    return match, neutral


def encode_image(boxes: np.ndarray, anchors: np.ndarray, bbd, image_hw: Sequence[int], n_classes: int) -> np.ndarray:
    """Targets (N, C+5) float32 of one image; ``boxes`` already checked (:func:`check_boxes`)."""
    n = len(anchors)
    out = np.zeros((n, n_classes + 5), dtype=np.float32)
    out[:, 0] = 1.0
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    if len(boxes) == 0:
        return out
    coords = boxes[:, 1:].copy()
    if bbd.normalize_coordinates_switch:
        height, width = float(image_hw[0]), float(image_hw[1])
        coords[:, [0, 2]] /= width
        coords[:, [1, 3]] /= height
    overlaps = iou(coords, anchors_to_corners(anchors))
    match, neutral = match_anchors(overlaps, bbd.positive_iou_threshold, bbd.negative_iou_limit)
    positive = match >= 0
    out[positive, 0] = 0.0
    out[np.flatnonzero(positive), boxes[match[positive], 0].astype(np.int64)] = 1.0
    out[neutral, 0] = 0.0
    gt = corners_to_centroids(coords[match[positive]])
    a = np.asarray(anchors, dtype=np.float64)[positive]
    v = variances(bbd)
    offsets = np.stack([(gt[:, 0] - a[:, 0]) / (a[:, 2] * v[0]), (gt[:, 1] - a[:, 1]) / (a[:, 3] * v[1]),
                        np.log(gt[:, 2] / a[:, 2]) / v[2], np.log(gt[:, 3] / a[:, 3]) / v[3]], axis=1)
    out[positive, n_classes + 1:] = offsets
    return out


def encode_boxes(boxes_list: Sequence[np.ndarray], anchors: np.ndarray, bbd, image_hw: Sequence[int],
                 n_classes: int) -> np.ndarray:
    """SSD targets (B, N, C+5) float32 for a batch: per image the boxes (k_i, 5) (or (5,), or
    empty) ``[class, xmin, ymin, xmax, ymax]`` in input pixels; ``anchors`` from
    :func:`~dlae_core.techniques.bbd.anchors.make_anchors` with the same ``bbd`` options.

    Per anchor: one-hot over C+1 classes (background 1 for unmatched anchors, all zeros for
    neutral ones), then t_cx = (cx_gt - cx_a)/(w_a v0), t_cy = (cy_gt - cy_a)/(h_a v1),
    t_w = ln(w_gt/w_a)/v2, t_h = ln(h_gt/h_a)/v3 for matched anchors (zeros otherwise).
    Raises DataError for malformed boxes (see :func:`check_boxes`)."""
    rows = [encode_image(check_boxes(b, n_classes, f"boxes of batch image {i}"), anchors, bbd, image_hw, n_classes)
            for i, b in enumerate(boxes_list)]
    if not rows:
        return np.zeros((0, len(anchors), n_classes + 5), np.float32)
    return np.stack(rows)
