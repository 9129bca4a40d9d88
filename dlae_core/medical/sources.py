"""Which samples an import holds: image sources found in a folder (or listed in a CSV), matched to
their targets -- label maps or target images in another folder (by the same relative name without
extension), class labels, regression values or boxes in a CSV -- and to their patients.

A folder's sources are its image files and its DICOM series (a subfolder holding DICOM files is one
series); other subfolders are searched too. Every problem found (a target without an image, a CSV
row naming no image, a label that is not an integer) is collected as a located
:class:`~dlae_core.errors.Problem`, so a bad import is reported whole, one line each.
"""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

import attrs
import numpy as np

from dlae_core.errors import DataError, Problem, problem
from dlae_core.medical.images import source_kind, strip_suffix

BOX_COLUMNS = ("class", "xmin", "ymin", "xmax", "ymax")


@attrs.frozen
class Source:
    """An image source: ``key`` (relative path without extension, ``/``-separated) and ``path``."""

    key: str
    path: Path


@attrs.define
class Sample:
    """One sample to import: its image, its target (a Path to a label map or target image, an int
    class, a float vector of values, a (k, 5) box array, or None) and its patient (or None)."""

    key: str
    image: Path
    target: object = None
    patient: str | None = None

    @property
    def label(self) -> int | None:
        """The class, for stratified splits."""
        return self.target if isinstance(self.target, int) else None


def find_sources(folder: Path) -> tuple[list[Source], int]:
    """(sources in ``folder`` sorted by key, number of files of no image type that were skipped)."""
    found, skipped = [], 0

    def walk(current: Path) -> None:
        nonlocal skipped
        for entry in sorted(current.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if source_kind(entry) == "dicom":
                    found.append(entry)
                else:
                    walk(entry)
            elif source_kind(entry) is not None:
                found.append(entry)
            else:
                skipped += 1

    walk(folder)
    sources = [Source(_key(path.relative_to(folder)), path) for path in found]
    return sorted(sources, key=lambda s: s.key), skipped


def _key(relative: PurePosixPath | Path) -> str:
    parts = list(PurePosixPath(relative.as_posix()).parts)
    parts[-1] = strip_suffix(parts[-1])
    return "/".join(parts)


def read_csv(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file with a header naming at least ``required``; DataError otherwise."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or ()]
            rows = [(reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items() if k is not None})
                    for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError([problem(str(path), "the CSV file cannot be read", expected="a UTF-8 CSV file with a "
                                 "header row", received=str(exc).splitlines()[0])]) from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError([problem(str(path), f"the CSV header lacks the column(s) {', '.join(map(repr, missing))}",
                                 expected=f"columns {', '.join(required)}", received=columns)])
    return rows


class SourceIndex:
    """Finds the source a name refers to: by key (``sub/case01``), by key with an extension
    (``case01.nii.gz``), or by the last part alone when that is unique."""

    def __init__(self, sources: list[Source], base: Path | None = None):
        self.by_key = {s.key: s for s in sources}
        self.by_path = {s.path.resolve(): s for s in sources}
        self.base = base
        names: dict[str, list[Source]] = {}
        for s in sources:
            names.setdefault(s.key.rsplit("/", 1)[-1], []).append(s)
        self.by_name = {n: found[0] for n, found in names.items() if len(found) == 1}

    def find(self, name: str, csv_folder: Path) -> Source | None:
        for base in (csv_folder, self.base):
            if base is not None and (base / name).resolve() in self.by_path:
                return self.by_path[(base / name).resolve()]
        key = _key(PurePosixPath(name.replace("\\", "/")))
        return self.by_key.get(key) or self.by_name.get(key.rsplit("/", 1)[-1])


def sources_from_csv(path: Path) -> tuple[list[Source], dict[str, str], list[Problem]]:
    """(sources, key -> patient, problems) of a CSV list of images (column ``image``, optional
    ``patient``; paths relative to the CSV's folder)."""
    sources, patients, problems = [], {}, []
    for line, row in read_csv(path, ("image",)):
        image = path.parent / row["image"]
        if source_kind(image) is None:
            problems.append(problem(f"{path}, line {line}, column 'image'", "names no readable image source",
                                    expected="an existing image file, NIfTI file or DICOM series folder",
                                    received=row["image"]))
            continue
        source = Source(_key(PurePosixPath(row["image"].replace("\\", "/"))), image)
        sources.append(source)
        if row.get("patient"):
            patients[source.key] = row["patient"]
    return sources, patients, problems


def match_folder(samples: list[Sample], folder: Path, what: str) -> list[Problem]:
    """Give each sample the file of the same key in ``folder`` (label maps, target images);
    a problem for each image without one and each file without an image."""
    targets, _ = find_sources(folder)
    index = {t.key: t.path for t in targets}
    problems = []
    for sample in samples:
        found = index.pop(sample.key, None)
        if found is None:
            problems.append(problem(str(sample.image), f"has no {what} in {folder}", expected=f"a {what} named "
                                    f"{sample.key!r} (any image extension)", received="none"))
        sample.target = found
    for key, path in index.items():
        problems.append(problem(str(path), f"this {what} has no image", expected=f"an image named {key!r} among "
                                "the images", received="none"))
    return problems


def match_csv(samples: list[Sample], path: Path, kind: str, index: SourceIndex) -> list[Problem]:
    """Set each sample's target from a CSV: ``kind`` ``labels`` (column ``label``: a class),
    ``values`` (every column but image and patient: numbers), ``boxes`` (one box per row:
    class, xmin, ymin, xmax, ymax; an image without rows has no boxes). A ``patient`` column
    sets the patients. Samples the CSV does not name are a problem, except for boxes."""
    required = {"labels": ("image", "label"), "values": ("image",), "boxes": ("image",) + BOX_COLUMNS}[kind]
    rows = read_csv(path, required)
    by_key = {s.key: s for s in samples}
    problems, seen, boxes = [], set(), {}
    for line, row in rows:
        where = f"{path}, line {line}"
        source = index.find(row["image"], path.parent)
        if source is None or source.key not in by_key:
            problems.append(problem(f"{where}, column 'image'", "names no image of the import",
                                    expected="the file name or relative path of an image", received=row["image"]))
            continue
        sample = by_key[source.key]
        if row.get("patient"):
            sample.patient = row["patient"]
        parsed = _parse_row(row, kind, where, problems)
        if parsed is None:
            continue
        if kind == "boxes":
            boxes.setdefault(source.key, []).append(parsed)
        elif source.key in seen:
            problems.append(problem(where, f"a second row for image {row['image']!r}", expected="one row per image",
                                    received=row["image"]))
        else:
            sample.target = parsed
        seen.add(source.key)
    for sample in samples:
        if kind == "boxes":
            sample.target = np.asarray(boxes.get(sample.key, []), np.float32).reshape(-1, 5)
        elif sample.key not in seen:
            problems.append(problem(str(sample.image), f"has no row in {path}", expected=f"a row naming "
                                    f"{sample.key!r} in column 'image'", received="none"))
    return problems


def _parse_row(row: dict, kind: str, where: str, problems: list[Problem]):
    if kind == "labels":
        text = row["label"]
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (np.isfinite(value) and value.is_integer() and value >= 0):
            problems.append(problem(f"{where}, column 'label'", "a class label must be a non-negative integer",
                                    expected="0, 1, 2, ...", received=text))
            return None
        return int(value)
    columns = BOX_COLUMNS if kind == "boxes" else [c for c in row if c not in ("image", "patient")]
    if not columns:
        problems.append(problem(where, "the CSV has no value columns", expected="columns besides image and "
                                "patient holding the regression values", received=list(row)))
        return None
    values = []
    for column in columns:
        try:
            values.append(float(row[column]))
        except ValueError:
            problems.append(problem(f"{where}, column {column!r}", "not a number", expected="a number",
                                    received=row[column]))
            return None
    return values if kind == "boxes" else np.asarray(values, np.float32)


def read_patients(path: Path, samples: list[Sample], index: SourceIndex) -> list[Problem]:
    """Patients from a CSV with columns image, patient."""
    by_key = {s.key: s for s in samples}
    problems = []
    for line, row in read_csv(path, ("image", "patient")):
        source = index.find(row["image"], path.parent)
        if source is None or source.key not in by_key:
            problems.append(problem(f"{path}, line {line}, column 'image'", "names no image of the import",
                                    expected="the file name or relative path of an image", received=row["image"]))
        else:
            by_key[source.key].patient = row["patient"]
    return problems
