"""Sliding-window inference: a network trained on patches of its input shape predicts images and
volumes of any size.

The preprocessed image is cut into patches of the model's input shape whose starts are
``int(patch * (1 - overlap))`` apart along each axis (the last patch ends at the image's border;
an image smaller than a patch is zero-padded), the patches run through the model in batches
(the backend's own prediction loop, so on its device), and every output patch is added into the
result weighted by a blending window -- ``constant`` (plain averaging of the overlaps) or
``gaussian`` (sigma = 1/8 of the patch size per axis, so a patch's centre counts more than its
border, where its context is cut) -- then divided by the summed weights. The result has the
image's size. Where the image is exactly one patch, it is the model's plain output.
"""

from __future__ import annotations

import itertools

import attrs
import numpy as np

from dlae_core.errors import UsageError

BLENDINGS = ("gaussian", "constant")


@attrs.frozen
class Window:
    """How patches overlap (a fraction in [0, 1)) and are blended (``gaussian`` or ``constant``)."""

    overlap: float = 0.5
    blending: str = "gaussian"

    def __attrs_post_init__(self):
        if not 0.0 <= self.overlap < 1.0:
            raise UsageError(f"the sliding-window overlap must be in [0, 1). Received: {self.overlap}")
        if self.blending not in BLENDINGS:
            raise UsageError(f"the sliding-window blending must be one of {', '.join(BLENDINGS)}. "
                             f"Received: {self.blending!r}")


def window_starts(size: int, patch: int, overlap: float) -> list[int]:
    """Start positions of the patches along one axis of ``size`` voxels."""
    if size <= patch:
        return [0]
    step = max(1, int(patch * (1.0 - overlap)))
    starts = list(range(0, size - patch + 1, step))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def blending_weights(patch: tuple[int, ...], blending: str) -> np.ndarray:
    """The weight of each voxel of an output patch (float32, maximum 1)."""
    if blending == "constant":
        return np.ones(patch, np.float32)
    weights = np.ones((), np.float64)
    for size in patch:
        centre, sigma = (size - 1) / 2.0, size / 8.0
        axis = np.exp(-0.5 * ((np.arange(size) - centre) / sigma) ** 2)
        weights = np.multiply.outer(weights, axis)
    weights = weights / weights.max()
    # never exactly zero: a voxel covered only by patch borders still gets a (tiny-weighted) value
    return np.maximum(weights, 1e-3).astype(np.float32)


def patch_corners(shape: tuple[int, ...], patch: tuple[int, ...], overlap: float) -> list[tuple[int, ...]]:
    """Every patch start (one per axis), row-major."""
    return list(itertools.product(*(window_starts(s, p, overlap) for s, p in zip(shape, patch))))


def sliding_window(x: np.ndarray, patch: tuple[int, ...], predict, window: Window) -> np.ndarray:
    """The blended output for the channels-last image ``x`` (spatial axes, channels); ``predict``
    maps a list of patches (each ``patch`` + channels) to an iterable of output patches, in order."""
    spatial = x.shape[:-1]
    if len(spatial) != len(patch):
        raise UsageError(f"sliding-window inference: a {len(spatial)}-D image cannot be cut into {len(patch)}-D "
                         f"patches {patch}")
    padded = tuple(max(s, p) for s, p in zip(spatial, patch))
    if padded != spatial:
        x = np.pad(x, [(0, p - s) for p, s in zip(padded, spatial)] + [(0, 0)])
    corners = patch_corners(padded, patch, window.overlap)
    patches = [x[tuple(slice(c, c + p) for c, p in zip(corner, patch))] for corner in corners]
    weights = blending_weights(patch, window.blending)[..., None]
    total = norm = None
    for corner, out in zip(corners, predict(patches)):
        out = np.asarray(out, np.float32)
        if out.shape[:-1] != tuple(patch):
            raise UsageError(f"sliding-window inference needs a model whose output has its input's size; the "
                             f"model maps patches {tuple(patch)} to outputs {out.shape[:-1]}")
        if total is None:
            total = np.zeros(padded + out.shape[-1:], np.float32)
            norm = np.zeros(padded + (1,), np.float32)
        where = tuple(slice(c, c + p) for c, p in zip(corner, patch))
        total[where] += out * weights
        norm[where] += weights
    result = total / norm
    return result[tuple(slice(0, s) for s in spatial)]


class PatchSamples:
    """Patches as a map-style prediction set (``x``, ``name``) for a backend's prediction loop."""

    def __init__(self, patches: list[np.ndarray]):
        self.patches = patches

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, index: int) -> dict:
        return {"x": np.ascontiguousarray(self.patches[index], np.float32), "name": str(index)}


def sliding_outputs(job, predict_batches, patch: tuple[int, ...], window: Window):
    """(name, stored output) of every sample of a prediction ``job``, each predicted by sliding
    windows; ``predict_batches(samples)`` is the backend's (or ONNX runtime's) prediction loop."""

    def predict(patches):
        for _, outputs in predict_batches(PatchSamples(patches)):
            yield from outputs

    for index in range(len(job.samples)):
        item = job.samples[index]
        yield item["name"], job.output(sliding_window(item["x"], patch, predict, window))
