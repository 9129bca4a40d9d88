"""``dlae data import``: NIfTI, DICOM series, 16-bit PNGs, TIFF stacks and CSV targets become HDF5
pairs with seeded (stratified, patient-grouped) splits and a manifest; every bad source is one
located line and nothing is written."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("nibabel")
pytest.importorskip("pydicom")
pytest.importorskip("PIL")

from dlae_core.cli.main import cli  # noqa: E402
from dlae_core.medical.images import read_volume  # noqa: E402
from dlae_core.medical.splitting import assign_splits  # noqa: E402
from medical_support import (AFFINE, blobs, write_dicom_series, write_nifti, write_png,  # noqa: E402
                             write_tiff_stack)


def dlae(*args, expect: int = 0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == expect, (result.output, result.exception)
    return result


def read_h5(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {name: handle[name][()] for name in handle}


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error: ")]


@pytest.fixture
def nifti_folder(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(8):
        image, labels = blobs(rng, (12, 10, 6))
        write_nifti(tmp_path / "img" / f"case{i}.nii.gz", image)
        write_nifti(tmp_path / "lab" / f"case{i}.nii.gz", labels)
    return tmp_path


def test_nifti_segmentation_import_with_splits_and_manifest(nifti_folder):
    out = nifti_folder / "out"
    dlae("data", "import", nifti_folder / "img", "--masks", nifti_folder / "lab", "-o", out, "--split", "0.5,0.25,0.25")
    manifest = json.loads((out / "manifest.json").read_text())
    counts = {split: len(entries) for split, entries in manifest["samples"].items()}
    assert counts == {"train": 4, "validation": 2, "test": 2}
    for split, entries in manifest["samples"].items():
        xs, ys = read_h5(out / f"{split}_X.h5"), read_h5(out / f"{split}_y.h5")
        assert sorted(xs, key=int) == [str(i) for i in range(len(entries))]
        for entry in entries:
            source = read_volume(entry["image"]).array
            np.testing.assert_array_equal(xs[entry["name"]][..., 0], source)
            np.testing.assert_array_equal(ys[entry["name"]][..., 0], read_volume(entry["target"]).array)
            assert ys[entry["name"]].dtype == np.uint8
            np.testing.assert_allclose(entry["affine"], AFFINE, atol=1e-6)
            assert entry["spacing"] == [0.8, 0.8, 2.5] and entry["orientation"] == "RAS"
    # the same seed draws the same split
    again = nifti_folder / "again"
    dlae("data", "import", nifti_folder / "img", "--masks", nifti_folder / "lab", "-o", again, "--split", "0.5,0.25,0.25")
    assert json.loads((again / "manifest.json").read_text())["samples"] == manifest["samples"]


def test_dicom_series_in_shuffled_files_reads_in_position_order(tmp_path):
    rng = np.random.default_rng(1)
    volume = rng.integers(0, 4000, (8, 9, 7)).astype(np.uint16)
    write_dicom_series(tmp_path / "series", volume, slope=2.0, intercept=-1024.0)
    read = read_volume(tmp_path / "series")
    np.testing.assert_allclose(read.array, volume * 2.0 - 1024.0)
    assert read.spacing == (0.7, 0.9, 2.0)
    # row index runs along patient y (A->P is -A), columns along x (R->L is -R), slices along +S
    np.testing.assert_allclose(read.affine[:3, :3], np.diag([0.0, 0.0, 2.0]) + [[0, -0.9, 0], [-0.7, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(read.affine[:3, 3], [30.0, -20.0, 5.0])


def test_sixteen_bit_pngs_and_tiff_stacks_keep_their_values(tmp_path):
    values = (np.arange(12 * 10).reshape(12, 10) * 500).astype(np.uint16)  # up to 59500: needs 16 bits
    write_png(tmp_path / "a.png", values)
    read = read_volume(tmp_path / "a.png")
    assert read.array.dtype == np.uint16 and read.rank == 2
    np.testing.assert_array_equal(read.array, values)
    stack = np.stack([values, values // 2, values // 3], axis=2)
    write_tiff_stack(tmp_path / "v.tif", stack)
    np.testing.assert_array_equal(read_volume(tmp_path / "v.tif").array, stack)


def test_csv_labels_give_stratified_splits(tmp_path):
    rows = ["image,label"]
    for i in range(40):
        write_png(tmp_path / "img" / f"s{i:02d}.png", np.full((6, 6), i, np.uint8))
        rows.append(f"s{i:02d}.png,{0 if i < 30 else 1}")  # 30 of class 0, 10 of class 1
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    dlae("data", "import", tmp_path / "img", "--labels", tmp_path / "labels.csv", "-o", tmp_path / "out",
         "--split", "0.5,0.5")
    for split in ("train", "validation"):
        labels = Counter(int(v) for v in read_h5(tmp_path / "out" / f"{split}_y.h5").values())
        assert labels == {0: 15, 1: 5}


def test_patients_never_straddle_splits():
    labels = [i % 2 for i in range(60)]
    patients = [f"p{i // 4}" for i in range(60)]  # 15 patients with 4 images each
    for seed in range(5):
        assigned = assign_splits(labels, patients, (0.6, 0.2, 0.2), seed)
        per_patient = {}
        for patient, split in zip(patients, assigned):
            per_patient.setdefault(patient, set()).add(split)
        assert all(len(splits) == 1 for splits in per_patient.values())
        assert Counter(assigned) == {"train": 36, "validation": 12, "test": 12}


def test_a_csv_list_with_patients_and_regression_values_from_a_csv(tmp_path):
    images, values = ["image,patient"], ["image,age,dose"]
    for i in range(12):
        write_png(tmp_path / "pngs" / f"p{i // 3}" / f"s{i}.png", np.full((5, 5), i, np.uint8))
        images.append(f"pngs/p{i // 3}/s{i}.png,patient{i // 3}")  # 4 patients with 3 images each
        values.append(f"s{i}.png,{i},{i / 10}")
    (tmp_path / "list.csv").write_text("\n".join(images) + "\n")
    (tmp_path / "values.csv").write_text("\n".join(values) + "\n")
    out = tmp_path / "out"
    dlae("data", "import", tmp_path / "list.csv", "--values", tmp_path / "values.csv", "-o", out,
         "--split", "0.5,0.25,0.25", "--seed", "4")
    manifest = json.loads((out / "manifest.json").read_text())
    splits_of = {}
    for split, entries in manifest["samples"].items():
        xs, ys = read_h5(out / f"{split}_X.h5"), read_h5(out / f"{split}_y.h5")
        for entry in entries:
            i = int(xs[entry["name"]][0, 0, 0])
            assert Path(entry["image"]).name == f"s{i}.png" and entry["patient"] == f"patient{i // 3}"
            np.testing.assert_allclose(ys[entry["name"]], [i, i / 10])
            splits_of.setdefault(entry["patient"], set()).add(split)
    assert len(splits_of) == 4 and all(len(s) == 1 for s in splits_of.values())
    assert sorted(len(e) for e in manifest["samples"].values()) == [3, 3, 6]


def test_boxes_csv_with_resize_scales_the_boxes(tmp_path):
    for name in ("a", "b"):
        write_png(tmp_path / "img" / f"{name}.png", np.zeros((20, 40), np.uint8))
    (tmp_path / "boxes.csv").write_text("image,class,xmin,ymin,xmax,ymax\na.png,1,4,2,20,10\na.png,2,0,0,40,20\n"
                                        "b.png,1,10,10,30,20\n")
    dlae("data", "import", tmp_path / "img", "--boxes", tmp_path / "boxes.csv", "-o", tmp_path / "out",
         "--split", "1", "--resize", "10,10")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    by_image = {Path(e["image"]).name: e["name"] for e in manifest["samples"]["train"]}
    y = read_h5(tmp_path / "out" / "train_y.h5")
    np.testing.assert_allclose(y[by_image["a.png"]], [[1, 1, 1, 5, 5], [2, 0, 0, 10, 10]])
    np.testing.assert_allclose(y[by_image["b.png"]], [[1, 2.5, 5, 7.5, 10]])
    assert read_h5(tmp_path / "out" / "train_X.h5")["0"].shape == (10, 10, 1)


def test_every_bad_source_is_one_located_line_and_nothing_is_written(tmp_path):
    rng = np.random.default_rng(2)
    image, labels = blobs(rng, (8, 8, 4))
    for name in ("good", "mismatch", "fraction", "zflat"):
        write_nifti(tmp_path / "img" / f"{name}.nii.gz", image)
    write_nifti(tmp_path / "lab" / "good.nii.gz", labels)
    write_nifti(tmp_path / "lab" / "mismatch.nii.gz", labels[:6])
    write_nifti(tmp_path / "lab" / "fraction.nii.gz", labels.astype(np.float32) + 0.5)
    write_nifti(tmp_path / "img" / "zflat.nii.gz", image[:, :, 0])  # a 2-D image among volumes
    write_nifti(tmp_path / "lab" / "zflat.nii.gz", labels[:, :, 0])
    (tmp_path / "img" / "broken.nii.gz").write_bytes(b"not a nifti file")
    write_nifti(tmp_path / "lab" / "broken.nii.gz", labels)
    write_dicom_series(tmp_path / "img" / "gappy", rng.integers(0, 100, (8, 8, 5)), drop=2)
    write_nifti(tmp_path / "lab" / "gappy.nii.gz", labels)
    result = dlae("data", "import", tmp_path / "img", "--masks", tmp_path / "lab", "-o", tmp_path / "out", expect=2)
    lines = error_lines(result)
    assert len(lines) == 5, lines
    text = "\n".join(lines)
    assert "broken.nii.gz: cannot be read as NIfTI" in text
    assert "mismatch.nii.gz: the label map does not match its image mismatch.nii.gz. Expected spatial shape (8, 8, " \
           "4). Received: (6, 8, 4)" in text
    assert "fraction.nii.gz: the label map holds 256 value(s) that are not integer classes" in text
    assert "zflat.nii.gz: a 2-D image with 1 channel(s) among 3-D images with 1" in text
    assert "gappy: the series misses 1 slice(s)" in text
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unmatched_targets_and_csv_rows_are_reported(tmp_path):
    write_png(tmp_path / "img" / "a.png", np.zeros((4, 4), np.uint8))
    write_png(tmp_path / "img" / "b.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "labels.csv").write_text("image,label\na.png,1.5\nc.png,0\n")
    result = dlae("data", "import", tmp_path / "img", "--labels", tmp_path / "labels.csv", "-o", tmp_path / "o",
                  expect=2)
    lines = error_lines(result)
    assert any("line 2, column 'label': a class label must be a non-negative integer" in ln and "'1.5'" in ln
               for ln in lines), lines
    assert any("line 3, column 'image': names no image of the import" in ln for ln in lines), lines
    assert any("b.png: has no row in" in ln for ln in lines), lines


def test_dry_run_lists_and_writes_nothing_then_outputs_are_not_overwritten(nifti_folder):
    out = nifti_folder / "out"
    result = dlae("data", "import", nifti_folder / "img", "--masks", nifti_folder / "lab", "-o", out, "--dry-run")
    assert "train: would write 6 sample(s)" in result.output and "case0.nii.gz -> (12, 10, 6, 1)" in result.output
    assert not out.exists()
    dlae("data", "import", nifti_folder / "img", "-o", out)
    before = (out / "train_X.h5").read_bytes()
    result = dlae("data", "import", nifti_folder / "img", "-o", out, "--seed", "5", expect=2)
    assert "already exist" in result.output and "--overwrite" in result.output
    assert (out / "train_X.h5").read_bytes() == before
    dlae("data", "import", nifti_folder / "img", "-o", out, "--seed", "5", "--overwrite")
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_crop_and_resize_bring_images_to_one_shape(tmp_path):
    rng = np.random.default_rng(3)
    for i, shape in enumerate([(20, 16), (14, 18)]):
        image, labels = blobs(rng, shape)
        write_png(tmp_path / "img" / f"{i}.png", image.astype(np.uint16))
        write_png(tmp_path / "lab" / f"{i}.png", labels)
    result = dlae("data", "import", tmp_path / "img", "--masks", tmp_path / "lab", "-o", tmp_path / "a", expect=2)
    assert "pass --resize or --crop" in result.output
    dlae("data", "import", tmp_path / "img", "--masks", tmp_path / "lab", "-o", tmp_path / "b", "--split", "1",
         "--crop", "16,16", "--resize", "8,8")
    y = read_h5(tmp_path / "b" / "train_y.h5")
    assert all(v.shape == (8, 8, 1) for v in y.values())
    assert set(np.unique(np.concatenate([v.ravel() for v in y.values()]))) <= {0, 1, 2}  # nearest neighbour
