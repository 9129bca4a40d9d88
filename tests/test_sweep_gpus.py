"""One GPU per trial with ``dlae sweep --jobs N``: which GPUs a sweep sees (CUDA_VISIBLE_DEVICES, else
nvidia-smi), round robin when jobs outnumber them, and, with two GPUs pretended through
CUDA_VISIBLE_DEVICES, each trial's own run record naming the one GPU it was given, never one a concurrent
trial had. The sweep is the issue's own form (a loss list and a log-uniform learning rate, random search)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from dlae_core.experiments.sweep.launch import gpu_for_slot, gpu_slots
from sweep_support import dlae, read_trials, write_base, write_sweep


@pytest.mark.parametrize("visible, gpus", [("2,3", ["2", "3"]), ("GPU-5e1c, GPU-77aa", ["GPU-5e1c", "GPU-77aa"]),
                                           ("", []), ("-1", [])])
def test_visible_devices_name_the_gpus(monkeypatch, visible, gpus):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpu_slots() == gpus


def test_without_visible_devices_nvidia_smi_lists_them(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_slots() == []  # no nvidia-smi: no GPU
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)'\n"
                    "echo 'GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-2)'\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert gpu_slots() == ["0", "1"]


def test_jobs_beyond_the_gpus_share_them_round_robin():
    assert [gpu_for_slot(slot, ["0", "1"]) for slot in range(5)] == ["0", "1", "0", "1", "0"]
    assert [gpu_for_slot(slot, ["3"]) for slot in range(2)] == ["3", "3"]
    assert gpu_for_slot(0, []) is None


def test_concurrent_trials_never_share_a_gpu(tmp_path):
    pytest.importorskip("optuna")
    pytest.importorskip("torch")
    write_base(tmp_path, preprocessing={"categorical_switch": True},
               loss_function={"loss": "categorical_crossentropy", "parameter1": 0.5, "parameter2": 0.5})
    sweep = write_sweep(tmp_path, search="random", trials=3, objective={"metric": "val_loss", "direction": "minimize"},
                        parameters={"loss_function.loss": ["soft_dice", "tversky"],
                                    "learning_rate_schedule.learning_rate": {"low": 0.0001, "high": 0.01, "log": True}})
    out = tmp_path / "out"
    result = dlae("sweep", sweep, "-o", out, "--jobs", "2", env={**os.environ, "CUDA_VISIBLE_DEVICES": "0,1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "GPUs: job 1 on GPU 0, job 2 on GPU 1" in result.stdout

    import optuna

    trials = optuna.load_study(study_name="sweep", storage=f"sqlite:///{out / 'sweep.db'}").get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    given = {}
    for trial in trials:
        run = out / "runs" / trial.user_attrs["run"].rsplit("/", 1)[-1]
        record = json.loads((run / "model.pt.run.json").read_text())
        given[trial.number] = record["device"]["cuda_visible_devices"]  # what the trial's own process saw
        assert given[trial.number] == trial.user_attrs["gpu"] and given[trial.number] in ("0", "1")
    overlapping = [(a, b) for a in trials for b in trials if a.number < b.number
                   and a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete]
    assert overlapping, "the two jobs never ran trials side by side"
    assert all(given[a.number] != given[b.number] for a, b in overlapping)
    assert {r["state"] for r in read_trials(out)} == {"complete"}
