"""The example plugin's own tests: each component on every installed backend with dlae's test kit
(``dlae_core.testing``), plus one training run through the ``dlae`` command.

Run them with ``python -m pytest plugins/dlae-example-plugin/tests`` (or ``pytest tests`` inside the
plugin's folder). A backend whose framework is not installed shows up as skipped.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlae_core import testing
from dlae_core.api import OptimizerSettings

dlae_example_plugin = pytest.importorskip("dlae_example_plugin")  # skipped where not installed (a bare clone)
from dlae_example_plugin import plugin  # noqa: E402

# Installed plugins (dlae's built-ins and backends included) plus this one, installed or not.
REGISTRY = testing.make_registry(plugin)
BACKENDS = testing.backend_params(REGISTRY)
PAIRS = testing.backend_pair_params(REGISTRY)
SE = "Squeeze excitation 2D"


def test_the_components_and_their_implementations_are_registered():
    owner = REGISTRY.owner[("layers", SE)]
    assert {kind: sorted(names) for kind, names in REGISTRY.registered_by(owner).items()} == {
        "layers": [SE], "losses": ["log_cosh"], "activations": ["mish"], "optimizers": ["Lion"]}
    for kind, name in (("layer", SE), ("loss", "log_cosh"), ("activation", "mish"), ("optimizer", "Lion")):
        for backend in ("torch", "tensorflow"):
            assert REGISTRY.has_implementation(kind, name, backend), (kind, name, backend)
    assert REGISTRY.optimizers["Lion"].reads == ("beta1", "beta2")


def test_the_plugin_imports_nothing_of_dlae_but_the_public_api():
    package = Path(dlae_example_plugin.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.split(".")[0].startswith("dlae") and module.split(".")[0] != "dlae_example_plugin":
                    assert module == "dlae_core.api", f"{path.name}:{node.lineno} imports {module}"


def test_registering_imports_no_framework():
    code = ("import sys; from dlae_core.testing import make_registry; import dlae_example_plugin.plugin as p; "
            "r = make_registry(p); assert 'Lion' in r.optimizers and 'mish' in r.activations; "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- Squeeze excitation 2D -------------------------------------------------------------------------------------
def squeeze_excitation(x, weights):
    """numpy reference of the layer on channels-last ``x`` with its canonical weights."""
    squeezed = x.mean(axis=(1, 2))
    hidden = np.maximum(squeezed @ weights["reduce/kernel"] + weights["reduce/bias"], 0.0)
    scale = 1.0 / (1.0 + np.exp(-(hidden @ weights["expand/kernel"] + weights["expand/bias"])))
    return x * scale[:, None, None, :]


SE_CASES = [((8, 8, 3), 4), ((6, 5, 16), 4), ((4, 7, 6), 2), ((3, 3, 2), 8)]


@pytest.mark.parametrize("shape,ratio", SE_CASES, ids=[f"{'x'.join(map(str, s))}-r{r}" for s, r in SE_CASES])
@pytest.mark.parametrize("backend", BACKENDS)
def test_squeeze_excitation(backend, shape, ratio):
    testing.check_layer(REGISTRY, SE, backend, input_shape=shape, params={"ratio": ratio},
                        reference=squeeze_excitation)


@pytest.mark.parametrize("backends", PAIRS)
def test_squeeze_excitation_across_backends(backends):
    testing.check_layer(REGISTRY, SE, backends[0], input_shape=(6, 5, 8), params={"ratio": 2},
                        compare_with=backends[1])


# -- log_cosh ---------------------------------------------------------------------------------------------------
def log_cosh(prediction, target):
    return float(np.mean(np.log(np.cosh(prediction.astype(np.float64) - target.astype(np.float64)))))


@pytest.mark.parametrize("backend", BACKENDS)
def test_log_cosh(backend):
    testing.check_loss(REGISTRY, "log_cosh", backend, log_cosh)


# -- mish -------------------------------------------------------------------------------------------------------
def mish(x):
    return x * np.tanh(np.logaddexp(0.0, x))


@pytest.mark.parametrize("backend", BACKENDS)
def test_mish(backend):
    testing.check_activation(REGISTRY, "mish", backend, mish)
    testing.check_activation(REGISTRY, "mish", backend, mish, input_shape=(3, 4, 2, 2), scale=20.0)


@pytest.mark.parametrize("backends", PAIRS)
def test_mish_across_backends(backends):
    testing.check_activation(REGISTRY, "mish", backends[0], compare_with=backends[1])


# -- Lion -------------------------------------------------------------------------------------------------------
def lion(param, grad, state, settings):
    """numpy reference of one Lion step (no weight decay)."""
    momentum = state.get("momentum", np.zeros_like(param))
    update = np.sign(settings.beta1 * momentum + (1.0 - settings.beta1) * grad)
    state["momentum"] = settings.beta2 * momentum + (1.0 - settings.beta2) * grad
    return param - settings.learning_rate * update


@pytest.mark.parametrize("betas", [(0.9, 0.99), (0.95, 0.98), (0.5, 0.999)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_lion(backend, betas):
    settings = OptimizerSettings("Lion", 0.01, beta1=betas[0], beta2=betas[1])
    testing.check_optimizer_step(REGISTRY, "Lion", backend, lion, settings=settings, steps=4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lion_follows_the_learning_rate_schedule(backend):
    testing.check_optimizer_step(REGISTRY, "Lion", backend, lion, settings=OptimizerSettings("Lion", 0.01),
                                 learning_rates=[0.01, 0.005, 0.0025, 0.001])


def dlae(*arguments: str) -> subprocess.CompletedProcess:
    """Run the ``dlae`` command (on the CPU); fail with its output unless it succeeds."""
    command = shutil.which("dlae")
    if command is None:
        pytest.skip("the dlae command is not on PATH")
    result = subprocess.run([command, *arguments], capture_output=True, text=True,
                            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0, f"dlae {' '.join(arguments)}:\n{result.stdout}{result.stderr}"
    return result


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_config_with_the_plugin_trains_and_predicts(backend, tmp_path):
    """``dlae example cnn``, then Lion, mish and a squeeze-excitation layer in its config: 1 epoch,
    then Inference with the saved model."""
    dlae("example", "cnn", str(tmp_path / "run"))
    path = tmp_path / "run" / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["optimizer"] = {"optimizer": "Lion", "beta1": 0.9, "beta2": 0.99}
    config["learning_rate_schedule"]["learning_rate"] = 3e-4
    config["training_configurations"].update(epochs=1, hardware="cpu")
    layers = config["layers"]["serial_layer_list"]
    layers[2] = {"type": "Activation", "activation": "mish"}
    layers.insert(3, "Squeeze excitation 2D:2")
    out = tmp_path / "run" / "out"
    model = out / ("model.pt" if backend == "torch" else f"model.{backend}")
    config["save_configurations"].update(save_model_path=str(model), save_csv_path=str(out / "history.csv"))
    config["paths"]["load_model"] = ""
    path.write_text(json.dumps(config), encoding="utf-8")
    dlae("run", "-q", "--workers", "0", "--backend", backend, str(path))
    rows = (out / "history.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2 and rows[0].startswith("epoch,loss"), rows
    assert np.isfinite(float(rows[1].split(",")[1]))

    config["config_file"]["type_signal"] = "Inference"
    config["paths"]["load_model"] = str(model)
    path.write_text(json.dumps(config), encoding="utf-8")
    predictions = tmp_path / "predictions.h5"
    dlae("run", "-q", "--workers", "0", "--backend", backend, "--predictions", str(predictions), str(path))
    assert predictions.stat().st_size > 0


def test_the_kit_sees_a_wrong_reference():
    """The checks above would catch a wrong implementation: here the reference is the wrong one."""
    backend = next((b for b in testing.installed_backends(REGISTRY)), None)
    if backend is None:
        pytest.skip("no backend installed")
    with pytest.raises(AssertionError, match="loss"):
        testing.check_loss(REGISTRY, "log_cosh", backend, lambda p, y: float(np.mean(np.abs(p - y))))
    with pytest.raises(AssertionError, match="step 1"):
        testing.check_optimizer_step(REGISTRY, "Lion", backend,
                                     lambda p, g, state, s: p - s.learning_rate * np.sign(g) * 0.5)
    with pytest.raises(AssertionError, match="differ from the reference"):
        testing.check_activation(REGISTRY, "mish", backend, np.tanh)
