"""SIGKILL while a checkpoint is being written (the in-suite version of benchmarks/fault_kills.py):
the previous checkpoint stays intact and loadable, the half-written file never takes its name, and
the next ``dlae run --resume`` removes the leftover and continues exactly (torch, CPU)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from dlae_core.cli.main import cli

pytest.importorskip("torch")

# The run, with the torch model writer slowed at its 2nd checkpoint: the temporary file is written and
# cut to half its size (as a write in progress leaves it), then the process says so and waits to be killed.
RUN_WITH_A_STALLED_SAVE = """
import sys, time
from pathlib import Path
import dlae_torch.modelfile as modelfile
from dlae_core.cli.main import main

real, saves = modelfile.write_atomic, []

def stalled(path, write):
    if Path(path).name != "best.pt":
        return real(path, write)
    saves.append(path)
    if len(saves) < 2:
        return real(path, write)

    def half(tmp):
        write(tmp)
        with open(tmp, "r+b") as handle:
            handle.truncate(tmp.stat().st_size // 2)
        print("saving", flush=True)
        time.sleep(600)

    return real(path, half)

modelfile.write_atomic = stalled
sys.argv = ["dlae"] + sys.argv[1:]
main()
"""


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _example(folder):
    from dlae_core.data.synthetic import write_example_data

    assert invoke("example", "cnn", folder).exit_code == 0
    write_example_data(folder / "data", "classification", n=32, size=16, overwrite=True)  # fewer samples: faster
    raw = json.loads((folder / "config.json").read_text())
    raw["training_configurations"].update({"epochs": 2, "batch_size": 16})
    raw["save_configurations"].update({"save_checkpoints_switch": True, "save_checkpoints_path": "out/best.pt",
                                       "save_checkpoints_frequency": 1})
    (folder / "config.json").write_text(json.dumps(raw))
    return folder / "config.json"


def _weights(path):
    from dlae_torch.modelfile import load_model_file

    return {k: v.numpy() for k, v in load_model_file(path)["state_dict"].items()}


def test_a_kill_during_a_checkpoint_write_loses_nothing_and_the_run_resumes(tmp_path):
    from dlae_core.errors import ModelFileError
    from dlae_torch.modelfile import load_model_file

    config = _example(tmp_path / "killed")
    out = config.parent / "out"
    run = subprocess.Popen([sys.executable, "-c", RUN_WITH_A_STALLED_SAVE, "run", "--backend", "torch", str(config),
                            "--quiet", "--workers", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = run.stdout.readline()
        if line.startswith("run record: "):  # dlae run's first line says where its record is
            line = run.stdout.readline()
        assert line == "saving\n", f"the run never reached its 2nd checkpoint: {line!r} {run.stderr.read()[-500:]}"
        previous = (out / "best.pt").read_bytes()
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == -signal.SIGKILL

    assert (out / "best.pt").read_bytes() == previous  # untouched by the interrupted write
    assert load_model_file(out / "best.pt")["training_state"]["epoch"] == 0  # the 1st checkpoint, loadable
    stale = list(out.glob(".best.pt.*.tmp"))
    assert len(stale) == 1 and 0 < stale[0].stat().st_size < len(previous) * 0.6
    with pytest.raises(ModelFileError):
        load_model_file(stale[0])  # what the kill left is half a file, under a name nothing reads
    assert not (out / "model.pt").exists()

    resumed = invoke("run", "--backend", "torch", config, "--quiet", "--workers", 0, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert list(out.glob(".*.tmp")) == []  # the leftover was removed
    rows = (out / "history.csv").read_text().strip().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["0", "1"]

    whole = _example(tmp_path / "whole")
    assert invoke("run", "--backend", "torch", whole, "--quiet", "--workers", 0).exit_code == 0
    a, b = _weights(whole.parent / "out/model.pt"), _weights(out / "model.pt")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)  # as if never killed
