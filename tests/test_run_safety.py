"""A run's outputs are locked for its lifetime, a finished run says where its outputs went,
``--resume`` continues without a config edit, Ctrl-C ends with 130 and the command to resume, and
predictions with the default name never share a file (torch backend; skipped without torch)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from dlae_core.cli.main import cli
from dlae_core.running.lock import hold_locks

pytest.importorskip("torch")


def invoke(*args, cwd=None):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def example(tmp_path):
    folder = tmp_path / "cnn"
    assert invoke("example", "cnn", folder).exit_code == 0
    config = json.loads((folder / "config.json").read_text())
    config["training_configurations"].update({"epochs": 2, "batch_size": 16})
    config["save_configurations"].update({"save_checkpoints_switch": True, "save_checkpoints_path": "out/best.pt",
                                          "save_checkpoints_frequency": 1})
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_a_finished_run_names_its_outputs_and_resume_continues(example):
    config = example / "config.json"
    first = invoke("run", "--backend", "torch", config, "--quiet", "--workers", 0)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().splitlines()[-1] == f"run record: {example / 'out/model.pt.run.json'}"
    assert first.stdout.strip().splitlines()[-2].endswith(
        f"done: final model '{example / 'out/model.pt'}', checkpoint '{example / 'out/best.pt'}', "
        f"CSV history '{example / 'out/history.csv'}'")
    raw = json.loads(config.read_text())
    raw["training_configurations"]["epochs"] = 3
    config.write_text(json.dumps(raw))
    resumed = invoke("run", "--backend", "torch", config, "--quiet", "--workers", 0, "--resume")  # no --overwrite
    assert resumed.exit_code == 0, resumed.output
    rows = (example / "out/history.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in rows[1:]][-1] == "2"  # the third epoch was added


def test_resume_without_a_checkpoint_and_predictions_on_a_train_run_are_refused(example):
    config = example / "config.json"
    result = invoke("run", "--backend", "torch", config, "--resume")
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: --resume: there is no checkpoint to continue from yet "
                                     f"('{example / 'out/best.pt'}' does not exist)")
    result = invoke("run", "--backend", "torch", config, "--predictions", example / "p.h5")
    assert result.exit_code == 2
    assert result.output.startswith(f"error: --predictions applies to Inference sessions; {config} is a Train "
                                    f"session")
    assert not (example / "out").exists()


def test_a_second_run_on_the_same_outputs_stops_naming_the_first(example):
    with hold_locks([example / "out/model.pt"]):
        result = invoke("run", "--backend", "torch", example / "config.json", "--quiet")
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: another dlae run (PID {os.getpid()}) is writing "
                                     f"'{example / 'out/model.pt'}'; wait for it to finish or choose other "
                                     f"output paths")
    assert not (example / "out/history.csv").exists()
    assert not (example / "out/.model.pt.dlae-lock").exists()  # released and removed


def test_predictions_with_the_default_name_never_share_a_file(example, monkeypatch):
    from dlae_core.cli.loading import load_and_plan
    from dlae_core.running.prediction import claim_predictions_path
    from dlae_core.running.run import Run, RunOptions

    monkeypatch.chdir(example)
    config, plan, registry = load_and_plan(str(example / "config.json"), check_data=False)
    run = Run(config, plan, registry, RunOptions("torch"))
    claimed = {claim_predictions_path(run) for _ in range(3)}  # within one second
    assert len(claimed) == 3 and all(path.is_file() for path in claimed)


def test_ctrl_c_ends_with_130_and_the_command_to_resume(example):
    raw = json.loads((example / "config.json").read_text())
    raw["training_configurations"]["epochs"] = 500
    (example / "config.json").write_text(json.dumps(raw))
    process = subprocess.Popen([sys.executable, "-m", "dlae_core.cli.main", "run", "--backend", "torch",
                                str(example / "config.json"), "--quiet", "--workers", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (example / "out/best.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == (f"interrupted; continue from the last checkpoint with: dlae run "
                                            f"--backend torch {example / 'config.json'} --resume")
    assert "Traceback" not in err


def test_a_resumed_run_with_dropout_and_augmentation_equals_the_uninterrupted_one(tmp_path):
    """Exact on the CPU: weights, optimizer, loop state and the generators are all restored."""
    import numpy as np
    import torch

    def make(name: str, epochs: int):
        folder = tmp_path / name
        assert invoke("example", "cnn", folder).exit_code == 0
        raw = json.loads((folder / "config.json").read_text())
        layers = raw["layers"]["serial_layer_list"]
        layers.insert(len(layers) - 2, {"type": "Dropout", "rate": 0.3})
        raw["augmentation"] = {"apply_augmentation_switch": True, "horizontal_flip_switch": True,
                               "rotation_range": 10.0, "random_seed": 3}
        raw["training_configurations"].update({"epochs": epochs, "batch_size": 16})
        raw["save_configurations"].update({"save_checkpoints_switch": True, "save_checkpoints_path": "out/best.pt",
                                           "save_checkpoints_frequency": 1})
        (folder / "config.json").write_text(json.dumps(raw))
        return folder

    whole, split = make("whole", 4), make("split", 2)
    for folder in (whole, split):
        result = invoke("run", "--backend", "torch", folder / "config.json", "--quiet", "--workers", 0)
        assert result.exit_code == 0, result.output
    (split / "out/model.pt").unlink()  # a run killed after its checkpoint writes no final model
    raw = json.loads((split / "config.json").read_text())
    raw["training_configurations"]["epochs"] = 4
    (split / "config.json").write_text(json.dumps(raw))
    result = invoke("run", "--backend", "torch", split / "config.json", "--quiet", "--workers", 0, "--resume")
    assert result.exit_code == 0, result.output
    a = torch.load(whole / "out/model.pt", weights_only=True)["state_dict"]
    b = torch.load(split / "out/model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key].numpy(), b[key].numpy()), key
    last = [(whole / "out/history.csv").read_text().strip().splitlines()[-1],
            (split / "out/history.csv").read_text().strip().splitlines()[-1]]
    assert last[0] == last[1]
