"""Deterministic tiny example data sets in the DLAE layout (one dataset per sample).

:func:`write_example_data` writes train, validation and test files for one kind
of task, so examples and tests have data without any download. The images are
small, the classes clearly separable, and the same ``seed`` always gives the
same bytes. Kinds (X always float32 in [0, 1] unless noted):

* ``classification`` -- (size, size, 1) uint8 images of 2-4 classes (horizontal
  stripes, vertical stripes, a disc, a checkerboard); y = (1,) int64 label.
* ``segmentation`` -- (size, size, 1) images with bright discs (class 1) and
  dimmer squares (class 2) on noise; y = (size, size) uint8 mask 0..2.
* ``segmentation3d`` -- (size, size, depth, 1) volumes with spheres (1) and
  cubes (2), depth = max(6, size // 2); y = (size, size, depth) uint8 mask.
* ``regression`` -- (size, size, 1) images of one Gaussian blob; y = (2,)
  float32 centre (row, col) divided by size, so in [0, 1].
* ``translation`` -- paired (size, size, 1) images: X = outlines of discs and
  squares, y = the filled shapes.
* ``detection`` -- (size, size, 1) images with 1-3 non-overlapping rectangles
  (class 1, bright) and discs (class 2, dimmer); y = (n, 5) float32 rows
  [class, xmin, ymin, xmax, ymax] in pixels (x = column, y = row; xmax and ymax
  are one past the last covered pixel). Also writes ``test_y``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from dlae_core.errors import DataError, problem

DEFAULT_SIZE = {"classification": 16, "segmentation": 16, "segmentation3d": 16, "regression": 16,
                "translation": 16, "detection": 32}
KINDS = tuple(DEFAULT_SIZE)
SPLITS = ("train", "validation", "test")


def write_example_data(folder: str | os.PathLike, kind: str, n: int = 64, size: int | None = None,
                       seed: int = 0, *, classes: int = 3, overwrite: bool = False) -> dict[str, Path]:
    """Write an example data set of ``kind`` into ``folder`` (created if needed).

    ``n`` training samples are written, and max(2, n // 4) validation and test
    samples each; ``size`` is the image side in pixels (default per kind, at
    least 8); ``classes`` (2-4) applies to ``classification`` only. Returns the
    written paths keyed ``train_X``, ``train_y``, ``validation_X``,
    ``validation_y``, ``test_X`` (and ``test_y`` for detection). Raises
    DataError for an unknown kind or bad size, and, unless ``overwrite``, when
    any of the files already exists (nothing is written then).
    """
    if kind not in KINDS:
        raise DataError([problem("kind", "unknown example data kind", expected="one of " + ", ".join(KINDS),
                                 received=kind, choices=KINDS)])
    size = DEFAULT_SIZE[kind] if size is None else int(size)
    checks = [("n", n >= 1, "at least 1", n), ("size", size >= 8, "at least 8", size),
              ("classes", 2 <= classes <= 4, "2, 3 or 4", classes)]
    bad = [problem(name, "invalid example data setting", expected=want, received=got) for name, ok, want, got
           in checks if not ok]
    if bad:
        raise DataError(bad)
    folder = Path(folder)
    counts = {"train": n, "validation": max(2, n // 4), "test": max(2, n // 4)}
    paths = {f"{split}_{part}": folder / f"{kind}_{split}_{part}.h5" for split in SPLITS for part in "Xy"
             if part == "X" or split != "test" or kind == "detection"}
    existing = [p for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise DataError([problem(str(p), "the file already exists and would be overwritten",
                                 expected="a new file name, another folder, or overwrite=True", received=str(p))
                         for p in existing])
    folder.mkdir(parents=True, exist_ok=True)
    make = _MAKERS[kind]
    for index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, index])
        xs, ys = make(rng, counts[split], size, classes)
        _write(paths[f"{split}_X"], xs)
        if f"{split}_y" in paths:
            _write(paths[f"{split}_y"], ys)
    return paths


def _write(path: Path, samples) -> None:
    with h5py.File(path, "w") as handle:
        for index, sample in enumerate(samples):
            handle.create_dataset(str(index), data=sample)


# -- drawing helpers ---------------------------------------------------------------------
def _noise(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return (0.1 + 0.05 * rng.standard_normal(shape)).astype(np.float32)


def _disc(grid: tuple, centre, radius: float) -> np.ndarray:
    return sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius ** 2


def _box(grid: tuple, low, high) -> np.ndarray:
    inside = np.ones(grid[0].shape, dtype=bool)
    for g, lo, hi in zip(grid, low, high):
        inside &= (g >= lo) & (g < hi)
    return inside


def _random_shape(rng: np.random.Generator, grid: tuple, size: tuple) -> tuple[int, np.ndarray]:
    """A disc/sphere (class 1) or square/cube (class 2) fully inside the image."""
    cls = int(rng.integers(1, 3))
    extent = max(2, min(size) // 5)
    radius = int(rng.integers(2, extent + 1)) if extent > 2 else 2
    centre = [int(rng.integers(radius, s - radius)) for s in size]
    if cls == 1:
        return cls, _disc(grid, centre, radius + 0.5)
    return cls, _box(grid, [c - radius for c in centre], [c + radius + 1 for c in centre])


def _grow(mask: np.ndarray, outside: bool = False) -> np.ndarray:
    """``mask`` plus its 4-neighbours (one step of binary dilation); ``outside`` fills the border."""
    padded = np.pad(mask, 1, constant_values=outside)
    return mask | padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]


def _clip(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0.0, 1.0).astype(np.float32)


# -- kinds -------------------------------------------------------------------------------
def _classification(rng, count, size, classes):
    rr, cc = np.mgrid[0:size, 0:size]
    labels = rng.permutation(np.arange(count) % classes)
    xs, ys = [], []
    for label in labels:
        phase_r, phase_c = rng.integers(0, 4, 2)
        pattern = [((rr + phase_r) // 2) % 2, ((cc + phase_c) // 2) % 2,
                   _disc((rr, cc), rng.uniform(size / 3, 2 * size / 3, 2), rng.uniform(size / 5, size / 3)),
                   ((rr + phase_r) // 3 + (cc + phase_c) // 3) % 2][label]
        image = rng.uniform(10, 40) + rng.uniform(150, 210) * pattern + 8 * rng.standard_normal((size, size))
        xs.append(np.clip(image, 0, 255).astype(np.uint8)[..., None])
        ys.append(np.array([label], dtype=np.int64))
    return xs, ys


def _segmentation(rng, count, size, classes, depth: int | None = None):
    shape = (size, size) if depth is None else (size, size, depth)
    grid = np.indices(shape)
    xs, ys = [], []
    for _ in range(count):
        image, mask = _noise(rng, shape), np.zeros(shape, dtype=np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            cls, inside = _random_shape(rng, grid, shape)
            mask[inside] = cls
            image[inside] = rng.uniform(0.8, 1.0) if cls == 1 else rng.uniform(0.45, 0.6)
        xs.append(_clip(image)[..., None])
        ys.append(mask)
    return xs, ys


def _segmentation3d(rng, count, size, classes):
    return _segmentation(rng, count, size, classes, depth=max(6, size // 2))


def _regression(rng, count, size, classes):
    rr, cc = np.mgrid[0:size, 0:size]
    xs, ys = [], []
    for _ in range(count):
        centre = rng.uniform(2, size - 3, 2)
        sigma = rng.uniform(1.2, 2.0)
        blob = np.exp(-((rr - centre[0]) ** 2 + (cc - centre[1]) ** 2) / (2 * sigma ** 2))
        xs.append(_clip(0.9 * blob + 0.03 * rng.standard_normal((size, size)) + 0.05)[..., None])
        ys.append((centre / size).astype(np.float32))
    return xs, ys


def _translation(rng, count, size, classes):
    grid = np.indices((size, size))
    xs, ys = [], []
    for _ in range(count):
        filled = np.zeros((size, size), dtype=bool)
        for _ in range(int(rng.integers(1, 3))):
            filled |= _random_shape(rng, grid, (size, size))[1]
        outline = filled & _grow(~filled, outside=True)
        xs.append(outline.astype(np.float32)[..., None])
        ys.append(filled.astype(np.float32)[..., None])
    return xs, ys


def _detection(rng, count, size, classes):
    rr, cc = np.mgrid[0:size, 0:size]
    low, high = max(4, size // 6), max(5, size // 3)
    xs, ys = [], []
    for _ in range(count):
        image, taken, boxes = _noise(rng, (size, size)), np.zeros((size, size), dtype=bool), []
        for _ in range(int(rng.integers(1, 4))):
            for _try in range(20):
                cls = int(rng.integers(1, 3))
                if cls == 1:
                    h, w = rng.integers(low, high + 1, 2)
                    r0, c0 = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
                    inside = _box((rr, cc), (r0, c0), (r0 + h, c0 + w))
                else:
                    radius = int(rng.integers(low // 2, high // 2 + 1))
                    centre = rng.integers(radius, size - radius, 2)
                    inside = _disc((rr, cc), centre, radius + 0.5)
                if not (_grow(inside) & taken).any():
                    break
            else:
                continue
            taken |= inside
            image[inside] = rng.uniform(0.85, 1.0) if cls == 1 else rng.uniform(0.5, 0.65)
            rows, cols = np.nonzero(inside)
            boxes.append([cls, cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
        xs.append(_clip(image)[..., None])
        ys.append(np.asarray(boxes, dtype=np.float32).reshape(-1, 5))
    return xs, ys


_MAKERS: dict[str, Callable] = {"classification": _classification, "segmentation": _segmentation,
                                "segmentation3d": _segmentation3d, "regression": _regression,
                                "translation": _translation, "detection": _detection}
