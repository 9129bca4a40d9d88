"""Every config shipped with the original DLAE (../shared/dlae-original) validates, converts to the typed
form and back without loss, and gives the known parameter totals. Skipped where the folder is absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner


from dlae_core.cli.main import cli
from dlae_core.config.parser import load_config, parse_config
from dlae_core.errors import ConfigError
from dlae_core.planning.plan import plan_model

ORIGINAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "dlae-original"
BROKEN = "prebuilt_configs/densenet169_unet.json"


def _files() -> list:
    if not ORIGINAL_DIR.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason="../shared/dlae-original is not present"),
                             id="no-original-dir")]
    found = sorted(ORIGINAL_DIR.glob("configs/*.json")) + sorted(ORIGINAL_DIR.glob("prebuilt_configs/*.json"))
    return [pytest.param(p.relative_to(ORIGINAL_DIR).as_posix(), id=p.relative_to(ORIGINAL_DIR).as_posix())
            for p in found]


FILES = _files()


def test_the_original_folder_has_all_its_configs(original_dir):
    assert len(list(original_dir.glob("configs/*.json"))) == 9
    assert len(list(original_dir.glob("prebuilt_configs/*.json"))) == 61


@pytest.mark.parametrize("relative", FILES)
def test_original_config_validates(registry, original_dir, relative):
    config = load_config(original_dir / relative, registry)
    if relative == BROKEN:
        with pytest.raises(ConfigError) as info:
            plan_model(config, registry)
        problems = info.value.problems
        assert len(problems) == 1
        assert problems[0].where == "layers.serial_layer_list[61]"
        line = problems[0].line()
        assert "(256, 256, 64)" in line and "(512, 512, 64)" in line
        assert "concatenate needs equal spatial shapes" in line
        return
    plan = plan_model(config, registry)
    assert plan.technique == config.config_file.model_signal
    for graph in plan.graphs.values():
        assert graph.input_shapes[0] == tuple(config.layers.__getattribute__(graph.list_name)[0]["shape"])


def _cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("relative", FILES)
def test_convert_there_and_back_loses_nothing(registry, original_dir, tmp_path, relative, fresh_default_registry):
    source = original_dir / relative
    typed, legacy, typed_again = tmp_path / "typed.json", tmp_path / "legacy.json", tmp_path / "typed2.json"
    for args, out in (((str(source),), typed), ((str(typed), "--legacy"), legacy), ((str(legacy),), typed_again)):
        result = _cli("convert", *args, "-o", str(out))
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"wrote {out}"
    original = load_config(source, registry)
    assert load_config(typed, registry) == original
    assert load_config(legacy, registry) == original
    assert load_config(typed_again, registry) == original
    # the typed file really is typed, the legacy file really is all strings
    typed_data, legacy_data = json.loads(typed.read_text()), json.loads(legacy.read_text())
    assert isinstance(typed_data["training_configurations"]["batch_size"], int)
    assert isinstance(typed_data["monitors"]["accuracy_switch"], bool)
    assert all(isinstance(entry, dict) for entry in typed_data["layers"]["serial_layer_list"])
    for section, values in legacy_data.items():
        if section != "layers":
            assert all(isinstance(v, str) for v in values.values()), section
    assert all(isinstance(entry, str) for entries in legacy_data["layers"].values() for entry in entries)
    assert json.loads(typed_again.read_text()) == typed_data


def _totals(registry, original_dir, relative):
    plan = plan_model(load_config(original_dir / relative, registry), registry)
    trainable = sum(g.totals()[0] for g in plan.graphs.values())
    frozen = sum(g.totals()[1] for g in plan.graphs.values())
    return plan, trainable, frozen


def test_lenet5_totals(registry, original_dir):
    plan, trainable, frozen = _totals(registry, original_dir, "prebuilt_configs/lenet5.json")
    # conv 5x5x1x6+6 = 156, BN 12 (+12), conv 5x5x6x16+16 = 2416, BN 32 (+32), 784*120+120 = 94200,
    # 120*84+84 = 10164, 84*10+10 = 850
    assert (trainable, frozen) == (107_830, 44)
    assert trainable + frozen == 107_874
    assert [n.output_shape for n in plan.main.nodes if n.op == "layer"][:5] == [
        (28, 28, 6), (28, 28, 6), (28, 28, 6), (14, 14, 6), (14, 14, 16)]
    assert plan.main.output_shape == (10,)


@pytest.mark.parametrize("relative,total", [
    # ImageNet heads on a 1-channel input: the Keras totals minus the first convolution's
    # 3x3 (resp. 7x7) x (3 - 1) x filters weights
    ("prebuilt_configs/densenet121.json", 8_062_504 - 7 * 7 * 2 * 64),
    ("prebuilt_configs/resnet50.json", 25_636_712 - 7 * 7 * 2 * 64),
    ("prebuilt_configs/inceptionv3.json", 23_851_784 - 3 * 3 * 2 * 32),
    ("prebuilt_configs/mobilenetv2.json", 3_538_984 - 3 * 3 * 2 * 32),
    ("prebuilt_configs/xception.json", 22_910_480 - 3 * 3 * 2 * 32),
])
def test_pretrained_classifier_totals(registry, original_dir, relative, total):
    plan, trainable, frozen = _totals(registry, original_dir, relative)
    assert trainable + frozen == total
    assert plan.main.output_shape == (1000,)


def test_gan_and_unet_shapes(registry, original_dir):
    plan, *_ = _totals(registry, original_dir, "prebuilt_configs/unet3d.json")
    assert plan.main.input_shapes == ((128, 128, 64, 1),)
    assert plan.main.output_shape == (128, 128, 64, 2)
    plan, *_ = _totals(registry, original_dir, "prebuilt_configs/cyclegan.json")
    assert plan.graphs["discriminator"].input_shapes == ((512, 512, 1),)
    assert plan.graphs["discriminator"].output_shape == (32, 32, 1)
    plan, *_ = _totals(registry, original_dir, "prebuilt_configs/vgg16_ssd.json")
    assert plan.main.hook_shapes() == ((512, 512, 64), (256, 256, 128), (128, 128, 256), (64, 64, 512),
                                       (32, 32, 512))


def test_fixed_densenet169_unet_validates(registry, original_dir):
    """Moving the misplaced fifth skip target before the last resize convolution fixes the file."""
    raw = json.loads((original_dir / BROKEN).read_text())
    layers = raw["layers"]["serial_layer_list"]
    assert layers[61].startswith("Outer skip target")
    last_resize = max(i for i, s in enumerate(layers[:61]) if s.startswith("Resize convolution 2D"))
    layers.insert(last_resize, layers.pop(61))
    plan = plan_model(parse_config(raw, registry), registry)
    assert plan.main.output_shape == (512, 512, 2)
