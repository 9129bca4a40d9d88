"""Outputs never destroy inputs or each other, relative paths follow the config file, and files
get the mode the umask allows (framework-free)."""

import os
import stat

import pytest
from click.testing import CliRunner

from dlae_core.cli.main import cli
from dlae_core.errors import OutputExistsError
from dlae_core.running.outputs import write_atomic


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def errors(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def config_with(tmp_path, minimal_typed_config, write_config, **save):
    data = tmp_path / "train_y.h5"
    data.write_bytes(b"not read with --skip-data")
    raw = minimal_typed_config(paths={"train_X": str(tmp_path / "train_X.h5"), "train_y": str(data)},
                               save_configurations=save)
    return write_config(tmp_path, raw)


def test_a_csv_path_equal_to_an_input_is_refused_at_its_key(tmp_path, minimal_typed_config, write_config):
    path = config_with(tmp_path, minimal_typed_config, write_config,
                       save_csv_switch=True, save_csv_path=str(tmp_path / "train_y.h5"))
    result = invoke("validate", "--skip-data", path)
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: save_configurations.save_csv_path: the CSV history is the input paths.train_y, which writing it "
        f"would destroy. Expected an output path different from every input file. "
        f"Received: '{tmp_path / 'train_y.h5'}'."]


def test_an_output_reaching_an_input_through_a_symlink_is_refused(tmp_path, minimal_typed_config, write_config):
    os.symlink(tmp_path / "train_y.h5", tmp_path / "history.csv")
    path = config_with(tmp_path, minimal_typed_config, write_config,
                       save_csv_switch=True, save_csv_path=str(tmp_path / "history.csv"))
    result = invoke("validate", "--skip-data", path)
    assert result.exit_code == 2
    assert "the CSV history is the input paths.train_y" in errors(result)[0]


def test_two_outputs_on_one_file_are_refused(tmp_path, minimal_typed_config, write_config):
    model = str(tmp_path / "model.pt")
    path = config_with(tmp_path, minimal_typed_config, write_config, save_model_switch=True, save_model_path=model,
                       save_checkpoints_switch=True, save_checkpoints_path=model)
    result = invoke("validate", "--skip-data", path)
    assert result.exit_code == 2
    assert errors(result) == [
        "error: save_configurations.save_checkpoints_path: the checkpoint and the final model "
        "(save_configurations.save_model_path) are the same file. Expected a different path for each output. "
        f"Received: '{model}'."]


def test_a_tensorboard_folder_on_an_input_is_refused_and_beside_inputs_accepted(tmp_path, minimal_typed_config,
                                                                                write_config):
    path = config_with(tmp_path, minimal_typed_config, write_config,
                       save_tensorboard_switch=True, save_tensorboard_path=str(tmp_path / "train_y.h5"))
    result = invoke("validate", "--skip-data", path)
    assert result.exit_code == 2
    assert "the TensorBoard log folder is the input paths.train_y" in errors(result)[0]
    # the folder holding the data is fine: TensorBoard only replaces its own event files there
    beside = config_with(tmp_path, minimal_typed_config, write_config,
                         save_tensorboard_switch=True, save_tensorboard_path=str(tmp_path))
    assert invoke("validate", "--skip-data", beside).exit_code == 0


def test_a_resumed_run_may_write_over_the_model_it_continues_from(tmp_path, minimal_typed_config, write_config):
    model = str(tmp_path / "model.pt")
    (tmp_path / "model.pt").write_bytes(b"x")
    raw = minimal_typed_config(paths={"train_X": str(tmp_path / "x.h5"), "train_y": str(tmp_path / "y.h5"),
                                      "load_checkpoint": model},
                               config_file={"type_signal": "Train from Checkpoint"},
                               save_configurations={"save_model_switch": True, "save_model_path": model})
    result = invoke("validate", "--skip-data", write_config(tmp_path, raw))
    assert result.exit_code == 0, result.output


def test_relative_paths_are_relative_to_the_config_folder(tmp_path, minimal_typed_config, write_config):
    folder = tmp_path / "experiment"
    folder.mkdir()
    (folder / "y.h5").write_bytes(b"x")
    raw = minimal_typed_config(paths={"train_X": "x.h5", "train_y": "y.h5"},
                               save_configurations={"save_csv_switch": True, "save_csv_path": "y.h5"})
    result = invoke("validate", "--skip-data", write_config(folder, raw))  # run from another directory
    assert result.exit_code == 2
    assert f"Received: '{folder / 'y.h5'}'." in errors(result)[0]


def test_predictions_never_replace_an_input_even_with_overwrite(tmp_path, minimal_typed_config, write_config):
    from dlae_core.cli.loading import load_and_plan
    from dlae_core.running.prediction import claim_predictions_path
    from dlae_core.running.run import Run, RunOptions

    test_x = tmp_path / "test_X.h5"
    test_x.write_bytes(b"inputs")
    raw = minimal_typed_config(config_file={"type_signal": "Inference"},
                               paths={"test_X": str(test_x), "load_model": str(tmp_path / "m.pt")})
    config, plan, registry = load_and_plan(str(write_config(tmp_path, raw)), check_data=False)
    run = Run(config, plan, registry, RunOptions("torch", overwrite=True, predictions=str(test_x)))
    with pytest.raises(OutputExistsError, match="is the input paths.test_X; choose another --predictions"):
        claim_predictions_path(run)
    assert test_x.read_bytes() == b"inputs"


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = write_atomic(tmp_path / "model.bin", lambda tmp: tmp.write_bytes(b"weights"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert path.read_bytes() == b"weights"


def test_taking_the_lock_removes_what_an_interrupted_save_left(tmp_path):
    from dlae_core.running.lock import hold_locks

    model = tmp_path / "out" / "model.pt"
    model.parent.mkdir()
    stale = model.parent / ".model.pt.abc123.tmp"
    stale.write_bytes(b"half a model")
    other = model.parent / ".history.csv.abc123.tmp"  # another output's: not ours to remove
    other.write_bytes(b"x")
    with hold_locks([model]):
        assert not stale.exists()
    assert other.exists()


def test_an_output_folder_that_cannot_be_written_is_found_before_any_work(tmp_path):
    from dlae_core.running.lock import hold_locks

    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be")
    with pytest.raises(OutputExistsError) as info:
        with hold_locks([blocker / "model.pt"]):
            pytest.fail("the run must not start")
    assert str(info.value).startswith(f"cannot write '{blocker / 'model.pt'}': ")
    assert "choose a folder you can write to" in str(info.value)
    assert blocker.read_text() == "a file where the output folder should be"


def test_a_final_model_that_cannot_be_written_is_rescued_and_said_where(tmp_path, monkeypatch):
    from dlae_core.training.loop import save_or_rescue

    saved = []

    class Engine:
        def save(self, path, state):
            if "gone" in path:
                raise PermissionError(13, "Permission denied", path)
            saved.append((path, state))

    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputExistsError) as info:
        save_or_rescue(Engine(), str(tmp_path / "gone" / "model.pt"), {"epoch": 3})
    rescue = tmp_path / f"dlae_rescued_{os.getpid()}_model.pt"
    assert saved == [(str(rescue), {"epoch": 3})]
    assert str(info.value) == (f"could not write the final model to '{tmp_path / 'gone' / 'model.pt'}' "
                               f"(Permission denied); it was saved to '{rescue}' instead")
