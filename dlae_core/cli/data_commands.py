"""``dlae data import``: NIfTI volumes, DICOM series and PNG/JPEG/TIFF images (with label maps,
target images, class labels, regression values or boxes) become dlae's HDF5 pairs."""

from __future__ import annotations

from pathlib import Path

import click

from dlae_core.errors import UsageError


def _shape(text: str | None, option: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise UsageError(f"{option}: expected 2 or 3 positive integers such as 64,64 or 64,64,32. Received: {text!r}")
    return shape


@click.group()
def data() -> None:
    """Data curation: turn image folders into dlae's HDF5 data files."""


@data.command("import")
@click.argument("images", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for train_X.h5, train_y.h5, ... and manifest.json.")
@click.option("--masks", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of label maps named as the images (segmentation, FCN).")
@click.option("--targets", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of target images named as the images (image translation, GAN).")
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with columns image, label (classification, CNN; the splits are stratified).")
@click.option("--values", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with column image and one column per regression value.")
@click.option("--boxes", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with columns image, class, xmin, ymin, xmax, ymax; one row per box (detection, BBD).")
@click.option("--patients", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with columns image, patient (a 'patient' column of the other CSVs works too).")
@click.option("--split", "split", default="0.8,0.2,0", show_default=True,
              help="Fractions train,validation,test; one patient's images never land in two splits.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the split.")
@click.option("--crop", default=None, help="Centre-crop (or zero-pad) to ROWS,COLS[,SLICES] first.")
@click.option("--resize", default=None, help="Resample to ROWS,COLS[,SLICES] (label maps: nearest neighbour).")
@click.option("--dry-run", is_flag=True, help="Read and check everything, list what would be written, write nothing.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def import_(images: Path, out: Path, split: str, seed: int, crop: str | None, resize: str | None, dry_run: bool,
            overwrite: bool, **targets) -> None:
    """Import IMAGES (a folder, or a CSV with a column 'image') into HDF5 pairs with seeded splits."""
    from dlae_core.medical.importing import ImportOptions, run_import
    from dlae_core.medical.splitting import parse_fractions

    given = [name for name in ("masks", "targets", "labels", "values", "boxes") if targets[name] is not None]
    if len(given) > 1:
        raise UsageError(f"give at most one kind of target; received {', '.join('--' + g for g in given)}")
    try:
        fractions = parse_fractions(split)
    except ValueError as exc:
        raise UsageError(f"--split: {exc}. Received: {split!r}") from None
    options = ImportOptions(images, out, fractions=fractions, seed=seed, crop=_shape(crop, "--crop"),
                            resize=_shape(resize, "--resize"), **targets)
    report = run_import(options, dry_run=dry_run, overwrite=overwrite)
    _print_report(report, dry_run)


def _print_report(report, dry_run: bool) -> None:
    verb = "would write" if dry_run else "wrote"
    for split, entries in report.entries.items():
        names = [k for k in report.files if k.startswith(f"{split}_")]
        files = ", ".join(str(report.files[k]) for k in names)
        click.echo(f"{split}: {verb} {len(entries)} sample(s) to {files}")
        if dry_run:
            for entry in entries:
                click.echo(f"  {entry['name']}: {entry['image']} -> {tuple(entry['shape'])}"
                           + (f" (patient {entry['patient']})" if entry.get("patient") else ""))
    click.echo(f"{verb} {report.files['manifest']}" + (f"; skipped {report.skipped} file(s) that are not images"
                                                      if report.skipped else ""))


COMMANDS = (data,)
