"""Optimizer steps on a bare parameter, for :func:`dlae_core.testing.check_optimizer_step`.

The declared backend interface creates optimizers (``Backend.make_optimizer``) but has no
framework-free way to hold a parameter and apply a gradient, so this module does that per framework:
PyTorch (``torch.optim.Optimizer``: set ``.grad``, ``step()``, learning rate in ``param_groups``)
and Keras 3 (``apply_gradients``, learning rate in ``optimizer.learning_rate``), as the built-in
backends' step engines do. A third-party backend gives its Backend class a method
``optimizer_trajectory(settings, initial, gradients, learning_rates) -> list[numpy array]`` (the
parameter after each step) and the kit uses it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def trajectory(engine, settings, initial: np.ndarray, gradients: Sequence[np.ndarray],
               rates: Sequence[float]) -> list[np.ndarray]:
    """The parameter (starting at ``initial``) after each step with ``gradients[i]`` at ``rates[i]``;
    the optimizer starts at ``settings.learning_rate`` (so a factory that ignores it is caught) and the
    rate is set on it, as a learning-rate schedule does, whenever the next step's rate differs."""
    own = getattr(engine, "optimizer_trajectory", None)
    if callable(own):
        return [np.asarray(v) for v in own(settings, initial, gradients, rates)]
    stepper = _STEPPERS.get(engine.name)
    if stepper is None:
        from dlae_core.testing.checks import CheckFailed

        raise CheckFailed(f"backend {engine.name!r}", [
            "the kit cannot step its optimizers: give its Backend class a method optimizer_trajectory(settings, "
            "initial, gradients, learning_rates) returning the parameter after each step"])
    return stepper(engine, settings, initial, gradients, rates)


def _torch(engine, settings, initial, gradients, rates) -> list[np.ndarray]:
    import torch

    parameter = torch.nn.Parameter(torch.tensor(initial))
    optimizer = engine.make_optimizer(settings, [parameter])
    out, current = [], settings.learning_rate
    for gradient, rate in zip(gradients, rates):
        if rate != current:  # as dlae_torch's schedules set it
            for group in optimizer.param_groups:
                group["lr"] = rate
            current = rate
        optimizer.zero_grad(set_to_none=True)
        parameter.grad = torch.tensor(gradient)
        optimizer.step()
        out.append(parameter.detach().cpu().numpy().copy())
    return out


def _keras(engine, settings, initial, gradients, rates) -> list[np.ndarray]:
    import keras  # already imported (on TensorFlow) by the backend object

    variable = keras.Variable(initial, dtype="float32", name="parameter")
    optimizer = engine.make_optimizer(settings, None)
    out, current = [], settings.learning_rate
    for gradient, rate in zip(gradients, rates):
        if rate != current:  # as dlae_tensorflow's schedules set it
            optimizer.learning_rate.assign(float(rate))
            current = rate
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), variable)])
        out.append(np.array(variable.numpy()))
    return out


_STEPPERS = {"torch": _torch, "tensorflow": _keras}
