"""The technique interface: what a model type (CNN, FCN, GAN, BBD, or a plugin's) brings.

A technique is an object registered through the ``register_techniques`` hook. It carries all of its
behaviour: which layer lists it reads and how they become graphs, its config, graph and data
checks, its training and inference sessions (driven by the core on any backend through the
:class:`~dlae_core.running.backend.Backend` interface), what ``dlae check`` compares and what
``dlae inspect`` adds. The core never compares technique names; it asks the technique.

Subclass :class:`SupervisedTechnique` for a model trained on (x, y) pairs by the core's
:class:`~dlae_core.training.loop.TrainingLoop` (CNN and FCN are two such subclasses); subclass
:class:`Technique` and override :meth:`Technique.train` / :meth:`Technique.predict` for a
technique with a loop of its own (GAN).
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar

import attrs

from dlae_core.errors import Problem, problem


@attrs.define
class TrainResult:
    """What a training session returns: epochs run in this session, the history rows, the trained
    model(s) of the backend, whether early stopping ended it and lines to print at its end (e.g.
    where a model went that did not replace a better one)."""

    epochs_run: int
    history: list[dict]
    model: object = None
    stopped_early: bool = False
    notes: list[str] = attrs.field(factory=list)


class Technique(abc.ABC):
    """Base class of every technique. Class attributes:

    name            -- the ``config_file.model_signal`` value, e.g. ``"FCN"``
    doc             -- one line for ``dlae list techniques``
    layer_lists     -- the ``layers`` keys it reads
    prediction_prefix -- start of the default predictions file name (``<prefix>_predictions_...h5``)
    map_targets     -- targets are per-pixel maps: resampled with the inputs by augmentation and
                       normalized with them by the ``*_xy`` normalizations
    categorical_targets -- ``preprocessing.categorical_switch`` applies to its targets
    generates_images -- predictions are images, stored in target units (inverse normalization)
    check_every_target -- ``dlae validate`` reads every target sample (not just a few)
    reads_targets   -- its sessions read ``train_y``/``validation_y`` (False: the targets come from
                       the inputs, e.g. an autoencoder; no y files are required or checked)
    needs_implementation -- each backend must implement the technique itself (framework code of its
                       own: GAN updates, BBD detector); the technique finds it with
                       ``backend.technique_implementation(name)``
    """

    name: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    layer_lists: ClassVar[tuple[str, ...]] = ("serial_layer_list",)
    prediction_prefix: ClassVar[str] = ""
    map_targets: ClassVar[bool] = False
    generates_images: ClassVar[bool] = False
    categorical_targets: ClassVar[bool] = True
    check_every_target: ClassVar[bool] = False
    reads_targets: ClassVar[bool] = True
    needs_implementation: ClassVar[bool] = False
    implementations: ClassVar[dict] = {}
    #: the run report's sample pictures (dlae_core.report.pictures): "maps", "labels" or "" (curves only)
    report_pictures: ClassVar[str] = ""

    # -- planning ------------------------------------------------------------------------------------
    def build_graphs(self, config, registry) -> dict:
        """role -> Graph (dlae_core.planning.graph); the main graph is ``"model"``."""
        from dlae_core.planning.graph import build_graph

        return {"model": build_graph("serial_layer_list", config.layers.serial_layer_list, registry)}

    def check_config(self, config, registry) -> list[Problem]:
        """Problems of config values that only this technique cares about (no graphs yet)."""
        return []

    def check_loss(self, config, registry) -> list[Problem] | None:
        """Problems of ``loss_function.loss`` for this technique, or None to apply the general rule
        (the loss's ``techniques`` must name this technique)."""
        return None

    def check_graphs(self, config, registry, graphs: dict) -> list[Problem]:
        """Problems of the built graphs (output shapes, hooks, ...)."""
        return []

    def main_role(self, graphs: dict) -> str:
        """The role of the graph whose input the data feed and whose output ``dlae predict`` writes."""
        return "model"

    def target_shape(self, plan) -> tuple:
        """The shape the targets are checked against (the main graph's output)."""
        return tuple(plan.main.output_shape)

    def required_components(self, config, plan, registry):
        """(kind, name, JSON path) of every component a backend must implement to run ``config``:
        each layer type and activation of the graphs, the loss and the optimizer; a technique with
        framework code of its own (``needs_implementation``) also needs itself."""
        for graph in plan.graphs.values():
            for node in graph.nodes:
                if node.op != "layer":
                    continue
                where = f"layers.{graph.list_name}[{node.position}]"
                yield "layer", node.spec.type, where
                layer_type = registry.layers.get(node.spec.type)
                for param in getattr(layer_type, "params", ()):
                    if param.registry == "activations" and isinstance(node.spec.params.get(param.name), str):
                        yield "activation", node.spec.params[param.name], where
        yield "loss", config.loss_function.loss, "loss_function.loss"
        yield "optimizer", config.optimizer.optimizer, "optimizer.optimizer"
        if self.needs_implementation:
            yield "technique", self.name, "config_file.model_signal"

    # -- data checks ---------------------------------------------------------------------------------
    def check_target_shape(self, rules, tally, name: str, shape: tuple, x_shape: tuple) -> None:
        """Report (``tally.add``) a target sample whose shape cannot train this technique;
        ``rules`` (dlae_core.data.checks) says what the config and plan need."""

    def check_target_values(self, rules, tally, name: str, values) -> None:
        """Report target values this technique cannot train on (labels out of range, bad boxes)."""

    # -- sessions ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def train(self, run, backend) -> TrainResult:
        """A Train / Train from Checkpoint session on ``backend``."""

    def predict(self, run, backend) -> tuple[Path, int]:
        """An Inference session: (predictions file, number of samples written)."""
        from dlae_core.running.inference import predict_with_model

        return predict_with_model(self, run, backend)

    def build_network(self, backend, role: str, graph, config, placement=None):
        """The backend model for ``graph`` (graph role ``role``) of ``config``; a technique whose
        network is more than its graph (BBD: predictor heads) overrides it."""
        return backend.build_model(graph, placement)

    def prediction_job(self, run, plan, payload: dict):
        """How samples are read and outputs stored (dlae_core.running.prediction.PredictionJob)."""
        from dlae_core.running.prediction import PredictionJob

        return PredictionJob.create(run, plan, payload, generates_images=self.generates_images)

    def saved_technique(self) -> str | None:
        """Which technique a model file loaded for prediction must hold (None: any with the right graph)."""
        return None

    def output_paths(self, config) -> list[Path]:
        """The save paths of a training session (locked against another run for its lifetime), with
        the file its final model goes to when the earlier one is better (keep_better)."""
        from dlae_core.running.run import training_outputs
        from dlae_core.training.keep_better import new_model_path

        beside = new_model_path(config)
        return [path for _, path in training_outputs(config)] + ([beside] if beside else [])

    def written_outputs(self, config) -> list[tuple[str, Path]]:
        """(what, path) of the files and folders a finished training session left, for its last line."""
        from dlae_core.running.run import training_outputs

        return [(what, path) for what, path in training_outputs(config) if path.exists()]

    def report_images(self, config) -> list[tuple[str, Path]]:
        """(title, PNG file) of pictures this technique writes itself, shown in the run's report."""
        return []

    # -- tools ---------------------------------------------------------------------------------------
    def check_parity(self, config, plan, registry, backends: tuple[str, str], *, batch: int = 2, seed: int = 0,
                     tolerance: float = 1e-4):
        """``dlae check``: the same weights on two backends give the same outputs and loss."""
        from dlae_core.running.parity import check_graphs_parity

        return check_graphs_parity(config, plan, registry, backends, batch=batch, seed=seed, tolerance=tolerance)

    def count_params(self, backend, plan, config) -> dict[str, tuple[int, int]]:
        """role -> (trainable, non-trainable) of the networks as ``backend`` builds them."""
        out = {}
        with backend.counting():
            for role, graph in plan.graphs.items():
                out[role] = backend.count_params(self.build_network(backend, role, graph, config))
        return out

    def inspect(self, models: dict, config, plan) -> None:
        """Add to ``dlae inspect``'s per-role reports (role -> rows and totals) what the network has
        beyond its graphs' layers (BBD: the predictor heads)."""


class SupervisedTechnique(Technique):
    """A model trained on (x, y) pairs by the core's TrainingLoop over a backend's step engine."""

    def train(self, run, backend) -> TrainResult:
        from dlae_core.running.training import train_supervised

        return train_supervised(self, run, backend)

    def refuse_outputs(self, run) -> None:
        """OutputExistsError before any work when an output exists (and --overwrite is off)."""
        from dlae_core.running.run import refuse_existing, training_outputs

        config = run.config
        # A continued run appends to its CSV history and TensorBoard folder and supersedes its model
        # and checkpoint files, so resuming needs no --overwrite.
        resumed = [path for _, path in training_outputs(config)] if config.paths.load_checkpoint else []
        refuse_existing(training_outputs(config), run.options.overwrite, keep=resumed)

    def training_data(self, run, placement):
        """The session's data (dlae_core.training.data_setup.DataSetup): preprocessing, training and
        validation samples; augmentation on the device when the placement does it there."""
        from dlae_core.training.data_setup import prepare_data

        on_device = placement.augments_on_device and run.config.augmentation.apply_augmentation_switch
        return prepare_data(run, on_device=on_device)

    def training_engine(self, run, backend, data, placement):
        """The step engine the loop drives (default: the backend's supervised engine)."""
        loss = run.registry.losses.get(run.config.loss_function.loss)
        # accuracy of a regression means nothing
        return backend.supervised_engine(run, data, placement, monitors=loss is None or loss.target != "dense")

    def training_loop(self, run, engine, note: str):
        from dlae_core.training.loop import TrainingLoop

        return TrainingLoop(run.config, engine, quiet=run.options.quiet, note=note)


def where(graph) -> str:
    """The JSON path of a graph's layer list, for problems."""
    return f"layers.{graph.list_name}"


def check_output_rank(graph, rank: int, what: str, expected: str) -> list[Problem]:
    """A problem unless ``graph``'s output has ``rank`` axes."""
    if len(graph.output_shape) == rank:
        return []
    return [problem(where(graph), what, expected=expected, received=graph.output_shape)]
