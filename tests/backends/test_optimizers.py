"""Every backend's optimizers: ``backend.make_optimizer(settings, parameters)`` turns the config's
hyper-parameters (Keras meanings) into the framework optimizer's own, and every built-in optimizer
follows the numpy reference of the test kit for a few steps. (torch's fused/multi-tensor kernels:
torch_only/test_torch_optimizers.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from dlae_core.plugin.components import OptimizerSettings

OPTIMIZERS = ("SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "NAdam")

# name -> config keys (Keras meanings) and, per backend, what the framework optimizer holds: torch's
# param_groups[0] entries, Keras' get_config() entries
HYPER_PARAMETERS = {
    "SGD": ({"momentum": 0.5}, {"torch": {"momentum": 0.5}, "tensorflow": {"momentum": 0.5}}),
    "RMSprop": ({"rho": 0.8, "epsilon": 1e-5}, {"torch": {"alpha": 0.8, "eps": 1e-5},
                                                "tensorflow": {"rho": 0.8, "epsilon": 1e-5}}),
    "Adagrad": ({"epsilon": 1e-5}, {"torch": {"eps": 1e-5, "initial_accumulator_value": 0.1},
                                    "tensorflow": {"epsilon": 1e-5, "initial_accumulator_value": 0.1}}),
    "Adadelta": ({"rho": 0.8, "epsilon": 1e-5}, {"torch": {"rho": 0.8, "eps": 1e-5},
                                                 "tensorflow": {"rho": 0.8, "epsilon": 1e-5}}),
    "Adam": ({"beta1": 0.8, "beta2": 0.99}, {"torch": {"betas": (0.8, 0.99), "eps": 1e-7},
                                             "tensorflow": {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-7}}),
    "Adamax": ({"beta1": 0.8, "beta2": 0.99}, {"torch": {"betas": (0.8, 0.99)},
                                               "tensorflow": {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-7}}),
    "NAdam": ({"beta1": 0.8, "beta2": 0.99}, {"torch": {"betas": (0.8, 0.99), "momentum_decay": 0.004},
                                              "tensorflow": {"beta_1": 0.8, "beta_2": 0.99}}),
}


def _parameters(backend: str):
    """What make_optimizer optimizes: torch optimizers need their parameters up front, Keras' none."""
    if backend == "torch":
        import torch

        return [torch.nn.Parameter(torch.zeros(3))]
    return None


def _hyper_parameters(backend: str, optimizer) -> dict:
    """(learning rate, the optimizer's hyper-parameters) as the framework keeps them."""
    if backend == "torch":
        group = optimizer.param_groups[0]
        return {**group, "learning_rate": group["lr"]}
    return optimizer.get_config()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_hyper_parameters(engine, backend, name):
    keys, expected = HYPER_PARAMETERS[name]
    settings = OptimizerSettings(name, 0.01, **{"beta1": 0.9, "beta2": 0.999, **keys})
    config = _hyper_parameters(backend, engine.make_optimizer(settings, _parameters(backend)))
    assert config["learning_rate"] == pytest.approx(0.01)
    for key, value in expected[backend].items():
        assert config[key] == pytest.approx(value), (key, config)


# -- the test kit's numpy references (dlae_core.testing) ----------------------------------------------------
def _sgd(p, g, state, s):
    v = s.momentum * state.get("v", 0.0) - s.learning_rate * g
    state["v"] = v
    return p + v


def _adam(p, g, state, s):
    eps = 1e-7 if s.epsilon is None else s.epsilon
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = s.beta1 * state.get("m", 0.0) + (1 - s.beta1) * g
    v = state["v"] = s.beta2 * state.get("v", 0.0) + (1 - s.beta2) * g * g
    m_hat, v_hat = m / (1 - s.beta1 ** t), v / (1 - s.beta2 ** t)
    return p - s.learning_rate * m_hat / (np.sqrt(v_hat) + eps)


# learning rates per step (a schedule changes the rate between steps): SGD with momentum folds the
# rate into its velocity (Keras' rule) on every backend
@pytest.mark.parametrize("name,reference,settings,rates", [
    ("SGD", _sgd, OptimizerSettings("SGD", 0.05, momentum=0.9), [0.05, 0.02, 0.05, 0.01]),
    ("Adam", _adam, OptimizerSettings("Adam", 0.01), [0.01, 0.005, 0.01]),
], ids=["SGD", "Adam"])
def test_optimizer_steps_follow_the_reference(backend, name, reference, settings, rates):
    from dlae_core import testing
    from support import registry

    testing.check_optimizer_step(registry(), name, backend, reference, settings=settings, learning_rates=rates)
