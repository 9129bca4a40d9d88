"""GAN preview sheets: a grid layout of channels-last images, written as PNG with Pillow (extra
``report``; ``medical`` brings Pillow too).

``write_preview(path, rows)`` writes one PNG whose rows are lists of images (e.g. source |
generated | target). Each image is channels-last (rows, cols[, slices], channels): a volume shows
its middle slice (index slices // 2); 3 channels are shown as RGB, any other count as the first
channel in grey. Values are mapped linearly from a data range (lo, hi) to 0..255 and clipped: per
image the range given in ``ranges`` (same nesting as ``rows``, or one (lo, hi) for all), else the
image's own minimum and maximum. Panels are enlarged by an integer ``scale`` (nearest neighbour)
and separated by ``gap`` white pixels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dlae_core.extras import require
from dlae_core.running.outputs import write_atomic

GAP = 2


def png_bytes(image: np.ndarray) -> bytes:
    """PNG file bytes of an 8-bit image: (height, width) grey or (height, width, 3) RGB."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"a PNG image must be uint8, not {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"a PNG image must be (height, width) or (height, width, 3), not {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"a PNG image needs at least one pixel, got {image.shape}")
    require("report", "PNG pictures")
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), "L" if image.ndim == 2 else "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write ``image`` (see :func:`png_bytes`) atomically to ``path``."""
    data = png_bytes(image)
    return write_atomic(path, lambda tmp: tmp.write_bytes(data))


def png_header(data: bytes | str | Path) -> dict:
    """width, height, bit_depth and color_type (0 grey, 2 RGB, 6 RGBA, ...) of PNG bytes or a PNG
    file. ValueError when it is not a valid PNG."""
    from PIL import Image, UnidentifiedImageError

    source = io.BytesIO(bytes(data)) if isinstance(data, (bytes, bytearray)) else Path(data)
    try:
        with Image.open(source) as image:
            if image.format != "PNG":
                raise ValueError(f"not a PNG file ({image.format})")
            image.load()  # decodes every chunk: a cut or corrupt file fails here
            mode, (width, height) = image.mode, image.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not a PNG file ({exc})") from None
    color = {"1": 0, "L": 0, "I": 0, "I;16": 0, "P": 3, "LA": 4, "RGB": 2, "RGBA": 6}.get(mode, -1)
    depth = {"1": 1, "I": 16, "I;16": 16}.get(mode, 8)
    return {"width": width, "height": height, "bit_depth": depth, "color_type": color}


def display_plane(image: np.ndarray) -> np.ndarray:
    """The 2-D picture of a channels-last sample: (rows, cols) grey or (rows, cols, 3) RGB
    (a volume's middle slice; 3 channels RGB, otherwise the first channel)."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 2:
        return a
    if a.ndim == 4:
        a = a[:, :, a.shape[2] // 2, :]
    if a.ndim != 3:
        raise ValueError(f"a preview image must be (rows, cols[, slices], channels), not {a.shape}")
    return a if a.shape[-1] == 3 else a[..., 0]


def to_uint8(plane: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Map ``plane`` linearly from (lo, hi) (default: its own min and max) to 0..255, clipped;
    NaN becomes 0 and a flat range gives mid grey."""
    a = np.asarray(plane, dtype=np.float64)
    finite = a[np.isfinite(a)]
    if value_range is None:
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    else:
        lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        return np.full(a.shape, 128, np.uint8)
    scaled = np.nan_to_num((a - lo) / (hi - lo), nan=0.0, posinf=1.0, neginf=0.0)
    return np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)


def panel_scale(shape: tuple, target: int = 64) -> int:
    """Integer enlargement so that a panel of ``shape`` (rows, cols, ...) is about ``target`` pixels."""
    return max(1, int(target) // max(1, max(int(shape[0]), int(shape[1]))))


def compose(rows: Sequence[Sequence[np.ndarray]], ranges=None, *, scale: int = 1, gap: int = GAP) -> np.ndarray:
    """The uint8 sheet of ``rows`` (module docstring); RGB when any panel is RGB."""
    if not rows or not all(len(r) for r in rows):
        raise ValueError("a preview needs at least one row of images")
    columns = max(len(r) for r in rows)
    panels = []
    for i, row in enumerate(rows):
        out = []
        for j, image in enumerate(row):
            value_range = _range_of(ranges, i, j)
            plane = to_uint8(display_plane(image), value_range)
            if scale > 1:
                plane = plane.repeat(scale, axis=0).repeat(scale, axis=1)
            out.append(plane)
        panels.append(out)
    rgb = any(p.ndim == 3 for row in panels for p in row)
    height = max(p.shape[0] for row in panels for p in row)
    width = max(p.shape[1] for row in panels for p in row)
    sheet_shape = (len(rows) * height + gap * (len(rows) - 1), columns * width + gap * (columns - 1))
    sheet = np.full(sheet_shape + ((3,) if rgb else ()), 255, np.uint8)
    for i, row in enumerate(panels):
        for j, plane in enumerate(row):
            if rgb and plane.ndim == 2:
                plane = np.repeat(plane[:, :, None], 3, axis=2)
            top, left = i * (height + gap), j * (width + gap)
            sheet[top:top + plane.shape[0], left:left + plane.shape[1]] = plane
    return sheet


def _range_of(ranges, i: int, j: int):
    if ranges is None:
        return None
    if len(ranges) == 2 and all(isinstance(v, (int, float, np.floating, np.integer)) for v in ranges):
        return ranges
    row = ranges[i]
    return None if row is None else row[j]


def write_preview(path: str | Path, rows: Sequence[Sequence[np.ndarray]], ranges=None, *,
                  scale: int | None = None, gap: int = GAP) -> Path:
    """Write the preview sheet of ``rows`` to ``path`` (PNG, atomically). ``scale`` defaults to
    :func:`panel_scale` of the first image."""
    if scale is None:
        scale = panel_scale(np.asarray(rows[0][0]).shape) if rows and rows[0] else 1
    return write_png(path, compose(rows, ranges, scale=scale, gap=gap))
