"""Prebuilt configs on both backends: a fast sample of ``benchmarks/pretrained_configs.py`` (which runs every
original and every catalog entry). Each config is reduced to a small input, gets generated data of its kind
and trains one step on torch and on tensorflow; ``dlae check`` builds two catalog entries on both with the
same weights and its counts equal ``dlae inspect``'s. The originals are skipped where ../shared/dlae-original
is absent (a user's clone)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
pytest.importorskip("torch")
pytest.importorskip("tensorflow")

from click.testing import CliRunner  # noqa: E402

from dlae_core.cli.main import cli  # noqa: E402

pytestmark = pytest.mark.usefixtures("fresh_default_registry")

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "pretrained_configs.py"
BACKENDS = ("torch", "tensorflow")
SAMPLES = 2  # training samples = batch size: one step
SETTINGS = argparse.Namespace(size=64, size_3d=16, samples=SAMPLES)


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("pretrained_configs", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], env={"COLUMNS": "250"})


def train_one_step(config: Path, backend: str) -> None:
    """``dlae run`` succeeds, writes the model and one history row with a finite loss."""
    result = invoke("run", "--backend", backend, config, "--overwrite", "--quiet", "--workers", 0)
    assert result.exit_code == 0, result.output
    out = config.parent / "out"
    assert (out / "model.pt").is_file() and (out / "model.pt").stat().st_size > 0
    header, *rows = (out / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 1, rows
    loss = float(rows[0].split(",")[header.split(",").index("loss")])
    assert math.isfinite(loss)


# ------------------------------------------------------------------ originals, reduced to 64x64

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "technique"), [("resnet50_unet", "FCN"), ("mobilenet_ssd", "BBD")])
def test_original_trains_a_step_at_a_reduced_size(bench, original_dir, tmp_path, name, technique, backend):
    raw = json.loads((original_dir / "prebuilt_configs" / f"{name}.json").read_text())
    reduced, shape, note = bench.reduce_original(raw, SETTINGS)
    assert shape == (64, 64, 1) and note == ""  # 64 is the smallest candidate size, and it builds
    layers = reduced["layers"]["serial_layer_list"]
    assert layers[0] == "Input:(64, 64, 1)"
    assert layers[1].split(":")[2:4] == ["none", "(64, 64, 1)"]  # no download; the network's own input
    assert reduced["config_file"]["input_shape"] == "(64, 64, 1)"
    assert layers[2:] == raw["layers"]["serial_layer_list"][2:]  # the head or decoder is the original's
    if technique == "BBD":  # anchor steps scaled with the image: 512 -> 64
        assert reduced["bbd_options"]["steps"] == "(4, 8, 16, 32, 64)"
    case = bench.Case("original", name)
    config = bench.write_case(case, reduced, tmp_path, SETTINGS, typed=False)
    assert config is not None, case.prepare_error
    assert json.loads(config.read_text())["training_configurations"]["batch_size"] == str(SAMPLES)
    train_one_step(config, backend)


def test_the_broken_original_unet_is_one_clean_line(bench, original_dir, tmp_path):
    """The original densenet169_unet merges a 256 map with a 512 one: one error line, exit 2, at its own
    size and at the reduced one, on both backends."""
    path = original_dir / "prebuilt_configs" / f"{bench.BROKEN}.json"
    reduced = bench.resized(json.loads(path.read_text()), (64, 64))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(reduced))
    for args, sizes in ((["validate", "--skip-data", path], ("(256, 256, 64)", "(512, 512, 64)")),
                        *[(["run", "--backend", b, config, "--quiet"], ("(32, 32, 64)", "(64, 64, 64)"))
                          for b in BACKENDS]):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        line, = result.stderr.strip().splitlines()
        assert line.startswith("error: layers.serial_layer_list[61]: cannot merge the skip from conv1_relu")
        assert bench.BROKEN_MESSAGE in line and all(size in line for size in sizes)


# ------------------------------------------------------------------ catalog entries

def catalog_config(bench, tmp_path, name: str, shape: tuple, classes: int) -> Path:
    generated = tmp_path / "prebuilt.json"
    result = invoke("prebuilt", "new", name, "-o", generated, "--input-shape", bench.shape_text(shape),
                    "--classes", classes, "--weights", "none")
    assert result.exit_code == 0, result.output
    config = bench.write_case(bench.Case("catalog", name), json.loads(generated.read_text()), tmp_path, SETTINGS,
                              typed=True)
    assert config is not None
    return config


@pytest.mark.parametrize("backend", BACKENDS)
def test_catalog_classifier_trains_a_step(bench, tmp_path, backend):
    config = catalog_config(bench, tmp_path, "mobilenetv2", (32, 32, 1), 3)
    train_one_step(config, backend)


@pytest.mark.parametrize(("name", "shape", "classes"), [
    ("mobilenet_unet", (40, 40, 1), 3),  # 40: the decoder pads/crops onto taps of 20, 10, 5, 3, 2
    ("mobilenetv2_ssd", (32, 32, 1), 2)])
def test_check_agrees_on_both_backends_and_with_inspect(bench, tmp_path, name, shape, classes):
    config = catalog_config(bench, tmp_path, name, shape, classes)
    result = invoke("check", config, "--backends", "torch,tensorflow")
    assert result.exit_code == 0, result.output
    assert "parity ok: torch and tensorflow agree within 0.0001" in result.stdout
    rows = bench.parse_check(result.stdout)
    assert len(rows) == 1 and rows[0]["result"] == "ok"
    torch_counts, tf_counts = (bench.counts(text) for text in rows[0]["backends"])
    inspected = invoke("inspect", "--json", config)
    assert inspected.exit_code == 0, inspected.output
    report = json.loads(inspected.stdout)
    core = (report["trainable_params"], report["non_trainable_params"])
    assert torch_counts == tf_counts == core == bench.counts(rows[0]["expected"])
    assert core[0] > 1_000_000  # the whole encoder is counted, not only the head
    results = {cells[1]: cells[-2] for cells in (line.split("│") for line in result.stdout.splitlines())
               if len(cells) > 6 for cells in [[c.strip() for c in cells]]}
    for check in ("parameters", "output shape", "outputs", "loss"):
        assert results.get(check) == "ok", (check, result.stdout)
