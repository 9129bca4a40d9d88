"""``dlae example``: a ready-to-run experiment (config + generated data) in a folder."""

from __future__ import annotations

import json
from pathlib import Path

import click

# example name -> (config file in configs/, synthetic data kind, samples)
EXAMPLES = {
    "fcn": ("example_fcn.json", "segmentation", 96),
    "cnn": ("example_cnn.json", "classification", 96),
    "fcn3d": ("example_fcn3d.json", "segmentation3d", 32),
    "bbd": ("example_bbd.json", "detection", 128),
    "pix2pix": ("example_pix2pix.json", "translation", 96),
}


def configs_folder() -> Path:
    """The project's configs/ folder: next to the dlae_core package in a source checkout (editable
    install), else where the install put pyproject's data-files (``<data>/share/dlae/configs``; the
    data root is the environment's prefix, the user base for ``pip install --user``, /usr/local for
    Debian's system pip)."""
    import site
    import sys
    import sysconfig

    import dlae_core

    checkout = Path(dlae_core.__file__).resolve().parents[1] / "configs"
    roots = [sysconfig.get_path("data"), sys.prefix, getattr(site, "USER_BASE", None), "/usr/local"]
    candidates = [checkout] + [Path(root) / "share" / "dlae" / "configs" for root in roots if root]
    return next((folder for folder in candidates if folder.is_dir()), checkout)


def write_example(name: str, folder: Path, *, overwrite: bool) -> Path:
    from dlae_core.data.synthetic import write_example_data
    from dlae_core.running.outputs import write_text_atomic
    from dlae_core.running.run import refuse_existing

    # one message for the whole example, in CLI terms, before anything is written
    refuse_existing([("example config", folder / "config.json"), ("example data folder", folder / "data")],
                    overwrite, hint="or choose another folder")
    template, kind, count = EXAMPLES[name]
    source = configs_folder() / template
    if not source.is_file():
        from dlae_core.errors import ConfigFileError

        raise ConfigFileError(f"{source}: the example config is not installed with dlae; reinstall dlae "
                              f"(pip install dlae) or run from a source checkout")
    raw = json.loads(source.read_text())
    size = raw["config_file"]["input_shape"][0]
    files = write_example_data(folder / "data", kind, n=count, size=size, seed=0, overwrite=overwrite)
    paths = raw.setdefault("paths", {})
    # Paths relative to the config's folder (how dlae resolves them), so a copied example folder
    # reads and writes its own files.
    for key, path in files.items():
        if key in paths:
            paths[key] = path.relative_to(folder).as_posix()
    config_path = folder / "config.json"
    write_text_atomic(config_path, json.dumps(raw, indent=1) + "\n", overwrite=overwrite)
    return config_path


@click.command()
@click.argument("name", type=click.Choice(sorted(EXAMPLES)))
@click.argument("folder", type=click.Path(file_okay=False), default=None, required=False)
@click.option("--overwrite", is_flag=True, help="Replace an existing example in FOLDER.")
def example(name: str, folder: str | None, overwrite: bool) -> None:
    """Write example NAME (a config and generated data) into FOLDER (default: runs/NAME)."""
    target = Path(folder or f"runs/{name}")
    config_path = write_example(name, target, overwrite=overwrite)
    click.echo(f"wrote {config_path}; train it with: dlae run {config_path}")


COMMANDS = (example,)
