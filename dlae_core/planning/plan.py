"""From a parsed config to the graphs a technique trains (all checks, no framework)."""

from __future__ import annotations

import attrs

from dlae_core.planning.checks import check_config
from dlae_core.config.schema import Config
from dlae_core.errors import ConfigError, Problem, problem
from dlae_core.planning.graph import Graph, WalkError, build_graph


@attrs.frozen
class ModelPlan:
    """The graphs of one config: ``{"model": g}`` or ``{"generator": g, "discriminator": d}``."""

    technique: str
    graphs: dict[str, Graph]

    @property
    def main(self) -> Graph:
        return self.graphs.get("model") or self.graphs["generator"]


def plan_model(config: Config, registry) -> ModelPlan:
    """Run every config check and build the graphs; raise ConfigError with all problems."""
    problems = list(check_config(config, registry))
    technique = config.config_file.model_signal
    graphs: dict[str, Graph] = {}
    try:
        graphs = _build(config, registry)
    except WalkError as exc:
        problems.append(exc.problem)
    if graphs:
        problems.extend(_technique_checks(config, registry, graphs))
    if problems:
        raise ConfigError(problems)
    return ModelPlan(technique, graphs)


def _build(config: Config, registry) -> dict[str, Graph]:
    layers = config.layers
    if config.config_file.model_signal != "GAN":
        return {"model": build_graph("serial_layer_list", layers.serial_layer_list, registry)}
    generator = build_graph("generator_layer_list", layers.generator_layer_list, registry)
    condition = generator.input_shapes[0] if config.loss_function.loss == "pix2pix" else None
    discriminator = build_graph("discriminator_layer_list", layers.discriminator_layer_list, registry,
                                condition_shape=condition)
    return {"generator": generator, "discriminator": discriminator}


def _technique_checks(config: Config, registry, graphs: dict[str, Graph]) -> list[Problem]:
    technique = config.config_file.model_signal
    check = {"CNN": _cnn, "FCN": _fcn, "GAN": _gan, "BBD": _bbd}.get(technique)
    out = check(config, graphs) if check else []
    return out + _categories(config, registry, graphs)


def _where(graph: Graph) -> str:
    return f"layers.{graph.list_name}"


def _cnn(config: Config, graphs: dict[str, Graph]) -> list[Problem]:
    graph = graphs["model"]
    out: list[Problem] = []
    if len(graph.output_shape) != 1:
        out.append(problem(_where(graph), "a CNN must end in a vector (classes or regression values)",
                           expected="an output shape (n,), e.g. after Flatten or global pooling and Dense",
                           received=graph.output_shape))
    return out


def _fcn(config: Config, graphs: dict[str, Graph]) -> list[Problem]:
    graph = graphs["model"]
    out: list[Problem] = []
    if len(graph.output_shape) != len(graph.input_shapes[0]):
        out.append(problem(_where(graph), "an FCN must end in a map with the input's spatial rank",
                           expected=f"a {len(graph.input_shapes[0])}-D output", received=graph.output_shape))
    return out


def _gan(config: Config, graphs: dict[str, Graph]) -> list[Problem]:
    generator, discriminator = graphs["generator"], graphs["discriminator"]
    out: list[Problem] = []
    target = discriminator.input_shapes[0]
    if generator.output_shape != target:
        out.append(problem(_where(generator), "the generator output must have the shape of the discriminator's "
                           "Input (the target image)", expected=str(target), received=generator.output_shape))
    if config.loss_function.loss == "cyclegan" and generator.input_shapes[0] != target:
        out.append(problem(_where(discriminator) + "[0]", "cycleGAN translates both ways, so the discriminator "
                           "Input (domain y) must match the generator Input (domain X)",
                           expected=str(generator.input_shapes[0]), received=target))
    if len(discriminator.output_shape) != len(target):
        out.append(problem(_where(discriminator), "the discriminator must end in a patch map (rows, cols, 1)",
                           received=discriminator.output_shape))
    return out


def _bbd(config: Config, graphs: dict[str, Graph]) -> list[Problem]:
    from dlae_core.techniques.bbd.geometry import check_bbd_geometry

    graph = graphs["model"]
    out: list[Problem] = []
    if not graph.hooks:
        out.append(problem(_where(graph), "a BBD needs at least one predictor layer",
                           expected="'Hook connection source' entries or an encoder with hook_connections True",
                           received="no hooks"))
        return out
    rows_cols = tuple(config.config_file.input_shape[:2])
    if rows_cols != tuple(graph.input_shapes[0][:2]):
        out.append(problem("config_file.input_shape", "BBD anchors are placed on config_file.input_shape, which "
                           "must match the Input layer", expected=str(graph.input_shapes[0]),
                           received=config.config_file.input_shape))
    return out + check_bbd_geometry(config.bbd_options, len(graph.hooks))


def _categories(config: Config, registry, graphs: dict[str, Graph]) -> list[Problem]:
    pre, loss = config.preprocessing, registry.losses.get(config.loss_function.loss)
    if config.config_file.model_signal not in ("CNN", "FCN") or loss is None:
        return []
    graph = graphs["model"]
    channels = graph.output_shape[-1]
    if pre.categorical_switch and loss.target == "onehot" and channels != pre.categories:
        return [problem("preprocessing.categories", f"one-hot targets have {pre.categories} classes but the "
                        f"network outputs {channels} channels", expected=str(channels), received=pre.categories)]
    return []
