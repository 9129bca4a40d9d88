"""Which monitors (metrics) a training session reports, from the config's ``monitors`` section.

Backends implement each name (accuracy, mean_squared_error, mean_absolute_error) in their own ops and
look them up with :func:`monitor_names`, so both report the same metrics in the same order.
"""

from __future__ import annotations


def monitor_names(config) -> list[str]:
    """The chosen monitors in the original's order (MSE, MAE, accuracy)."""
    m = config.monitors
    switches = [("mean_squared_error", m.mse_switch), ("mean_absolute_error", m.mae_switch),
                ("accuracy", m.accuracy_switch)]
    return [name for name, on in switches if on]
