"""The declared interface between the core and a framework: :class:`Backend`.

The core owns every session (checks, refusing to overwrite, data, resuming, the epoch loops,
outputs, predictions files); a backend only does what needs its framework. A backend is one
subclass of :class:`Backend`, registered with a :class:`~dlae_core.plugin.components.BackendInfo`
through the ``register_backends`` hook, plus implementations of the components it supports
(layers, losses, optimizers, activations, and techniques that need framework code of their own:
GAN, BBD) attached through ``register_implementations``. Nothing else of a backend package is
imported by the core.

Conventions at the boundary: arrays are channels-last numpy float32; a *model* and a
*placement* are opaque objects of the backend; batches are whatever the backend's loaders yield
and only its step engines read them.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterable, Iterator
from typing import ClassVar, Protocol

import numpy as np

from dlae_core.errors import (MissingImplementationError, ModelFileError, UnsupportedSettingError,
                             WeightExchangeError)
from dlae_core.plugin.components import OptimizerSettings


class Placement(Protocol):
    """Where and in which precision a backend runs (device, autocast, memory layout)."""

    note: str  # one line for the user ("" when nothing to say), e.g. "no CUDA GPU found; ..."

    @property
    def augments_on_device(self) -> bool:
        """Whether training batches are augmented on the accelerator (else by the data workers)."""


class StepEngine(Protocol):
    """What :class:`dlae_core.training.loop.TrainingLoop` drives (CNN, FCN, BBD, plugin techniques)."""

    def train_step(self, batch) -> tuple[int, dict[str, float]]: ...

    def eval_step(self, batch) -> tuple[int, dict[str, float]]: ...

    def set_learning_rate(self, rate: float) -> None: ...

    def save(self, path: str, state: dict) -> None: ...

    def resume(self, path: str) -> dict: ...


class Backend(abc.ABC):
    """One framework. Subclasses set ``name`` (the registered backend name) and ``framework``
    (its human name, used in messages) and implement the abstract methods."""

    name: ClassVar[str]
    framework: ClassVar[str]

    def __init__(self, registry):
        self.registry = registry
        self._technique_implementations: dict[str, object] = {}

    # -- components -----------------------------------------------------------------------------
    @property
    def implementations(self) -> dict[str, dict[str, object]]:
        """kind -> name -> implementation registered for this backend (imported on first use)."""
        return self.registry.builders(self.name)

    def implementation(self, kind: str, name: str):
        """The implementation of ``kind`` ``name``; MissingImplementationError naming the plugin to install."""
        found = self.implementations.get(kind, {}).get(name)
        if found is None:
            raise MissingImplementationError(
                f"{kind} {name!r} has no {self.framework} implementation (is its plugin installed for the "
                f"{self.name} backend?)")
        return found

    def loss_function(self, name: str, context):
        """The registered loss ``name`` built for ``context`` (a LossContext): ``fn(pred, target)``."""
        return self.implementation("loss", name)(context)

    def make_optimizer(self, settings: OptimizerSettings, parameters=None):
        """The framework optimizer of ``settings`` over ``parameters`` (see OptimizerInfo)."""
        return self.implementation("optimizer", settings.name)(settings, parameters)

    def technique_implementation(self, technique: str):
        """The framework code of a technique that has its own (GAN, BBD): the registered
        implementation is a class, called with this backend; what its instances offer is the
        technique's business (documented with the technique)."""
        if technique not in self._technique_implementations:
            made = self.implementation("technique", technique)(self)
            self._technique_implementations[technique] = made
        return self._technique_implementations[technique]

    def counting(self):
        """Context in which models are built only to count their parameters (torch: meta device)."""
        return contextlib.nullcontext()

    # -- what a run records (optional: the defaults record nothing framework-specific) ---------------
    def device_info(self) -> dict:
        """The framework and the accelerators it sees, for the run record and ``dlae info``:
        ``framework``, ``version``, ``cuda`` (the build's CUDA version or None) and ``gpus`` (a list
        of ``{"name": ..., "memory_gib": ...}``)."""
        return {"framework": self.framework, "version": None, "cuda": None, "gpus": []}

    def parameter_histograms(self, engine, batch) -> dict[str, np.ndarray]:
        """What TensorBoard draws as histograms every ``save_tensorboard_frequency`` epochs:
        ``weights/<name>`` for each trainable parameter of the supervised step engine's model and
        ``gradients/<name>`` of its loss on ``batch`` (a training batch), flat float32 numpy. The
        gradients are taken in inference mode (no dropout mask drawn, no normalization statistics
        updated, no update), so logging them never changes the training. Default: none."""
        return {}

    def model_graph(self, model, input_shapes: list[tuple[int, ...]], placement=None) -> bytes | None:
        """The model's graph for TensorBoard's Graphs tab: a serialized TensorBoard GraphDef of
        ``model`` traced in inference mode on inputs of ``input_shapes`` (channels-last, no batch
        axis), or None when the backend cannot give one. Default: None."""
        return None

    # -- several processes (data-parallel: dlae_core.running.distributed; the defaults: one process) --
    #: one process per GPU, started by dlae on a plain multi-GPU start (torch); False: one process drives
    #: the GPUs of its machine itself (tensorflow's MirroredStrategy)
    process_per_gpu: ClassVar[bool] = True

    def gpu_count(self) -> int:
        """The GPUs this backend sees (a plain multi-GPU start launches one process for each)."""
        return len(self.device_info().get("gpus") or [])

    def launch(self, processes: int, arguments: list[str], config) -> dict[int, int]:
        """Run ``dlae ARGUMENTS`` (a session of ``config``) in ``processes`` worker processes on this
        machine and wait; {rank: exit code} of those that failed (the others are stopped when one fails)."""
        raise UnsupportedSettingError(f"the {self.framework} backend cannot start several processes; "
                                      f"train in one (without --processes)")

    def data_parallel(self, world, config):
        """Context manager: this process joins the run of ``world`` (a dlae_core.running.distributed.World
        of several processes) for the block, yielding how (e.g. "gloo on the CPU"); a peer's failure
        inside becomes a DistributedError."""
        raise UnsupportedSettingError(f"the {self.framework} backend cannot train in several processes "
                                      f"(this process was started as rank {world.rank} of {world.size})")

    def collective(self):
        """The dlae_core.running.distributed.Collective of the joined run (None in one process, or when
        the framework reduces within each step itself)."""
        return None

    def replicas(self, config) -> tuple[int, str]:
        """(replicas of the model that share each global batch, how) when one process mirrors its model
        over several devices (tensorflow); (1, "") when each process trains one (torch)."""
        return 1, ""

    # -- devices and randomness ---------------------------------------------------------------------
    @abc.abstractmethod
    def placement(self, config, spatial_rank: int) -> Placement:
        """Device and precision for ``config.training_configurations`` (hardware, precision)."""

    @abc.abstractmethod
    def seed(self, seed: int) -> None:
        """Seed the framework's generators (weight initialization, dropout)."""

    # -- models -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self, graph, placement: Placement | None = None):
        """The model of ``graph`` (a dlae_core.planning.graph.Graph) with the registered layer and
        activation implementations, on ``placement`` (None: CPU, fp32)."""

    @abc.abstractmethod
    def count_params(self, model) -> tuple[int, int]:
        """(trainable, non-trainable) parameter counts, Keras' way of counting."""

    def export_weights(self, model, graph) -> dict[str, dict[str, np.ndarray]]:
        """The model's weights in the canonical layout (dlae_core.running.weights). A model that is
        more than its graph (the BBD detector) knows its own layout: ``model.export_canonical()``."""
        own = getattr(model, "export_canonical", None)
        return own() if callable(own) else self.export_graph_weights(model, graph)

    def import_weights(self, model, graph, weights: dict) -> None:
        """Set the model's weights from the canonical layout (WeightExchangeError when they do not
        fit); ``model.import_canonical(weights)`` for a model that knows its own layout."""
        own = getattr(model, "import_canonical", None)
        if callable(own):
            own(weights)
        else:
            self.import_graph_weights(model, graph, weights)

    @abc.abstractmethod
    def export_graph_weights(self, model, graph) -> dict[str, dict[str, np.ndarray]]:
        """The canonical weights of a model built by :meth:`build_model` from ``graph``."""

    @abc.abstractmethod
    def import_graph_weights(self, model, graph, weights: dict) -> None:
        """Set the canonical weights of a model built by :meth:`build_model` from ``graph``."""

    @abc.abstractmethod
    def forward(self, model, inputs: list[np.ndarray]) -> np.ndarray:
        """The model output for channels-last float32 ``inputs`` in inference mode, as float32 numpy."""

    @abc.abstractmethod
    def evaluate_loss(self, loss_fn, outputs: np.ndarray, targets: np.ndarray) -> float:
        """``loss_fn`` (from :meth:`loss_function`) on numpy ``outputs`` and ``targets``."""

    def loss_value(self, name: str, context, outputs: np.ndarray, targets: np.ndarray) -> float:
        """The registered loss ``name`` of ``outputs`` against ``targets`` (dlae check, contract tests)."""
        return self.evaluate_loss(self.loss_function(name, context), outputs, targets)

    @abc.abstractmethod
    def optimizer_trajectory(self, settings: OptimizerSettings, initial: np.ndarray,
                             gradients: list[np.ndarray], learning_rates: list[float]) -> list[np.ndarray]:
        """The parameter ``initial`` after each step of the optimizer of ``settings`` with
        ``gradients[i]`` at ``learning_rates[i]`` (the rate set on the optimizer whenever it changes,
        as a schedule does) -- how dlae_core.testing checks an optimizer implementation."""

    # -- training -----------------------------------------------------------------------------------
    @abc.abstractmethod
    def supervised_engine(self, run, data, placement: Placement, *, model=None, loss_fn=None,
                          monitors: bool = True) -> StepEngine:
        """The step engine of a model trained on (x, y) pairs: ``run.plan.graphs["model"]`` built on
        ``placement`` (or ``model``), the configured loss (or ``loss_fn``), the configured optimizer
        and, with ``monitors``, the config's metrics (accuracy, MSE, MAE)."""

    @abc.abstractmethod
    def training_batches(self, samples, batch_size: int, workers: int | None, placement: Placement):
        """(batches, set_epoch): an iterable of training batches over ``samples`` (a map-style set
        whose items depend on the epoch) re-shuffled by ``set_epoch(epoch)``."""

    @abc.abstractmethod
    def evaluation_batches(self, samples, batch_size: int, workers: int | None, placement: Placement) -> Iterable:
        """Batches over ``samples`` in order (validation, prediction)."""

    # -- model files and inference -------------------------------------------------------------------
    @abc.abstractmethod
    def read_model_file(self, path: str) -> dict:
        """The payload of a model file written by this backend (ModelFileError otherwise): at least
        ``config`` (typed config dict), ``graph_role``, ``stats`` and ``training_state``."""

    def restore(self, model, graph, payload: dict, path: str) -> None:
        """Put the weights stored in ``payload`` (read from ``path``) into ``model``; ModelFileError
        when they do not fit."""
        try:
            self.load_weights(model, graph, payload)
        except (WeightExchangeError, RuntimeError, ValueError, KeyError) as exc:
            network = "detector" if callable(getattr(model, "export_canonical", None)) else "network"
            raise ModelFileError(f"the weights stored in {path!r} do not fit its {network}: "
                                 f"{str(exc).splitlines()[0]}") from None

    @abc.abstractmethod
    def load_weights(self, model, graph, payload: dict) -> None:
        """Put the weights of a model file's ``payload`` into ``model`` (any error: they do not fit)."""

    @abc.abstractmethod
    def predict_batches(self, model, samples, batch_size: int, workers: int | None,
                        placement: Placement) -> Iterator[tuple[list[str], np.ndarray]]:
        """(sample names, float32 channels-last outputs) of ``model`` for every batch of ``samples``."""

    # -- export ---------------------------------------------------------------------------------------
    export_formats: ClassVar[tuple[str, ...]] = ()  # what export_model writes: "onnx", "torchscript", ...

    def export_model(self, model, input_shape: tuple[int, ...], fmt: str, path: str) -> dict:
        """Write ``model`` (built by :meth:`build_model` on the CPU; it takes channels-last float32
        batches of ``input_shape``) to the file or folder ``path`` in format ``fmt``, one of
        :attr:`export_formats`. Returns what the sidecar records: ``input_name``, ``output_name``
        and ``batch`` (None: any batch size; else the one size the file takes). A format this
        backend cannot write is an UnsupportedSettingError (``dlae export``)."""
        raise UnsupportedSettingError(f"the {self.framework} backend cannot export format {fmt!r}; it exports "
                                      f"{', '.join(self.export_formats) or 'nothing'}")
