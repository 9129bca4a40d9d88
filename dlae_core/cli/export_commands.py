"""``dlae export``: a trained model as ONNX (or TorchScript / SavedModel) plus a sidecar JSON."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--backend", "-b", default="torch", show_default=True, help="Framework that rebuilds the model.")
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript", "savedmodel"]), default="onnx",
              show_default=True, help="torchscript: torch backend only; savedmodel: tensorflow backend only.")
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the model file and dlae_export.json.")
@click.option("--class-names", default=None, help="Comma-separated class names for the sidecar.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in the folder.")
def export(config_path: str, backend: str, fmt: str, out: Path, class_names: str | None, overwrite: bool) -> None:
    """Export the model of CONFIG (paths.load_model, or its saved model) with a sidecar JSON; ONNX
    exports are checked against the framework with onnxruntime."""
    from dlae_core.medical.export import export as run_export

    names = [n.strip() for n in class_names.split(",")] if class_names else None
    sidecar = run_export(config_path, backend, fmt, out, overwrite=overwrite, class_names=names)
    check = sidecar.get("check")
    detail = (f"; onnxruntime matches {backend} within {check['max_abs_difference']:.2g}" if check else "")
    click.echo(f"exported {sidecar['technique']} model to {out / sidecar['file']} with {out / 'dlae_export.json'}"
               f"{detail}")


COMMANDS = (export,)
