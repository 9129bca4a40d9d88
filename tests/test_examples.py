"""``dlae example NAME FOLDER``: every example writes data and a config that validates with its data."""

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from dlae_core.cli.example_commands import EXAMPLES
from dlae_core.cli.main import cli


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_validates_with_its_generated_data(tmp_path, name):
    folder = tmp_path / name
    written = invoke("example", name, folder)
    assert written.exit_code == 0, written.output
    assert written.stdout.startswith(f"wrote {folder / 'config.json'}")
    config = json.loads((folder / "config.json").read_text())
    for key, path in config["paths"].items():
        assert not os.path.isabs(path), (key, path)  # relative to the config's folder
        if key != "load_model":
            assert path.startswith("data/") and (folder / path).is_file(), (key, path)
    for key in ("save_model_path", "save_csv_path", "save_checkpoints_path"):
        value = config["save_configurations"].get(key)
        assert not value or not os.path.isabs(value), (key, value)
    validated = invoke("validate", folder / "config.json")  # data checks included
    assert validated.exit_code == 0, validated.output
    assert validated.stdout.startswith("OK ")


def test_a_copied_example_folder_reads_its_own_files(tmp_path):
    """Relative paths resolve against the config's folder, not the working directory: a copy of
    the folder validates after the original is gone."""
    original, copy = tmp_path / "original", tmp_path / "copy"
    assert invoke("example", "cnn", original).exit_code == 0
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    validated = invoke("validate", copy / "config.json")
    assert validated.exit_code == 0, validated.output


def test_an_existing_example_is_kept_without_overwrite(tmp_path):
    assert invoke("example", "cnn", tmp_path).exit_code == 0
    before = (tmp_path / "config.json").read_bytes()
    again = invoke("example", "cnn", tmp_path)
    assert again.exit_code == 2
    assert "already exist" in again.stderr and "--overwrite" in again.stderr
    assert (tmp_path / "config.json").read_bytes() == before
    assert invoke("example", "cnn", tmp_path, "--overwrite").exit_code == 0


def test_missing_example_configs_are_one_clear_error(tmp_path, monkeypatch):
    import dlae_core.cli.example_commands as examples

    monkeypatch.setattr(examples, "configs_folder", lambda: tmp_path / "nowhere")
    result = invoke("example", "cnn", tmp_path / "ex")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'nowhere' / 'example_cnn.json'}: the example config is "
                                    f"not installed with dlae")
    assert not (tmp_path / "ex").exists()
