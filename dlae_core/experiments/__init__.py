"""Experiment generation (manual §11) and sweeps.

The Python API for experiment generators: :func:`load` a config as an :class:`Experiment`, change it
(typed attributes, config paths, :class:`LayerList` helpers, ``set_loss``), ``validate``, ``save``,
``run`` (in this process or as a subprocess) and read the :class:`RunResult`. Sweeps on Optuna are in
:mod:`dlae_core.experiments.sweep` (``dlae sweep``). Importing this package imports no framework.
"""

from dlae_core.experiments.experiment import Experiment, load
from dlae_core.experiments.layers import LayerList
from dlae_core.experiments.results import RunResult, read_history

__all__ = ["Experiment", "LayerList", "RunResult", "load", "read_history"]
