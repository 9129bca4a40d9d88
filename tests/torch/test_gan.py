"""GAN sessions on the torch backend through ``dlae run``/``dlae predict`` (CPU, tiny 16x16 data):
pix2pix and cycleGAN learn in the right direction and write their CSV, checkpoints, final
generators and previews; saved generators predict. The helpers are shared with the tensorflow
suite (tests/tensorflow/test_tf_gan.py), which passes ``backend="tensorflow"``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest

from dlae_core.techniques.gan.preview import png_header
from e2e_support import error_lines, invoke, make_data, read_csv, read_h5, snapshot, write_config

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")

PIX2PIX_HEADER = ["epoch", "g_loss", "g_adv", "g_l1", "d_loss", "d_real", "d_fake", "d_acc"]
CYCLEGAN_HEADER = ["epoch", "g_loss", "g_adv", "g_cycle", "g_identity", "d_loss", "d_acc"]


@pytest.fixture(autouse=True)
def one_thread():
    """The test machines share a few cores: one intra-op thread is much faster for these tiny nets."""
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- layer lists and configs ---------------------------------------------------------------------
def conv(filters: int, kernel: int = 3, stride: int = 1, dims: int = 2, init: str = "he_normal") -> str:
    k, s, one = (", ".join([str(v)] * dims) for v in (kernel, stride, 1))
    return f"Convolution {dims}D:{filters}:({k}):({s}):same:({one}):{init}:None:None:0.0:0.0"


def generator_layers(size: int = 16) -> list:
    """A two-level U-Net with leaky ReLUs and a sigmoid output (targets in [0, 1])."""
    return [f"Input:({size}, {size}, 1)", conv(8), "Leaky reLU:0.2", "Outer skip source:concatenate",
            conv(16, 4, 2), "Leaky reLU:0.2", conv(16), "Leaky reLU:0.2",
            "Resize convolution 2D:8:(3, 3):(1, 1):(2, 2):same:(1, 1):he_normal:None:None:0.0:0.0",
            "Leaky reLU:0.2", "Outer skip target:concatenate", conv(8), "Leaky reLU:0.2",
            conv(1, 1, init="glorot_uniform"), "Activation:sigmoid"]


def discriminator_layers(size: int = 16) -> list:
    """A PatchGAN: one stride-2 4x4 convolution, then a linear 4x4 convolution to one map."""
    return [f"Input:({size}, {size}, 1)", conv(8, 4, 2), "Leaky reLU:0.2", conv(1, 4)]


def layers_3d(size: int, depth: int) -> tuple[list, list]:
    shape = f"({size}, {size}, {depth}, 1)"
    generator = [f"Input:{shape}", conv(4, dims=3), "Leaky reLU:0.2", conv(1, 1, dims=3), "Activation:sigmoid"]
    discriminator = [f"Input:{shape}", conv(4, 4, 2, dims=3), "Leaky reLU:0.2", conv(1, 3, dims=3)]
    return generator, discriminator


def save_all(out: Path) -> dict:
    return {"save_model_switch": True, "save_model_path": str(out / "gen.pt"),
            "save_csv_switch": True, "save_csv_path": str(out / "history.csv"),
            "save_checkpoints_switch": True, "save_checkpoints_path": str(out / "ckpt" / "g.pt")}


def gan_config(data: dict, variant: str, *, size: int = 16, epochs: int = 2, adversarial: str = "log",
               layers: tuple | None = None, validation: bool = True, **sections) -> dict:
    """A typed GAN Train config on the CPU (λ = 100 for pix2pix, λ_cyc 10 and λ_id 1 for cycleGAN)."""
    generator, discriminator = layers or (generator_layers(size), discriminator_layers(size))
    keys = ("train_X", "train_y") + (("validation_X", "validation_y") if validation else ())
    config = {
        "config_file": {"model_signal": "GAN", "type_signal": "Train", "input_shape": [size, size, 1]},
        "paths": {key: data[key] for key in keys},
        "preprocessing": {"image_context": "2D", "normalization_type": "samplewise_unity_x"},
        "augmentation": {"apply_augmentation_switch": False, "random_seed": 1},
        "loss_function": {"loss": variant, "parameter1": 100.0 if variant == "pix2pix" else 10.0,
                          "parameter2": 1.0, "adversarial": adversarial},
        "learning_rate_schedule": {"discriminator_learning_rate": "0.001:0.0", "gan_learning_rate": "0.002:0.0"},
        "optimizer": {"optimizer": "Adam", "discriminator_optimizer": "Adam:0.5:0.999:0.9:0.0:None",
                      "gan_optimizer": "Adam:0.5:0.999:0.9:0.0:None"},
        "training_configurations": {"hardware": "cpu", "batch_size": 4, "epochs": epochs, "validation_split": 0.0},
        "save_configurations": {"save_model_switch": False},
        "layers": {"generator_layer_list": generator, "discriminator_layer_list": discriminator},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    return config


def run_gan(config: dict, path: Path, *extra, backend: str = "torch", expect: int = 0):
    return invoke("run", "--backend", backend, write_config(path, config), "--quiet", "--workers", 0, *extra,
                  expect=expect)


def predict_gan(tmp_path: Path, config: dict, model_path, test_x, *, backend: str = "torch",
                name: str = "predictions.h5") -> tuple[dict, dict]:
    """``dlae predict`` with a saved generator; returns (datasets, file attributes)."""
    config = {**config, "config_file": {**config["config_file"], "type_signal": "Inference"},
              "paths": {"load_model": str(model_path), "test_X": str(test_x)}}
    out = tmp_path / name
    invoke("predict", "--backend", backend, write_config(tmp_path / f"{name}.json", config), "--predictions", out,
           "--workers", 0)
    with h5py.File(out, "r") as handle:
        attributes = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in handle.attrs.items()}
    return read_h5(out), attributes


def assert_png(path: Path, width: int, height: int) -> None:
    header = png_header(path)
    assert (header["width"], header["height"], header["bit_depth"]) == (width, height, 8), path


# -- shared scenarios (run by both backends' suites) ---------------------------------------------
def pix2pix_scenario(tmp_path: Path, backend: str) -> None:
    data = make_data(tmp_path / "data", "translation", n=24, size=16)  # 6 validation, 6 test samples
    out = tmp_path / "out"
    config = gan_config(data, "pix2pix", epochs=6, save_configurations=save_all(out))
    run_gan(config, tmp_path / "config.json", backend=backend)

    header, rows = read_csv(out / "history.csv")
    assert header == PIX2PIX_HEADER
    assert [r["epoch"] for r in rows] == list(range(6))
    assert rows[-1]["g_l1"] < 0.5 * rows[0]["g_l1"], [r["g_l1"] for r in rows]
    for row in rows:
        assert row["g_loss"] == pytest.approx(row["g_adv"] + 100.0 * row["g_l1"], rel=1e-5)
        assert row["d_loss"] == pytest.approx((row["d_real"] + row["d_fake"]) / 2, rel=1e-5)
        assert 0.0 <= row["d_acc"] <= 1.0
    assert (out / "gen.pt").is_file()
    assert sorted(p.name for p in (out / "ckpt").iterdir()) == [
        f"epoch_{e}_checkpoint_generator_g.pt" for e in range(6)]
    for epoch in range(6):  # 3 validation rows of source | generated | target, 16 px panels x 4
        assert_png(out / "previews" / f"epoch_{epoch}.png", 3 * 64 + 2 * 2, 3 * 64 + 2 * 2)

    predictions, attributes = predict_gan(tmp_path, config, out / "gen.pt", data["test_X"], backend=backend)
    tests = read_h5(data["test_X"])
    assert sorted(predictions, key=int) == sorted(tests, key=int)
    for array in predictions.values():
        assert array.shape == (16, 16, 1) and array.dtype == np.float32
        assert 0.0 <= array.min() and array.max() <= 1.0  # sigmoid output, targets not normalized
    assert attributes["technique"] == "GAN" and attributes["backend"] == backend
    assert attributes["values"] == "target units (targets are not normalized)"
    # the generator learnt the task: far better than predicting zeros on the validation samples
    checkpoint = out / "ckpt" / "epoch_5_checkpoint_generator_g.pt"
    again, _ = predict_gan(tmp_path, config, checkpoint, data["validation_X"], backend=backend, name="val.h5")
    truth = read_h5(data["validation_y"])
    l1 = np.mean([np.abs(again[n] - truth[n].reshape(again[n].shape)).mean() for n in truth])
    zeros = np.mean([np.abs(truth[n]).mean() for n in truth])
    assert l1 < 0.6 * zeros, (l1, zeros)


def cyclegan_scenario(tmp_path: Path, backend: str) -> None:
    data = make_data(tmp_path / "data", "translation", n=24, size=16)
    out = tmp_path / "out"
    config = gan_config(data, "cyclegan", epochs=5, adversarial="least_squares", save_configurations=save_all(out))
    run_gan(config, tmp_path / "config.json", backend=backend)

    header, rows = read_csv(out / "history.csv")
    assert header == CYCLEGAN_HEADER
    assert [r["epoch"] for r in rows] == list(range(5))
    assert rows[-1]["g_cycle"] < 0.6 * rows[0]["g_cycle"], [r["g_cycle"] for r in rows]
    for row in rows:
        total = 2 * row["g_adv"] + 2 * 10.0 * row["g_cycle"] + 2 * 1.0 * row["g_identity"]
        assert row["g_loss"] == pytest.approx(total, rel=1e-5)
    assert not (out / "gen.pt").exists()
    assert (out / "gen_generator1.pt").is_file() and (out / "gen_generator2.pt").is_file()
    assert sorted(p.name for p in (out / "ckpt").iterdir()) == sorted(
        f"epoch_{e}_checkpoint_generator{k}_g.pt" for e in range(5) for k in (1, 2))
    # 3 validation samples, two rows each: X | G1(X) | G2(G1(X)) and y | G2(y) | G1(G2(y))
    assert_png(out / "previews" / "epoch_4.png", 3 * 64 + 2 * 2, 6 * 64 + 5 * 2)
    for role, test_file in (("generator1", data["test_X"]), ("generator2", data["validation_y"])):
        predictions, attributes = predict_gan(tmp_path, config, out / f"gen_{role}.pt", test_file, backend=backend,
                                              name=f"{role}.h5")
        assert len(predictions) == len(read_h5(test_file))
        assert all(a.shape == (16, 16, 1) for a in predictions.values())


def adversarial_options_scenario(tmp_path: Path, backend: str, variant: str, adversarial: str) -> None:
    """One epoch with a partial final batch (10 samples, batch 4) and no validation data."""
    data = make_data(tmp_path / "data", "translation", n=10, size=16)
    out = tmp_path / "out"
    save = {**save_all(out), "save_checkpoints_switch": False}
    config = gan_config(data, variant, epochs=1, adversarial=adversarial, validation=False, save_configurations=save)
    run_gan(config, tmp_path / "config.json", backend=backend)
    header, rows = read_csv(out / "history.csv")
    assert header == (PIX2PIX_HEADER if variant == "pix2pix" else CYCLEGAN_HEADER) and len(rows) == 1
    assert all(np.isfinite(v) for v in rows[0].values())
    assert not (out / "previews").exists()  # no validation data, no previews


def three_d_scenario(tmp_path: Path, backend: str) -> None:
    data = make_data(tmp_path / "data", "segmentation3d", n=6, size=8)  # (8, 8, 6) volumes, y labels 0..2
    out = tmp_path / "out"
    layers = layers_3d(8, 6)
    config = gan_config(data, "pix2pix", size=8, epochs=1, layers=layers, save_configurations=save_all(out),
                        preprocessing={"image_context": "3D", "normalization_type": "samplewise_unity_xy"},
                        training_configurations={"batch_size": 2})
    config["config_file"]["input_shape"] = [8, 8, 6, 1]
    run_gan(config, tmp_path / "config.json", backend=backend)
    header, rows = read_csv(out / "history.csv")
    assert header == PIX2PIX_HEADER and len(rows) == 1
    assert (out / "gen.pt").is_file() and (out / "ckpt" / "epoch_0_checkpoint_generator_g.pt").is_file()
    assert_png(out / "previews" / "epoch_0.png", 3 * 64 + 4, 2 * 64 + 2)  # 2 validation volumes, middle slices
    predictions, attributes = predict_gan(tmp_path, config, out / "gen.pt", data["test_X"], backend=backend)
    assert all(a.shape == (8, 8, 6, 1) for a in predictions.values())
    assert attributes["values"] == "[0, 1] per sample (samplewise target normalization cannot be inverted)"


def global_targets_scenario(tmp_path: Path, backend: str) -> None:
    """With global *_xy normalization the predictions are mapped back to the target's units."""
    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    out = tmp_path / "out"
    config = gan_config(data, "pix2pix", epochs=1, validation=False,
                        save_configurations={"save_model_switch": True, "save_model_path": str(out / "gen.pt")},
                        preprocessing={"normalization_type": "global_unity_xy",
                                       "minimum_image_intensity": "0.0, 0.0", "maximum_image_intensity": "1.0, 4.0"})
    run_gan(config, tmp_path / "config.json", backend=backend)
    predictions, attributes = predict_gan(tmp_path, config, out / "gen.pt", data["test_X"], backend=backend)
    assert attributes["values"] == "target units (mapped back from [0, 1] to [0, 4])"
    values = np.concatenate([a.ravel() for a in predictions.values()])
    assert values.max() > 1.0 and values.min() >= 0.0 and values.max() <= 4.0  # 4 x sigmoid


def refuse_scenario(tmp_path: Path, backend: str) -> None:
    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    out = tmp_path / "out"
    config = gan_config(data, "cyclegan", epochs=1, save_configurations=save_all(out))
    run_gan(config, tmp_path / "config.json", backend=backend)
    before = snapshot(out)
    lines = error_lines(run_gan(config, tmp_path / "config.json", backend=backend, expect=2))
    assert any("already exist" in line and "gen_generator1.pt" in line and "--overwrite" in line for line in lines)
    assert snapshot(out) == before
    run_gan(config, tmp_path / "config.json", "--overwrite", backend=backend)
    checkpoint = gan_config(data, "cyclegan", epochs=1, paths={"load_checkpoint": str(out / "gen_generator1.pt")})
    lines = error_lines(run_gan(checkpoint, tmp_path / "resume.json", backend=backend, expect=2))
    assert any("continuing a GAN from a checkpoint is not available" in line for line in lines)


def engine_of(tmp_path: Path, backend: str):
    """A GAN engine of ``backend`` for a cycleGAN config with its own optimizer families."""
    from dlae_core.config.parser import load_config
    from dlae_core.techniques.gan.datasets import gan_data
    from dlae_core.planning.plan import plan_model
    from dlae_core.plugin.registry import get_registry
    from dlae_core.running.run import Run, RunOptions

    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    raw = gan_config(data, "cyclegan", learning_rate_schedule={"discriminator_learning_rate": "0.03:0.0",
                                                               "gan_learning_rate": "0.004:0.0"},
                     optimizer={"optimizer": "Adam", "discriminator_optimizer": "SGD:0.9:0.999:0.9:0.7:None",
                                "gan_optimizer": "RMSprop:0.9:0.999:0.8:0.0:0.001"})
    registry = get_registry()
    config = load_config(write_config(tmp_path / "engine.json", raw), registry)
    plan = plan_model(config, registry)
    run = Run(config, plan, registry, RunOptions(backend))
    engine_backend = registry.backend(backend)
    placement = engine_backend.placement(config, 2)
    return engine_backend.technique_implementation("GAN").engine(run, gan_data(config, plan, registry), placement)


# -- torch ---------------------------------------------------------------------------------------
def test_pix2pix_learns_and_writes_its_outputs(tmp_path):
    pix2pix_scenario(tmp_path, "torch")


def test_cyclegan_cycle_loss_falls_and_both_generators_are_saved(tmp_path):
    cyclegan_scenario(tmp_path, "torch")


@pytest.mark.parametrize("variant,adversarial", [("pix2pix", "least_squares"), ("cyclegan", "log")])
def test_adversarial_options_and_partial_batches(tmp_path, variant, adversarial):
    adversarial_options_scenario(tmp_path, "torch", variant, adversarial)


def test_3d_pix2pix_runs_one_epoch(tmp_path):
    three_d_scenario(tmp_path, "torch")


def test_predictions_in_target_units_with_global_normalization(tmp_path):
    global_targets_scenario(tmp_path, "torch")


def test_existing_outputs_and_checkpoints_are_refused(tmp_path):
    refuse_scenario(tmp_path, "torch")


def test_each_optimizer_reads_its_own_record(tmp_path):
    import torch

    engine = engine_of(tmp_path, "torch")
    assert set(engine.d_optimizers) == {"discriminator1", "discriminator2"}
    first, second = engine.d_optimizers.values()
    assert first is not second
    for optimizer in (first, second):
        assert isinstance(optimizer, torch.optim.SGD)
        assert optimizer.param_groups[0]["lr"] == 0.03 and optimizer.param_groups[0]["momentum"] == 0.7
    g = engine.g_optimizer
    assert isinstance(g, torch.optim.RMSprop)
    assert g.param_groups[0]["lr"] == 0.004 and g.param_groups[0]["alpha"] == 0.8 and g.param_groups[0]["eps"] == 0.001
    g_params = {id(p) for group in g.param_groups for p in group["params"]}
    assert g_params == {id(p) for m in engine.generators.values() for p in m.parameters()}
    engine.set_learning_rates(0.5, 0.25)
    assert first.param_groups[0]["lr"] == second.param_groups[0]["lr"] == 0.5 and g.param_groups[0]["lr"] == 0.25
