"""The hand-written PyTorch side of the benchmarks: the U-Net of ``common.unet_layers`` as a plain
module, dlae's plateau rule, flips and rotation/zoom augmentation, a minimal training loop."""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

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
               loss_fn=None, log_every: int = 1, label: str = "hand", callback=None) -> list[dict]:
    """Adam (eps 1e-7, as dlae) on ``loss_fn(logits, labels)`` (default cross-entropy) with per-epoch
    shuffling; x channels-first float, y integer labels (N, ...); ``callback(epoch, model)`` after
    each epoch. Returns the per-epoch history."""
    loss_fn = loss_fn or F.cross_entropy
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
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        val_loss = evaluate_loss(model, xv, yv, batch, loss_fn)
        if rule:
            rule.step(val_loss)
        history.append({"loss": total / len(x), "val_loss": val_loss, "seconds": time.perf_counter() - start})
        if log_every and (epoch + 1) % log_every == 0:
            print(f"  [{label}] epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f} val_loss {val_loss:.4f} "
                  f"lr {opt.param_groups[0]['lr']:.3g} ({history[-1]['seconds']:.1f}s)", flush=True)
        if callback:
            callback(epoch, model)
    return history


@torch.no_grad()
def predict_hand(model, x: torch.Tensor, batch: int = 32) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


@torch.no_grad()
def evaluate_loss(model, x, y, batch: int, loss_fn=None) -> float:
    """Mean of the per-batch losses (dlae's validation reduction for batch-global losses)."""
    loss_fn = loss_fn or F.cross_entropy
    logits = predict_hand(model, x, batch)
    values = [loss_fn(logits[i:i + batch], y[i:i + batch]).item() * len(y[i:i + batch]) for i in range(0, len(y), batch)]
    return float(sum(values) / len(y))
