"""Writers of the medical test files (with the same libraries dlae reads them with): NIfTI with a
non-trivial affine, DICOM series with shuffled file names, 8- and 16-bit PNGs, TIFF stacks."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

# rotated about z by 30 degrees, anisotropic voxels, shifted origin: any axis mix-up shows
ANGLE = np.deg2rad(30)
AFFINE = np.array([[0.8 * np.cos(ANGLE), -0.8 * np.sin(ANGLE), 0.0, -40.0],
                   [0.8 * np.sin(ANGLE), 0.8 * np.cos(ANGLE), 0.0, 12.5],
                   [0.0, 0.0, 2.5, 7.0],
                   [0.0, 0.0, 0.0, 1.0]])


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    import nibabel

    path.parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(np.asarray(array), affine), str(path))
    return path


def write_png(path: Path, array: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array)).save(path)
    return path


def write_tiff_stack(path: Path, volume: np.ndarray) -> Path:
    from PIL import Image

    pages = [Image.fromarray(volume[:, :, k]) for k in range(volume.shape[2])]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    return path


def write_dicom_series(folder: Path, volume: np.ndarray, *, spacing=(0.7, 0.9), step: float = 2.0,
                       origin=(-30.0, 20.0, 5.0), drop: int | None = None, seed: int = 0, slope: float = 1.0,
                       intercept: float = 0.0) -> Path:
    """``volume`` (rows, cols, slices) as one uint16 file per slice with shuffled file names (their
    order says nothing about the slice order); ``drop`` leaves slice ``drop`` out."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    names = [f"file{k:03d}.dcm" for k in range(volume.shape[2])]
    random.Random(seed).shuffle(names)
    series = generate_uid()
    for k in range(volume.shape[2]):
        if k == drop:
            continue
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID, ds.Modality, ds.PatientID = series, "CT", "P1"
        ds.Rows, ds.Columns = volume.shape[:2]
        ds.PixelSpacing = [spacing[0], spacing[1]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + k * step]
        ds.InstanceNumber = volume.shape[2] - k  # deliberately the reverse order
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.PixelData = np.ascontiguousarray(volume[:, :, k].astype(np.uint16)).tobytes()
        ds.save_as(folder / names[k], enforce_file_format=True)
    return folder


def blobs(rng: np.random.Generator, shape: tuple, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(image, label map): squares of class 1..classes-1 whose intensity says their class."""
    labels = np.zeros(shape, np.uint8)
    for c in range(1, classes):
        start = [int(rng.integers(0, s // 2)) for s in shape]
        labels[tuple(slice(a, a + max(s // 3, 1)) for a, s in zip(start, shape))] = c
    image = labels.astype(np.float32) * 100 + rng.normal(0, 5, shape).astype(np.float32) + 50
    return image, labels
