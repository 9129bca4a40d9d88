"""Data-parallel training on PyTorch, on the CPU with gloo: worker processes started by ``dlae run
--processes 2`` (torch's elastic launcher) or by two ``torchrun --nnodes 2`` launchers on 127.0.0.1.

Two processes with half the batch each reach the weights of one process with the whole batch
(CNN with shuffling and augmentation, FCN with synchronized batch normalization, cycleGAN), write
their outputs once, resume in one process, predict in input order; a failing or killed rank ends
the run in seconds with one clear line and the last checkpoint kept. The rules themselves (sharding,
reductions, launch decisions) are tested without processes in tests/test_distributed_rules.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from support import (cnn_layers, fcn_layers, gan_config, make_config, make_data, model_state, predict,  # noqa: E402
                     read_csv, read_h5, save_to, saved_weights, train, write_config, write_h5)

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
TOLERANCE = 1e-5
FIRST_LINE = "data-parallel: 2 processes (gloo on the CPU), {} samples each = global batch {} per step"


def dlae(*args, timeout: float = 300, **popen) -> subprocess.CompletedProcess:
    """``dlae ARGS`` in a process of its own (the workers it starts write to its stdout/stderr)."""
    return subprocess.run([sys.executable, "-m", "dlae_core.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, **popen)


def errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def assert_same(a: dict, b: dict, tolerance: float = TOLERANCE) -> None:
    assert list(a) == list(b)
    for key in a:
        assert np.allclose(a[key], b[key], rtol=0, atol=tolerance), f"{key}: max |diff| {np.abs(a[key] - b[key]).max()}"


def cnn(data: dict, out: Path, epochs: int = 2, **sections) -> dict:
    """A CNN with shuffling, augmentation (seeded per sample) and validation; 12 training samples."""
    return make_config("CNN", (16, 16, 1), cnn_layers(), data,
                       training_configurations={"hardware": "cpu", "batch_size": 8, "epochs": epochs,
                                                "validation_split": 0.25, "early_stop_switch": False},
                       augmentation={"apply_augmentation_switch": True, "random_seed": 1, "rotation_range": 10,
                                     "horizontal_flip_switch": True},
                       save_configurations={**save_to(out, checkpoint=True), "save_checkpoints_frequency": 1},
                       **sections)


def test_two_processes_train_the_weights_of_one_write_once_and_resume_in_one(tmp_path):
    data = make_data(tmp_path / "data", "classification", n=16, size=16)
    one, two = tmp_path / "one", tmp_path / "two"
    train("torch", cnn(data, one), tmp_path / "one.json")
    result = dlae("run", write_config(tmp_path / "two.json", cnn(data, two)), "--quiet", "--workers", 0,
                  "--processes", 2)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(FIRST_LINE.format(4, 8))
    assert_same(saved_weights("torch", two / "model.pt"), saved_weights("torch", one / "model.pt"))
    header, rows = read_csv(two / "history.csv")
    _, expected = read_csv(one / "history.csv")
    assert header == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    for got, want in zip(rows, expected, strict=True):  # reduced over both processes: one process's history
        assert got == pytest.approx(want, abs=TOLERANCE)
    # rank 0 alone writes and reports: one line per epoch, the outputs once, the record says how
    assert sum(line.startswith("epoch 1/2:") for line in result.stderr.splitlines()) == 1
    assert sorted(p.name for p in two.iterdir()) == ["best.pt", "history.csv", "model.pt", "model.pt.report",
                                                     "model.pt.run.json"]
    record = json.loads((two / "model.pt.run.json").read_text())
    assert record["status"] == "finished" and record["device"]["data_parallel"]["processes"] == 2

    # the 2-process checkpoint (epoch 2) goes on in one process: as one process trained all along
    assert model_state("torch", two / "best.pt")["epoch"] == 1
    train("torch", cnn(data, tmp_path / "one3", epochs=3), tmp_path / "one3.json")
    resumed = cnn(data, tmp_path / "resumed", epochs=3, paths={"load_checkpoint": str(two / "best.pt")},
                  config_file={"type_signal": "Train from Checkpoint"})
    train("torch", resumed, tmp_path / "resumed.json")
    assert_same(saved_weights("torch", tmp_path / "resumed" / "model.pt"),
                saved_weights("torch", tmp_path / "one3" / "model.pt"))

    # predictions of two processes: written once by rank 0, in input order, as one process's (batch 5
    # of 9 samples: the processes' parts are uneven and rank 1's part of the last batch is empty)
    x = read_h5(data["validation_X"])
    test = write_h5(tmp_path / "test.h5", {str(i): x[str(i % len(x))] for i in range(9)})
    inference = {**cnn(data, two), "training_configurations": {"hardware": "cpu", "batch_size": 5}}
    expected = predict("torch", tmp_path, inference, two / "model.pt", test, out_name="one.h5")
    inference["config_file"]["type_signal"] = "Inference"
    inference["paths"] = {"load_model": str(two / "model.pt"), "test_X": test}
    result = dlae("predict", write_config(tmp_path / "inference.json", inference), "--workers", 0, "--processes", 2,
                  "--predictions", tmp_path / "two.h5")
    assert result.returncode == 0, result.stderr
    with h5py.File(tmp_path / "two.h5", "r") as handle:
        names = [name for name in handle]
    assert sorted(names, key=int) == [str(i) for i in range(9)]
    got = read_h5(tmp_path / "two.h5")
    assert_same({k: got[k] for k in sorted(got, key=int)}, {k: expected[k] for k in sorted(expected, key=int)})


def test_synchronized_batch_normalization_in_two_processes_is_one_process_on_the_whole_batch(tmp_path):
    data = make_data(tmp_path / "data", "segmentation", n=12, size=16)
    layers = fcn_layers()
    layers.insert(3, "Batch normalization:0.99:0.001")  # after the ReLU: every parameter has a gradient

    def fcn(out):
        return make_config("FCN", (16, 16, 1), layers, data, save_configurations=save_to(out),
                           training_configurations={"hardware": "cpu", "batch_size": 4, "epochs": 2,
                                                    "validation_split": 0.25, "early_stop_switch": False,
                                                    "synchronized_batch_normalization": True})

    train("torch", fcn(tmp_path / "one"), tmp_path / "one.json")
    result = dlae("run", write_config(tmp_path / "two.json", fcn(tmp_path / "two")), "--quiet", "--workers", 0,
                  "--processes", 2)
    assert result.returncode == 0, result.stderr
    weights = saved_weights("torch", tmp_path / "two" / "model.pt")
    assert any("moving_variance" in key for key in weights)
    assert_same(weights, saved_weights("torch", tmp_path / "one" / "model.pt"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_cyclegan_on_two_nodes_started_by_torchrun(tmp_path):
    data = make_data(tmp_path / "data", "translation", n=8, size=16)

    def cyclegan(out):
        config = gan_config(data, "cyclegan", epochs=1, save_configurations=save_to(out))
        config["training_configurations"]["batch_size"] = 4
        return config

    train("torch", cyclegan(tmp_path / "one"), tmp_path / "one.json")
    path = write_config(tmp_path / "two.json", cyclegan(tmp_path / "two"))
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", "--rdzv-id", "dlae-test",
               "-m", "dlae_core.cli.main", "run", path, "--quiet", "--workers", "0"]
    nodes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], [err[-2000:] for _, err in outputs]
    first = [out.splitlines()[0] for out, _ in outputs if out.strip()]
    assert len(first) == 1 and first[0].startswith(FIRST_LINE.format(2, 4))  # rank 0 speaks, on one node
    for role in ("generator1", "generator2"):
        assert_same(saved_weights("torch", tmp_path / "two" / f"model_{role}.pt"),
                    saved_weights("torch", tmp_path / "one" / f"model_{role}.pt"))


def test_bbd_trains_in_two_processes(tmp_path):
    from support import BBD_SIZE, bbd_config

    data = make_data(tmp_path / "data", "detection", n=16, size=BBD_SIZE)
    out = tmp_path / "out"
    result = dlae("run", write_config(tmp_path / "bbd.json", bbd_config(data, out, epochs=2)), "--quiet",
                  "--workers", 0, "--processes", 2)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr  # DDP's static graph finds the unused parameters silently
    header, rows = read_csv(out / "history.csv")
    assert header == ["epoch", "loss", "val_loss", "val_mAP", "lr"] and len(rows) == 2
    assert all(np.isfinite(list(row.values())).all() for row in rows)
    assert model_state("torch", out / "model.bin")["epoch"] == 1


def _bad_sample(data: dict, folder: Path, name: str) -> str:
    """train_X with NaN values in sample ``name`` (one the checks before training do not read)."""
    samples = read_h5(data["train_X"])
    samples[name] = np.full_like(samples[name], np.nan, dtype=np.float32)
    return write_h5(folder / "bad_X.h5", samples)


def test_a_bad_sample_on_one_rank_ends_the_run_with_its_line(tmp_path):
    data = make_data(tmp_path / "data", "classification", n=16, size=16)
    data["train_X"] = _bad_sample(data, tmp_path, "6")
    config = cnn(data, tmp_path / "out", epochs=3)
    config["training_configurations"]["validation_split"] = 0.0  # the sample is trained on, by one rank
    result = dlae("run", write_config(tmp_path / "config.json", config), "--quiet", "--workers", 0, "--processes", 2)
    assert result.returncode == 2
    lines = errors(result)
    assert len(lines) == 2 and "sample '6'" in lines[0] and "NaN" in lines[0], result.stderr
    assert lines[1].startswith("error: rank ") and lines[1].endswith("so the other processes of the run were stopped")
    assert "Traceback" not in result.stderr
    assert json.loads((tmp_path / "out" / "model.pt.run.json").read_text())["status"] == "failed"


def _other_worker(launcher: int, lock: Path) -> int:
    """The PID of the worker other than rank 0 (whose PID its output lock holds) among the launcher's
    forked children (the ones with the launcher's command line)."""
    rank0 = int(lock.read_text())
    command = Path(f"/proc/{launcher}/cmdline").read_bytes()
    children = subprocess.run(["pgrep", "-P", str(launcher)], capture_output=True, text=True).stdout.split()
    others = [int(pid) for pid in children
              if int(pid) != rank0 and Path(f"/proc/{pid}/cmdline").read_bytes() == command]
    assert len(others) == 1, (children, rank0)
    return others[0]


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the rank's process through /proc")
def test_killing_a_rank_stops_the_run_within_seconds_and_keeps_the_checkpoint(tmp_path):
    data = make_data(tmp_path / "data", "translation", n=8, size=16)
    out = tmp_path / "out"
    config = gan_config(data, "pix2pix", epochs=500, validation=False,
                        save_configurations={**save_to(out), "save_checkpoints_switch": True,
                                             "save_checkpoints_path": str(out / "gen.pt"),
                                             "save_checkpoints_frequency": 1})
    config["training_configurations"]["batch_size"] = 4
    path = write_config(tmp_path / "killed.json", config)
    run = subprocess.Popen([sys.executable, "-m", "dlae_core.cli.main", "run", path, "--quiet", "--workers", "0",
                            "--processes", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        checkpoint = out / "epoch_0_checkpoint_generator_gen.pt"
        deadline = time.time() + 240
        while not checkpoint.exists() and time.time() < deadline and run.poll() is None:
            time.sleep(0.2)
        assert checkpoint.exists(), run.communicate()[1][-2000:]
        os.kill(_other_worker(run.pid, out / ".model.pt.dlae-lock"), signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = run.communicate(timeout=60)
        stopped = time.monotonic() - killed
    finally:
        if run.poll() is None:
            run.kill()
    assert stopped < 20, stopped  # ~3 s here: the survivor's collective fails at once, the launcher stops it
    assert run.returncode == 1, stderr[-3000:]
    assert [line for line in stderr.splitlines() if line.startswith("error: ")] == [
        "error: rank 1 of 2 was killed by SIGKILL",
        "error: rank 1 of 2 failed, so the other processes of the run were stopped"], stderr[-2000:]
    assert "Traceback" not in stderr and "SIGTERM" not in stderr  # the launcher's own logs stay quiet
    assert model_state("torch", checkpoint)["epoch"] == 0  # the last checkpoint stays, whole
