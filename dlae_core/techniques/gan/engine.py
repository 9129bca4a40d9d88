"""What every backend's GAN engine holds, whatever the framework: the variant, the generator(s)
and discriminator(s) built from the plan's graphs, their optimizers (each from its own config
record: ``discriminator_optimizer`` with ``discriminator_learning_rate``, ``gan_optimizer`` with
``gan_learning_rate``; the two cycleGAN discriminators get one optimizer each), the adversarial
objective and the loss weights. A backend subclasses :class:`GanNetworks` and writes the updates
(:class:`~dlae_core.techniques.gan.loop.GanEngine`)."""

from __future__ import annotations

import abc

from dlae_core.plugin.components import OptimizerSettings
from dlae_core.pretrained.loading import load_for_run
from dlae_core.techniques.gan.loop import DISCRIMINATOR_ROLES, ROLES, real_threshold, variant_of


class GanNetworks(abc.ABC):
    def __init__(self, run, backend, data, placement):
        self.run_info, self.config, self.data, self.placement, self.backend = run, run.config, data, placement, backend
        config = self.config
        self.variant = variant_of(config)
        generator, discriminator = run.plan.graphs["generator"], run.plan.graphs["discriminator"]
        self.generator_graph = generator
        self.generators = {role: backend.build_model(generator, placement) for role in ROLES[self.variant]}
        self.discriminators = {role: backend.build_model(discriminator, placement)
                               for role in DISCRIMINATOR_ROLES[self.variant]}
        for graph, models in ((generator, self.generators), (discriminator, self.discriminators)):
            for model in models.values():  # pretrained encoders' weights, if named
                load_for_run(run, backend, model, graph)
        opt, lrs = config.optimizer, config.learning_rate_schedule
        self.g_optimizer = self._optimizer(opt.gan_optimizer, lrs.gan_learning_rate, list(self.generators.values()))
        self.d_optimizers = {role: self._optimizer(opt.discriminator_optimizer, lrs.discriminator_learning_rate, [d])
                             for role, d in self.discriminators.items()}
        self.threshold = real_threshold(config.loss_function.adversarial)
        self.lambda1 = float(config.loss_function.parameter1)
        self.lambda2 = float(config.loss_function.parameter2)
        self.ready()

    def _optimizer(self, record, rate, models: list):
        settings = OptimizerSettings.from_record(record, rate.learning_rate)
        optimizer = self.backend.make_optimizer(settings, self.optimized_parameters(models))
        return self.prepare_optimizer(optimizer, models)

    # -- what a backend provides ----------------------------------------------------------------------
    @abc.abstractmethod
    def optimized_parameters(self, models: list):
        """What the optimizer factory receives as ``parameters`` for ``models`` (None: none needed)."""

    def prepare_optimizer(self, optimizer, models: list):
        """The optimizer as the engine uses it (e.g. wrapped for loss scaling, built on the device)."""
        return optimizer

    def ready(self) -> None:
        """Called at the end of construction: the backend's own state (adversarial loss, scalers)."""
