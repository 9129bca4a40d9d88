"""The public API for dlae plugin authors: everything a plugin imports from dlae is here.

A plugin is a module with ``@hookimpl`` functions (the hooks are listed in
``dlae_core.plugin.hookspecs`` and in docs/PLUGINS.md), published through the ``dlae`` entry-point
group of its distribution. It registers framework-free *records*: layer types (:class:`LayerType`
subclasses whose parameters are :class:`Param` with a value kind such as :class:`Int`), losses
(:class:`LossInfo`), optimizers (:class:`OptimizerInfo`), activations (:class:`ActivationInfo`),
techniques (:class:`Technique` / :class:`SupervisedTechnique` instances) and backends
(:class:`BackendInfo` pointing at a :class:`Backend` subclass). Backend implementations are attached
to a record (``implementations={"torch": "my_plugin.torch_impl:build", ...}``, imported only when that
backend is used) or with the ``register_implementations`` hook.

Implementation signatures, per kind:

* layer: ``builder(spec: LayerSpec, input_shape: tuple) -> layer/module`` (``input_shape`` without
  the batch axis, channels-last);
* loss: ``builder(context: LossContext) -> fn(prediction, target) -> scalar``;
* activation: ``builder() -> layer/module``;
* optimizer: ``factory(settings: OptimizerSettings, parameters) -> optimizer`` (torch: an iterable of
  parameters; tensorflow: None).

A third-party backend subclasses :class:`Backend` and lists its implementations in a JSON manifest
(:func:`register_manifest`); its step engines build on :class:`SupervisedSteps` and
:class:`GanNetworks`, and it implements the techniques with framework code of their own through
:func:`gan_implementation` and :func:`detection_implementation`.

The test kit for plugins is :mod:`dlae_core.testing`. Names outside ``__all__`` (and modules other
than this one) are dlae internals and may change without notice.

Importing this module imports no deep-learning framework.
"""

from __future__ import annotations

from dlae_core.data.augment import apply_params
from dlae_core.data.datasets import EvaluationSamples, TrainingSamples, feature_stats
from dlae_core.data.preprocess import Preprocessor
from dlae_core.data.splits import make_splits
from dlae_core.config.values import (
    Bool,
    Choice,
    Float,
    FloatList,
    Int,
    Kind,
    NestedNumbers,
    NumberTuple,
    OptionalFloat,
    Path,
    Shape,
    Text,
    ValueProblem,
)
from dlae_core.experiments import Experiment, LayerList, RunResult
from dlae_core.experiments import load as load_experiment
from dlae_core.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    ConfigFileError,
    DataError,
    DlaeError,
    MissingImplementationError,
    ModelFileError,
    OutputExistsError,
    PluginError,
    Problem,
    ProblemsError,
    TrainingError,
    UnimplementedComponentsError,
    UnsupportedSettingError,
    WeightExchangeError,
    problem,
)
from dlae_core.layers.kinds import (
    INITIALIZERS,
    REGULARIZERS,
    Dilation,
    IntTuple,
    LiteralBool,
    Pads,
    Permutation,
    Regularizer,
    TargetShape,
)
from dlae_core.layers.spec import LayerSpec, LayerType, Param, ShapeError, numel
from dlae_core.plugin.components import (
    ActivationInfo,
    BackendInfo,
    LossInfo,
    OptimizerInfo,
    OptimizerSettings,
    register_manifest,
)
from dlae_core.plugin.hookspecs import hookimpl
from dlae_core.plugin.manager import PluginLoadWarning, make_plugin_manager
from dlae_core.plugin.registry import Registry
from dlae_core.running.backend import Backend, Placement, StepEngine
from dlae_core.running.steps import SupervisedSteps
from dlae_core.techniques.base import SupervisedTechnique, Technique, TrainResult
from dlae_core.techniques.bbd.implementation import detection_implementation
from dlae_core.techniques.bbd.training import DetectionEvaluation
from dlae_core.techniques.gan.engine import GanNetworks
from dlae_core.techniques.gan.technique import gan_implementation
from dlae_core.training.data_setup import DataSetup
from dlae_core.training.loss_context import LossContext

__all__ = [
    # hooks and registration
    "hookimpl",
    "make_plugin_manager",
    "Registry",
    "PluginLoadWarning",
    # layer types
    "LayerType",
    "LayerSpec",
    "Param",
    "ShapeError",
    "numel",
    # value kinds of layer parameters
    "Kind",
    "ValueProblem",
    "Bool",
    "Int",
    "Float",
    "OptionalFloat",
    "FloatList",
    "Choice",
    "Text",
    "Path",
    "Shape",
    "NumberTuple",
    "NestedNumbers",
    "IntTuple",
    "Dilation",
    "Pads",
    "Regularizer",
    "LiteralBool",
    "TargetShape",
    "Permutation",
    "INITIALIZERS",
    "REGULARIZERS",
    # component records
    "LossInfo",
    "LossContext",
    "OptimizerInfo",
    "OptimizerSettings",
    "ActivationInfo",
    "BackendInfo",
    # techniques and backends
    "Technique",
    "SupervisedTechnique",
    "TrainResult",
    "Backend",
    "Placement",
    "StepEngine",
    # a technique's data (what SupervisedTechnique.training_data returns, and its parts)
    "DataSetup",
    "TrainingSamples",
    "EvaluationSamples",
    "Preprocessor",
    "make_splits",
    "feature_stats",
    "apply_params",
    # for backend authors: shared engine bases and technique implementations, the manifest
    "SupervisedSteps",
    "GanNetworks",
    "gan_implementation",
    "DetectionEvaluation",
    "detection_implementation",
    "register_manifest",
    # experiment generators (docs/EXPERIMENTS.md)
    "Experiment",
    "LayerList",
    "RunResult",
    "load_experiment",
    # errors
    "Problem",
    "problem",
    "DlaeError",
    "ProblemsError",
    "ConfigError",
    "ConfigFileError",
    "DataError",
    "UnimplementedComponentsError",
    "PluginError",
    "BackendError",
    "BackendUnavailableError",
    "MissingImplementationError",
    "UnsupportedSettingError",
    "TrainingError",
    "WeightExchangeError",
    "OutputExistsError",
    "ModelFileError",
]
