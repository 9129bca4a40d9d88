"""``dlae prebuilt``: every catalog entry, generated for several input shapes, writes a config that
``dlae validate`` accepts and whose graph has the output the technique needs; the CLI's errors are one
line each; the non-pretrained entries train a step on the torch backend (skipped without torch)."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from dlae_core.cli.main import cli
from dlae_core.config.parser import load_config
from dlae_core.layers.networks import network_shapes
from dlae_core.planning.plan import plan_model
from dlae_core.prebuilt import DATA_FILES, ENTRIES, PrebuiltError, generate
from dlae_core.prebuilt.encoders import ENCODERS, VGG

pytestmark = pytest.mark.usefixtures("fresh_default_registry")

WIDE = {"COLUMNS": "250"}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=WIDE)


def shape_text(shape: tuple) -> str:
    return str(tuple(shape))


def write(tmp_path, name: str, shape: tuple | None = None, classes: int | None = None, *extra) -> object:
    path = tmp_path / name / "config.json"
    args = ["prebuilt", "new", name, "-o", path]
    if shape is not None:
        args += ["--input-shape", shape_text(shape)]
    if classes is not None:
        args += ["--classes", classes]
    result = invoke(*args, *extra)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {path} ({name}: ")
    return path


def check_outputs(name: str, path, shape: tuple, classes: int | None, registry) -> None:
    """`dlae validate` accepts the config and its graph has the output the technique needs."""
    validated = invoke("validate", "--skip-data", path)
    assert validated.exit_code == 0, validated.output
    entry = ENTRIES[name]
    config = load_config(path, registry)
    assert tuple(config.config_file.input_shape) == shape
    plan = plan_model(config, registry)
    graph = plan.main
    assert graph.input_shapes[0] == shape
    if entry.technique == "CNN":
        assert graph.output_shape == (classes,)
        assert config.preprocessing.categories == classes
    elif entry.technique == "FCN":
        assert graph.output_shape == shape[:-1] + (classes,)
        assert config.preprocessing.categories == classes
    elif entry.technique == "GAN":
        assert plan.graphs["generator"].output_shape == shape
        assert plan.graphs["discriminator"].input_shapes[0] == shape
        assert config.loss_function.loss == name
    else:  # BBD
        assert config.bbd_options.number_classes == classes
        hooks = [tuple(s[:2]) for s in graph.hook_shapes()]
        assert len(config.bbd_options.aspect_ratios) == len(hooks)
        if entry.encoder:
            assert hooks == [tuple(t[:2]) for t in network_shapes(entry.encoder, shape, False)[1]]
        else:
            assert hooks[0] == tuple(n // 8 for n in shape[:2])  # conv4_3
            assert hooks[-1] == (1, 1) or len(hooks) < 7
    if entry.encoder:
        assert config.layers.serial_layer_list[1].type == entry.encoder
    config_json = json.loads(path.read_text())
    assert config_json["paths"]["train_X"] == DATA_FILES["train_X"]
    assert config_json["save_configurations"]["save_model_path"].startswith("out/")


def cases() -> list:
    out = []
    for name, entry in ENTRIES.items():
        shapes = [(32, 32, 32, 1), (17, 40, 23, 2)] if entry.rank == 3 else [(224, 224, 3), (256, 256, 1)]
        out += [pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}") for shape in shapes]
    return out


@pytest.mark.parametrize(("name", "shape"), cases())
def test_every_entry_writes_a_valid_config_with_the_right_output(tmp_path, registry, name, shape):
    classes = None if ENTRIES[name].technique == "GAN" else 3
    path = write(tmp_path, name, shape, classes)
    check_outputs(name, path, shape, classes, registry)


@pytest.mark.parametrize("name", [n for n, e in ENTRIES.items() if e.technique in ("FCN", "GAN") and e.rank == 2])
def test_decoders_meet_their_skips_at_odd_non_square_sizes(tmp_path, registry, name):
    """Sizes no power of two divides: every decoder stage is padded or cropped onto its skip."""
    shape = (75, 97, 2)  # 75 is InceptionV3's smallest input
    classes = None if ENTRIES[name].technique == "GAN" else 4
    check_outputs(name, write(tmp_path, name, shape, classes), shape, classes, registry)


def test_defaults_and_the_smallest_inputs_build(registry):
    from dlae_core.config.parser import parse_config
    from dlae_core.prebuilt import build_config, minimum_size

    for name, entry in ENTRIES.items():
        model = generate(name)
        assert model.input_shape == entry.default_shape and model.weights == "none"
        low = minimum_size(entry)
        small = generate(name, (low,) * entry.rank + (1,))
        plan = plan_model(parse_config(build_config(small), registry), registry)
        if entry.technique == "FCN":
            assert plan.main.output_shape[:-1] == (low,) * entry.rank
        if low > 1:
            with pytest.raises(PrebuiltError, match=f"of at least {low}"):
                generate(name, (low - 1,) * entry.rank + (1,))


def test_the_layer_lists_at_512_are_the_originals(original_dir):
    """At the originals' own sizes the generated lists are the original prebuilt configs' lists, except:
    the l1/l2 fields of convolutions without a regularizer (no effect) are written 0.0, DenseNet169's U-Net
    merges tap #1 where DenseNet121/201 do (the original's merges a 256 map with a 512 one and cannot be built),
    and AlexNet ends in a softmax (the original's ends in a linear Dense under a cross-entropy loss)."""
    def normal(text: str) -> str:
        fields = text.split(":")
        if fields[0].startswith(("Convolution", "Resize convolution")) and fields[-4] == "None":
            fields[-2:] = ["0", "0"]
        return ":".join(fields)

    for name, entry in ENTRIES.items():
        original = json.loads((original_dir / "prebuilt_configs" / f"{name}.json").read_text())
        shape = tuple(int(v) for v in original["config_file"]["input_shape"].strip("()").split(","))
        classes = {"CNN": 1000, "FCN": 2, "BBD": 1, "GAN": None}[entry.technique]
        model = generate(name, shape, 10 if name == "lenet5" else classes)
        for list_name, layers in model.layers.items():
            want = [normal(t) for t in original["layers"][list_name]]
            got = [normal(t) for t in layers]
            if name == "densenet169_unet":
                target = "Outer skip target:concatenate"
                want.insert(55, want.pop(61))  # where DenseNet121's U-Net merges tap #1
                assert want.index(target, 50) == 55
            if name == "alexnet":
                want.append("Activation:softmax")
            assert got == want, name


def test_encoder_unets_merge_the_five_taps(registry):
    for encoder in ENCODERS:
        for shape in ((224, 224, 3), (97, 130, 1)):
            model = generate(encoder.lower() + "_unet", shape, 2)
            layers = model.layers["serial_layer_list"]
            assert layers[1] == f"{encoder}:False:none:{shape_text(shape)}:True:False"
            assert sum(t.startswith("Outer skip target") for t in layers) == 5
            taps = network_shapes(encoder, shape, False)[1]
            if encoder not in VGG:
                assert [t[:2] for t in taps] == [tuple(math.ceil(n / 2 ** k) for n in shape[:2]) for k in range(1, 6)]


def test_new_refuses_to_overwrite(tmp_path):
    path = write(tmp_path, "lenet5")
    before = path.read_bytes()
    again = invoke("prebuilt", "new", "unet2d", "-o", path)
    assert again.exit_code == 2
    assert again.stderr.strip().splitlines() == [
        f"error: output {str(path)!r} already exists; pass --overwrite to replace it or choose another path"]
    assert path.read_bytes() == before
    replaced = invoke("prebuilt", "new", "unet2d", "-o", path, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(path.read_text())["config_file"]["model_signal"] == "FCN"


def test_the_output_line_names_the_data_files(tmp_path):
    path = tmp_path / "exp" / "config.json"
    result = invoke("prebuilt", "new", "resnet50_unet", "-o", path, "--input-shape", "(256, 256, 1)", "--classes", 3)
    assert result.exit_code == 0, result.output
    line, = result.stdout.strip().splitlines()
    assert "resnet50_unet: FCN, input (256, 256, 1), 3 classes" in line
    for name in ("train_X.h5", "train_y.h5", "validation_X.h5", "validation_y.h5", "test_X.h5"):
        assert name in line
    assert str(tmp_path / "exp" / "data") in line and line.endswith(f"dlae run --backend torch {path}")


def test_unknown_name_suggests_the_closest(tmp_path):
    for command in (["show", "resnt50"], ["new", "resnt50", "-o", tmp_path / "c.json"]):
        result = invoke("prebuilt", *command)
        assert result.exit_code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        assert "unknown prebuilt model" in lines[0] and lines[0].endswith("Did you mean 'resnet50'?")
    assert not (tmp_path / "c.json").exists()


@pytest.mark.parametrize(("name", "shape", "low"), [
    ("resnet50_unet", (16, 16, 1), 32), ("inceptionv3", (64, 128, 3), 75), ("xception_ssd", (70, 70, 3), 71),
    ("alexnet", (100, 300, 1), 215), ("unet2d", (15, 64, 1), 16), ("unet3d", (32, 32, 8, 1), 16),
    ("ssd", (32, 32, 1), 48), ("lenet5", (7, 7, 1), 8)])
def test_too_small_inputs_name_the_smallest_size(tmp_path, name, shape, low):
    result = invoke("prebuilt", "new", name, "-o", tmp_path / "c.json", "--input-shape", shape_text(shape))
    assert result.exit_code == 2
    line, = result.stderr.strip().splitlines()
    assert line.startswith(f"error: --input-shape: {name} needs ") and f"of at least {low}" in line
    assert f"Received: {shape_text(shape)}." in line
    if ENTRIES[name].encoder:
        assert f"{ENTRIES[name].encoder}'s smallest input" in line
    assert not (tmp_path / "c.json").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["unet3d", "--input-shape", "(64, 64, 1)"], "unet3d takes a 3D input"),
    (["resnet50", "--input-shape", "(64, 64)"], "invalid input shape"),
    (["resnet50", "--input-shape", "big"], "invalid input shape"),
    (["resnet50", "--classes", "1"], "needs at least 2 classes"),
    (["ssd", "--classes", "0"], "needs at least 1 object classes"),
    (["cyclegan", "--classes", "3"], "keep the input's channels"),
    (["lenet5", "--weights", "imagenet"], "has no pretrained encoder"),
    (["resnet50", "--weights", "imagenett"], "Did you mean 'imagenet'?"),
])
def test_bad_options_are_one_line(tmp_path, args, message):
    result = invoke("prebuilt", "new", args[0], "-o", tmp_path / "c.json", *args[1:])
    assert result.exit_code == 2
    line, = result.stderr.strip().splitlines()
    assert line.startswith("error: --") and message in line


def test_imagenet_weights_are_written_as_asked(tmp_path):
    path = write(tmp_path, "resnet50", (224, 224, 3), 5, "--weights", "imagenet")
    layers = json.loads(path.read_text())["layers"]["serial_layer_list"]
    assert layers[1] == "ResNet50:False:imagenet:(224, 224, 3):False:False"
    one = write(tmp_path, "densenet121_unet", (128, 128, 1), 2, "--weights", "imagenet")
    assert json.loads(one.read_text())["layers"]["serial_layer_list"][1] == \
        "DenseNet121:False:imagenet:(128, 128, 1):True:False"  # the user's channels are kept
    for config in (path, one):  # the encoder's first kernel is adapted to other channel counts
        assert invoke("validate", "--skip-data", config).exit_code == 0


def test_list_shows_every_entry():
    result = invoke("prebuilt", "list")
    assert result.exit_code == 0, result.output
    assert len(ENTRIES) == 3 * len(ENCODERS) + 7 == 61
    rows = {line.split("│")[1].strip() for line in result.stdout.splitlines() if line.startswith("│")}
    assert rows == set(ENTRIES)
    for extra in ("unet2d", "unet3d", "lenet5", "alexnet", "ssd", "pix2pix", "cyclegan"):
        assert extra in rows
    for encoder in ENCODERS:
        assert {encoder.lower(), encoder.lower() + "_unet", encoder.lower() + "_ssd"} <= rows


def test_show_prints_the_settings_and_the_layer_list():
    result = invoke("prebuilt", "show", "resnet50_unet", "--input-shape", "(224, 224, 3)", "--classes", "3")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("resnet50_unet: U-Net")
    assert "sparse_categorical_crossentropy" in text and "model -> (224, 224, 3)" in text
    model = generate("resnet50_unet", (224, 224, 3), 3)
    layers = model.layers["serial_layer_list"]
    assert f"serial_layer_list ({len(layers)} layers):" in text
    assert all(layer in text for layer in layers)
    ssd = invoke("prebuilt", "show", "ssd")
    assert ssd.exit_code == 0 and "predictor maps 64x64, 30x30, 15x15, 8x8, 4x4, 2x2, 1x1" in ssd.stdout


# ------------------------------------------------------------------ a training step on torch

@pytest.mark.parametrize(("name", "kind", "shape", "classes"), [
    ("lenet5", "classification", (16, 16, 1), 3), ("unet2d", "segmentation", (16, 16, 1), 3),
    ("ssd", "detection", (48, 48, 1), 2)])
def test_plain_entries_train_a_step_on_torch(tmp_path, name, kind, shape, classes):
    pytest.importorskip("torch")
    from dlae_core.data.synthetic import write_example_data

    path = write(tmp_path, name, shape, classes)
    folder = path.parent
    written = write_example_data(tmp_path / "generated", kind, n=4, size=shape[0], seed=0)
    for key, relative in DATA_FILES.items():  # the placeholder names the config expects
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        written[key].rename(target)
    raw = json.loads(path.read_text())
    raw["training_configurations"].update(epochs=1, batch_size=4, hardware="cpu")
    path.write_text(json.dumps(raw))
    assert invoke("validate", path).exit_code == 0  # with the data checks
    result = invoke("run", "--backend", "torch", path, "--quiet", "--workers", 0)
    assert result.exit_code == 0, result.output
    assert (folder / "out" / "model.pt").is_file()
    history = (folder / "out" / "history.csv").read_text().strip().splitlines()
    assert len(history) == 2  # header and the one epoch
