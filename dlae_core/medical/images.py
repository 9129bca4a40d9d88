"""Reading one image source -- a PNG/JPEG/TIFF file, a NIfTI file or a DICOM series folder -- into a
:class:`Volume`: the voxel array with its geometry (voxel spacing and the voxel-to-world affine).

Arrays keep the source's own voxel order: a NIfTI array is nibabel's (i, j, k), so a label map
predicted for it and written back with the source's affine lies exactly on the source; a DICOM
series is (row, column, slice), slices ordered by their position along the slice normal; an image
file is (row, column). Channels (RGB, a 4-D NIfTI's last axis) are the last axis. A NIfTI volume
with a single slice is a 2D image (its shape is kept to write predictions back).
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import numpy as np

from dlae_core.errors import DataError, problem
from dlae_core.medical import require

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
DICOM_SUFFIXES = (".dcm", ".dicom")


@attrs.frozen(eq=False)
class Volume:
    """One image: ``array`` (spatial axes, then channels when there are several), its ``kind``
    (``"image"``, ``"nifti"``, ``"dicom"``), ``spacing`` per spatial axis, the 4x4 voxel-to-world
    ``affine`` (RAS+, as NIfTI; pixel units for image files), the NIfTI ``header`` (None
    otherwise), the source's array ``source_shape`` and the spatial ``rank`` (2 or 3)."""

    array: np.ndarray
    kind: str
    spacing: tuple[float, ...]
    affine: np.ndarray
    rank: int
    source_shape: tuple[int, ...]
    header: object = None

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape[:self.rank])

    @property
    def channels(self) -> int:
        return int(self.array.shape[self.rank]) if self.array.ndim > self.rank else 1

    def orientation(self) -> str:
        """Axis codes of the affine, e.g. ``"RAS"`` (which world direction each array axis points to)."""
        return axis_codes(self.affine)[:self.rank]


def axis_codes(affine: np.ndarray) -> str:
    """The world direction (R/L, A/P, S/I) each voxel axis of ``affine`` mostly points to."""
    letters = (("L", "R"), ("P", "A"), ("I", "S"))
    out = []
    for column in np.asarray(affine, dtype=np.float64)[:3, :3].T:
        axis = int(np.argmax(np.abs(column)))
        out.append(letters[axis][int(column[axis] > 0)])
    return "".join(out)


def source_kind(path: Path) -> str | None:
    """``"image"``, ``"nifti"``, ``"dicom"`` (a DICOM file, or a folder holding a series) or None."""
    name = path.name.lower()
    if path.is_dir():
        return "dicom" if any(source_kind(child) == "dicom" for child in _files(path)) else None
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(IMAGE_SUFFIXES):
        return "image"
    if name.endswith(DICOM_SUFFIXES) or (not path.suffix and _has_dicom_magic(path)):
        return "dicom"
    return None


def strip_suffix(name: str) -> str:
    """``case01.nii.gz`` -> ``case01``; ``a.png`` -> ``a``; a folder name is kept."""
    lower = name.lower()
    for suffix in NIFTI_SUFFIXES[::-1] + IMAGE_SUFFIXES + DICOM_SUFFIXES:
        if lower.endswith(suffix):
            return name[:-len(suffix)]
    return name


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _has_dicom_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def unreadable(path: os.PathLike | str, what: str, expected: str, exc: BaseException | str) -> DataError:
    """The one-line DataError of a source that cannot be read."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError([problem(str(path), what, expected=expected, received=detail)])


def read_volume(path: os.PathLike | str) -> Volume:
    """The :class:`Volume` of an image file, a NIfTI file or a DICOM series folder (or file);
    DataError naming the source when it cannot be read."""
    path = Path(path)
    kind = source_kind(path)
    if kind == "nifti":
        return read_nifti(path)
    if kind == "image":
        return read_image_file(path)
    if kind == "dicom":
        from dlae_core.medical.dicom import read_series

        return read_series(path)
    raise DataError([problem(str(path), "not an image source dlae reads", expected="a PNG/JPEG/TIFF/BMP file, "
                             "a NIfTI file (.nii, .nii.gz) or a folder of DICOM files (one series)",
                             received=path.name)])


def read_nifti(path: Path) -> Volume:
    nibabel = require("nibabel")
    try:
        image = nibabel.load(str(path))
        array = np.asanyarray(image.dataobj)  # scaled by scl_slope/inter when the header has them
    except Exception as exc:  # nibabel raises many kinds (ImageFileError, EOFError, zlib.error, ...)
        raise unreadable(path, "cannot be read as NIfTI", "an intact .nii or .nii.gz file", exc) from None
    source_shape = tuple(int(s) for s in array.shape)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]  # one slice: a 2D image
    elif array.ndim == 4 and array.shape[2] == 1:
        array = array[:, :, 0, :]
    if array.ndim not in (2, 3, 4):
        raise DataError([problem(str(path), f"a {array.ndim}-D NIfTI image", expected="a 2-D or 3-D image, or a "
                                 "4-D one whose last axis holds channels", received=source_shape)])
    rank = 2 if array.ndim == 2 or (array.ndim == 3 and len(source_shape) == 4) else min(array.ndim, 3)
    zooms = tuple(float(z) for z in image.header.get_zooms()[:rank])
    return Volume(array, "nifti", zooms, np.asarray(image.affine, np.float64), rank, source_shape, image.header)


def read_image_file(path: Path) -> Volume:
    """A PNG/JPEG/TIFF/BMP file (16-bit kept as uint16; a multi-page TIFF becomes a volume whose
    slices are its pages)."""
    pil = require("PIL")
    from PIL import Image, ImageSequence  # noqa: F401  (pil imported first for the install hint)

    try:
        with Image.open(path) as image:
            pages = [_page_array(page) for page in ImageSequence.Iterator(image)]
    except Exception as exc:  # PIL.UnidentifiedImageError, OSError (truncated), SyntaxError (bad TIFF)
        raise unreadable(path, "cannot be read as an image", f"an intact {path.suffix.lstrip('.').upper()} file "
                         f"(Pillow {pil.__version__})", exc) from None
    if len(pages) == 1:
        array, rank = pages[0], 2
    else:
        if len({p.shape for p in pages}) > 1:
            raise DataError([problem(str(path), "the pages of the TIFF file differ in size",
                                     expected="pages of one size (a volume)", received=[p.shape for p in pages[:3]])])
        array, rank = np.stack(pages, axis=2), 3
    affine = np.diag([1.0] * rank + [1.0] * (4 - rank))
    return Volume(array, "image", (1.0,) * rank, affine, rank, tuple(array.shape))


def _page_array(page) -> np.ndarray:
    """One Pillow frame as numpy: grey values (uint8/uint16/int32/float32), palette indices, or
    (rows, cols, channels) for colour images."""
    if page.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(page, dtype=np.uint16)
    if page.mode == "1":
        return np.asarray(page, dtype=np.uint8)
    if page.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        page = page.convert("RGB")
    return np.asarray(page)
