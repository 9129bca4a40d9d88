"""Shared helpers of the benchmarks (not part of the pytest suite).

* data: the shared data sets in ``<workspace>/shared/data`` (skipped with a message when absent),
  read whole into numpy for the hand-written loops and the metrics;
* dlae: typed configs written from dicts, ``dlae`` commands run in-process through click, the
  U-Net as dlae layer strings;
* metrics: accuracy and mean foreground Dice per class (pooled over the test set).

The hand-written PyTorch side (networks, training loop) is in ``handwritten.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MACHINE = "2-core CPU, no GPU"


# -- data ----------------------------------------------------------------------------------------------
def data_path(name: str) -> str:
    """Absolute path of ``<name>.h5`` in the shared data folder."""
    return str(DATA / f"{name}.h5")


def require_data(*names: str) -> None:
    """Exit (status 0, with a SKIP line) when the shared data or one of the files is missing."""
    missing = [n for n in names if not (DATA / f"{n}.h5").is_file()]
    if not DATA.is_dir() or missing:
        print(f"SKIP: shared data not found ({DATA}; missing: {', '.join(missing) or 'the folder'}). "
              f"The benchmarks need the data sets of the workspace's shared/data folder.")
        sys.exit(0)


def sorted_names(handle) -> list[str]:
    return sorted(handle.keys(), key=int)


def load_h5(path: str | Path, names: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """(names in integer order, stacked array) of a one-dataset-per-sample file."""
    with h5py.File(path, "r") as f:
        names = names if names is not None else sorted_names(f)
        return names, np.stack([f[n][()] for n in names])


def samplewise_unity(x: np.ndarray) -> np.ndarray:
    """dlae's samplewise_unity_x: (x - min) / (max - min) per sample, float32."""
    x = x.astype(np.float32)
    axes = tuple(range(1, x.ndim))
    lo, hi = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
    return np.where(hi > lo, (x - lo) / np.where(hi > lo, hi - lo, 1), x).astype(np.float32)


def to_channels_first(x: np.ndarray) -> torch.Tensor:
    """(N, ..., C) numpy -> (N, C, ...) contiguous float tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1))).float()


# -- metrics -------------------------------------------------------------------------------------------
def accuracy(pred_labels: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(pred_labels.reshape(-1) == labels.reshape(-1)))


def dice_per_class(pred_labels: np.ndarray, labels: np.ndarray, classes: int) -> list[float]:
    """Dice 2|P∩T| / (|P| + |T|) of each foreground class 1..classes-1, pooled over all test voxels."""
    p, t = pred_labels.reshape(-1), labels.reshape(-1).astype(np.int64)
    out = []
    for c in range(1, classes):
        inter, total = np.sum((p == c) & (t == c)), np.sum(p == c) + np.sum(t == c)
        out.append(float(2 * inter / total) if total else 1.0)
    return out


def mean_dice(pred_labels, labels, classes) -> tuple[float, list[float]]:
    per_class = dice_per_class(pred_labels, labels, classes)
    return float(np.mean(per_class)), per_class


# -- dlae ------------------------------------------------------------------------------------------------
def workdir(given: str | None, prefix: str) -> Path:
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix=f"dlae_bench_{prefix}_"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_config(config: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=1))
    return path


def run_dlae(*args: str) -> None:
    """Run ``dlae ARGS`` in this process (click, standalone_mode=False); raise on a non-zero status."""
    from dlae_core.cli.main import cli

    status = cli.main(list(args), prog_name="dlae", standalone_mode=False)
    if status not in (None, 0):
        raise RuntimeError(f"dlae {' '.join(args)} exited with status {status}")


def load_predictions(path: str | Path, names: list[str]) -> np.ndarray:
    """The predictions of ``names`` (the test file's sample names), stacked."""
    return load_h5(path, names)[1]


def conv(dims: int, filters: int, kernel: int = 3, init: str = "he_normal") -> str:
    k, one = ", ".join([str(kernel)] * dims), ", ".join(["1"] * dims)
    return f"Convolution {dims}D:{filters}:({k}):({one}):same:({one}):{init}:None:None:0.0:0.0"


def pool(dims: int) -> str:
    two = ", ".join(["2"] * dims)
    return f"Max pooling {dims}D:({two}):({two})"


def resize_conv(dims: int, filters: int) -> str:
    k, one, two = ", ".join(["3"] * dims), ", ".join(["1"] * dims), ", ".join(["2"] * dims)
    return f"Resize convolution {dims}D:{filters}:({k}):({one}):({two}):same:({one}):he_normal:None:None:0.0:0.0"


BN = "Batch normalization:0.9:0.001"  # Keras momentum 0.9 (torch 0.1), epsilon 1e-3


def unet_layers(input_shape: tuple, classes: int, widths=(16, 32, 64), batch_norm: bool = True) -> list[str]:
    """dlae layer strings of a U-Net: two conv-(BN)-ReLU per level, max pooling down, resize
    convolution (nearest x2 + 3x3 conv + ReLU) up, skips concatenated (skip first), 1x1 softmax head."""
    dims = len(input_shape) - 1

    def block(f):
        unit = [conv(dims, f)] + ([BN] if batch_norm else []) + ["Activation:relu"]
        return unit * 2

    layers = [f"Input:({', '.join(str(s) for s in input_shape)})"]
    for f in widths[:-1]:
        layers += block(f) + ["Outer skip source:concatenate", pool(dims)]
    layers += block(widths[-1])
    for f in reversed(widths[:-1]):
        layers += [resize_conv(dims, f), "Activation:relu", "Outer skip target:concatenate"] + block(f)
    return layers + [conv(dims, classes, 1, "glorot_uniform"), "Activation:softmax"]


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def set_threads(backends: list[str], threads: int) -> None:
    """Intra-op threads of the named frameworks (a 2-core machine trains small nets fastest on 1)."""
    if "torch" in backends:
        import torch

        torch.set_num_threads(threads)
    if "tensorflow" in backends:
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(2, threads))
