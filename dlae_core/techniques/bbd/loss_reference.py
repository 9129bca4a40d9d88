"""numpy reference of the SSD multibox loss that backends are tested against.

Arrays are (B, N, C+5): ``[C+1 class columns (background at 0) | 4 offsets]`` --
targets from :func:`~dlae_core.techniques.bbd.encode.encode_boxes`, predictions in the
network output layout of :mod:`.anchors` (softmax probabilities, then offsets).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ssd_loss", "ssd_loss_terms"]

PROBABILITY_FLOOR = 1e-15


def smooth_l1(d: np.ndarray) -> np.ndarray:
    """0.5 d^2 where |d| < 1, else |d| - 0.5 (elementwise)."""
    a = np.abs(d)
    return np.where(a < 1.0, 0.5 * d * d, a - 0.5)


def ssd_loss_terms(y_true: np.ndarray, y_pred: np.ndarray, neg_pos_ratio: float = 3, alpha: float = 1.0,
                   min_negatives: int = 0) -> dict[str, np.ndarray | float | int]:
    """The pieces of the loss, float64: ``positive_cls``, ``negative_cls``, ``loc`` (B,) per-image
    sums (positive class loss, class loss of the mined negatives, localization loss),
    ``n_positive`` (whole batch), ``n_negative`` (mined), ``per_image`` (B,) =
    (positive_cls + negative_cls + alpha * loc) / max(1, n_positive) and ``loss`` = its sum.

    Mining is batch-wide: k = min(max(int(neg_pos_ratio) * n_positive, min_negatives),
    number of background anchors with non-zero class loss) background anchors with the
    largest class loss. The total does not depend on how ties among them are broken; the
    per-image split of ``negative_cls`` does (ties go to the lower flat index here)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape or y_true.ndim != 3 or y_true.shape[-1] < 6:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must both be (B, N, C+5)")
    classes_true, classes_pred = y_true[..., :-4], y_pred[..., :-4]
    cls = -np.sum(classes_true * np.log(np.maximum(classes_pred, PROBABILITY_FLOOR)), axis=-1)
    loc = np.sum(smooth_l1(y_true[..., -4:] - y_pred[..., -4:]), axis=-1)
    negative = classes_true[..., 0]
    positive = np.max(classes_true[..., 1:], axis=-1)
    n_positive = int(round(positive.sum()))
    batch = y_true.shape[0]
    candidates = (cls * negative).reshape(-1)
    n_nonzero = int(np.count_nonzero(candidates))
    k = min(max(int(neg_pos_ratio) * n_positive, int(min_negatives)), n_nonzero)
    mined = np.zeros_like(candidates)
    if k > 0:
        chosen = np.argsort(-candidates, kind="stable")[:k]
        mined[chosen] = candidates[chosen]
    negative_cls = mined.reshape(batch, -1).sum(axis=1)
    positive_cls = (cls * positive).sum(axis=1)
    loc_sum = (loc * positive).sum(axis=1)
    per_image = (positive_cls + negative_cls + float(alpha) * loc_sum) / max(1, n_positive)
    return {"positive_cls": positive_cls, "negative_cls": negative_cls, "loc": loc_sum, "n_positive": n_positive,
            "n_negative": k, "per_image": per_image, "loss": float(per_image.sum())}


def ssd_loss(y_true: np.ndarray, y_pred: np.ndarray, neg_pos_ratio: float = 3, alpha: float = 1.0) -> float:
    """The reported batch loss L = sum_i (class terms_i + alpha loc_i) / max(1, N_pos) with
    neg:pos = int(neg_pos_ratio) (``loss_function.parameter1``) and alpha = ``parameter2``.
    The original framework multiplied each image's loss by B and averaged over the batch, which
    gives this same number."""
    return float(ssd_loss_terms(y_true, y_pred, neg_pos_ratio, alpha)["loss"])
