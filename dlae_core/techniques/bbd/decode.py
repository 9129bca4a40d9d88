"""Network output -> detections, numpy only.

:func:`decode` takes the two parts of the BBD network output (see
:mod:`.anchors` for the layout) and the anchors of
:func:`~dlae_core.techniques.bbd.anchors.make_anchors`, and returns per image a float32
array (k, 6) of rows ``[class, confidence, xmin, ymin, xmax, ymax]`` in pixels
of the network input, sorted by decreasing confidence (ties: lower class,
then lower anchor first) -- the rows ``dlae predict`` writes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlae_core.techniques.bbd.anchors import anchors_to_corners, variances
from dlae_core.techniques.bbd.encode import iou

__all__ = ["decode", "decode_offsets", "nms"]


def decode_offsets(offsets: np.ndarray, anchors: np.ndarray, bbd, image_hw: Sequence[int]) -> np.ndarray:
    """Corner boxes (..., N, 4) (xmin, ymin, xmax, ymax) in input pixels from offsets (..., N, 4):
    w = exp(t_w v2) w_a, h = exp(t_h v3) h_a, cx = t_cx v0 w_a + cx_a, cy = t_cy v1 h_a + cy_a;
    with ``normalize_coordinates_switch`` x is multiplied by W and y by H."""
    t = np.asarray(offsets, dtype=np.float64)
    a = np.asarray(anchors, dtype=np.float64)
    v = variances(bbd)
    with np.errstate(over="ignore"):
        centroids = np.stack([t[..., 0] * v[0] * a[:, 2] + a[:, 0], t[..., 1] * v[1] * a[:, 3] + a[:, 1],
                              np.exp(t[..., 2] * v[2]) * a[:, 2], np.exp(t[..., 3] * v[3]) * a[:, 3]], axis=-1)
    corners = anchors_to_corners(centroids)
    if bbd.normalize_coordinates_switch:
        corners[..., [0, 2]] *= float(image_hw[1])
        corners[..., [1, 3]] *= float(image_hw[0])
    return corners


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices into ``boxes`` (k, 4 corners) of the kept boxes,
    by decreasing score (stable for ties). Repeatedly keeps the best remaining box and drops
    the remaining boxes whose IoU with it is **greater** than ``threshold``."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    kept = []
    while order.size:
        best, order = order[0], order[1:]
        kept.append(best)
        if order.size:
            order = order[iou(boxes[best], boxes[order])[0] <= threshold]
    return np.asarray(kept, dtype=np.int64)


def _decode_one(scores: np.ndarray, boxes: np.ndarray, bbd) -> np.ndarray:
    rows = []
    cap, threshold = int(bbd.nms_maximum_output), float(bbd.confidence_threshold)
    for c in range(1, scores.shape[1]):
        candidates = np.flatnonzero(scores[:, c] > threshold)
        if candidates.size == 0:
            continue
        conf = scores[candidates, c]
        order = np.argsort(-conf, kind="stable")
        if cap > 0:
            order = order[:cap]
        candidates, conf = candidates[order], conf[order]
        kept = nms(boxes[candidates], conf, float(bbd.iou_threshold))
        part = np.empty((kept.size, 6))
        part[:, 0] = c
        part[:, 1] = conf[kept]
        part[:, 2:] = boxes[candidates[kept]]
        rows.append(part)
    if not rows:
        return np.zeros((0, 6), np.float32)
    out = np.concatenate(rows)
    out = out[np.argsort(-out[:, 1], kind="stable")]
    if int(bbd.top_k) > 0:
        out = out[:int(bbd.top_k)]
    return out.astype(np.float32)


def decode(scores: np.ndarray, offsets: np.ndarray, anchors: np.ndarray, bbd,
           image_hw: Sequence[int]) -> list[np.ndarray]:
    """Detections per image from class probabilities ``scores`` (B, N, C+1) (background at 0)
    and ``offsets`` (B, N, 4) (single images (N, ...) are accepted and give a list of one).

    For each class c = 1..C: anchors with score **>** ``confidence_threshold``; the
    ``nms_maximum_output`` best of them (0 = all; the original ignored this key) enter greedy
    NMS with ``iou_threshold`` (:func:`nms`). Classes are merged, sorted by decreasing
    confidence, and the ``top_k`` best (0 = all) kept. Rows
    ``[class, confidence, xmin, ymin, xmax, ymax]`` float32, coordinates in input pixels."""
    scores = np.asarray(scores, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.float64)
    if scores.ndim == 2:
        scores, offsets = scores[None], offsets[None]
    if scores.shape[:2] != offsets.shape[:2] or scores.shape[1] != len(anchors) or offsets.shape[-1] != 4:
        raise ValueError(f"scores {scores.shape} and offsets {offsets.shape} do not fit {len(anchors)} anchors "
                         "(expected (B, N, C+1) and (B, N, 4))")
    boxes = decode_offsets(offsets, anchors, bbd, image_hw)
    return [_decode_one(scores[i], boxes[i], bbd) for i in range(len(scores))]
