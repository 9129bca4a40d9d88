"""From a parsed config to the graphs a technique trains (all checks, no framework)."""

from __future__ import annotations

import attrs

from dlae_core.config.schema import Config
from dlae_core.errors import ConfigError
from dlae_core.planning.checks import check_config
from dlae_core.planning.graph import Graph, WalkError, freeze_networks


@attrs.frozen
class ModelPlan:
    """The graphs of one config by role (``{"model": g}``, or the GAN's generator and
    discriminator) and the role of the main graph (the one the data feed)."""

    technique: str
    graphs: dict[str, Graph]
    main_role: str = "model"

    @property
    def main(self) -> Graph:
        return self.graphs[self.main_role]


def plan_model(config: Config, registry) -> ModelPlan:
    """Run every config check and the technique's graph checks; raise ConfigError with all problems."""
    technique = registry.techniques[config.config_file.model_signal]
    problems = list(check_config(config, registry))
    graphs: dict[str, Graph] = {}
    try:
        graphs = technique.build_graphs(config, registry)
    except WalkError as exc:
        problems.append(exc.problem)
    if graphs:
        problems.extend(technique.check_graphs(config, registry, graphs))
    if problems:
        raise ConfigError(problems)
    if config.training_configurations.freeze_pretrained:
        graphs = {role: freeze_networks(graph) for role, graph in graphs.items()}
    return ModelPlan(technique.name, graphs, technique.main_role(graphs))
