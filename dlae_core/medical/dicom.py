"""A DICOM series (a folder of single-slice files) as one :class:`~dlae_core.medical.images.Volume`.

Slices are ordered by their position along the slice normal (ImagePositionPatient projected on the
cross product of the ImageOrientationPatient cosines), never by file name or InstanceNumber, so a
folder whose file names are shuffled reads the same. A gap in the positions larger than 1.5 times
the typical slice step is a missing slice, reported with where it is; so are slices of different
sizes and two slices at one position. The array is (row, column, slice) in modality units
(RescaleSlope and RescaleIntercept applied); the affine maps it to RAS+ world coordinates (DICOM's
LPS with x and y negated), as NIfTI files store it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlae_core.errors import DataError, problem
from dlae_core.medical import require
from dlae_core.medical.images import Volume, source_kind, unreadable

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def read_series(path: Path) -> Volume:
    """The series in folder ``path`` (or the single DICOM file ``path``)."""
    pydicom = require("pydicom")
    files = [path] if path.is_file() else [p for p in sorted(path.iterdir())
                                           if p.is_file() and source_kind(p) == "dicom"]
    slices = []
    for file in files:
        try:
            slices.append((file, pydicom.dcmread(str(file))))
        except Exception as exc:  # InvalidDicomError, EOFError, OSError, ...
            raise unreadable(file, "cannot be read as DICOM", "an intact DICOM file", exc) from None
    if not slices:
        raise DataError([problem(str(path), "the folder holds no DICOM files", expected="the files of one series",
                                 received="no .dcm files")])
    geometry = _geometry(path, slices)
    ordered = [slices[i] for i in geometry.order]
    array = np.stack([_pixels(file, data) for file, data in ordered], axis=-1)
    if len(ordered) == 1 and array.ndim == 3:
        array = array[..., 0]
    rank = 3 if array.ndim == 3 else 2
    return Volume(array, "dicom", geometry.spacing[:rank], geometry.affine, rank, tuple(array.shape))


class _Geometry:
    def __init__(self, order, spacing, affine):
        self.order, self.spacing, self.affine = order, spacing, affine


def _geometry(path: Path, slices: list) -> _Geometry:
    """Slice order, spacing (row, column, slice) and RAS affine of a series; DataError for
    unequal slice sizes, repeated positions and missing slices."""
    sizes = {(int(d.Rows), int(d.Columns)) for _, d in slices}
    if len(sizes) > 1:
        raise DataError([problem(str(path), "the slices of the series differ in size", expected="one Rows x Columns "
                                 "size for every slice", received=sorted(sizes)[:3])])
    first = slices[0][1]
    pixel = [float(v) for v in getattr(first, "PixelSpacing", (1.0, 1.0))]
    cosines = np.asarray([float(v) for v in getattr(first, "ImageOrientationPatient", (1, 0, 0, 0, 1, 0))])
    row_cos, col_cos = cosines[:3], cosines[3:]
    normal = np.cross(row_cos, col_cos)
    positions = np.asarray([[float(v) for v in getattr(d, "ImagePositionPatient", (0.0, 0.0, float(k)))]
                            for k, (_, d) in enumerate(slices)])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    along, positions = along[order], positions[order]
    step = _slice_step(path, slices, order, along)
    affine = np.eye(4)
    affine[:3, 0] = col_cos * pixel[0]  # down the rows: the column direction, row spacing
    affine[:3, 1] = row_cos * pixel[1]  # along a row: the row direction, column spacing
    affine[:3, 2] = (positions[-1] - positions[0]) / (len(slices) - 1) if len(slices) > 1 else normal * step
    affine[:3, 3] = positions[0]
    return _Geometry(order.tolist(), (pixel[0], pixel[1], step), LPS_TO_RAS @ affine)


def _slice_step(path: Path, slices: list, order: np.ndarray, along: np.ndarray) -> float:
    if len(along) < 2:
        return float(getattr(slices[0][1], "SliceThickness", 1.0) or 1.0)
    gaps = np.diff(along)
    if np.any(gaps < 1e-4):
        k = int(np.argmax(gaps < 1e-4))
        names = [slices[order[k]][0].name, slices[order[k + 1]][0].name]
        raise DataError([problem(str(path), f"two slices lie at one position ({along[k]:g} mm along the normal)",
                                 expected="one slice per position (one series per folder)", received=names)])
    step = float(np.median(gaps))
    big = np.flatnonzero(gaps > 1.5 * step)
    if big.size:
        k = int(big[0])
        missing = int(round(gaps[k] / step)) - 1
        raise DataError([problem(str(path), f"the series misses {missing} slice(s) between positions "
                                 f"{along[k]:g} and {along[k + 1]:g} mm (after file {slices[order[k]][0].name}); "
                                 f"{big.size} such gap(s)", expected=f"evenly spaced slices ({step:g} mm apart)",
                                 received=f"a gap of {gaps[k]:g} mm")])
    return step


def _pixels(file: Path, data) -> np.ndarray:
    """One slice in modality units: the stored values times RescaleSlope plus RescaleIntercept."""
    try:
        values = data.pixel_array
    except Exception as exc:  # no pixel data, an unsupported transfer syntax
        raise unreadable(file, "the DICOM file's pixel data cannot be decoded", "uncompressed or "
                         "decodable pixel data", exc) from None
    slope = float(getattr(data, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(data, "RescaleIntercept", 0.0) or 0.0)
    if slope == 1.0 and intercept == 0.0:
        return values
    return (values.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)
