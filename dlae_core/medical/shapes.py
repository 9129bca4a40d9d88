"""Bringing imported samples to one shape: centre crop (or zero pad) and resampling of the spatial
axes, with label maps resampled by nearest neighbour (their values stay classes) and boxes moved
and scaled with the image. The affine follows, so the manifest can say where each voxel came from.
"""

from __future__ import annotations

import numpy as np


def crop_or_pad(array: np.ndarray, rank: int, shape: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
    """``array`` centre-cropped or zero-padded on its ``rank`` spatial axes to ``shape``; also the
    offset of the output's first voxel in the input (negative where padded)."""
    offsets, slices, pads = [], [], []
    for size, want in zip(array.shape[:rank], shape):
        start = (size - want) // 2
        offsets.append(start)
        slices.append(slice(max(start, 0), max(start, 0) + min(size, want)))
        before = max(-start, 0)
        pads.append((before, want - min(size, want) - before))
    out = array[tuple(slices)]
    pads += [(0, 0)] * (array.ndim - rank)
    if any(p != (0, 0) for p in pads):
        out = np.pad(out, pads)
    return out, tuple(offsets)


def resample(array: np.ndarray, rank: int, shape: tuple[int, ...], labels: bool) -> np.ndarray:
    """``array`` resampled on its ``rank`` spatial axes to ``shape``: linear interpolation for
    images, nearest neighbour for label maps (``labels``); the dtype is kept."""
    from scipy import ndimage  # on first use: importing it costs every run 0.35 s
    factors = [want / size for size, want in zip(array.shape[:rank], shape)] + [1.0] * (array.ndim - rank)
    if all(f == 1.0 for f in factors):
        return array
    source = array if labels else array.astype(np.float32)
    out = ndimage.zoom(source, factors, order=0 if labels else 1, mode="nearest", grid_mode=True)
    return out if labels else out.astype(array.dtype if array.dtype.kind == "f" else np.float32)


def move_boxes(boxes: np.ndarray, offsets: tuple[int, ...], factors: tuple[float, ...],
               shape: tuple[int, ...]) -> np.ndarray:
    """Rows [class, xmin, ymin, xmax, ymax] (x = column) shifted by a crop ``offsets`` (rows,
    cols), scaled by resampling ``factors`` (rows, cols) and clipped to the output ``shape``;
    boxes left empty are dropped."""
    out = boxes.astype(np.float32).copy()
    if out.size == 0:
        return out.reshape(0, 5)
    out[:, [1, 3]] = (out[:, [1, 3]] - offsets[1]) * factors[1]
    out[:, [2, 4]] = (out[:, [2, 4]] - offsets[0]) * factors[0]
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, shape[1])
    out[:, [2, 4]] = out[:, [2, 4]].clip(0, shape[0])
    keep = (out[:, 3] > out[:, 1]) & (out[:, 4] > out[:, 2])
    return out[keep]


def moved_affine(affine: np.ndarray, offsets: tuple[int, ...], factors: tuple[float, ...]) -> np.ndarray:
    """The affine of an output voxel grid cropped at ``offsets`` then resampled by ``factors``
    (voxel centres: output voxel o lies at input voxel offset + (o + 0.5) / factor - 0.5)."""
    rank = len(offsets)
    step = np.eye(4)
    for axis in range(rank):
        step[axis, axis] = 1.0 / factors[axis]
        step[axis, 3] = offsets[axis] + 0.5 / factors[axis] - 0.5
    return np.asarray(affine, np.float64) @ step
