"""Monitors (accuracy, MSE, MAE) on channels-last batches, chosen from the target form."""

from __future__ import annotations

import torch

from dlae_core.training.monitors import monitor_names


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Categorical accuracy for one-hot targets, sparse accuracy for integer labels
    (target with one channel while the prediction has several), binary for one channel."""
    if pred.shape[-1] == 1:
        return ((pred > 0.5) == (target > 0.5)).float().mean()
    # argmax over a strided last axis (the channels-last view of a channels-first output) is ~20x
    # slower on CPU than max(dim).indices, which gives the same indices (first maximum on ties, NaN wins)
    predicted = pred.max(dim=-1).indices
    if target.shape[-1] == 1 or target.dim() < pred.dim():
        labels = target.reshape(predicted.shape).long()
    else:
        labels = target.argmax(dim=-1)
    return (predicted == labels).float().mean()


def _dense_target(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``target`` in ``pred``'s shape; integer labels (sparse targets with one value per sample or
    pixel) against several output channels become their one-hot form."""
    if target.numel() == pred.numel():
        return target.reshape(pred.shape)
    labels = target.reshape(pred.shape[:-1]).round().long()
    return torch.nn.functional.one_hot(labels, pred.shape[-1]).to(pred.dtype)


def mean_squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - _dense_target(pred, target)).pow(2).mean()


def mean_absolute_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - _dense_target(pred, target)).abs().mean()


def monitors(config) -> dict:
    """name -> function for the config's monitors, in the core's order (:func:`monitor_names`)."""
    functions = {"mean_squared_error": mean_squared_error, "mean_absolute_error": mean_absolute_error,
                 "accuracy": accuracy}
    return {name: functions[name] for name in monitor_names(config)}
