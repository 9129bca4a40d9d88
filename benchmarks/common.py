"""Shared helpers of the benchmarks (not part of the pytest suite).

* data: the shared data sets in ``<workspace>/shared/data`` (skipped with a message when absent),
  read whole into numpy for the hand-written loops and the metrics;
* dlae: typed configs written from dicts, ``dlae`` commands run in-process through click;
* hand-written PyTorch: samplewise normalization, a Keras-like plateau rule, a minimal training loop;
* metrics: accuracy and mean foreground Dice per class (pooled over the test set).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

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


# -- hand-written PyTorch ------------------------------------------------------------------------------
class HandUNet(torch.nn.Module):
    """The network of :func:`unet_layers`, written directly in PyTorch (channels-first, logits out)."""

    def __init__(self, dims: int, in_channels: int, classes: int, widths=(16, 32, 64), batch_norm: bool = True):
        super().__init__()
        nn = torch.nn
        Conv = nn.Conv2d if dims == 2 else nn.Conv3d
        Norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
        self.pool = nn.MaxPool2d(2) if dims == 2 else nn.MaxPool3d(2)

        def block(cin, f):
            mods = []
            for c in (cin, f):
                mods += [Conv(c, f, 3, padding=1)] + ([Norm(f, momentum=0.1, eps=1e-3)] if batch_norm else [])
                mods.append(nn.ReLU(inplace=True))
            return nn.Sequential(*mods)

        self.down, c = nn.ModuleList(), in_channels
        for f in widths[:-1]:
            self.down.append(block(c, f))
            c = f
        self.bottom = block(c, widths[-1])
        self.ups, self.up_blocks, c = nn.ModuleList(), nn.ModuleList(), widths[-1]
        for f in reversed(widths[:-1]):
            self.ups.append(Conv(c, f, 3, padding=1))
            self.up_blocks.append(block(2 * f, f))
            c = f
        self.head = Conv(c, classes, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.xavier_uniform_(self.head.weight)

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, block in zip(self.ups, self.up_blocks):
            x = F.relu(up(F.interpolate(x, scale_factor=2, mode="nearest")))
            x = block(torch.cat([skips.pop(), x], dim=1))
        return self.head(x)


class Plateau:
    """Keras ReduceLROnPlateau on val_loss (min delta 1e-4, cooldown = patience), like dlae's rule."""

    def __init__(self, optimizer, factor: float, patience: int):
        self.opt, self.factor, self.patience = optimizer, factor, patience
        self.best, self.wait, self.cooldown = math.inf, 0, 0

    def step(self, val_loss: float) -> None:
        if self.cooldown > 0:
            self.cooldown, self.wait = self.cooldown - 1, 0
        if val_loss < self.best - 1e-4:
            self.best, self.wait = val_loss, 0
            return
        if self.cooldown > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            for group in self.opt.param_groups:
                group["lr"] = max(group["lr"] * self.factor, 1e-9)
            self.cooldown, self.wait = self.patience, 0


def random_flips(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample left-right (cols) and up-down (rows) flips with probability 0.5 each; x (N, C, rows,
    cols, ...), y (N, rows, cols, ...)."""
    for dim in (3, 2):  # cols, then rows, of x; y has no channel axis
        flip = torch.rand(x.shape[0], generator=gen) < 0.5
        if flip.any():
            x, y = x.clone(), y.clone()
            x[flip], y[flip] = x[flip].flip(dim), y[flip].flip(dim - 1)
    return x, y


def random_affine(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, rotation: float = 0.0,
                  zoom: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample rotation U(-rotation, rotation) degrees and zoom U(1 - zoom, 1 + zoom) about the
    centre of the (rows, cols) plane (every slice of a volume alike); x bilinear, labels y nearest,
    reflecting borders (dlae's fill_mode "reflect")."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * rotation * math.pi / 180
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * zoom
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    zero = torch.zeros(n)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)

    def warp(a: torch.Tensor, mode: str) -> torch.Tensor:  # a: (N, C, rows, cols, *rest)
        shape = a.shape
        planes = a.movedim(2, -1).movedim(2, -1).reshape(n, -1, shape[2], shape[3])  # (N, C*rest, rows, cols)
        grid = F.affine_grid(theta, list(planes.shape), align_corners=False)
        out = F.grid_sample(planes, grid, mode=mode, padding_mode="reflection", align_corners=False)
        rest = shape[4:]
        return out.reshape(n, shape[1], *rest, shape[2], shape[3]).movedim(-2, 2).movedim(-1, 3)

    return warp(x, "bilinear"), warp(y[:, None].float(), "nearest")[:, 0].round().long()


def train_hand(model, x, y, xv, yv, *, epochs: int, batch: int, lr: float, seed: int, flips: bool = False,
               plateau: tuple[float, int] | None = None, rotation: float = 0.0, zoom: float = 0.0,
               log_every: int = 1, label: str = "hand") -> list[dict]:
    """Adam (eps 1e-7, as dlae) on cross-entropy with per-epoch shuffling; x channels-first float,
    y integer labels (N, ...). Returns the per-epoch history."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-7)
    rule = Plateau(opt, *plateau) if plateau else None
    history = []
    for epoch in range(epochs):
        start, total = time.perf_counter(), 0.0
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            if len(idx) < 2 and len(x) > batch:  # dlae drops a last batch of one sample
                continue
            xb, yb = x[idx], y[idx]
            if rotation or zoom:
                xb, yb = random_affine(xb, yb, gen, rotation, zoom)
            if flips:
                xb, yb = random_flips(xb, yb, gen)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        val_loss = evaluate_loss(model, xv, yv, batch)
        if rule:
            rule.step(val_loss)
        history.append({"loss": total / len(x), "val_loss": val_loss, "seconds": time.perf_counter() - start})
        if log_every and (epoch + 1) % log_every == 0:
            print(f"  [{label}] epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f} val_loss {val_loss:.4f} "
                  f"lr {opt.param_groups[0]['lr']:.3g} ({history[-1]['seconds']:.1f}s)", flush=True)
    return history


@torch.no_grad()
def predict_hand(model, x: torch.Tensor, batch: int = 32) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


@torch.no_grad()
def evaluate_loss(model, x, y, batch: int) -> float:
    return float(F.cross_entropy(predict_hand(model, x, batch), y).item())


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
