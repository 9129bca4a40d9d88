"""Sample pictures made of the data's own pixels (numpy + Pillow): overlays of label maps, grids of
panels, the middle slices of volumes. Every function returns a uint8
(height, width, 3) RGB array; :func:`save_png` writes one.

Panels keep the data's pixel grid (enlarged by an integer factor, nearest neighbour), so a test can
find each input pixel in the picture: panel pixel (r, c) of a grid is sample pixel (r // s, c // s).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from dlae_core.running.outputs import write_atomic
from dlae_core.techniques.gan.preview import to_uint8

#: colours of classes 1, 2, ... (class 0 is background: not drawn); distinct on grey images
PALETTE = np.array([(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
                    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128)], np.uint8)
ALPHA = 0.5
GAP = 4


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 grey or RGB array as PNG, atomically."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return write_atomic(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def read_png(path: str | Path) -> np.ndarray:
    """The uint8 RGB pixels of a PNG file (for TensorBoard's images)."""
    from PIL import Image

    with Image.open(io.BytesIO(Path(path).read_bytes())) as image:
        return np.asarray(image.convert("RGB"))


def grey_rgb(image: np.ndarray, value_range=None) -> np.ndarray:
    """A 2-D channels-last sample (rows, cols[, channels]) as uint8 RGB: 3 channels as colour,
    otherwise the first channel in grey, mapped from its own range (or ``value_range``)."""
    a = np.asarray(image, np.float32)
    if a.ndim == 3:
        a = a if a.shape[-1] == 3 else a[..., 0]
    plane = to_uint8(a, value_range)
    return plane if plane.ndim == 3 else np.repeat(plane[:, :, None], 3, axis=2)


def label_map(values: np.ndarray) -> np.ndarray:
    """Integer labels (rows, cols[, slices]) of a target or prediction map: the argmax of several
    channels (probabilities, one-hot), else the single channel (a sigmoid output: > 0.5)."""
    a = np.asarray(values, np.float32)
    if a.shape[-1] > 1:
        return np.argmax(a, axis=-1)
    a = a[..., 0]
    if a.size and a.min() >= 0.0 and a.max() <= 1.0 and not np.all(a == np.round(a)):
        return (a > 0.5).astype(np.int64)  # probabilities of one foreground class
    return np.round(a).astype(np.int64)


def overlay(image_rgb: np.ndarray, labels: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """``image_rgb`` with every pixel of class k > 0 blended with the class colour; background kept."""
    out = image_rgb.astype(np.float32).copy()
    labels = np.asarray(labels)
    for cls in np.unique(labels[labels > 0]):
        where = labels == cls
        out[where] = (1 - alpha) * out[where] + alpha * PALETTE[(int(cls) - 1) % len(PALETTE)]
    return np.round(out).astype(np.uint8)


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    return image.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else image


def panel_scale(shape: tuple, target: int = 96) -> int:
    """Integer enlargement that makes a (rows, cols, ...) panel about ``target`` pixels."""
    return max(1, int(target) // max(1, int(shape[0]), int(shape[1])))


def grid(rows: list[list[np.ndarray]], gap: int = GAP) -> np.ndarray:
    """RGB panels in rows and columns with ``gap`` white pixels between them; each cell is as large
    as the largest panel (a volume's slices differ), a panel sits at its cell's top left."""
    height = max(panel.shape[0] for row in rows for panel in row)
    width = max(panel.shape[1] for row in rows for panel in row)
    columns = max(len(row) for row in rows)
    sheet = np.full((len(rows) * height + gap * (len(rows) - 1), columns * width + gap * (columns - 1), 3),
                    255, np.uint8)
    for i, row in enumerate(rows):
        for j, panel in enumerate(row):
            top, left = i * (height + gap), j * (width + gap)
            sheet[top:top + panel.shape[0], left:left + panel.shape[1]] = panel
    return sheet


def middle_slices(volume: np.ndarray) -> list[np.ndarray]:
    """The middle slice across each of the three spatial axes of (d0, d1, d2[, channels])."""
    a = np.asarray(volume)
    return [a[a.shape[0] // 2], a[:, a.shape[1] // 2], a[:, :, a.shape[2] // 2]]


def segmentation_rows(x: np.ndarray, y: np.ndarray, pred: np.ndarray, scale: int) -> list[list[np.ndarray]]:
    """Panels image | ground truth overlaid | prediction overlaid for one 2-D sample, or for each of
    the three middle slices of a volume (one row per slice)."""
    if x.ndim == 4:  # (d0, d1, d2, channels)
        triples = zip(middle_slices(x), middle_slices(label_map(y)[..., None]), middle_slices(label_map(pred)[..., None]))
        return [row for xs, ys, ps in triples for row in segmentation_rows(xs, ys, ps, scale)]
    base = grey_rgb(x)
    truth, guess = label_map(y) if y.ndim == 3 else y, label_map(pred) if pred.ndim == 3 else pred
    return [[enlarge(base, scale), enlarge(overlay(base, truth), scale), enlarge(overlay(base, guess), scale)]]


def map_rows(x: np.ndarray, y: np.ndarray, pred: np.ndarray, scale: int) -> list[list[np.ndarray]]:
    """Panels image | target | prediction of a regression map (target and prediction on one range)."""
    if x.ndim == 4:
        return [row for xs, ys, ps in zip(middle_slices(x), middle_slices(y), middle_slices(pred))
                for row in map_rows(xs, ys, ps, scale)]
    both = np.concatenate([np.ravel(y[..., 0]), np.ravel(pred[..., 0])])
    both = both[np.isfinite(both)]
    value_range = (float(both.min()), float(both.max())) if both.size else None
    return [[enlarge(grey_rgb(x), scale), enlarge(grey_rgb(y[..., :1], value_range), scale),
             enlarge(grey_rgb(pred[..., :1], value_range), scale)]]


CAPTION_HEIGHT = 14


def captioned(panel: np.ndarray, text: str) -> np.ndarray:
    """``panel`` over a white strip of CAPTION_HEIGHT pixels holding ``text`` in black (Pillow's
    default font), as wide as the panel."""
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (panel.shape[1], CAPTION_HEIGHT), (255, 255, 255))
    ImageDraw.Draw(strip).text((2, 1), text, fill=(0, 0, 0))
    return np.concatenate([panel, np.asarray(strip)], axis=0)
