"""Batched augmentation on the training device (GPU), with the core's sampled parameters.

The loader workers only read and standardize samples; the affine warp, flips, brightness,
channel shift, normalization and one-hot then run here on whole batches with
``grid_sample``. The geometry equals :func:`dlae_core.data.augment.apply_params` (scipy)
for the same parameters, fill modes included (see ``affine_grid_matrix``'s derivation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dlae_core.data.augment import pixel_to_normalized


def _theta(matrix: torch.Tensor, hflip: torch.Tensor, vflip: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """(B, 2, 3) affine_grid thetas: S @ M @ inv(S) @ diag(flips) in float64."""
    to_norm = torch.as_tensor(pixel_to_normalized((rows, cols)), dtype=torch.float64, device=matrix.device)
    flips = torch.ones(matrix.shape[0], 3, dtype=torch.float64, device=matrix.device)
    flips[:, 0] = torch.where(hflip.bool(), -1.0, 1.0)
    flips[:, 1] = torch.where(vflip.bool(), -1.0, 1.0)
    full = to_norm @ matrix.double() @ torch.linalg.inv(to_norm) @ torch.diag_embed(flips)
    return full[:, :2]


def _pixels(g: torch.Tensor, n: int) -> torch.Tensor:
    return ((g + 1) * n - 1) / 2


def _normalized(p: torch.Tensor, n: int) -> torch.Tensor:
    return (2 * p + 1) / n - 1


def _warp(planes: torch.Tensor, theta: torch.Tensor, mode: str, fill_mode: str, cval: float) -> torch.Tensor:
    """planes (B, K, rows, cols) float; returns the resampled planes."""
    batch, _, rows, cols = planes.shape
    grid = F.affine_grid(theta.to(planes.dtype), list(planes.shape), align_corners=False)
    outside = None
    if fill_mode in ("constant", "wrap"):
        px, py = _pixels(grid[..., 0], cols), _pixels(grid[..., 1], rows)
        if fill_mode == "constant":
            outside = (px < 0) | (px > cols - 1) | (py < 0) | (py > rows - 1)
        else:  # scipy's wrap has period n - 1
            px = torch.where((px < 0) | (px > cols - 1), torch.remainder(px, max(cols - 1, 1)), px)
            py = torch.where((py < 0) | (py > rows - 1), torch.remainder(py, max(rows - 1, 1)), py)
            grid = torch.stack([_normalized(px, cols), _normalized(py, rows)], dim=-1)
    padding = {"nearest": "border", "reflect": "reflection", "constant": "zeros", "wrap": "border"}[fill_mode]
    out = F.grid_sample(planes, grid, mode=mode, padding_mode=padding, align_corners=False)
    if outside is not None:
        out = torch.where(outside[:, None], torch.as_tensor(cval, dtype=out.dtype, device=out.device), out)
    return out


def warp_channels_last(array: torch.Tensor, theta: torch.Tensor, mode: str, fill_mode: str, cval: float) -> torch.Tensor:
    """Warp (B, rows, cols[, slices], C) with one 2D map per sample applied to every plane."""
    shape = array.shape
    planes = array.reshape(shape[0], shape[1], shape[2], -1).permute(0, 3, 1, 2)
    out = _warp(planes.float(), theta, mode, fill_mode, cval)
    return out.permute(0, 2, 3, 1).reshape(shape)


def augment_batch(batch: dict, *, fill_mode: str, cval: float, target_kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the packed per-sample parameters of ``batch`` (from TrainingSamples(on_device=True))."""
    x, y = batch["x"].float(), batch["y"]
    rows, cols = x.shape[1], x.shape[2]
    theta = _theta(batch["matrix"], batch["hflip"], batch["vflip"], rows, cols)
    x = warp_channels_last(x, theta, "bilinear", fill_mode, cval)
    view = (-1,) + (1,) * (x.dim() - 1)
    x = (x + batch["channel_shift"].to(x.dtype).reshape(view)) * batch["brightness"].to(x.dtype).reshape(view)
    if y is not None and target_kind != "vector":
        mode = "nearest" if target_kind == "labels" else "bilinear"
        y = warp_channels_last(y.float(), theta, mode, fill_mode, cval)
    return x, y


def normalize(a: torch.Tensor, norm) -> torch.Tensor:
    """Batched :class:`dlae_core.data.preprocess.Normalization` (per sample)."""
    if norm.kind == "none":
        return a
    if norm.kind == "channels":  # imagenet: reorder, subtract and scale per channel (channels last)
        offset = torch.tensor(norm.offset, dtype=a.dtype, device=a.device)
        scale = torch.tensor(norm.scale, dtype=a.dtype, device=a.device)
        return (a[..., list(norm.order)] - offset) * scale
    flat = a.reshape(a.shape[0], -1)
    if norm.kind == "samplewise":
        lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
    else:
        lo = torch.full((a.shape[0],), norm.low, dtype=a.dtype, device=a.device)
        hi = torch.full((a.shape[0],), norm.high, dtype=a.dtype, device=a.device)
    span = hi - lo
    safe = torch.where(span == 0, torch.ones_like(span), span)
    u = (flat - lo[:, None]) / safe[:, None]
    if norm.negpos:
        u = 2 * (u - 0.5)
    return torch.where((span == 0)[:, None], flat, u).reshape(a.shape)


def one_hot(y: torch.Tensor, categories: int) -> torch.Tensor:
    labels = y.long()
    if labels.dim() > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if (labels < 0).any() or (labels >= categories).any():
        from dlae_core.errors import DataError, problem

        value = int(labels[(labels < 0) | (labels >= categories)][0])
        raise DataError([problem("preprocessing.categories", f"a training target holds the class label {value}, "
                                 f"outside 0..{categories - 1}", received=value)])
    return F.one_hot(labels, categories).float()


def finish_batch(x: torch.Tensor, y: torch.Tensor, preprocessor) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalization and one-hot of a batch, as Preprocessor.finish does per sample."""
    x = normalize(x, preprocessor.x_norm)
    if y is not None:
        y = normalize(y.float(), preprocessor.y_norm)
        if preprocessor.categories is not None:
            y = one_hot(y, preprocessor.categories)
    return x, y
