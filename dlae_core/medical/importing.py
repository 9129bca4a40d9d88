"""``dlae data import``: image sources and their targets become the HDF5 pairs dlae trains on.

The whole import is planned before any image is read (sources found, targets matched, splits
drawn: the split depends only on the names, labels, patients and the seed), then every sample is
read, checked and brought to one shape in a single pass that writes temporary files beside the
outputs. Any problem -- an unreadable file, an image and label map of different sizes, a 3-D volume
among 2-D images, a label map with fractional values, a DICOM series with missing slices -- is
collected with where it is; at the end either every file is renamed into place with the manifest,
or nothing is left and all problems are raised together (DataError, one line each).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import attrs
import numpy as np

from dlae_core.errors import DataError, Problem, problem
from dlae_core.medical import sources as found
from dlae_core.medical.images import Volume, read_volume
from dlae_core.medical.shapes import crop_or_pad, move_boxes, moved_affine, resample
from dlae_core.medical.splitting import SPLITS, assign_splits
from dlae_core.running.outputs import current_umask
from dlae_core.running.run import refuse_existing

TARGET_KINDS = ("masks", "targets", "labels", "values", "boxes")


@attrs.frozen
class ImportOptions:
    """What ``dlae data import`` was asked: the image folder or CSV list ``images``, at most one
    target option (``masks``/``targets``: folders of label maps / target images; ``labels``,
    ``values``, ``boxes``: CSV files), an optional ``patients`` CSV, the split fractions (train,
    validation, test), the seed, an optional centre ``crop`` and ``resize`` (applied in that
    order), and the output folder."""

    images: Path
    out: Path
    masks: Path | None = None
    targets: Path | None = None
    labels: Path | None = None
    values: Path | None = None
    boxes: Path | None = None
    patients: Path | None = None
    fractions: tuple[float, float, float] = (0.8, 0.2, 0.0)
    seed: int = 1
    crop: tuple[int, ...] | None = None
    resize: tuple[int, ...] | None = None

    @property
    def target_kind(self) -> str | None:
        given = [k for k in TARGET_KINDS if getattr(self, k) is not None]
        return given[0] if given else None


@attrs.define
class ImportReport:
    """What an import wrote (or, dry, would write): split -> sample entries, the files, the shapes."""

    entries: dict[str, list[dict]]
    files: dict[str, Path]
    x_shape: tuple | None = None
    skipped: int = 0


def plan_samples(options: ImportOptions) -> tuple[list[found.Sample], int]:
    """The samples of an import with their targets and patients, and the number of skipped
    non-image files; DataError with every problem found (no image is read)."""
    problems: list[Problem] = []
    if options.images.is_dir():
        sources, skipped = found.find_sources(options.images)
        patients = {}
    elif options.images.is_file() and options.images.suffix.lower() == ".csv":
        (sources, patients, problems), skipped = found.sources_from_csv(options.images), 0
    else:
        raise DataError([problem(str(options.images), "the images are neither a folder nor a CSV list",
                                 expected="a folder of images, NIfTI files or DICOM series, or a CSV with a column "
                                 "'image'", received=str(options.images))])
    if not sources and not problems:
        raise DataError([problem(str(options.images), "no image sources found", expected="PNG/JPEG/TIFF/BMP, "
                                 "NIfTI (.nii, .nii.gz) or DICOM files", received=f"{skipped} other file(s)")])
    samples = [found.Sample(s.key, s.path, patient=patients.get(s.key)) for s in sources]
    index = found.SourceIndex(sources, options.images if options.images.is_dir() else None)
    kind = options.target_kind
    if kind in ("masks", "targets"):
        problems += found.match_folder(samples, getattr(options, kind), "label map" if kind == "masks"
                                       else "target image")
    elif kind is not None:
        problems += found.match_csv(samples, getattr(options, kind), kind, index)
    if options.patients is not None:
        problems += found.read_patients(options.patients, samples, index)
    if problems:
        raise DataError(problems)
    return samples, skipped


def output_files(options: ImportOptions, splits: set[str]) -> dict[str, Path]:
    """file key (``train_X``, ..., ``manifest``) -> path of what the import writes."""
    files = {}
    for split in SPLITS:
        if split in splits:
            files[f"{split}_X"] = options.out / f"{split}_X.h5"
            if options.target_kind is not None:
                files[f"{split}_y"] = options.out / f"{split}_y.h5"
    files["manifest"] = options.out / "manifest.json"
    return files


def run_import(options: ImportOptions, *, dry_run: bool = False, overwrite: bool = False) -> ImportReport:
    """Import (or with ``dry_run`` only read and check) every sample; see the module docstring."""
    samples, skipped = plan_samples(options)
    assigned = assign_splits([s.label for s in samples], [s.patient for s in samples], options.fractions,
                             options.seed)
    files = output_files(options, set(assigned))
    if not dry_run:
        refuse_existing([(f"import output {k}", p) for k, p in files.items()], overwrite,
                        hint="or choose another output folder")
    writer = None if dry_run else _Writer(files)
    report = ImportReport({s: [] for s in SPLITS if s in assigned}, files, skipped=skipped)
    problems: list[Problem] = []
    reference: dict = {}
    try:
        for sample, split in zip(samples, assigned):
            entry = _import_one(sample, options, reference, problems)
            if entry is None:
                continue
            x, y, info = entry
            info["name"] = str(len(report.entries[split]))
            report.entries[split].append(info)
            if writer is not None:
                writer.add(split, info["name"], x, y)
        if problems:
            raise DataError(problems)
        report.x_shape = reference.get("shape")
        if writer is not None:
            writer.commit(_manifest(options, report))
    finally:
        if writer is not None:
            writer.discard()
    return report


def _import_one(sample: found.Sample, options: ImportOptions, reference: dict,
                problems: list[Problem]) -> tuple | None:
    """(x, y, manifest entry) of one sample, or None after adding its problems."""
    try:
        volume = read_volume(sample.image)
        target = read_volume(sample.target) if isinstance(sample.target, Path) else None
    except DataError as exc:
        problems.extend(exc.problems)
        return None
    before = len(problems)
    _check_target(sample, volume, target, options, problems)
    if len(problems) > before:
        return None
    x, y, offsets, factors = _reshape(sample, volume, target, options)
    where = str(sample.image)
    layout = (volume.rank, volume.channels)
    if "layout" not in reference:
        reference.update(layout=layout, shape=x.shape, first=where)
    elif layout != reference["layout"]:
        problems.append(problem(where, f"a {volume.rank}-D image with {volume.channels} channel(s) among "
                                f"{reference['layout'][0]}-D images with {reference['layout'][1]}",
                                expected=f"one rank and channel count for every image (as {reference['first']})",
                                received=volume.source_shape))
        return None
    elif x.shape != reference["shape"]:
        problems.append(problem(where, "the image's shape differs from the first image's", expected=f"shape "
                                f"{reference['shape']} (as {reference['first']}); pass --resize or --crop to bring "
                                "every image to one shape", received=x.shape))
        return None
    info = {"image": str(sample.image), "kind": volume.kind, "source_shape": list(volume.source_shape),
            "spacing": [round(s, 6) for s in volume.spacing], "orientation": volume.orientation(),
            "affine": moved_affine(volume.affine, offsets, factors).round(6).tolist(), "shape": list(x.shape),
            "patient": sample.patient}
    info["target"] = str(sample.target) if isinstance(sample.target, Path) else _plain(sample.target)
    return x, y, info


def _check_target(sample, volume: Volume, target: Volume | None, options, problems: list[Problem]) -> None:
    where = str(sample.target if target is not None else sample.image)
    if target is not None and target.spatial_shape != volume.spatial_shape:
        problems.append(problem(where, f"the {'label map' if options.masks else 'target image'} does not match "
                                f"its image {sample.image.name}", expected=f"spatial shape {volume.spatial_shape}",
                                received=target.spatial_shape))
    if target is not None and options.masks is not None:
        values = np.asarray(target.array)
        if values.dtype.kind == "f":
            bad = values[~np.isfinite(values) | (values != np.round(values))]
            if bad.size:
                problems.append(problem(where, f"the label map holds {bad.size} value(s) that are not integer "
                                        "classes", expected="integer class labels 0, 1, 2, ...",
                                        received=float(bad.flat[0])))
        if target.channels != 1:
            problems.append(problem(where, "a label map must have one channel", expected="a grey-value or palette "
                                    "image, or a 3-D NIfTI", received=target.array.shape))
    if options.boxes is not None and volume.rank == 2 and len(sample.target):
        rows, cols = volume.spatial_shape
        boxes = sample.target
        bad = (boxes[:, 1] < 0) | (boxes[:, 2] < 0) | (boxes[:, 3] > cols) | (boxes[:, 4] > rows) | \
              (boxes[:, 3] <= boxes[:, 1]) | (boxes[:, 4] <= boxes[:, 2])
        if bad.any():
            problems.append(problem(f"{options.boxes}, image {sample.key!r}", f"{int(bad.sum())} box(es) empty or "
                                    "outside the image", expected=f"0 <= xmin < xmax <= {cols} and 0 <= ymin < ymax "
                                    f"<= {rows} (x = column)", received=boxes[bad][0].tolist()))


def _reshape(sample, volume: Volume, target: Volume | None, options: ImportOptions):
    """(x, y, crop offsets, resampling factors): crop, then resize; x with its channel axis."""
    rank = volume.rank
    x = volume.array if volume.array.ndim > rank else volume.array[..., None]
    y = None if target is None else (target.array if target.array.ndim > rank else target.array[..., None])
    offsets, factors = (0,) * rank, (1.0,) * rank
    if options.crop is not None and len(options.crop) == rank:
        x, offsets = crop_or_pad(x, rank, options.crop)
        y = None if y is None else crop_or_pad(y, rank, options.crop)[0]
    if options.resize is not None and len(options.resize) == rank:
        factors = tuple(w / s for s, w in zip(x.shape[:rank], options.resize))
        x = resample(x, rank, options.resize, labels=False)
        y = None if y is None else resample(y, rank, options.resize, labels=options.masks is not None)
    if options.masks is not None:
        y = _label_dtype(y)
    elif options.boxes is not None:
        y = move_boxes(sample.target, offsets, factors, x.shape[:rank])
    elif y is None and sample.target is not None:
        y = np.asarray(sample.target)
    return x, y, offsets, factors


def _label_dtype(y: np.ndarray) -> np.ndarray:
    top = float(np.max(y)) if y.size else 0.0
    return y.astype(np.uint8 if top < 256 else np.uint16 if top < 65536 else np.int32)


def _plain(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


def _manifest(options: ImportOptions, report: ImportReport) -> dict:
    from dlae_core import __version__

    return {"dlae_version": __version__, "seed": options.seed,
            "fractions": dict(zip(SPLITS, options.fractions)),
            "crop": options.crop, "resize": options.resize, "target_kind": options.target_kind,
            "files": {k: p.name for k, p in report.files.items() if k != "manifest"},
            "samples": report.entries}


class _Writer:
    """The HDF5 files of an import, written under temporary names beside the outputs and renamed
    into place only when every sample was imported (a failed import leaves nothing)."""

    def __init__(self, files: dict[str, Path]):
        import h5py

        self.files, self.handles, self.temps = files, {}, {}
        for key, path in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            os.chmod(tmp, 0o666 & ~current_umask())
            self.temps[key] = Path(tmp)
            if key != "manifest":
                self.handles[key] = h5py.File(tmp, "w")

    def add(self, split: str, name: str, x: np.ndarray, y: np.ndarray | None) -> None:
        self.handles[f"{split}_X"].create_dataset(name, data=x)
        if y is not None:
            self.handles[f"{split}_y"].create_dataset(name, data=y)

    def commit(self, manifest: dict) -> None:
        for handle in self.handles.values():
            handle.close()
        self.temps["manifest"].write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        for key, tmp in list(self.temps.items()):
            os.replace(tmp, self.files[key])
            del self.temps[key]

    def discard(self) -> None:
        for handle in self.handles.values():
            if handle.id.valid:
                handle.close()
        for tmp in self.temps.values():
            tmp.unlink(missing_ok=True)
