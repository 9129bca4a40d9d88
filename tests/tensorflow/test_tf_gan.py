"""GAN sessions on the tensorflow backend: the torch suite's scenarios (tests/torch/test_gan.py) with
``backend="tensorflow"``, plus what needs both frameworks: one discriminator and one generator
update give the same losses and weights on both backends, and ``dlae check`` covers the
generator and the two-input pix2pix discriminator."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "torch"))

from e2e_support import invoke, make_data, write_config  # noqa: E402
from test_gan import (adversarial_options_scenario, cyclegan_scenario, gan_config,  # noqa: E402
                      global_targets_scenario, pix2pix_scenario, refuse_scenario, three_d_scenario)

BACKEND = "tensorflow"


def engines_of(tmp_path: Path, raw: dict, backends=(BACKEND,)) -> list:
    """The GAN engine of each of ``backends`` for config ``raw``, made as the core's GAN session
    makes it (placement, seed, the backend's implementation of technique GAN)."""
    from dlae_core.config.parser import load_config
    from dlae_core.planning.plan import plan_model
    from dlae_core.plugin.registry import get_registry
    from dlae_core.running.run import Run, RunOptions
    from dlae_core.techniques.gan.datasets import gan_data

    registry = get_registry()
    config = load_config(write_config(tmp_path / "engine.json", raw), registry)
    plan = plan_model(config, registry)
    engines = []
    for name in backends:
        backend = registry.backend(name)
        placement = backend.placement(config, len(plan.main.input_shapes[0]) - 1)
        backend.seed(config.augmentation.random_seed)
        engines.append(backend.technique_implementation("GAN").engine(
            Run(config, plan, registry, RunOptions(name)), gan_data(config, plan, registry), placement))
    return engines


def engine_of(tmp_path: Path):
    """The tensorflow GAN engine of a cycleGAN config with its own optimizer families."""
    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    raw = gan_config(data, "cyclegan", learning_rate_schedule={"discriminator_learning_rate": "0.03:0.0",
                                                               "gan_learning_rate": "0.004:0.0"},
                     optimizer={"optimizer": "Adam", "discriminator_optimizer": "SGD:0.9:0.999:0.9:0.7:None",
                                "gan_optimizer": "RMSprop:0.9:0.999:0.8:0.0:0.001"})
    return engines_of(tmp_path, raw)[0]


def test_pix2pix_learns_and_writes_its_outputs(tmp_path):
    pix2pix_scenario(tmp_path, BACKEND)


def test_cyclegan_cycle_loss_falls_and_both_generators_are_saved(tmp_path):
    cyclegan_scenario(tmp_path, BACKEND)


@pytest.mark.parametrize("variant,adversarial", [("pix2pix", "least_squares"), ("cyclegan", "log")])
def test_adversarial_options_and_partial_batches(tmp_path, variant, adversarial):
    adversarial_options_scenario(tmp_path, BACKEND, variant, adversarial)


def test_3d_pix2pix_runs_one_epoch(tmp_path):
    three_d_scenario(tmp_path, BACKEND)


def test_predictions_in_target_units_with_global_normalization(tmp_path):
    global_targets_scenario(tmp_path, BACKEND)


def test_existing_outputs_and_checkpoints_are_refused(tmp_path):
    refuse_scenario(tmp_path, BACKEND)


def test_each_optimizer_reads_its_own_record(tmp_path):
    keras = pytest.importorskip("keras")
    engine = engine_of(tmp_path)
    first, second = engine.d_optimizers["discriminator1"], engine.d_optimizers["discriminator2"]
    assert first is not second
    for optimizer in (first, second):
        assert isinstance(optimizer, keras.optimizers.SGD)
        assert float(optimizer.learning_rate) == pytest.approx(0.03) and optimizer.momentum == 0.7
    g = engine.g_optimizer
    assert isinstance(g, keras.optimizers.RMSprop)
    assert float(g.learning_rate) == pytest.approx(0.004) and g.rho == 0.8 and g.epsilon == 0.001
    assert len(engine.g_variables) == sum(len(m.trainable_variables) for m in engine.generators.values())
    engine.set_learning_rates(0.5, 0.25)
    assert float(first.learning_rate) == float(second.learning_rate) == 0.5 and float(g.learning_rate) == 0.25


# -- both backends -------------------------------------------------------------------------------
@pytest.mark.parametrize("variant,adversarial", [("pix2pix", "log"), ("cyclegan", "least_squares")])
def test_one_update_is_the_same_on_both_backends(tmp_path, variant, adversarial):
    torch = pytest.importorskip("torch")
    from dlae_tensorflow import weights as tf_weights
    from dlae_torch import weights as torch_weights

    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    raw = gan_config(data, variant, adversarial=adversarial,
                     optimizer={"optimizer": "Adam", "discriminator_optimizer": "SGD:0.9:0.999:0.9:0.0:None",
                                "gan_optimizer": "SGD:0.9:0.999:0.9:0.0:None"})
    engines = engines_of(tmp_path, raw, ("torch", BACKEND))
    plan = engines[0].run_info.plan
    torch_engine, tf_engine = engines
    pairs = [(torch_engine.generators, tf_engine.generators, plan.graphs["generator"]),
             (torch_engine.discriminators, tf_engine.discriminators, plan.graphs["discriminator"])]
    for torch_models, tf_models, graph in pairs:
        for role, model in torch_models.items():
            tf_weights.import_weights(tf_models[role], graph, torch_weights.export_weights(model, graph))
    batch = torch_engine.data.train[0], torch_engine.data.train[1], torch_engine.data.train[2]
    x = np.stack([item["x"] for item in batch])
    y = np.stack([item["y"] for item in batch])
    values = []
    for engine, to_tensor in ((torch_engine, torch.as_tensor), (tf_engine, tf.constant)):
        engine.set_learning_rates(0.05, 0.05)
        tensors = {"x": to_tensor(x), "y": to_tensor(y)}
        values.append({**engine.discriminator_step(tensors), **engine.generator_step(tensors)})
    assert values[0].keys() == values[1].keys()
    for key in values[0]:
        assert values[0][key] == pytest.approx(values[1][key], rel=1e-4, abs=1e-6), key
    for torch_models, tf_models, graph in pairs:
        for role, model in torch_models.items():
            a, b = torch_weights.export_weights(model, graph), tf_weights.export_weights(tf_models[role], graph)
            for node in a:
                for name in a[node]:
                    assert np.allclose(a[node][name], b[node][name], rtol=1e-4, atol=1e-6), (role, node, name)
    roles = list(torch_engine.generators)
    assert np.allclose(torch_engine.generate(roles[0], x), tf_engine.generate(roles[0], x), atol=1e-5)


@pytest.mark.parametrize("variant", ["pix2pix", "cyclegan"])
def test_check_compares_generator_and_discriminator(tmp_path, variant):
    pytest.importorskip("torch")
    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    config = write_config(tmp_path / "c.json", gan_config(data, variant))
    result = invoke("check", config, "--backends", "torch,tensorflow")
    assert "generator" in result.stdout and "discriminator" in result.stdout
    assert "parity ok" in result.stdout
