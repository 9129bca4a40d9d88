"""Detection quality: mean average precision (mAP@0.5 by default), numpy only.

Used for the per-epoch validation mAP and the benchmark test mAP of BBD.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlae_core.techniques.bbd.encode import iou

__all__ = ["average_precision", "mean_average_precision"]


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated AP: the area under the precision envelope
    (precision made non-increasing from the right) over recall, with recall 0 and 1 added."""
    mrec = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    mpre = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def _rows(array, width: int) -> np.ndarray:
    a = np.asarray(array, dtype=np.float64)
    return np.zeros((0, width)) if a.size == 0 else a.reshape(-1, width)


def mean_average_precision(detections: Sequence[np.ndarray], ground_truths: Sequence[np.ndarray], n_classes: int,
                           iou_threshold: float = 0.5) -> tuple[float, np.ndarray]:
    """mAP over a set of images.

    ``detections[i]``: (k, 6) rows ``[class, confidence, xmin, ymin, xmax, ymax]`` of image i
    (what :func:`~dlae_core.techniques.bbd.decode.decode` returns); ``ground_truths[i]``: (m, 5) rows
    ``[class, xmin, ymin, xmax, ymax]`` (or (5,), or empty), same pixel coordinates.

    Per class c: the detections of c in all images, by decreasing confidence (stable), are
    matched greedily -- each to the still unmatched ground-truth box of c in its image with
    the largest IoU, if that IoU is >= ``iou_threshold`` (true positive), else false positive.
    AP is VOC all-point interpolated (:func:`average_precision`).

    Returns ``(mAP, per_class)``: ``per_class`` float64 (n_classes,), entry c-1 for class c,
    NaN for a class without ground truth; ``mAP`` is the mean over the other classes (0.0
    when no image has any ground truth)."""
    if len(detections) != len(ground_truths):
        raise ValueError(f"{len(detections)} detection arrays for {len(ground_truths)} ground-truth arrays")
    dets = [_rows(d, 6) for d in detections]
    gts = [_rows(g, 5) for g in ground_truths]
    per_class = np.full(n_classes, np.nan)
    for c in range(1, n_classes + 1):
        truth = [g[g[:, 0] == c, 1:] for g in gts]
        n_truth = sum(len(t) for t in truth)
        if n_truth == 0:
            continue
        found = [(i, d[d[:, 0] == c]) for i, d in enumerate(dets)]
        image = np.concatenate([np.full(len(d), i) for i, d in found]).astype(np.int64)
        rows = np.concatenate([d for _, d in found])
        order = np.argsort(-rows[:, 1], kind="stable")
        image, rows = image[order], rows[order]
        used = [np.zeros(len(t), dtype=bool) for t in truth]
        hit = np.zeros(len(rows), dtype=bool)
        for k, (i, row) in enumerate(zip(image, rows)):
            if not len(truth[i]):
                continue
            overlaps = np.where(used[i], -1.0, iou(row[2:6], truth[i])[0])
            best = int(np.argmax(overlaps))
            if overlaps[best] >= iou_threshold:
                used[i][best] = True
                hit[k] = True
        tp = np.cumsum(hit)
        fp = np.cumsum(~hit)
        recall = tp / n_truth
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        per_class[c - 1] = average_precision(recall, precision)
    valid = per_class[~np.isnan(per_class)]
    return (float(valid.mean()) if valid.size else 0.0), per_class
