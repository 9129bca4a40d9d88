"""Loss builders: ``builder(context: LossContext) -> fn(pred, target) -> scalar``.

``pred``/``target`` are channels-LAST tensors (N, ..., C). Per-element values are reduced the
Keras way (mean over the non-batch axes, then over the batch; equal-sized samples make this the
plain mean); batch-global losses (tversky, soft_dice) return their scalar directly.
Everything is computed in fp32, also under autocast.
"""

from __future__ import annotations

import functools

import torch

EPSILON = 1e-7  # Keras backend epsilon
TVERSKY_SMOOTH = 1e-7  # documented fix: empty channels give 1 instead of 0/0


def _fp32(fn):
    @functools.wraps(fn)
    def wrapped(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=pred.device.type, enabled=False):
            return fn(pred.float(), target.float())

    return wrapped


def _reduce(per_element: torch.Tensor) -> torch.Tensor:
    """Keras reduction: mean over non-batch axes per sample, then mean over the batch."""
    if per_element.dim() <= 1:
        return per_element.mean()
    return per_element.flatten(1).mean(dim=1).mean()


def _normalized(pred: torch.Tensor) -> torch.Tensor:
    """Renormalise along the class axis and clip to [eps, 1 - eps] (Keras categorical CE)."""
    p = pred / pred.sum(dim=-1, keepdim=True)
    return p.clamp(EPSILON, 1.0 - EPSILON)


def categorical_crossentropy(context):
    @_fp32
    def loss(pred, target):
        return _reduce(-(target * torch.log(_normalized(pred))).sum(dim=-1))

    return loss


def weighted_categorical_crossentropy(context):
    if context.class_weights is None:
        raise ValueError("weighted_categorical_crossentropy needs class_weights in its LossContext "
                         "(computed from the training targets)")
    weights = torch.as_tensor(context.class_weights, dtype=torch.float32)

    @_fp32
    def loss(pred, target):
        w = weights.to(pred.device)
        if w.numel() != pred.shape[-1]:
            raise ValueError(f"{w.numel()} class weights for {pred.shape[-1]} output channels")
        return _reduce(-(w * target * torch.log(_normalized(pred))).sum(dim=-1))

    return loss


def _check_labels(labels: torch.Tensor, classes: int) -> None:
    """A user error (not an index error deep in torch) for a label outside 0..classes-1 in a
    sample the checks before training did not read (they read a few samples per file)."""
    if labels.numel() == 0:
        return
    low, high = (int(v) for v in torch.aminmax(labels))  # one pass, read as numbers: no more ops per step
    if low < 0 or high >= classes:
        from dlae_core.errors import DataError, problem

        bad = (labels < 0) | (labels >= classes)
        value = int(labels[bad][0])
        raise DataError([problem("loss_function.loss", f"sparse_categorical_crossentropy: a training target "
                                 f"holds the class label {value}, outside 0..{classes - 1} (the model has "
                                 f"{classes} output channels)", expected=f"integer labels 0..{classes - 1}",
                                 received=value)])


def sparse_categorical_crossentropy(context):
    @_fp32
    def loss(pred, target):
        labels = target
        if labels.dim() == pred.dim():  # trailing axis of length 1
            labels = labels.squeeze(-1)
        labels = labels.round().long()
        _check_labels(labels, pred.shape[-1])
        # Keras: softmax cross-entropy of the logits log(clip(p)), i.e. logsumexp(log clip(p)) -
        # log clip(p)[label] = log(sum clip(p) / clip(p)[label]): the same value with one log per
        # pixel instead of a log and an exp per channel. The class axis is moved to dim 1, where it
        # lies in the backend's internal layout (a strided last axis makes the reductions slow).
        p = pred.movedim(-1, 1).clamp(EPSILON, 1.0 - EPSILON)
        true = p.gather(1, labels.unsqueeze(1)).squeeze(1)
        return _reduce(torch.log(p.sum(dim=1) / true))

    return loss


def mean_squared_error(context):
    @_fp32
    def loss(pred, target):
        return _reduce((pred - target).square().mean(dim=-1))

    return loss


def mean_absolute_error(context):
    @_fp32
    def loss(pred, target):
        return _reduce((pred - target).abs().mean(dim=-1))

    return loss


def tversky(context):
    alpha, beta = float(context.parameter1), float(context.parameter2)

    @_fp32
    def loss(pred, target):
        axes = tuple(range(pred.dim() - 1))  # batch and spatial axes; per channel
        tp = (pred * target).sum(dim=axes)
        fp = (pred * (1.0 - target)).sum(dim=axes)
        fn = ((1.0 - pred) * target).sum(dim=axes)
        index = (tp + TVERSKY_SMOOTH) / (tp + alpha * fp + beta * fn + TVERSKY_SMOOTH)
        return pred.shape[-1] - index.sum()

    return loss


def jaccard(context):
    smooth = float(context.parameter1)

    @_fp32
    def loss(pred, target):
        intersection = (target * pred).abs().sum(dim=-1)
        total = (target.abs() + pred.abs()).sum(dim=-1)
        jac = (intersection + smooth) / (total - intersection + smooth)
        return _reduce((1.0 - jac) * smooth)

    return loss


def focal(context):
    alpha, gamma = float(context.parameter1), float(context.parameter2)

    @_fp32
    def loss(pred, target):
        p = _normalized(pred)
        return _reduce(-alpha * ((1.0 - p) ** gamma * target * torch.log(p)).sum(dim=-1))

    return loss


def soft_dice(context):
    smooth = float(context.parameter1)

    @_fp32
    def loss(pred, target):
        intersection = (target * pred).sum()
        return 1.0 - (2.0 * intersection + smooth) / (target.sum() + pred.sum() + smooth)

    return loss


BUILDERS = {
    "categorical_crossentropy": categorical_crossentropy,
    "weighted_categorical_crossentropy": weighted_categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "tversky": tversky,
    "jaccard": jaccard,
    "focal": focal,
    "soft_dice": soft_dice,
}
