"""The page's files: configs saved in either value form, folders listed for the path picker, the
images a run writes, the TensorBoard folder, and CLI commands run on the page's config (``dlae check``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dlae_core.errors import UsageError
from dlae_core.gui import editing

CLI_TIMEOUT_S = 600  # dlae check builds a model on two backends: minutes at most
IMAGE_SUFFIXES = (".png",)


def save_config(page: dict, path: str, registry, *, form: str, old_folder: Path, overwrite: bool) -> dict:
    """Write the page's config to ``path`` as ``dlae convert`` writes it (``form``: typed or legacy),
    its relative paths rewritten to name the same files from the new folder. An existing file is
    replaced only with ``overwrite`` (OutputExistsError otherwise)."""
    from dlae_core.running.outputs import write_text_atomic

    target = Path(path).expanduser().resolve()
    text = editing.config_text(page, registry, form=form, old_folder=old_folder, new_folder=target.parent)
    write_text_atomic(target, text, overwrite=overwrite)
    return {"path": str(target), "config": editing.read_config_file(target, registry)}


def list_folder(folder: str) -> dict:
    """The folders and files in ``folder`` for the path picker (hidden ones left out)."""
    base = Path(folder).expanduser().resolve()
    if not base.is_dir():
        raise UsageError(f"{str(base)!r} is not a folder")
    entries = []
    for item in sorted(base.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower())):
        if not item.name.startswith("."):
            entries.append({"name": item.name, "dir": item.is_dir()})
    return {"folder": str(base), "parent": str(base.parent), "entries": entries}


def _resolved_config(config_path: str, registry):
    from dlae_core.config.parser import load_config
    from dlae_core.running.paths import resolve_relative_paths

    return resolve_relative_paths(load_config(config_path, registry), Path(config_path).parent)


def image_folders(config_path: str, registry) -> list[Path]:
    """The folders of a run's images: the technique's output folders (GAN previews) and the
    prediction samples the page draws (``samples/`` beside the saved model)."""
    from dlae_core.errors import DlaeError
    from dlae_core.gui.samples import samples_folder

    try:
        config = _resolved_config(config_path, registry)
    except DlaeError:
        return []
    technique = registry.techniques[config.config_file.model_signal]
    folders = [path for _, path in technique.written_outputs(config) if path.is_dir()]
    return folders + [samples_folder(config)]


def run_images(config_path: str, registry) -> list[str]:
    """Every image in the run's image folders, oldest first."""
    found = []
    for folder in image_folders(config_path, registry):
        if folder.is_dir():
            found += [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    return [str(p) for p in sorted(found, key=lambda p: (p.stat().st_mtime, p.name))]


def run_samples(config_path: str, registry) -> dict | None:
    """What :mod:`dlae_core.gui.samples` wrote for the run's config (``samples.json``), or None."""
    import json

    from dlae_core.errors import DlaeError
    from dlae_core.gui.samples import samples_folder

    try:
        path = samples_folder(_resolved_config(config_path, registry)) / "samples.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (DlaeError, ValueError, OSError):
        return None


def image_path(path: str, config_path: str, registry) -> Path:
    """``path`` when it is an image in one of the run's image folders; KeyError (404) otherwise, so the
    page cannot be made to read any other file."""
    target = Path(path).resolve()
    folders = [folder.resolve() for folder in image_folders(config_path, registry)]
    if target.suffix.lower() not in IMAGE_SUFFIXES or not any(target.parent == f for f in folders):
        raise KeyError(path)
    if not target.is_file():
        raise KeyError(path)
    return target


def tensorboard_folder(page: dict, folder: Path, registry) -> Path:
    """The TensorBoard log folder of the page's config (relative paths from ``folder``)."""
    from dlae_core.errors import ConfigError
    from dlae_core.gui.tensorboard import log_folder
    from dlae_core.running.paths import resolve_relative_paths

    config, problems = editing.parse_page(page, registry, str(Path(folder) / "config.json"))
    if config is None:
        raise ConfigError(problems)
    return log_folder(resolve_relative_paths(config, folder))


def run_cli_on_page(args: list[str], page: dict, folder: Path, registry, path: str | None) -> dict:
    """Run ``dlae ARGS CONFIG`` on the page's config, written to a hidden file in ``folder`` (so its
    relative paths name the same files) and removed afterwards. Returns the exit code and the
    output, with the hidden file's name replaced by the config's."""
    text = editing.config_text(page, registry, form="typed")
    temporary = Path(folder) / f".dlae-gui-{os.getpid()}-{os.urandom(3).hex()}.json"
    temporary.write_text(text, encoding="utf-8")
    try:
        done = subprocess.run([sys.executable, "-m", "dlae_core.cli.main", *args, str(temporary)],
                              capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=folder,
                              env=dict(os.environ, COLUMNS="160"))
    finally:
        temporary.unlink(missing_ok=True)
    shown = path or "the page's config"
    output = (done.stdout + done.stderr).replace(str(temporary), shown)
    return {"exit_code": done.returncode, "output": output, "command": f"dlae {' '.join(args)} {shown}"}
