"""What every backend's supervised step engine holds, whatever the framework: the run, the
backend, the placement, the data, the model, the loss, the monitors and the optimizer. A backend
subclasses :class:`SupervisedSteps` and writes the framework parts (the steps, saving, resuming,
its monitor functions and how its optimizer is prepared)."""

from __future__ import annotations

import abc

from dlae_core.plugin.components import OptimizerSettings
from dlae_core.pretrained.loading import load_for_run
from dlae_core.training.data_setup import loss_context


class SupervisedSteps(abc.ABC):
    """Base of a StepEngine for a model trained on (x, y) pairs. ``model`` and ``loss_fn`` default to
    the graph ``run.plan.graphs["model"]`` built on ``placement`` and the configured loss; a
    technique with its own network (BBD) passes both; ``monitors`` False drops accuracy."""

    def __init__(self, run, backend, data, placement, *, model=None, loss_fn=None, monitors: bool = True):
        self.run_info, self.config, self.backend = run, run.config, backend
        self.graph = run.plan.graphs["model"]
        self.placement, self.data = placement, data
        self.collective = backend.collective()  # a data-parallel run's reductions (None: one process)
        name = self.config.loss_function.loss
        self.model = model if model is not None else backend.build_model(self.graph, placement)
        load_for_run(run, backend, self.model, self.graph)  # pretrained encoders' weights, if named
        self.loss_fn = loss_fn or backend.loss_function(name, loss_context(run, data))
        self.monitors = self.monitor_functions(self.config)
        if not monitors:
            self.monitors.pop("accuracy", None)
        info = run.registry.losses.get(name)
        self.sparse = loss_fn is None and info is not None and info.target == "sparse"
        lrs = self.config.learning_rate_schedule
        settings = OptimizerSettings.from_record(self.config.optimizer, lrs.learning_rate)
        self.optimizer = self.prepare_optimizer(backend.make_optimizer(settings, self.optimized_parameters()))
        self.ready()

    # -- what a backend provides ----------------------------------------------------------------------
    @abc.abstractmethod
    def monitor_functions(self, config) -> dict:
        """name -> framework function for the config's monitors (accuracy, MSE, MAE)."""

    def optimized_parameters(self):
        """What the optimizer factory receives as ``parameters`` (torch: the model's parameters)."""
        return None

    def prepare_optimizer(self, optimizer):
        """The optimizer as the engine uses it (e.g. wrapped for loss scaling, built on the device)."""
        return optimizer

    def ready(self) -> None:
        """Called at the end of construction (a subclass sets up what it adds, e.g. validation mAP)."""
