"""Boxes drawn on a sample with Pillow: the ground truth and the detections of a BBD model.

A box ``[xmin, ymin, xmax, ymax]`` is in input pixels (x = column, y = row) and covers the pixels
``xmin .. xmax`` (exclusive); on a panel enlarged ``scale`` times its one-pixel outline runs along
rows ``round(ymin * scale)`` and ``round(ymax * scale) - 1`` and columns ``round(xmin * scale)`` and
``round(xmax * scale) - 1`` (clipped to the panel), in the colour of its class (images.PALETTE). Its
label (the class, and for a detection its confidence) sits in a small filled tag above the box, or
inside it at the top when there is no room above.
"""

from __future__ import annotations

import numpy as np

from dlae_core.report.images import PALETTE, enlarge

#: at most this many detections are drawn per image (the most confident: decode sorts them)
MAX_DETECTIONS = 10


def class_colour(cls: int) -> tuple[int, int, int]:
    """The colour of object class ``cls`` (1, 2, ...), the one the segmentation overlays use."""
    return tuple(int(v) for v in PALETTE[(int(cls) - 1) % len(PALETTE)])


def outline(box, scale: int, height: int, width: int) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) pixel columns/rows of a box's outline on a ``height`` x ``width``
    panel enlarged ``scale`` times (inclusive, clipped); None when the box lies outside the panel."""
    xmin, ymin, xmax, ymax = (float(v) * scale for v in box)
    left, top = max(0, round(xmin)), max(0, round(ymin))
    right, bottom = min(width - 1, round(xmax) - 1), min(height - 1, round(ymax) - 1)
    if right < left or bottom < top:
        return None
    return left, top, right, bottom


def draw_boxes(image_rgb: np.ndarray, boxes: np.ndarray, scale: int, *, detections: bool) -> np.ndarray:
    """``image_rgb`` (uint8 RGB of the sample's own pixels) enlarged ``scale`` times with ``boxes``
    drawn: rows ``[class, xmin, ymin, xmax, ymax]`` (ground truth) or, with ``detections``,
    ``[class, confidence, xmin, ymin, xmax, ymax]`` (the first MAX_DETECTIONS drawn, the least
    confident first so the best ones lie on top)."""
    from PIL import Image, ImageDraw

    panel = Image.fromarray(np.ascontiguousarray(enlarge(image_rgb, scale)))
    pen = ImageDraw.Draw(panel)
    rows = np.asarray(boxes, np.float64).reshape(-1, 6 if detections else 5)
    if detections:
        rows = rows[:MAX_DETECTIONS][::-1]
    for row in rows:
        cls = int(round(row[0]))
        where = outline(row[-4:], scale, panel.height, panel.width)
        if where is None:
            continue
        colour = class_colour(cls)
        pen.rectangle(where, outline=colour, width=1)
        _tag(pen, f"{cls} {row[1]:.2f}" if detections else str(cls), where, colour)
    return np.asarray(panel)


def _tag(pen, text: str, where: tuple[int, int, int, int], colour: tuple[int, int, int]) -> None:
    """The label in a filled box of the class colour, above the outline (inside it at the top edge
    of the panel), black or white text, whichever reads better on the colour."""
    left, top, right, _ = where
    x0, y0, x1, y1 = pen.textbbox((0, 0), text)
    text_w, text_h = x1 - x0 + 2, y1 - y0 + 2
    above = top - text_h >= 0
    y = top - text_h if above else top + 1
    x = min(left, max(0, pen.im.size[0] - text_w))
    pen.rectangle((x, y, x + text_w - 1, y + text_h - 1), fill=colour)
    ink = (0, 0, 0) if sum(colour) > 382 else (255, 255, 255)
    pen.text((x + 1 - x0, y + 1 - y0), text, fill=ink)
