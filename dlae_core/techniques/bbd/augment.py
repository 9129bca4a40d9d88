"""BBD augmentation chain: constant-size photometric + geometric SSD augmentation.

numpy + scipy. :func:`augment_detection` transforms one normalized image and its
boxes with parameters drawn from a ``numpy.random.Generator`` (deterministic for
a seeded generator):

* probability 1/2 sequence A = translate -> zoom in -> horizontal flip,
  else sequence B = zoom out -> translate -> horizontal flip;
* translate (p = 1/2): |dy|, |dx| ~ U(0.03, 0.3) of H, W, random signs, shifted by
  round(H dy), round(W dx) whole pixels;
* zoom in (p = 1/2) factor ~ U(1, 3), zoom out (p = 1/2) factor ~ U(0.9, 1), about the
  image centre (x' = f x + (1 - f) W / 2, same for y), box corners rounded to integers;
* translate and zoom try up to ``rounds`` (at least 1) parameter draws until one box keeps
  >= 50 % of its area inside the image; if none does, that step leaves image and boxes
  unchanged; after a successful step boxes that are empty, smaller than 16 px^2 or less
  than 50 % inside are dropped, and the rest clipped to the image;
* horizontal flip (p = 1/2): xmin' = W - xmax, xmax' = W - xmin.

Borders are filled with 0 ("normalized 0", since normalization precedes augmentation).
The image is resampled (bilinear) with the same continuous-coordinate map as the boxes
(pixel (r, c) covers [c, c+1) x [r, r+1)), so boxes move exactly with the image; whole-pixel
translations and flips are exact.

Photometric step, first (so the zero borders of the geometric steps stay "normalized 0"):
brightness (p = 1/2) adds delta ~ U(-0.125, 0.125) x the image's intensity span (max - min; SSD's
+-32 of 255, independent of the normalization), then contrast (p = 1/2) scales about the image mean
by a factor ~ U(0.5, 1.5). The original defined such transforms but left them out of its chains; the
issue asks for them (docs/COMPATIBILITY.md).

Deviation from the original: boxes are clipped to [0, W] x [0, H] (the box convention of
§9.0, where a box touching the right edge has xmax = W), not to [0, W-1] x [0, H-1].
"""

from __future__ import annotations

import numpy as np

__all__ = ["augment_detection", "affine", "hflip", "filter_boxes", "inside_fraction", "photometric"]

TRANSLATE_RANGE = (0.03, 0.3)
ZOOM_IN_RANGE = (1.0, 3.0)
ZOOM_OUT_RANGE = (0.9, 1.0)
PROBABILITY = 0.5
BRIGHTNESS_DELTA = 0.125
CONTRAST_RANGE = (0.5, 1.5)
MIN_INSIDE = 0.5
MIN_AREA = 16.0


def inside_fraction(boxes: np.ndarray, image_hw) -> np.ndarray:
    """(k,) fraction of each box's area (rows [class, xmin, ymin, xmax, ymax]) inside the image;
    0 for an empty box."""
    height, width = image_hw
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    area = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2])
    w = np.clip(np.minimum(b[:, 3], width) - np.maximum(b[:, 1], 0), 0, None)
    h = np.clip(np.minimum(b[:, 4], height) - np.maximum(b[:, 2], 0), 0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(area > 0, w * h / np.where(area > 0, area, 1), 0.0)


def filter_boxes(boxes: np.ndarray, image_hw) -> np.ndarray:
    """Drop empty boxes, boxes under 16 px^2 and boxes less than half inside; clip the rest to
    [0, W] x [0, H]."""
    height, width = image_hw
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    area = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2])
    keep = (b[:, 3] > b[:, 1]) & (b[:, 4] > b[:, 2]) & (area >= MIN_AREA) & (inside_fraction(b, image_hw) >= MIN_INSIDE)
    b = b[keep].copy()
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, width)
    b[:, [2, 4]] = np.clip(b[:, [2, 4]], 0, height)
    return b.astype(np.float32)


def _warp(image: np.ndarray, factor: float, tx: float, ty: float) -> np.ndarray:
    """Resample so that input point (x, y) lands at (factor x + tx, factor y + ty)."""
    from scipy import ndimage  # on first use: importing it costs every run 0.35 s
    if factor == 1.0 and float(tx).is_integer() and float(ty).is_integer():
        return _shift(image, int(tx), int(ty))
    # output index o (centre o + 0.5) <- input index ((o + 0.5) - t) / f - 0.5
    matrix = [1.0 / factor, 1.0 / factor] + [1.0] * (image.ndim - 2)
    offset = [(0.5 - ty) / factor - 0.5, (0.5 - tx) / factor - 0.5] + [0.0] * (image.ndim - 2)
    out = ndimage.affine_transform(image.astype(np.float32, copy=False), matrix, offset=offset, order=1,
                                   mode="constant", cval=0.0, prefilter=False)
    return out.astype(np.float32, copy=False)


def _shift(image: np.ndarray, tx: int, ty: int) -> np.ndarray:
    """Exact whole-pixel shift with zero borders."""
    out = np.zeros_like(image, dtype=np.float32)
    height, width = image.shape[:2]
    if abs(ty) >= height or abs(tx) >= width:
        return out
    src_r, dst_r = slice(max(0, -ty), height - max(0, ty)), slice(max(0, ty), height - max(0, -ty))
    src_c, dst_c = slice(max(0, -tx), width - max(0, tx)), slice(max(0, tx), width - max(0, -tx))
    out[dst_r, dst_c] = image[src_r, src_c]
    return out


def affine(image: np.ndarray, boxes: np.ndarray, factor: float = 1.0, tx: float = 0.0, ty: float = 0.0,
           round_boxes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Map (x, y) -> (factor x + tx, factor y + ty) on the image (H, W[, C]) and the box corners
    (rounded to integers when ``round_boxes``). No filtering; returns (image, boxes float64)."""
    return _warp(image, float(factor), tx, ty), _move_boxes(boxes, factor, tx, ty, round_boxes)


def _move_boxes(boxes, factor: float, tx: float, ty: float, round_boxes: bool = True) -> np.ndarray:
    b = np.array(boxes, dtype=np.float64).reshape(-1, 5)
    b[:, [1, 3]] = factor * b[:, [1, 3]] + tx
    b[:, [2, 4]] = factor * b[:, [2, 4]] + ty
    if round_boxes:
        b[:, 1:] = np.round(b[:, 1:])
    return b


def hflip(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right: xmin' = W - xmax, xmax' = W - xmin."""
    width = image.shape[1]
    b = np.array(boxes, dtype=np.float32).reshape(-1, 5)
    b[:, [1, 3]] = width - b[:, [3, 1]]
    return np.ascontiguousarray(image[:, ::-1]), b


def _trials(image, boxes, rounds, draw):
    """Up to ``rounds`` draws of (factor, tx, ty); the first that keeps a box >= 50 % inside wins."""
    hw = image.shape[:2]
    for _ in range(max(1, int(rounds))):
        factor, tx, ty = draw()
        moved = _move_boxes(boxes, factor, tx, ty)
        if len(moved) and (inside_fraction(moved, hw) >= MIN_INSIDE).any():
            return _warp(image, factor, tx, ty), filter_boxes(moved, hw)
    return image, boxes


def _translate(image, boxes, rng, rounds):
    if rng.random() >= PROBABILITY:
        return image, boxes
    height, width = image.shape[:2]

    def draw():
        dy, dx = rng.uniform(*TRANSLATE_RANGE), rng.uniform(*TRANSLATE_RANGE)
        dy, dx = dy * rng.choice((-1.0, 1.0)), dx * rng.choice((-1.0, 1.0))
        return 1.0, float(round(width * dx)), float(round(height * dy))
    return _trials(image, boxes, rounds, draw)


def _zoom(image, boxes, rng, rounds, bounds):
    if rng.random() >= PROBABILITY:
        return image, boxes
    height, width = image.shape[:2]

    def draw():
        factor = float(rng.uniform(*bounds))
        return factor, (1.0 - factor) * width / 2.0, (1.0 - factor) * height / 2.0
    return _trials(image, boxes, rounds, draw)


def photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random brightness then random contrast (module docstring); the image's shape is kept."""
    out = np.asarray(image, dtype=np.float32)
    if rng.random() < PROBABILITY:
        span = float(out.max() - out.min()) if out.size else 0.0
        out = out + np.float32(rng.uniform(-BRIGHTNESS_DELTA, BRIGHTNESS_DELTA) * span)
    if rng.random() < PROBABILITY:
        mean = np.float32(out.mean())
        out = (out - mean) * np.float32(rng.uniform(*CONTRAST_RANGE)) + mean
    return out.astype(np.float32, copy=False)


def _flip(image, boxes, rng):
    return hflip(image, boxes) if rng.random() < PROBABILITY else (image, boxes)


def augment_detection(image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator,
                      rounds: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One draw of the chain (module docstring) on ``image`` (H, W) or (H, W, C) and ``boxes``
    (k, 5) ``[class, xmin, ymin, xmax, ymax]`` in pixels. Returns (image float32, same shape;
    boxes float32 (k', 5), k' <= k). ``rounds`` = ``augmentation.rounds`` (trials per step)."""
    image = np.asarray(image, dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 5)
    image = photometric(image, rng)
    if rng.random() < 0.5:
        image, boxes = _translate(image, boxes, rng, rounds)
        image, boxes = _zoom(image, boxes, rng, rounds, ZOOM_IN_RANGE)
    else:
        image, boxes = _zoom(image, boxes, rng, rounds, ZOOM_OUT_RANGE)
        image, boxes = _translate(image, boxes, rng, rounds)
    image, boxes = _flip(image, boxes, rng)
    return image, np.asarray(boxes, dtype=np.float32).reshape(-1, 5)
