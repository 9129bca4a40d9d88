"""Helpers of the backend suite (tests/backends): tiny generated data, typed configs written as JSON,
the ``dlae`` CLI driven in-process through click's CliRunner, and what a test reads back from a
session's files.

Framework-free at import time. Backend interactions go through the public backend object
(``registry.backend(name)``, :class:`dlae_core.running.backend.Backend`) or the core; where the two
frameworks differ in a detail a test checks (tensor types, how an optimizer's state is stored), the
helper says so and is keyed by the backend name.
"""

from __future__ import annotations

import copy
import csv
import json
import traceback
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from dlae_core.cli.main import cli
from dlae_core.data.synthetic import write_example_data

#: The backends every shared test runs on (the ``backend`` fixture), in this order.
BACKENDS = ("torch", "tensorflow")


def registry():
    """The process-wide registry the CLI uses (entry points: built-ins, backends, installed plugins)."""
    from dlae_core.plugin.registry import get_registry

    return get_registry()


def skip_reason(name: str) -> str | None:
    """Why backend ``name`` cannot run here (not registered, or its framework is not installed), or None."""
    info = registry().backends.get(name)
    if info is None:
        return f"backend {name!r} is not registered (is the dlae-{name} backend package installed?)"
    missing = info.missing()
    if missing:
        return f"backend {name!r} needs {', '.join(missing)}, which is not installed"
    return None


def engine_of(backend: str):
    """The backend object (``registry.backend(name)``)."""
    return registry().backend(backend)


# -- data ------------------------------------------------------------------------------------
def make_data(folder: Path, kind: str, n: int = 32, size: int = 16, seed: int = 0, classes: int = 3) -> dict:
    """write_example_data into ``folder``; returns {key: str(path)}."""
    files = write_example_data(folder, kind, n=n, size=size, seed=seed, classes=classes)
    return {key: str(path) for key, path in files.items()}


def read_h5(path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {name: np.asarray(handle[name][()]) for name in handle.keys()}


def write_h5(path, samples: dict) -> str:
    with h5py.File(path, "w") as handle:
        for name, array in samples.items():
            handle.create_dataset(str(name), data=np.asarray(array))
    return str(path)


def ordered(samples: dict) -> list[str]:
    """Sample names in numeric order."""
    return sorted(samples, key=int)


# -- layer lists -----------------------------------------------------------------------------
def cnn_layers(size: int = 16, classes: int = 3, channels: int = 1, final: str | None = "softmax",
               extra: list | None = None) -> list:
    layers = [
        {"type": "Input", "shape": [size, size, channels]},
        {"type": "Convolution 2D", "filters": 8, "kernel": [3, 3]},
        {"type": "Activation", "activation": "relu"},
        *(extra or []),
        {"type": "Max pooling 2D", "pool": [2, 2]},
        {"type": "Convolution 2D", "filters": 16, "kernel": [3, 3]},
        {"type": "Activation", "activation": "relu"},
        {"type": "Global average pooling 2D"},
        {"type": "Dense", "units": classes},
    ]
    if final:
        layers.append({"type": "Activation", "activation": final})
    return layers


def fcn_layers(size: int = 16, classes: int = 3, final: str = "softmax") -> list:
    """A two-level U-Net (README's example) on (size, size, 1)."""
    return [
        f"Input:({size}, {size}, 1)",
        "Convolution 2D:16:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.0:0.0", "Activation:relu",
        "Outer skip source:concatenate", "Max pooling 2D:(2, 2):(2, 2)",
        {"type": "Convolution 2D", "filters": 32, "kernel": [3, 3]}, "Activation:relu",
        "Resize convolution 2D:16:(3, 3):(1, 1):(2, 2):same:(1, 1):he_normal:None:None:0.0:0.0",
        "Outer skip target:concatenate",
        f"Convolution 2D:{classes}:(1, 1):(1, 1):same:(1, 1):glorot_uniform:None:None:0.0:0.0",
        f"Activation:{final}",
    ]


def fcn3d_layers(size: int, depth: int, classes: int = 3) -> list:
    return [
        f"Input:({size}, {size}, {depth}, 1)",
        "Convolution 3D:4:(3, 3, 3):(1, 1, 1):same:(1, 1, 1):he_normal:None:None:0.0:0.0", "Activation:relu",
        "Outer skip source:concatenate", "Max pooling 3D:(2, 2, 2):(2, 2, 2)",
        "Convolution 3D:8:(3, 3, 3):(1, 1, 1):same:(1, 1, 1):he_normal:None:None:0.0:0.0", "Activation:relu",
        "Resize convolution 3D:4:(3, 3, 3):(1, 1, 1):(2, 2, 2):same:(1, 1, 1):he_normal:None:None:0.0:0.0",
        "Outer skip target:concatenate",
        f"Convolution 3D:{classes}:(1, 1, 1):(1, 1, 1):same:(1, 1, 1):glorot_uniform:None:None:0.0:0.0",
        "Activation:softmax",
    ]


# -- configs ---------------------------------------------------------------------------------
def make_config(model: str, input_shape, layers: list, data: dict, **sections: dict) -> dict:
    """A typed Train config on the CPU (no validation files unless ``data`` has them); each keyword
    updates the keys of that section."""
    config = {
        "config_file": {"model_signal": model, "type_signal": "Train", "input_shape": list(input_shape)},
        "paths": {key: data.get(key) for key in ("train_X", "train_y", "validation_X", "validation_y", "test_X")},
        "preprocessing": {"image_context": "3D" if len(input_shape) == 4 else "2D",
                          "normalization_type": "samplewise_unity_x", "categorical_switch": False,
                          "categories": 3},
        "augmentation": {"apply_augmentation_switch": False, "random_seed": 1},
        "loss_function": {"loss": "sparse_categorical_crossentropy"},
        "learning_rate_schedule": {"learning_rate": 0.003, "decay_on_plateau_switch": False},
        "optimizer": {"optimizer": "Adam"},
        "training_configurations": {"hardware": "cpu", "batch_size": 8, "epochs": 2, "validation_split": 0.0,
                                    "early_stop_switch": False},
        "monitors": {"accuracy_switch": True},
        "save_configurations": {"save_model_switch": False},
        "layers": {"serial_layer_list": copy.deepcopy(layers)},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(copy.deepcopy(values))
    return config


def save_to(out: Path, *, model: bool = True, csv_: bool = True, checkpoint: bool = False,
            tensorboard: bool = False) -> dict:
    """A save_configurations section writing into ``out`` (model.pt, history.csv, best.pt, tb/); every
    backend writes its own model format whatever the file name."""
    section = {"save_model_switch": model, "save_csv_switch": csv_, "save_checkpoints_switch": checkpoint,
               "save_tensorboard_switch": tensorboard}
    if model:
        section["save_model_path"] = str(out / "model.pt")
    if csv_:
        section["save_csv_path"] = str(out / "history.csv")
    if checkpoint:
        section["save_checkpoints_path"] = str(out / "best.pt")
    if tensorboard:
        section["save_tensorboard_path"] = str(out / "tb")
    return section


def write_config(path: Path, config: dict) -> str:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return str(path)


# -- GAN configs -------------------------------------------------------------------------------
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


def gan_engines(tmp_path: Path, raw: dict, backends) -> list:
    """The GAN engine of each of ``backends`` for config ``raw``, made as the core's GAN session makes
    it (placement, seed, the backend's implementation of technique GAN)."""
    from dlae_core.config.parser import load_config
    from dlae_core.planning.plan import plan_model
    from dlae_core.running.run import Run, RunOptions
    from dlae_core.techniques.gan.datasets import gan_data

    reg = registry()
    config = load_config(write_config(tmp_path / "engine.json", raw), reg)
    plan = plan_model(config, reg)
    engines = []
    for name in backends:
        backend = reg.backend(name)
        placement = backend.placement(config, len(plan.main.input_shapes[0]) - 1)
        backend.seed(config.augmentation.random_seed)
        engines.append(backend.technique_implementation("GAN").engine(
            Run(config, plan, reg, RunOptions(name)), gan_data(config, plan, reg), placement))
    return engines


# -- BBD configs -------------------------------------------------------------------------------
BBD_SIZE = 16
BBD_LAYERS = [f"Input:({BBD_SIZE}, {BBD_SIZE}, 1)",
              "Convolution 2D:8:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.0:0.0", "Activation:relu",
              "Max pooling 2D:(2, 2):(2, 2)", "Hook connection source",
              "Convolution 2D:8:(3, 3):(1, 1):same:(1, 1):he_normal:None:None:0.0:0.0", "Activation:relu",
              "Max pooling 2D:(2, 2):(2, 2)", "Hook connection source"]
BBD = {"number_classes": 2, "scaling_type": "per predictor layer", "scales": [0.3, 0.5, 0.7],
       "aspect_ratios": [1.0, 0.5, 2.0], "two_boxes_for_AR1_switch": True, "steps": None,
       "variances": [0.1, 0.1, 0.2, 0.2], "confidence_threshold": 0.3, "top_k": 10}
BBD_ANCHORS = (8 * 8 + 4 * 4) * 4


def bbd_config(data: dict, out: Path | None = None, epochs: int = 6, **sections) -> dict:
    config = {
        "config_file": {"model_signal": "BBD", "type_signal": "Train", "input_shape": [BBD_SIZE, BBD_SIZE, 1]},
        "paths": {k: data.get(k) for k in ("train_X", "train_y", "validation_X", "validation_y", "test_X")},
        "preprocessing": {"normalization_type": "samplewise_unity_x"},
        "augmentation": {"apply_augmentation_switch": False, "random_seed": 3},
        "loss_function": {"loss": "ssd", "parameter1": 3, "parameter2": 1.0},
        "learning_rate_schedule": {"learning_rate": 0.005},
        "optimizer": {"optimizer": "Adam"},
        "training_configurations": {"hardware": "cpu", "batch_size": 8, "epochs": epochs, "validation_split": 0.0,
                                    "early_stop_switch": False},
        "save_configurations": {"save_model_switch": False},
        "bbd_options": dict(BBD),
        "layers": {"serial_layer_list": list(BBD_LAYERS)},
    }
    if out is not None:
        config["save_configurations"] = {
            "save_model_switch": True, "save_model_path": str(out / "model.bin"),
            "save_csv_switch": True, "save_csv_path": str(out / "history.csv"),
            "save_checkpoints_switch": True, "save_checkpoints_path": str(out / "best.bin")}
        config["paths"]["load_model"] = str(out / "model.bin")
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    return config


def bbd_plan(tmp_path: Path, config: dict):
    """(typed config, plan, registry) of a BBD config dict."""
    from dlae_core.config.parser import load_config
    from dlae_core.planning.plan import plan_model

    reg = registry()
    loaded = load_config(write_config(tmp_path / "plan.json", config), reg)
    return loaded, plan_model(loaded, reg), reg


# -- the CLI ---------------------------------------------------------------------------------
def invoke(*args, expect: int = 0):
    """Run ``dlae ARGS`` in-process; fail with the output and traceback unless the exit code is
    exactly ``expect``."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exit_code != expect:
        trace = ""
        if result.exc_info is not None and not isinstance(result.exception, SystemExit):
            trace = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(f"dlae {' '.join(map(str, args))}: exit code {result.exit_code}, expected {expect}\n"
                    f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n{trace}")
    return result


def train(backend: str, config: dict, path: Path, *extra, expect: int = 0, workers: int = 0):
    """Write ``config`` to ``path`` and ``dlae run --backend BACKEND --quiet --workers N`` it."""
    return invoke("run", "--backend", backend, write_config(path, config), "--quiet", "--workers", workers,
                  *extra, expect=expect)


def predict(backend: str, tmp_path: Path, config: dict, model_path, test_x, out_name: str = "predictions.h5",
            expect: int = 0):
    """``dlae predict --backend BACKEND`` ``test_x`` with ``model_path`` (the training config as an
    Inference config); the predictions (a dict) or, with ``expect`` != 0, the CLI result."""
    config = {**config, "paths": {"load_model": str(model_path), "test_X": str(test_x)}}
    out = tmp_path / out_name
    result = invoke("predict", "--backend", backend, write_config(tmp_path / f"{out_name}.json", config),
                    "--predictions", out, "--workers", 0, expect=expect)
    return read_h5(out) if expect == 0 else result


def error_lines(result) -> list[str]:
    """The lines on stderr, less the run's first line about the data kept in memory (information)."""
    return [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("data in memory:")]


# -- outputs ---------------------------------------------------------------------------------
def read_csv(path) -> tuple[list[str], list[dict[str, float]]]:
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [{k: float(v) for k, v in zip(header, row)} for row in reader if row]
    return header, rows


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """relative path -> (mtime_ns, bytes) of every file under ``folder``."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def model_state(backend: str, path) -> dict:
    """The training state stored in a model file (epoch, step, optimizer, ...), read by the backend."""
    return engine_of(backend).read_model_file(str(path))["training_state"]


def load_network(backend: str, path):
    """(model, plan, payload) of a model file, rebuilt by the core as ``dlae predict`` rebuilds it."""
    from dlae_core.config.parser import parse_config
    from dlae_core.running.inference import load_saved_network

    reg = registry()
    engine = reg.backend(backend)
    payload = engine.read_model_file(str(path))
    config = parse_config(payload["config"], reg, source=str(path))
    technique = reg.techniques[payload["config"]["config_file"]["model_signal"]]
    placement = engine.placement(config, len(config.config_file.input_shape) - 1)
    return load_saved_network(technique, engine, str(path), placement)


def saved_weights(backend: str, path) -> dict[str, np.ndarray]:
    """``{"node/weight": array}``: the weights of a saved model in the canonical (Keras) layout."""
    model, plan, payload = load_network(backend, path)
    graph = plan.graphs[payload.get("graph_role", "model")]
    return {f"{node}/{name}": np.asarray(value)
            for node, values in engine_of(backend).export_weights(model, graph).items()
            for name, value in values.items()}


def stored_dtypes(backend: str, path) -> set[str]:
    """The dtype names of the weights as the model file stores them (the canonical export converts to
    float32, so this reads the backend's payload: torch ``state_dict`` tensors, tensorflow arrays)."""
    payload = engine_of(backend).read_model_file(str(path))
    if backend == "torch":
        return {str(value.dtype).removeprefix("torch.") for value in payload["state_dict"].values()
                if value.is_floating_point()}
    return {np.asarray(value).dtype.name for values in payload["weights"].values() for value in values.values()}


def optimizer_steps(backend: str, state: dict) -> set[int]:
    """How many updates the optimizer state in a model file's training state has made: torch keeps a
    step count per parameter, tensorflow/Keras one ``iteration`` variable."""
    optimizer = state["optimizer"]
    if backend == "torch":
        return {int(float(s["step"])) for s in optimizer["state"].values()}
    return {int(value) for path, value in optimizer if path.split("/", 1)[-1] == "iteration"}


def assert_same_weights(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert np.array_equal(a[key], b[key]), f"{key} differs: max |diff| {np.abs(a[key] - b[key]).max()}"


# -- tensors of one framework (the tests that hand framework tensors to a backend's functions) ------
def tensor(backend: str, value, dtype: str | None = None):
    """``value`` as a tensor of ``backend``'s framework (dtype: a numpy dtype name, default: kept)."""
    array = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
    if backend == "torch":
        import torch

        return torch.as_tensor(array)
    import tensorflow as tf

    return tf.constant(array)


def as_numpy(value) -> np.ndarray:
    """A torch or tensorflow tensor (or an array) as numpy."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def scalar_float32(backend: str, value) -> bool:
    """Whether a loss value is a 0-d float32 tensor of ``backend``'s framework."""
    if backend == "torch":
        import torch

        return isinstance(value, torch.Tensor) and value.dim() == 0 and value.dtype == torch.float32
    import tensorflow as tf

    return value.shape.rank == 0 and value.dtype == tf.float32


def train_forward(backend: str, model, x: np.ndarray) -> np.ndarray:
    """The model output in training mode (dropout, noise and batch statistics active; batch-norm moving
    statistics updated) for channels-last float32 ``x``; ``Backend.forward`` is inference mode."""
    x = np.asarray(x, np.float32)
    if backend == "torch":
        import torch

        model.train()
        with torch.no_grad():
            return model(torch.as_tensor(x)).numpy()
    return np.asarray(model(x, training=True))


# -- layer lists the layer tests of every backend build ------------------------------------------------------
CONV = "he_normal:None:None:0.001:0.001"  # He normal kernels, no kernel regularizers, l1/l2 activity 0.001
UNET_2D = ["Input:(16, 16, 1)", "Convolution 2D:4:(3, 3):(1, 1):same:(1, 1):" + CONV, "Activation:relu",
           "Outer skip source", "Max pooling 2D:(2, 2):(2, 2)", "Convolution 2D:8:(3, 3):(1, 1):same:(1, 1):" + CONV,
           "Batch normalization:0.99:0.001", "Resize convolution 2D:4:(2, 2):(1, 1):(2, 2):same:(1, 1):" + CONV,
           "Outer skip target:concatenate", "Convolution 2D:3:(1, 1):(1, 1):same:(1, 1):" + CONV,
           "Activation:softmax"]
UNET_3D = ["Input:(8, 8, 8, 1)", "Convolution 3D:4:(3, 3, 3):(1, 1, 1):same:(1, 1, 1):" + CONV,
           "Outer skip source", "Max pooling 3D:(2, 2, 2):(2, 2, 2)",
           "Convolution 3D:6:(3, 3, 3):(1, 1, 1):same:(1, 1, 1):" + CONV,
           "Inner skip source", "PreLU", "Inner skip target:add",
           "Transpose convolution 3D:4:(2, 2, 2):(2, 2, 2):same:(1, 1, 1):" + CONV,
           "Outer skip target:concatenate", "Convolution 3D:3:(1, 1, 1):(1, 1, 1):same:(1, 1, 1):" + CONV,
           "Activation:softmax"]
