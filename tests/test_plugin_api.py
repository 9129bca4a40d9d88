"""The public plugin API (``dlae_core.api``) and the plugin test kit (``dlae_core.testing``): every
exported name resolves, neither imports a framework, the kit's checks pass for dlae's own components
on every installed backend and fail, saying what differed, for deliberately wrong implementations
registered by a plugin."""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

import dlae_core.api as api
from dlae_core import testing
from dlae_core.api import ActivationInfo, Int, LayerType, LossInfo, OptimizerInfo, OptimizerSettings, Param, hookimpl

#: What a plugin author is promised (more names may be exported).
REQUIRED = {
    "hookimpl", "LayerType", "LayerSpec", "Param", "Int", "Float", "Text", "Bool", "Choice", "Shape", "IntTuple",
    "LossInfo", "OptimizerInfo", "OptimizerSettings", "ActivationInfo", "BackendInfo", "Technique",
    "SupervisedTechnique", "TrainResult", "Backend", "LossContext", "ShapeError", "Problem", "problem", "DlaeError",
    "PluginError", "BackendError", "BackendUnavailableError", "MissingImplementationError", "TrainingError",
    "WeightExchangeError", "ConfigError", "DataError", "ModelFileError", "make_plugin_manager", "Registry",
}

REGISTRY = testing.make_registry()
BACKENDS = testing.backend_params(REGISTRY)
PAIRS = testing.backend_pair_params(REGISTRY)


# -- the API module ----------------------------------------------------------------------------------------
def test_every_exported_name_resolves():
    assert len(api.__all__) == len(set(api.__all__))
    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert not missing
    assert REQUIRED <= set(api.__all__), sorted(REQUIRED - set(api.__all__))
    assert api.__doc__ and "dlae_core.testing" in api.__doc__


def test_the_exported_names_are_the_core_objects():
    from dlae_core.errors import DlaeError
    from dlae_core.plugin.hookspecs import hookimpl as marker
    from dlae_core.running.backend import Backend

    assert api.hookimpl is marker and api.Backend is Backend and api.DlaeError is DlaeError
    for name in ("PluginError", "BackendError", "MissingImplementationError", "ConfigError"):
        assert issubclass(getattr(api, name), api.DlaeError), name


@pytest.mark.parametrize("module", ["dlae_core.api", "dlae_core.testing"])
def test_importing_imports_no_framework(module):
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


# -- the kit on dlae's own components ------------------------------------------------------------------------
def dense(x, weights):
    return x @ weights["kernel"] + weights["bias"]


def batch_normalization(x, weights, epsilon=1e-3):
    scale = weights["gamma"] / np.sqrt(weights["moving_variance"] + epsilon)
    return (x - weights["moving_mean"]) * scale + weights["beta"]


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sgd(param, grad, state, settings):
    velocity = settings.momentum * state.get("velocity", 0.0) + grad
    state["velocity"] = velocity
    return param - settings.learning_rate * velocity


def adam(param, grad, state, settings):
    """Keras' Adam (epsilon added to the uncorrected root; torch's placement differs by < 1e-7 here)."""
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = settings.beta1 * state.get("m", 0.0) + (1 - settings.beta1) * grad
    v = state["v"] = settings.beta2 * state.get("v", 0.0) + (1 - settings.beta2) * grad ** 2
    rate = settings.learning_rate * np.sqrt(1 - settings.beta2 ** t) / (1 - settings.beta1 ** t)
    return param - rate * m / (np.sqrt(v) + (settings.epsilon or 1e-7))


@pytest.mark.parametrize("backend", BACKENDS)
def test_builtin_layers_pass(backend):
    testing.check_layer(REGISTRY, "Dense", backend, input_shape=(6,), params={"units": 3}, reference=dense)
    testing.check_layer(REGISTRY, "Dense", backend, input_shape=(4, 5, 3), params={"units": 2}, reference=dense)
    testing.check_layer(REGISTRY, "Batch normalization", backend, input_shape=(4, 5, 3),
                        params={"epsilon": 1e-3}, reference=batch_normalization)
    testing.check_layer(REGISTRY, "Convolution 2D", backend)
    testing.check_layer(REGISTRY, "Flatten", backend, input_shape=(3, 4, 2), reference=lambda x, w: x.reshape(len(x), -1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_builtin_activations_losses_and_optimizers_pass(backend):
    testing.check_activation(REGISTRY, "relu", backend, lambda x: np.maximum(x, 0.0))
    testing.check_activation(REGISTRY, "softmax", backend, softmax)
    testing.check_loss(REGISTRY, "mean_squared_error", backend, lambda p, y: np.mean((p - y) ** 2))
    testing.check_loss(REGISTRY, "categorical_crossentropy", backend,
                       lambda p, y: np.mean(-np.sum(y * np.log(p), axis=-1)))
    testing.check_optimizer_step(REGISTRY, "SGD", backend, sgd, settings=OptimizerSettings("SGD", 0.1, momentum=0.9))
    testing.check_optimizer_step(REGISTRY, "Adam", backend, adam, settings=OptimizerSettings("Adam", 0.01), steps=4)


@pytest.mark.parametrize("backends", PAIRS)
def test_builtin_layers_agree_across_backends(backends):
    a, b = backends
    testing.check_layer(REGISTRY, "Convolution 2D", a, compare_with=b)
    testing.check_layer(REGISTRY, "Batch normalization", a, input_shape=(4, 5, 3), compare_with=b)
    testing.check_activation(REGISTRY, "gelu", a, compare_with=b)


def test_installed_backends_need_their_framework():
    installed = testing.installed_backends(REGISTRY)
    assert set(installed) <= set(REGISTRY.backends)
    for name in installed:
        assert not REGISTRY.backends[name].missing()
    assert testing.backend_pairs(REGISTRY) == [(a, b) for i, a in enumerate(installed) for b in installed[i + 1:]]


# -- a plugin with wrong implementations ------------------------------------------------------------------------
def _torch_module(forward, parameters: dict | None = None):
    import torch

    class Module(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for name, shape in (parameters or {}).items():
                self.register_parameter(name, torch.nn.Parameter(torch.zeros(shape)))

        def forward(self, x):
            return forward(self, x)

    return Module()


def _keras_layer(call, weights: dict | None = None):
    import keras

    class Layer(keras.layers.Layer):
        def build(self, input_shape):
            for name, shape in (weights or {}).items():
                self.add_weight(shape=shape, initializer="zeros", name=name)

        def call(self, x):
            return call(x)

    return Layer()


def scale_by(factor: float) -> dict:
    """A layer multiplying its input by ``factor`` (different factors per backend disagree)."""
    return {"torch": lambda spec, shape: _torch_module(lambda self, x: x * factor),
            "tensorflow": lambda spec, shape: _keras_layer(lambda x: x * factor)}


class Doubling(LayerType):
    """Declares its output twice as long as it is (the implementations return the input)."""

    name = "Doubling"
    params = (Param("times", Int(minimum=1), 2, "length factor"),)
    implementations = scale_by(1.0)

    def output_shape(self, shape, spec):
        return shape[:-1] + (shape[-1] * spec["times"],)


class Uncounted(LayerType):
    """Declares no weights, but its implementations have a bias of the channel count."""

    name = "Uncounted"
    implementations = {
        "torch": lambda spec, shape: _torch_module(lambda self, x: x + self.bias, {"bias": (shape[-1],)}),
        "tensorflow": lambda spec, shape: _keras_layer(lambda x: x, {"bias": (shape[-1],)}),
    }


class Disagreeing(LayerType):
    """Right shapes and counts, but the backends compute different things."""

    name = "Disagreeing"
    implementations = {"torch": scale_by(2.0)["torch"], "tensorflow": scale_by(3.0)["tensorflow"]}


def _wrong_squared_error_torch(context):
    return lambda prediction, target: ((prediction - target) ** 2).sum()  # a sum, not a mean


def _wrong_squared_error_keras(context):
    import keras

    return lambda prediction, target: keras.ops.sum((prediction - target) ** 2)


def _wrong_sgd_torch(settings, parameters):
    import torch

    return torch.optim.SGD(parameters, lr=2 * settings.learning_rate)  # twice the rate


def _wrong_sgd_keras(settings, parameters):
    import keras

    return keras.optimizers.SGD(learning_rate=2 * settings.learning_rate)


def _tanh_torch():
    import torch

    return torch.nn.Tanh()


def _tanh_keras():
    import keras

    return keras.layers.Activation("tanh")


def make_wrong_plugin() -> types.ModuleType:
    module = types.ModuleType("dlae_wrong_plugin")

    @hookimpl
    def register_layers(register):
        for layer_type in (Doubling, Uncounted, Disagreeing):
            register(layer_type())

    @hookimpl
    def register_losses(register):
        register(LossInfo("wrong_squared_error", "claims to be the mean squared error", "dense",
                          implementations={"torch": _wrong_squared_error_torch,
                                           "tensorflow": _wrong_squared_error_keras}))

    @hookimpl
    def register_activations(register):
        register(ActivationInfo("wrong_relu", "claims to be relu, is tanh"))

    @hookimpl
    def register_optimizers(register):
        register(OptimizerInfo("WrongSGD", "claims to be SGD", ("momentum",)))

    @hookimpl
    def register_implementations(register):  # the other way of attaching implementations
        register("activation", "wrong_relu", "torch", _tanh_torch)
        register("activation", "wrong_relu", "tensorflow", _tanh_keras)
        register("optimizer", "WrongSGD", "torch", _wrong_sgd_torch)
        register("optimizer", "WrongSGD", "tensorflow", _wrong_sgd_keras)

    for name, value in list(locals().items()):
        if name.startswith("register_"):
            setattr(module, name, value)
    return module


@pytest.fixture(scope="module")
def wrong():
    return api.Registry(api.make_plugin_manager(load_entrypoints=True, plugins=[make_wrong_plugin()]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_output_shape_fails(wrong, backend):
    with pytest.raises(AssertionError) as info:
        testing.check_layer(wrong, "Doubling", backend, input_shape=(5,))
    assert isinstance(info.value, testing.CheckFailed)
    assert f"layer 'Doubling' on {backend}, input shape (5,)" in str(info.value)
    # the kit's own comparison, or the backend's when it checks shapes while building (tensorflow)
    assert "(5,)" in str(info.value) and "(10,)" in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_parameter_counts_fail(wrong, backend):
    with pytest.raises(AssertionError, match=r"parameter counts \(trainable, non-trainable\) are \(3, 0\) but "
                                             r"Uncounted.param_counts gives \(0, 0\)"):
        testing.check_layer(wrong, "Uncounted", backend, input_shape=(3,))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_layer_reference_fails(wrong, backend):
    testing.check_layer(wrong, "Disagreeing", backend, input_shape=(4, 3))  # nothing wrong on its own
    with pytest.raises(AssertionError, match="outputs differ from the reference"):
        testing.check_layer(wrong, "Disagreeing", backend, input_shape=(4, 3), reference=lambda x, w: x)


@pytest.mark.parametrize("backends", PAIRS)
def test_backends_that_disagree_fail(wrong, backends):
    with pytest.raises(AssertionError, match="largest relative output difference"):
        testing.check_layer(wrong, "Disagreeing", backends[0], input_shape=(4, 3), compare_with=backends[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_loss_fails(wrong, backend):
    testing.check_loss(wrong, "mean_squared_error", backend, lambda p, y: np.mean((p - y) ** 2))
    with pytest.raises(AssertionError) as info:
        testing.check_loss(wrong, "wrong_squared_error", backend, lambda p, y: np.mean((p - y) ** 2))
    message = str(info.value)
    assert message.startswith(f"loss 'wrong_squared_error' on {backend}:")
    assert "prediction shape (4, 5), target shape (4, 5): loss " in message and "but the reference gives" in message


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_activation_fails(wrong, backend):
    with pytest.raises(AssertionError, match=r"outputs differ from the reference: relative difference .* "
                                             r"largest difference .* \(got .*, expected .*\)"):
        testing.check_activation(wrong, "wrong_relu", backend, lambda x: np.maximum(x, 0.0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_optimizer_fails(wrong, backend):
    with pytest.raises(AssertionError, match=r"step 1 of 3 \(learning rate 0.01, .*\): parameter differs from the "
                                             r"reference; largest difference"):
        testing.check_optimizer_step(wrong, "WrongSGD", backend, sgd)


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_implementations_and_names_fail(wrong, backend):
    with pytest.raises(AssertionError, match="no plugin registers a layer named 'Nonesuch'"):
        testing.check_layer(wrong, "Nonesuch", backend)
    unimplemented = api.Registry(api.make_plugin_manager(plugins=[_only_records()]))
    with pytest.raises(AssertionError, match=f"loss 'unimplemented_loss' on {backend}:\n  no {backend} implementation"):
        testing.check_loss(unimplemented, "unimplemented_loss", backend, lambda p, y: 0.0)


def _only_records() -> types.ModuleType:
    module = types.ModuleType("dlae_records_only")

    @hookimpl
    def register_losses(register):
        register(LossInfo("unimplemented_loss", "no backend implements it"))

    module.register_losses = register_losses
    return module


def test_an_unknown_backend_is_reported():
    with pytest.raises(api.BackendUnavailableError, match="unknown backend 'nonesuch'"):
        testing.check_layer(REGISTRY, "Dense", "nonesuch")
