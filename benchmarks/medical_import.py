"""Import throughput of ``dlae data import`` (files per second), not a test.

The shared data sets become image folders first (shapes2d: 64x64 images as 16-bit PNGs and as 2-D
NIfTI files, with label maps; shapes3d: 32x32x16 volumes as NIfTI files and as DICOM series), then
each folder is imported with its label maps (reading, checking, splitting, writing HDF5 pairs and
the manifest). Prints files/s per format (a sample with a label map counts as two files).

    python benchmarks/medical_import.py [--count N] [--workdir D]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import MACHINE, data_path, require_data, workdir  # noqa: E402
from medical_support import write_dicom_series, write_nifti, write_png  # noqa: E402

from dlae_core.medical.importing import ImportOptions, run_import  # noqa: E402


def samples(name: str, count: int):
    with h5py.File(data_path(f"{name}_train_X"), "r") as xs, h5py.File(data_path(f"{name}_train_y"), "r") as ys:
        for key in sorted(xs, key=int)[:count]:
            yield key, np.asarray(xs[key][()])[..., 0], np.asarray(ys[key][()])[..., 0]


def write_folders(root: Path, count: int) -> dict[str, tuple[Path, Path, int]]:
    folders = {}
    for key, x, y in samples("shapes2d", count):
        scaled = np.clip(x * 1000, 0, 65535).astype(np.uint16)
        write_png(root / "png" / "img" / f"{key}.png", scaled)
        write_png(root / "png" / "lab" / f"{key}.png", y.astype(np.uint8))
        write_nifti(root / "nifti2d" / "img" / f"{key}.nii.gz", x[:, :, None])
        write_nifti(root / "nifti2d" / "lab" / f"{key}.nii.gz", y[:, :, None].astype(np.uint8))
    n2 = len(list((root / "png" / "img").iterdir()))
    folders["png 64x64 (16-bit)"] = (root / "png" / "img", root / "png" / "lab", n2)
    folders["nifti 64x64"] = (root / "nifti2d" / "img", root / "nifti2d" / "lab", n2)
    volumes = list(samples("shapes3d", count // 4))
    for key, x, y in volumes:
        write_nifti(root / "nifti3d" / "img" / f"{key}.nii.gz", x)
        write_nifti(root / "nifti3d" / "lab" / f"{key}.nii.gz", y.astype(np.uint8))
        write_dicom_series(root / "dicom" / "img" / key, x.astype(np.uint16))
        write_nifti(root / "dicom" / "lab" / f"{key}.nii.gz", y.astype(np.uint8))
    folders["nifti 32x32x16"] = (root / "nifti3d" / "img", root / "nifti3d" / "lab", len(volumes))
    folders["dicom series 32x32x16 (+ nifti labels)"] = (root / "dicom" / "img", root / "dicom" / "lab", len(volumes))
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400, help="2-D images (volumes: a quarter)")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    require_data("shapes2d_train_X", "shapes2d_train_y", "shapes3d_train_X", "shapes3d_train_y")
    root = workdir(args.workdir, "dlae-import-bench-")
    folders = write_folders(root, args.count)
    print(f"machine: {MACHINE}")
    for label, (images, masks, count) in folders.items():
        out = root / "out" / label.split()[0] / images.parent.name
        start = time.perf_counter()
        run_import(ImportOptions(images, out, masks=masks, fractions=(0.8, 0.1, 0.1)), overwrite=True)
        seconds = time.perf_counter() - start
        files = sum(1 for p in images.rglob("*") if p.is_file()) + count  # a DICOM series is many files
        print(f"{label:40s} {count:4d} samples {files:5d} files  {seconds:6.2f} s  {files / seconds:7.1f} files/s "
              f"{count / seconds:7.1f} samples/s")


if __name__ == "__main__":
    main()
