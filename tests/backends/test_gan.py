"""GAN sessions on every backend through ``dlae run``/``dlae predict`` (CPU, tiny 16x16 data): pix2pix
and cycleGAN learn in the right direction and write their CSV, checkpoints, final generators and
previews; saved generators predict; each optimizer record of the config builds its own optimizer."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from dlae_core.techniques.gan.preview import png_header
from support import (conv, error_lines, gan_config, gan_engines, invoke, make_data, read_csv, read_h5, snapshot,
                     write_config)

PIX2PIX_HEADER = ["epoch", "g_loss", "g_adv", "g_l1", "d_loss", "d_real", "d_fake", "d_acc"]
CYCLEGAN_HEADER = ["epoch", "g_loss", "g_adv", "g_cycle", "g_identity", "d_loss", "d_acc"]


def layers_3d(size: int, depth: int) -> tuple[list, list]:
    shape = f"({size}, {size}, {depth}, 1)"
    generator = [f"Input:{shape}", conv(4, dims=3), "Leaky reLU:0.2", conv(1, 1, dims=3), "Activation:sigmoid"]
    discriminator = [f"Input:{shape}", conv(4, 4, 2, dims=3), "Leaky reLU:0.2", conv(1, 3, dims=3)]
    return generator, discriminator


def save_all(out: Path) -> dict:
    return {"save_model_switch": True, "save_model_path": str(out / "gen.pt"),
            "save_csv_switch": True, "save_csv_path": str(out / "history.csv"),
            "save_checkpoints_switch": True, "save_checkpoints_path": str(out / "ckpt" / "g.pt")}


def run_gan(backend: str, config: dict, path: Path, *extra, expect: int = 0):
    return invoke("run", "--backend", backend, write_config(path, config), "--quiet", "--workers", 0, *extra,
                  expect=expect)


def predict_gan(backend: str, tmp_path: Path, config: dict, model_path, test_x, *,
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


def test_pix2pix_learns_and_writes_its_outputs(tmp_path, backend):
    data = make_data(tmp_path / "data", "translation", n=24, size=16)  # 6 validation, 6 test samples
    out = tmp_path / "out"
    config = gan_config(data, "pix2pix", epochs=6, save_configurations=save_all(out))
    run_gan(backend, config, tmp_path / "config.json")

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

    predictions, attributes = predict_gan(backend, tmp_path, config, out / "gen.pt", data["test_X"])
    tests = read_h5(data["test_X"])
    assert sorted(predictions, key=int) == sorted(tests, key=int)
    for array in predictions.values():
        assert array.shape == (16, 16, 1) and array.dtype == np.float32
        assert 0.0 <= array.min() and array.max() <= 1.0  # sigmoid output, targets not normalized
    assert attributes["technique"] == "GAN" and attributes["backend"] == backend
    assert attributes["values"] == "target units (targets are not normalized)"
    # the generator learnt the task: far better than predicting zeros on the validation samples
    checkpoint = out / "ckpt" / "epoch_5_checkpoint_generator_g.pt"
    again, _ = predict_gan(backend, tmp_path, config, checkpoint, data["validation_X"], name="val.h5")
    truth = read_h5(data["validation_y"])
    l1 = np.mean([np.abs(again[n] - truth[n].reshape(again[n].shape)).mean() for n in truth])
    zeros = np.mean([np.abs(truth[n]).mean() for n in truth])
    assert l1 < 0.6 * zeros, (l1, zeros)


def test_cyclegan_cycle_loss_falls_and_both_generators_are_saved(tmp_path, backend):
    data = make_data(tmp_path / "data", "translation", n=24, size=16)
    out = tmp_path / "out"
    config = gan_config(data, "cyclegan", epochs=5, adversarial="least_squares", save_configurations=save_all(out))
    run_gan(backend, config, tmp_path / "config.json")

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
        predictions, attributes = predict_gan(backend, tmp_path, config, out / f"gen_{role}.pt", test_file,
                                              name=f"{role}.h5")
        assert len(predictions) == len(read_h5(test_file))
        assert all(a.shape == (16, 16, 1) for a in predictions.values())


@pytest.mark.parametrize("variant,adversarial", [("pix2pix", "least_squares"), ("cyclegan", "log")])
def test_adversarial_options_and_partial_batches(tmp_path, backend, variant, adversarial):
    """One epoch with a partial final batch (10 samples, batch 4) and no validation data."""
    data = make_data(tmp_path / "data", "translation", n=10, size=16)
    out = tmp_path / "out"
    save = {**save_all(out), "save_checkpoints_switch": False}
    config = gan_config(data, variant, epochs=1, adversarial=adversarial, validation=False, save_configurations=save)
    run_gan(backend, config, tmp_path / "config.json")
    header, rows = read_csv(out / "history.csv")
    assert header == (PIX2PIX_HEADER if variant == "pix2pix" else CYCLEGAN_HEADER) and len(rows) == 1
    assert all(np.isfinite(v) for v in rows[0].values())
    assert not (out / "previews").exists()  # no validation data, no previews


def test_3d_pix2pix_runs_one_epoch(tmp_path, backend):
    data = make_data(tmp_path / "data", "segmentation3d", n=6, size=8)  # (8, 8, 6) volumes, y labels 0..2
    out = tmp_path / "out"
    config = gan_config(data, "pix2pix", size=8, epochs=1, layers=layers_3d(8, 6), save_configurations=save_all(out),
                        preprocessing={"image_context": "3D", "normalization_type": "samplewise_unity_xy"},
                        training_configurations={"batch_size": 2})
    config["config_file"]["input_shape"] = [8, 8, 6, 1]
    run_gan(backend, config, tmp_path / "config.json")
    header, rows = read_csv(out / "history.csv")
    assert header == PIX2PIX_HEADER and len(rows) == 1
    assert (out / "gen.pt").is_file() and (out / "ckpt" / "epoch_0_checkpoint_generator_g.pt").is_file()
    assert_png(out / "previews" / "epoch_0.png", 3 * 64 + 4, 2 * 64 + 2)  # 2 validation volumes, middle slices
    predictions, attributes = predict_gan(backend, tmp_path, config, out / "gen.pt", data["test_X"])
    assert all(a.shape == (8, 8, 6, 1) for a in predictions.values())
    assert attributes["values"] == "[0, 1] per sample (samplewise target normalization cannot be inverted)"


def test_predictions_in_target_units_with_global_normalization(tmp_path, backend):
    """With global *_xy normalization the predictions are mapped back to the target's units."""
    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    out = tmp_path / "out"
    config = gan_config(data, "pix2pix", epochs=1, validation=False,
                        save_configurations={"save_model_switch": True, "save_model_path": str(out / "gen.pt")},
                        preprocessing={"normalization_type": "global_unity_xy",
                                       "minimum_image_intensity": "0.0, 0.0", "maximum_image_intensity": "1.0, 4.0"})
    run_gan(backend, config, tmp_path / "config.json")
    predictions, attributes = predict_gan(backend, tmp_path, config, out / "gen.pt", data["test_X"])
    assert attributes["values"] == "target units (mapped back from [0, 1] to [0, 4])"
    values = np.concatenate([a.ravel() for a in predictions.values()])
    assert values.max() > 1.0 and values.min() >= 0.0 and values.max() <= 4.0  # 4 x sigmoid


def test_existing_outputs_and_checkpoints_are_refused(tmp_path, backend):
    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    out = tmp_path / "out"
    config = gan_config(data, "cyclegan", epochs=1, save_configurations=save_all(out))
    run_gan(backend, config, tmp_path / "config.json")
    before = snapshot(out)
    lines = error_lines(run_gan(backend, config, tmp_path / "config.json", expect=2))
    assert any("already exist" in line and "gen_generator1.pt" in line and "--overwrite" in line for line in lines)
    assert snapshot(out) == before
    run_gan(backend, config, tmp_path / "config.json", "--overwrite")
    checkpoint = gan_config(data, "cyclegan", epochs=1, paths={"load_checkpoint": str(out / "gen_generator1.pt")})
    lines = error_lines(run_gan(backend, checkpoint, tmp_path / "resume.json", expect=2))
    assert any("continuing a GAN from a checkpoint is not available" in line for line in lines)


# -- the engine's optimizers: what each framework's optimizer objects hold --------------------------
def _torch_records(engine, first, second) -> None:
    import torch

    from dlae_torch.optimizers import KerasSGD  # SGD with momentum follows Keras' rule

    for optimizer in (first, second):
        assert isinstance(optimizer, KerasSGD)
        assert optimizer.param_groups[0]["lr"] == 0.03 and optimizer.param_groups[0]["momentum"] == 0.7
    g = engine.g_optimizer
    assert isinstance(g, torch.optim.RMSprop)
    assert g.param_groups[0]["lr"] == 0.004 and g.param_groups[0]["alpha"] == 0.8 and g.param_groups[0]["eps"] == 0.001
    g_params = {id(p) for group in g.param_groups for p in group["params"]}
    assert g_params == {id(p) for m in engine.generators.values() for p in m.parameters()}
    engine.set_learning_rates(0.5, 0.25)
    assert first.param_groups[0]["lr"] == second.param_groups[0]["lr"] == 0.5 and g.param_groups[0]["lr"] == 0.25


def _tensorflow_records(engine, first, second) -> None:
    import keras

    for optimizer in (first, second):
        assert isinstance(optimizer, keras.optimizers.SGD)
        assert float(optimizer.learning_rate) == pytest.approx(0.03) and optimizer.momentum == 0.7
    g = engine.g_optimizer
    assert isinstance(g, keras.optimizers.RMSprop)
    assert float(g.learning_rate) == pytest.approx(0.004) and g.rho == 0.8 and g.epsilon == 0.001
    assert len(engine.g_variables) == sum(len(m.trainable_variables) for m in engine.generators.values())
    engine.set_learning_rates(0.5, 0.25)
    assert float(first.learning_rate) == float(second.learning_rate) == 0.5 and float(g.learning_rate) == 0.25


OPTIMIZER_RECORDS = {"torch": _torch_records, "tensorflow": _tensorflow_records}


def test_each_optimizer_reads_its_own_record(tmp_path, backend):
    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    raw = gan_config(data, "cyclegan", learning_rate_schedule={"discriminator_learning_rate": "0.03:0.0",
                                                               "gan_learning_rate": "0.004:0.0"},
                     optimizer={"optimizer": "Adam", "discriminator_optimizer": "SGD:0.9:0.999:0.9:0.7:None",
                                "gan_optimizer": "RMSprop:0.9:0.999:0.8:0.0:0.001"})
    (engine,) = gan_engines(tmp_path, raw, (backend,))
    assert set(engine.d_optimizers) == {"discriminator1", "discriminator2"}
    first, second = engine.d_optimizers["discriminator1"], engine.d_optimizers["discriminator2"]
    assert first is not second
    OPTIMIZER_RECORDS[backend](engine, first, second)
