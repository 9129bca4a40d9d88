"""Images for the prediction samples, as RGB float arrays in 0..255 (numpy only): an input in grey,
a class map over it, boxes on it. A volume is shown by its middle slice. Pictures are enlarged by an
integer ``scale`` (nearest neighbour) before boxes are drawn, so a box edge lies on the pixel
boundary it names at any size."""

from __future__ import annotations

import numpy as np

# class 0 (background) is left clear; classes 1.. take these colours in turn
PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                    [145, 30, 180], [70, 240, 240], [240, 50, 230]], np.float32)
TRUTH, PREDICTED = (60.0, 220.0, 60.0), (255.0, 60.0, 60.0)


def _plane(array: np.ndarray, channels: bool = True) -> np.ndarray:
    """The 2-D picture of a channels-last image (or a class map when ``channels`` is False)."""
    array = np.asarray(array)
    spatial = array.ndim - (1 if channels else 0)
    if spatial == 3:  # a volume: its middle slice
        array = array[:, :, array.shape[2] // 2]
    return array


def grey(image: np.ndarray) -> np.ndarray:
    """(rows, cols, 3) in 0..255: 3 channels as RGB, otherwise the first channel in grey, each
    stretched from its own minimum to its maximum."""
    plane = _plane(np.asarray(image, np.float32))
    if plane.ndim == 2:
        plane = plane[..., None]
    plane = plane if plane.shape[-1] == 3 else np.repeat(plane[..., :1], 3, axis=-1)
    low, high = float(plane.min()), float(plane.max())
    return (plane - low) * (255.0 / (high - low)) if high > low else np.zeros_like(plane)


def label_overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The grey input with each class > 0 of ``labels`` blended in its colour."""
    base = grey(image)
    plane = _plane(labels, channels=False).astype(np.int64)
    out = base.copy()
    mask = plane > 0
    colours = PALETTE[(plane[mask] - 1) % len(PALETTE)]
    out[mask] = (1 - alpha) * base[mask] + alpha * colours
    return out


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """``image`` (rows, cols, ...) with every pixel repeated ``scale`` times along both axes."""
    image = np.asarray(image)
    return image if scale == 1 else image.repeat(scale, axis=0).repeat(scale, axis=1)


def box_edges(box, scale: int, shape: tuple) -> tuple[int, int, int, int]:
    """The first and last pixel columns and rows ``(x0, y0, x1, y1)`` of the box ``(xmin, ymin, xmax,
    ymax)`` (input pixels, corners on pixel boundaries: pixel i spans i..i+1) in a picture of
    ``shape`` enlarged ``scale`` times, clipped to the picture."""
    rows, cols = shape[:2]
    xmin, ymin, xmax, ymax = (float(v) * scale for v in box)
    x0, y0 = int(np.clip(round(xmin), 0, cols - 1)), int(np.clip(round(ymin), 0, rows - 1))
    x1, y1 = int(np.clip(round(xmax) - 1, x0, cols - 1)), int(np.clip(round(ymax) - 1, y0, rows - 1))
    return x0, y0, x1, y1


def _rectangle(out: np.ndarray, box, colour, scale: int) -> None:
    x0, y0, x1, y1 = box_edges(box, scale, out.shape)
    width = max(1, scale // 3)  # lines of about a third of an input pixel, inside the box
    out[y0:min(y0 + width, y1 + 1), x0:x1 + 1] = colour
    out[max(y1 - width + 1, y0):y1 + 1, x0:x1 + 1] = colour
    out[y0:y1 + 1, x0:min(x0 + width, x1 + 1)] = colour
    out[y0:y1 + 1, max(x1 - width + 1, x0):x1 + 1] = colour


def boxes_image(image: np.ndarray, truth: np.ndarray | None, detections: np.ndarray, scale: int = 1) -> np.ndarray:
    """The input enlarged ``scale`` times with the true boxes ``[class, xmin, ymin, xmax, ymax]`` in
    green and the detections ``[class, confidence, xmin, ymin, xmax, ymax]`` in red, both in input
    pixels (what ``dlae predict`` writes and detection targets hold)."""
    out = enlarge(grey(image), scale)
    for row in truth if truth is not None else ():
        _rectangle(out, row[1:5], TRUTH, scale)
    for row in np.asarray(detections).reshape(-1, 6):
        _rectangle(out, row[2:6], PREDICTED, scale)
    return out
