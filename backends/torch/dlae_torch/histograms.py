"""What the run's TensorBoard log draws as histograms (Backend.parameter_histograms): the model's
trainable parameters and the gradients of the loss on one batch. Mirrors dlae_tensorflow.histograms."""

from __future__ import annotations

import numpy as np
import torch

from dlae_torch.loader import to_device


def parameter_histograms(engine, batch) -> dict[str, np.ndarray]:
    """``weights/<name>`` and (with ``batch``) ``gradients/<name>`` of ``engine.model``, flat float32."""
    model = engine.model
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    out = {f"weights/{name}": p.detach().float().cpu().numpy().ravel() for name, p in named}
    if batch is None or not named:
        return out
    for (name, _), grad in zip(named, _gradients(engine, batch, [p for _, p in named])):
        if grad is not None:
            out[f"gradients/{name}"] = grad.float().cpu().numpy().ravel()
    return out


def _gradients(engine, batch, parameters):
    """Gradients of the loss on ``batch`` in eval mode: eval mode draws no dropout mask (the random
    stream a resumed run replays stays as it was) and leaves batch-norm statistics alone; autograd.grad
    leaves the parameters' .grad untouched."""
    model, placement = engine.model, engine.placement
    was_training = model.training
    model.eval()
    try:
        batch = to_device(batch, placement.device, placement.channels_last)
        with placement.autocast():
            pred = model(batch["x"])
        loss = engine.loss_fn(pred.float(), batch["y"])
        regularization = getattr(model, "regularization_loss", None)
        if callable(regularization):
            loss = loss + regularization()
        return torch.autograd.grad(loss, parameters, allow_unused=True)
    finally:
        model.train(was_training)
