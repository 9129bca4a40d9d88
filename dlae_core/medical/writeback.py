"""Predictions written back as images beside the predictions HDF5 file: segmentations as label maps
(the class of highest probability, or probability >= 0.5 for one output channel) and generated
images in target units, as NIfTI with the source's affine and header (NIfTI and DICOM sources) or
as PNG (2-D image sources), one file per source, named as the source.

Every file is written atomically; an existing folder of images is refused unless ``--overwrite``.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import attrs
import numpy as np

from dlae_core.errors import UsageError
from dlae_core.medical import require
from dlae_core.running.outputs import write_atomic
from dlae_core.running.run import refuse_existing

FORMATS = ("nifti", "png")


@attrs.frozen(eq=False)
class SourceInfo:
    """What writing a prediction back needs of its source (a Volume without its voxels)."""

    name: str  # the dataset name in the predictions file
    key: str  # the source's relative name without extension
    kind: str
    affine: np.ndarray
    rank: int
    source_shape: tuple[int, ...]
    header: object = None
    parts: tuple[str, ...] = ()  # its datasets in test_X: the source whole, or its slices in order
    slice_axis: int | None = None  # the axis a volume was cut along for a 2-D model (dlae_core.medical.slicing)


def images_folder(predictions: Path) -> Path:
    """``out/predictions.h5`` -> ``out/predictions_images``."""
    return predictions.with_name(f"{predictions.stem}_images")


def choose_format(sources: list[SourceInfo], given: str | None) -> str:
    """``given``, else NIfTI when any source is a NIfTI file or a DICOM series, else PNG; PNG only for 2-D."""
    fmt = given or ("nifti" if any(s.kind != "image" for s in sources) else "png")
    volumes = [s.key for s in sources if s.rank != 2]
    if fmt == "png" and volumes:
        raise UsageError(f"--image-format png writes 2-D images, but {volumes[0]!r} is a volume; use nifti")
    return fmt


def refuse_images(folder: Path, overwrite: bool) -> None:
    refuse_existing([("predicted images folder", folder)], overwrite, hint="or choose another --predictions")


def as_label_map(output: np.ndarray) -> np.ndarray:
    """Class of highest probability (several channels) or probability >= 0.5 (one channel)."""
    labels = output.argmax(axis=-1) if output.shape[-1] > 1 else (output[..., 0] >= 0.5)
    top = int(labels.max()) if labels.size else 0
    return labels.astype(np.uint8 if top < 256 else np.uint16)


def write_images(predictions: Path, sources: list[SourceInfo], fmt: str, label_maps: bool) -> Path:
    """One image file per source from the predictions file; returns the folder."""
    import h5py

    folder = images_folder(predictions)
    with h5py.File(predictions, "r") as handle:
        for source in sources:
            output = np.asarray(handle[source.name][()])
            array = as_label_map(output) if label_maps else _image_values(output)
            if fmt == "nifti":
                write_atomic(folder / f"{source.key}.nii.gz", lambda tmp, a=array, s=source: _save_nifti(tmp, a, s))
            else:
                write_atomic(folder / f"{source.key}.png", lambda tmp, a=array: _save_png(tmp, a, label_maps))
    return folder


def _image_values(output: np.ndarray) -> np.ndarray:
    return output[..., 0] if output.shape[-1] == 1 else output


def _save_nifti(tmp: Path, array: np.ndarray, source: SourceInfo) -> None:
    nibabel = require("nibabel")
    if array.ndim == source.rank and int(np.prod(source.source_shape)) == array.size:
        array = array.reshape(source.source_shape)  # e.g. a one-slice NIfTI stays (X, Y, 1)
    header = source.header.copy() if source.header is not None else None
    image = nibabel.Nifti1Image(array, source.affine, header=header)
    image.header.set_data_dtype(array.dtype)
    image.header.set_slope_inter(1.0, 0.0)  # the source's intensity scaling must not rescale classes
    tmp.write_bytes(gzip.compress(image.to_bytes(), compresslevel=6))


def _save_png(tmp: Path, array: np.ndarray, label_maps: bool) -> None:
    require("PIL")
    from PIL import Image

    if not label_maps:
        values = np.clip(np.round(array), 0, 65535)
        array = values.astype(np.uint8 if values.max(initial=0) <= 255 or array.ndim == 3 else np.uint16)
    with io.BytesIO() as buffer:
        Image.fromarray(array).save(buffer, format="PNG")
        tmp.write_bytes(buffer.getvalue())
