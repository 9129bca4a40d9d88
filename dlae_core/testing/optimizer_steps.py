"""Optimizer steps on a bare parameter, for :func:`dlae_core.testing.check_optimizer_step`: every
backend implements :meth:`dlae_core.running.backend.Backend.optimizer_trajectory`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def trajectory(engine, settings, initial: np.ndarray, gradients: Sequence[np.ndarray],
               rates: Sequence[float]) -> list[np.ndarray]:
    """The parameter (starting at ``initial``) after each step with ``gradients[i]`` at ``rates[i]``;
    the optimizer starts at ``settings.learning_rate`` (so a factory that ignores it is caught) and the
    rate is set on it, as a learning-rate schedule does, whenever the next step's rate differs."""
    return [np.asarray(v) for v in engine.optimizer_trajectory(settings, initial, list(gradients), list(rates))]
