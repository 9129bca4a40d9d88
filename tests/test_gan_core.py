"""The framework-free GAN core: the PNG writer and previews, the paired/unpaired training samples,
the planned output files and the epoch loop (driven by a numpy stand-in engine)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from dlae_core.config.parser import parse_config
from dlae_core.data.preprocess import Preprocessor
from dlae_core.data.splits import DataSplit
from dlae_core.errors import BackendError, OutputExistsError
from dlae_core.techniques.gan import loop as gan_loop
from dlae_core.techniques.gan.datasets import PairedSamples, UnpairedSamples, gan_data
from dlae_core.techniques.gan.preview import compose, display_plane, png_bytes, png_header, to_uint8, write_preview
from dlae_core.planning.plan import plan_model
from dlae_core.training.history import read_history


# -- PNG ---------------------------------------------------------------------------------------------
def decode_png(data: bytes) -> np.ndarray:
    """Pixels of a PNG, read back with Pillow (an independent reader of what png_bytes writes)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def test_png_round_trip_grey_and_rgb():
    grey = (np.arange(6 * 5) * 8).astype(np.uint8).reshape(6, 5)
    data = png_bytes(grey)
    assert png_header(data) == {"width": 5, "height": 6, "bit_depth": 8, "color_type": 0}
    assert np.array_equal(decode_png(data), grey)
    rgb = np.random.default_rng(0).integers(0, 256, (3, 7, 3)).astype(np.uint8)
    data = png_bytes(rgb)
    assert png_header(data)["color_type"] == 2
    assert np.array_equal(decode_png(data), rgb)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8),
                                 np.zeros((0, 3), np.uint8)])
def test_png_rejects_what_it_cannot_write(bad):
    with pytest.raises(ValueError):
        png_bytes(bad)


def test_png_header_rejects_other_files(tmp_path):
    with pytest.raises(ValueError, match="not a PNG"):
        png_header(b"GIF89a" + bytes(40))
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes(np.zeros((2, 2), np.uint8))[:20])
    with pytest.raises(ValueError, match="not a PNG"):
        png_header(path)


def test_values_are_mapped_from_the_data_range():
    assert list(to_uint8(np.array([-1.0, 0.0, 1.0, 3.0]), (-1.0, 1.0))) == [0, 128, 255, 255]
    assert list(to_uint8(np.array([2.0, 4.0, np.nan]))) == [0, 255, 0]  # own range; NaN black
    assert list(to_uint8(np.array([5.0, 5.0]))) == [128, 128]  # flat


def test_display_plane_middle_slice_and_channels():
    volume = np.zeros((4, 4, 5, 1), np.float32)
    volume[:, :, 2] = 7.0
    assert display_plane(volume).shape == (4, 4) and np.all(display_plane(volume) == 7.0)
    assert display_plane(np.ones((4, 4, 3))).shape == (4, 4, 3)
    two = np.stack([np.zeros((4, 4)), np.ones((4, 4))], axis=-1)
    assert np.all(display_plane(two) == 0.0)  # first channel


def test_preview_sheet_layout(tmp_path):
    a, b = np.zeros((8, 8, 1)), np.ones((8, 8, 1))
    sheet = compose([[a, b, a], [b, a, b]], ranges=(0.0, 1.0), scale=2, gap=2)
    assert sheet.shape == (2 * 16 + 2, 3 * 16 + 2 * 2)
    assert sheet[0, 0] == 0 and sheet[0, 18] == 255 and sheet[16, 0] == 255  # panel, panel, gap
    assert sheet[18, 0] == 255 and sheet[18, 18] == 0
    path = write_preview(tmp_path / "sub" / "p.png", [[a, b, a]])  # default scale 64 // 8 = 8
    assert png_header(path)["width"] == 3 * 64 + 2 * 2 and png_header(path)["height"] == 64
    per_image = compose([[np.full((2, 2), 3.0), np.full((2, 2), 5.0)]], ranges=[[(0.0, 6.0), None]], gap=0)
    assert per_image[0, 0] == 128 and per_image[0, 2] == 128  # (0, 6) maps 3 to 128; flat own range


# -- datasets ---------------------------------------------------------------------------------------
def write_samples(path: Path, values: dict) -> str:
    with h5py.File(path, "w") as handle:
        for name, array in values.items():
            handle.create_dataset(name, data=array)
    return str(path)


def gan_typed_config(data: dict, loss: str = "cyclegan", size: int = 8, **sections) -> dict:
    conv = "Convolution 2D:1:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.0:0.0"
    config = {
        "config_file": {"model_signal": "GAN", "type_signal": "Train", "input_shape": [size, size, 1]},
        "paths": data,
        "preprocessing": {"normalization_type": "none"},
        "augmentation": {"random_seed": 5},
        "loss_function": {"loss": loss, "parameter1": 10.0, "parameter2": 1.0},
        "training_configurations": {"hardware": "cpu", "batch_size": 4, "epochs": 2, "validation_split": 0.0},
        "layers": {"generator_layer_list": [f"Input:({size}, {size}, 1)", conv],
                   "discriminator_layer_list": [f"Input:({size}, {size}, 1)", conv]},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    return config


@pytest.fixture
def identified(tmp_path):
    """12 samples whose X is filled with its index and y with 100 + its index."""
    names = [str(i) for i in range(12)]
    x = write_samples(tmp_path / "x.h5", {n: np.full((8, 8), float(n), np.float32) for n in names})
    y = write_samples(tmp_path / "y.h5", {n: np.full((8, 8), 100.0 + float(n), np.float32) for n in names})
    return {"train_X": x, "train_y": y}


def planned(registry, raw: dict):
    config = parse_config(raw, registry)
    return config, plan_model(config, registry)


def test_unpaired_orders_are_independent_seeded_permutations(registry, identified):
    config, plan = planned(registry, gan_typed_config(identified))
    data = gan_data(config, plan, registry)
    samples = data.train
    assert isinstance(samples, UnpairedSamples) and len(samples) == 12
    seen = []
    for epoch in range(3):
        samples.set_epoch(epoch)
        x_order, y_order = samples.epoch_orders(epoch)
        assert sorted(x_order) == list(range(12)) and sorted(y_order) == list(range(12))
        assert not np.array_equal(x_order, y_order)
        seen.append((tuple(x_order), tuple(y_order)))
        for i in range(12):
            item = samples[i]
            x_name, y_name = samples.names(i)
            assert np.all(item["x"] == float(x_name)) and np.all(item["y"] == 100.0 + float(y_name))
            assert item["x"].shape == item["y"].shape == (8, 8, 1)
    assert len(set(seen)) == 3  # a new pairing every epoch
    again = gan_data(config, plan, registry).train  # same seed, same orders
    again.set_epoch(1)
    assert (tuple(again.x_order), tuple(again.y_order)) == seen[1]
    other, _ = planned(registry, gan_typed_config(identified, augmentation={"random_seed": 6}))
    different = gan_data(other, plan, registry).train
    assert tuple(different.y_order) != seen[0][1]


def test_unpaired_without_shuffle_keeps_x_order_but_still_unpairs(registry, identified):
    config, plan = planned(registry, gan_typed_config(
        identified, training_configurations={"shuffle_data_switch": False}, augmentation={"rounds": 2}))
    samples = gan_data(config, plan, registry).train
    x_order, y_order = samples.epoch_orders(0)
    assert list(x_order) == list(range(12)) * 2
    assert sorted(y_order[:12]) == list(range(12)) and list(y_order[:12]) != list(range(12))


def test_unpaired_augmentation_is_per_domain_and_geometry_only_for_y(registry, tmp_path):
    ramp = np.tile(np.arange(8, dtype=np.float32), (8, 1))
    names = [str(i) for i in range(4)]
    data = {"train_X": write_samples(tmp_path / "x.h5", {n: ramp for n in names}),
            "train_y": write_samples(tmp_path / "y.h5", {n: ramp for n in names})}
    config, plan = planned(registry, gan_typed_config(data, augmentation={
        "apply_augmentation_switch": True, "horizontal_flip_switch": True, "vertical_flip_switch": False,
        "brightness_range": (2.0, 2.0)}))
    samples = gan_data(config, plan, registry).train
    flips = []
    for i in range(4):
        item, (px, py) = samples[i], samples.params(i)
        assert np.allclose(item["x"][..., 0], 2.0 * (ramp[:, ::-1] if px.hflip else ramp))  # brightness on X
        assert np.allclose(item["y"][..., 0], ramp[:, ::-1] if py.hflip else ramp)  # never on y
        flips.append((px.hflip, py.hflip))
    assert any(a != b for a, b in flips)  # independent draws


def test_paired_samples_share_one_geometry(registry, tmp_path):
    rng = np.random.default_rng(0)
    xs = {str(i): rng.random((8, 8)).astype(np.float32) for i in range(6)}
    data = {"train_X": write_samples(tmp_path / "x.h5", xs),
            "train_y": write_samples(tmp_path / "y.h5", {n: 2 * v for n, v in xs.items()})}
    config, plan = planned(registry, gan_typed_config(data, loss="pix2pix", augmentation={
        "apply_augmentation_switch": True, "rotation_range": 20, "horizontal_flip_switch": True}))
    samples = gan_data(config, plan, registry).train
    assert isinstance(samples, PairedSamples)
    for i in range(6):
        item = samples[i]
        assert np.allclose(item["y"], 2 * item["x"], atol=1e-5)
        assert not np.allclose(item["x"][..., 0], xs[samples.name(i)])  # really augmented


def test_xy_normalization_of_both_domains(registry, identified):
    config, plan = planned(registry, gan_typed_config(identified, preprocessing={
        "normalization_type": "global_unity_xy", "minimum_image_intensity": "0.0, 100.0",
        "maximum_image_intensity": "10.0, 120.0"}))
    samples = gan_data(config, plan, registry).train
    x_name, y_name = samples.names(0)
    item = samples[0]
    assert np.allclose(item["x"], float(x_name) / 10.0) and np.allclose(item["y"], float(y_name) / 20.0)


# -- planned outputs ---------------------------------------------------------------------------------
def save_section(out: Path, *, checkpoints: bool = True, frequency: int = 1) -> dict:
    return {"save_model_switch": True, "save_model_path": str(out / "models" / "gen.pt"),
            "save_csv_switch": True, "save_csv_path": str(out / "history.csv"),
            "save_checkpoints_switch": checkpoints, "save_checkpoints_path": str(out / "ckpt" / "g.pt"),
            "save_checkpoints_frequency": frequency}


def test_output_names(registry, identified, tmp_path):
    out = tmp_path / "out"
    config, _ = planned(registry, gan_typed_config(identified, save_configurations=save_section(out)))
    assert gan_loop.final_generator_paths(config) == {"generator1": out / "models" / "gen_generator1.pt",
                                                      "generator2": out / "models" / "gen_generator2.pt"}
    assert gan_loop.checkpoint_path(config, 3, "generator2") == out / "ckpt" / "epoch_3_checkpoint_generator2_g.pt"
    assert gan_loop.preview_path(config, 0) == out / "models" / "previews" / "epoch_0.png"
    pix, _ = planned(registry, gan_typed_config(identified, loss="pix2pix",
                                                save_configurations=save_section(out, frequency=2)))
    assert gan_loop.final_generator_paths(pix) == {"generator": out / "models" / "gen.pt"}
    assert gan_loop.checkpoint_path(pix, 0, "generator") is None
    assert gan_loop.checkpoint_path(pix, 1, "generator") == out / "ckpt" / "epoch_1_checkpoint_generator_g.pt"
    paths = [str(p.relative_to(out)) for _, p in gan_loop.planned_outputs(pix, has_validation=True)]
    assert paths == ["models/gen.pt", "history.csv", "models/previews/epoch_0.png",
                     "ckpt/epoch_1_checkpoint_generator_g.pt", "models/previews/epoch_1.png"]
    bare, _ = planned(registry, gan_typed_config(identified, loss="pix2pix"))
    assert gan_loop.preview_path(bare, 2) == Path("previews") / "epoch_2.png"
    (out / "ckpt").mkdir(parents=True)
    (out / "ckpt" / "epoch_1_checkpoint_generator_g.pt").write_bytes(b"")
    with pytest.raises(OutputExistsError, match="epoch_1_checkpoint_generator_g.pt"):
        gan_loop.refuse_existing_outputs(pix, overwrite=False, has_validation=False)
    gan_loop.refuse_existing_outputs(pix, overwrite=True, has_validation=False)


def test_checkpoint_sessions_are_refused(registry, identified, tmp_path):
    config, _ = planned(registry, gan_typed_config(identified, paths={"load_checkpoint": str(tmp_path / "c.pt")}))
    with pytest.raises(BackendError, match="checkpoint"):
        gan_loop.check_gan_session(config)


# -- the loop -----------------------------------------------------------------------------------------
class FakeEngine:
    """Deterministic stand-in: losses follow the batch contents, generators add 1."""

    def __init__(self, variant: str, fail_at: int | None = None):
        self.variant, self.fail_at = variant, fail_at
        self.rates, self.saved, self.calls = [], [], 0

    def set_learning_rates(self, discriminator, generator):
        self.rates.append((discriminator, generator))

    def batch_size(self, batch):
        return len(batch["x"])

    def discriminator_step(self, batch):
        value = float(np.mean(batch["x"]))
        if self.variant == "pix2pix":
            return {"d_loss": value, "d_real": 2 * value, "d_fake": 0.0, "d_acc": 0.5}
        return {"d_loss": value, "d_acc": 0.5}

    def generator_step(self, batch):
        self.calls += 1
        value = math.nan if self.calls == self.fail_at else float(np.mean(batch["x"])) * 10
        if self.variant == "pix2pix":
            return {"g_loss": value, "g_adv": 1.0, "g_l1": value / 10}
        return {"g_loss": value, "g_adv": 1.0, "g_cycle": value / 10, "g_identity": 0.25}

    def generate(self, role, x):
        return np.asarray(x) + 1.0

    def save_generator(self, role, path, state):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(role)
        self.saved.append((role, Path(path).name, state["epoch"], state["direction"]))


class Validation:
    def __init__(self, count: int):
        self.items = [{"x": np.full((8, 8, 1), i, np.float32), "y": np.full((8, 8, 1), -i, np.float32)}
                      for i in range(count)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def batches_of(sizes: list[int], value_of_batch) -> list[dict]:
    return [{"x": np.full((n, 1), value_of_batch(i), np.float32)} for i, n in enumerate(sizes)]


@pytest.mark.parametrize("variant", ["pix2pix", "cyclegan"])
def test_loop_epoch_means_files_and_rates(registry, identified, tmp_path, variant):
    out = tmp_path / "out"
    raw = gan_typed_config(identified, loss=variant, save_configurations=save_section(out),
                           learning_rate_schedule={"discriminator_learning_rate": "0.01:0.5",
                                                   "gan_learning_rate": "0.002:0.0"},
                           training_configurations={"epochs": 2})
    config, _ = planned(registry, raw)
    engine = FakeEngine(variant)
    batches = batches_of([4, 4, 1], lambda i: i + 1)  # a partial final batch of 1
    result = gan_loop.GanLoop(config, engine, Validation(5), quiet=True).run(batches)
    # weighted means over samples, not the last batch: (4*1 + 4*2 + 1*3) / 9
    mean = (4 * 1 + 4 * 2 + 1 * 3) / 9
    history = read_history(out / "history.csv")
    columns = gan_loop.PIX2PIX_COLUMNS if variant == "pix2pix" else gan_loop.CYCLEGAN_COLUMNS
    assert list(history[0]) == ["epoch", *columns]
    assert [row["epoch"] for row in history] == [0, 1]
    assert history[0]["d_loss"] == pytest.approx(mean) and history[1]["g_loss"] == pytest.approx(10 * mean)
    assert result.history[0]["d_acc"] == 0.5 and result.last_epoch == 1
    # inverse-time decay per update for the discriminator, none for the generator
    assert engine.rates[:3] == [(0.01, 0.002), (0.01 / 1.5, 0.002), (0.01 / 2.0, 0.002)]
    assert len(engine.rates) == 6
    roles = gan_loop.ROLES[variant]
    expected = [(role, f"epoch_{e}_checkpoint_{role}_g.pt", e, gan_loop.DIRECTIONS[role])
                for e in range(2) for role in roles]
    expected += [(role, gan_loop.final_generator_paths(config)[role].name, 1, gan_loop.DIRECTIONS[role])
                 for role in roles]
    assert engine.saved == expected
    for epoch in range(2):
        header = png_header(out / "models" / "previews" / f"epoch_{epoch}.png")
        rows = 3 if variant == "pix2pix" else 6
        assert (header["width"], header["height"]) == (3 * 64 + 4, rows * 64 + (rows - 1) * 2)


def test_loop_previews_show_source_generated_target(registry, identified, tmp_path):
    out = tmp_path / "out"
    config, _ = planned(registry, gan_typed_config(identified, loss="pix2pix", save_configurations=save_section(out),
                                                   training_configurations={"epochs": 1}))
    gan_loop.GanLoop(config, FakeEngine("pix2pix"), Validation(2), quiet=True).run(batches_of([2], lambda i: 1))
    sheet = decode_png((out / "models" / "previews" / "epoch_0.png").read_bytes())
    # normalization none: the X domain spans 0..1 (samples 0 and 1), y spans -1..0
    assert sheet.shape == (2 * 64 + 2, 3 * 64 + 4)
    row2 = sheet[66 + 10]
    assert (row2[10], row2[66 + 10], row2[132 + 10]) == (255, 255, 0)  # x = 1, G(x) = 2 clipped, y = -1


def test_loop_stops_on_non_finite_losses(registry, identified, tmp_path):
    config, _ = planned(registry, gan_typed_config(identified, loss="pix2pix"))
    with pytest.raises(BackendError, match="non-finite in epoch 1"):
        gan_loop.GanLoop(config, FakeEngine("pix2pix", fail_at=2), None, quiet=True).run(
            batches_of([2, 2], lambda i: 1))


def test_preprocessor_of_the_generator(registry, identified):
    config, plan = planned(registry, gan_typed_config(identified, loss="pix2pix"))
    pre = Preprocessor(config, plan, registry)
    assert pre.input_shape == (8, 8, 1) and pre.output_shape == (8, 8, 1) and pre.target_kind == "dense"
    split = DataSplit(identified["train_X"], identified["train_y"], ["3"])
    assert pre.read_y(split, "3").shape == (8, 8, 1)


def test_roles_and_the_real_threshold_follow_the_variant_and_objective():
    from dlae_core.techniques.gan.loop import DISCRIMINATOR_ROLES, ROLES, real_threshold

    assert ROLES["pix2pix"] == ("generator",) and DISCRIMINATOR_ROLES["pix2pix"] == ("discriminator",)
    assert ROLES["cyclegan"] == ("generator1", "generator2")
    assert DISCRIMINATOR_ROLES["cyclegan"] == ("discriminator1", "discriminator2")
    assert real_threshold("least_squares") == 0.5  # targets 0 / 1
    assert real_threshold("log") == 0.0  # logits
