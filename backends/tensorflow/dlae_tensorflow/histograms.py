"""What the run's TensorBoard log draws as histograms (Backend.parameter_histograms): the model's
trainable variables and the gradients of the loss on one batch. Mirrors dlae_torch.histograms."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from dlae_tensorflow.model import regularization_loss


def parameter_histograms(engine, batch) -> dict[str, np.ndarray]:
    """``weights/<name>`` and (with ``batch``) ``gradients/<name>`` of ``engine.model``, flat float32."""
    variables = list(engine.model.trainable_variables)
    out = {f"weights/{v.path}": np.asarray(v.numpy(), np.float32).ravel() for v in variables}
    if batch is None or not variables:
        return out
    for variable, grad in zip(variables, _gradients(engine, batch, variables)):
        if grad is not None:
            out[f"gradients/{variable.path}"] = np.asarray(tf.cast(grad, tf.float32).numpy()).ravel()
    return out


def _gradients(engine, batch, variables):
    """Gradients of the loss on ``batch`` with training=False: no dropout drawn from the Keras seed
    generators (a resumed run replays them) and no batch-norm statistics updated."""
    with engine.placement.scope():
        with tf.GradientTape() as tape:
            pred = engine.model(batch["x"], training=False)
            loss = engine.loss_fn(tf.cast(pred, tf.float32), batch["y"]) + regularization_loss(engine.model)
        return tape.gradient(loss, variables)
