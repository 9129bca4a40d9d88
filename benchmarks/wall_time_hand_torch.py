"""The script a PyTorch user would write for a wall_time.py case (run as its own process).

    python benchmarks/wall_time_hand_torch.py CASE OUT_FOLDER [--epochs N] [--threads T]

Reads the case's HDF5 files whole (they fit in memory), normalizes each sample to [0, 1], trains
with Adam and cross-entropy, validates every epoch, saves the best model (torch.save) and the last
one, and scores the test set. The network is the one of the dlae config (same layers, same
initialization families). Prints one line: test accuracy (CNN) or pixel accuracy (U-Net).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wall_time_cases import CASES  # noqa: E402  (plain dataclasses, no dlae import)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    with h5py.File(DATA / f"{prefix}_X.h5", "r") as fx, h5py.File(DATA / f"{prefix}_y.h5", "r") as fy:
        names = sorted(fx.keys(), key=int)
        x = np.stack([fx[n][()] for n in names]).astype(np.float32)
        y = np.stack([fy[n][()] for n in names])
    axes = tuple(range(1, x.ndim))
    lo, hi = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
    x = np.where(hi > lo, (x - lo) / np.where(hi > lo, hi - lo, 1), x)
    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    y = torch.from_numpy(y.astype(np.int64)).squeeze(-1)  # CNN (N,), U-Net (N, *spatial)
    return x, y


class CNN(nn.Module):
    def __init__(self, dims, channels, widths, classes):
        super().__init__()
        Conv, Norm, Pool = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d) if dims == 2 else \
            (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d)
        mods = []
        for f in widths:
            mods += [Conv(channels, f, 3, padding=1), Norm(f, eps=1e-3), nn.ReLU(inplace=True), Pool(2)]
            channels = f
        self.features, self.dense = nn.Sequential(*mods), nn.Linear(channels, classes)

    def forward(self, x):
        return self.dense(self.features(x).flatten(2).mean(-1))


def make_model(case):
    if case.kind == "cnn":
        return CNN(case.dims, case.input_shape[-1], case.widths, case.classes)
    from handwritten import HandUNet

    return HandUNet(case.dims, case.input_shape[-1], case.classes, case.widths)


@torch.no_grad()
def evaluate(model, x, y, batch):
    model.eval()
    total, correct = 0.0, 0
    for i in range(0, len(x), batch):
        logits = model(x[i:i + batch])
        total += F.cross_entropy(logits, y[i:i + batch], reduction="sum").item() / y[i:i + batch][0].numel()
        correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return total / len(x), correct / y.numel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    case, out = CASES[args.case], Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(1)
    x, y = load(f"{case.data}_train")
    xv, yv = load(f"{case.data}_val")
    model = make_model(case)
    optimizer = torch.optim.Adam(model.parameters(), lr=case.lr, eps=1e-7)
    best = float("inf")
    for epoch in range(args.epochs or case.epochs):
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), case.batch):
            index = order[i:i + case.batch]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
        val_loss, _ = evaluate(model, xv, yv, case.batch)
        if val_loss < best:
            best = val_loss
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
                       out / "best.pt")
    torch.save(model.state_dict(), out / "model.pt")
    xt, yt = load(f"{case.data}_test")
    print(f"test accuracy {evaluate(model, xt, yt, case.batch)[1]:.4f}")


if __name__ == "__main__":
    main()
