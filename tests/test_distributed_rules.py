"""The rules of a data-parallel run, without processes or frameworks (dlae_core.running.distributed,
dlae_core.cli.processes): which world a process is in, how many processes a start launches, how the
global batch is cut, how results are reduced and gathered in order, what the launcher says when a
worker fails. The runs themselves: tests/backends/torch_only/test_torch_distributed.py and
tests/backends/tensorflow_only/test_tf_distributed.py."""

from __future__ import annotations

import json
import types

import click
import pytest
from click.testing import CliRunner

from dlae_core.cli import processes
from dlae_core.config.parser import parse_config
from dlae_core.errors import DistributedError, TrainingError, UnsupportedSettingError
from dlae_core.running.distributed import (SINGLE, RankShare, World, first_host, global_batches, ordered_outputs,
                                           per_process_batch, plan_line, processes_to_launch, rank_batches,
                                           reduced_means, rendezvous_environment, secondary_config, shard,
                                           world_from_environment)


def test_the_world_comes_from_torchrun_then_slurm_else_one_process():
    torchrun = {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert world_from_environment(torchrun) == World(4, 3, 1, 2, "torchrun")
    slurm = {"SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_STEP_NUM_NODES": "2"}
    assert world_from_environment(slurm) == World(8, 5, 1, 4, "slurm")
    assert world_from_environment({**slurm, **torchrun}).launcher == "torchrun"  # torchrun inside an allocation
    # a batch script (no job step), a single task, a world of one: one process
    for env in ({}, {"SLURM_NTASKS": "8", "SLURM_PROCID": "0"}, {"SLURM_STEP_NUM_TASKS": "1"}, {"WORLD_SIZE": "1"}):
        assert world_from_environment(env) is SINGLE and not SINGLE.distributed and SINGLE.primary


@pytest.mark.parametrize("nodelist,host", [("gpu[03-05,9],cpu1", "gpu03"), ("node7", "node7"),
                                           ("a1,a2", "a1"), ("n[1,4]", "n1"), ("", "127.0.0.1")])
def test_the_first_host_of_a_slurm_node_list(nodelist, host):
    assert first_host(nodelist) == host


def test_a_slurm_step_gets_the_variables_of_a_process_group_start():
    world = World(4, 2, 0, 2, "slurm")
    env = rendezvous_environment(world, {"SLURM_JOB_NODELIST": "gpu[12-13]", "SLURM_JOB_ID": "12345"})
    assert env == {"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "gpu12", "MASTER_PORT": "29845"}
    given = rendezvous_environment(world, {"MASTER_ADDR": "head", "MASTER_PORT": "1234"})
    assert "MASTER_ADDR" not in given and "MASTER_PORT" not in given  # the user's (or torchrun's) stay


@pytest.fixture
def config_of(registry, minimal_typed_config):
    """``config_of(**training_configurations)``: a parsed CNN config."""
    return lambda **training: parse_config(minimal_typed_config(training_configurations=training), registry)


def test_how_many_processes_a_plain_start_launches(config_of):
    _config = config_of
    multi = _config(hardware="multi-gpu")
    assert processes_to_launch(multi, None, gpus=4) == 4  # every visible GPU
    assert processes_to_launch(_config(hardware="multi-gpu", number_of_gpus=2), None, gpus=4) == 2
    assert processes_to_launch(_config(hardware="gpu", number_of_gpus=2), None, gpus=4) == 2
    assert processes_to_launch(multi, None, gpus=0) == 1  # no GPU: one process, the placement says so
    assert processes_to_launch(multi, None, gpus=4, process_per_gpu=False) == 1  # one process drives them (TF)
    assert processes_to_launch(_config(hardware="cpu", number_of_gpus=2), None, gpus=4) == 1
    assert processes_to_launch(_config(hardware="cpu"), 3, gpus=0) == 3  # --processes: CPU processes
    with pytest.raises(UnsupportedSettingError) as caught:
        processes_to_launch(_config(hardware="multi-gpu", number_of_gpus=8), None, gpus=4)
    assert caught.value.lines() == ["training_configurations.number_of_gpus: more GPUs asked for than the 4 visible "
                                    "here. Expected at most 4. Received: 8."]
    with pytest.raises(UnsupportedSettingError, match="--processes 5: each process trains on its own GPU"):
        processes_to_launch(multi, 5, gpus=4)


def test_the_global_batch_is_split_evenly():
    assert per_process_batch(8, 4) == 2
    with pytest.raises(UnsupportedSettingError) as caught:
        per_process_batch(6, 4)
    assert caught.value.lines() == ["training_configurations.batch_size: the global batch is split evenly among the "
                                    "4 processes (or devices) of this run. Expected a multiple of 4. Received: 6."]
    line = plan_line(2, "processes", 8, "gloo on the CPU")
    assert line.startswith("data-parallel: 2 processes (gloo on the CPU), 4 samples each = global batch 8 per step")
    assert "learning rates as configured" in line


def test_shards_are_contiguous_near_equal_and_cover_everything():
    assert [shard(10, 17, 3, i) for i in range(3)] == [(10, 13), (13, 15), (15, 17)]
    assert global_batches(21, 8, 2) == [(0, 8), (8, 16), (16, 21)]
    assert global_batches(17, 8, 2) == [(0, 8), (8, 16)]  # a last batch smaller than the world: not trained
    assert global_batches(17, 8, 2, training=False) == [(0, 8), (8, 16), (16, 17)]  # but predicted


def test_the_ranks_parts_are_one_process_batches_and_their_weights_average_to_its_mean():
    length, batch, size = 21, 8, 3
    parts = [list(rank_batches(length, batch, World(size, rank))) for rank in range(size)]
    for step, (start, stop) in enumerate(global_batches(length, batch, size)):
        indices = [i for rank in range(size) for i in parts[rank][step][0]]
        assert indices == list(range(start, stop))  # rank order is the data's order
        # averaging the ranks' weighted mean losses (what DDP does) gives the global batch's mean
        losses = [[float(i) for i in parts[rank][step][0]] for rank in range(size)]
        averaged = sum(w * sum(l) / len(l) for (_, w), l in zip((p[step] for p in parts), losses)) / size
        assert averaged == pytest.approx(sum(range(start, stop)) / (stop - start))


class FakeCollective:
    """Rank 0 of ``size`` ranks whose values for each call are known in advance (``others``)."""

    def __init__(self, size: int, others):
        self.world, self.others, self.calls = World(size, 0), iter(others), 0

    def gather(self, value):
        return [value, *next(self.others)]

    def gather_to_primary(self, value):
        return self.gather(value)


def test_epoch_means_are_reduced_over_the_ranks():
    collective = FakeCollective(2, [[{"loss": 6.0, "__count__": 2}]])
    assert reduced_means(collective, {"loss": 2.0, "accuracy": 1.0}, 2) == {"loss": 2.0, "accuracy": 0.25}
    assert reduced_means(None, {"loss": 2.0}, 4) == {"loss": 0.5}


def test_predictions_are_gathered_in_input_order():
    samples = [f"s{i}" for i in range(9)]
    shares = [RankShare(samples, 5, World(2, rank)) for rank in range(2)]
    assert [list(share) for share in shares] == [["s0", "s1", "s2", "s5", "s6"], ["s3", "s4", "s7", "s8"]]
    assert shares[0].batches == [[0, 1, 2], [3, 4]] and shares[1].batches == [[0, 1], [2, 3]]
    shares = [RankShare(samples[:6], 5, World(2, rank)) for rank in range(2)]
    assert shares[1].batches == [[0, 1]] and shares[1].steps == 2  # rank 1's part of the last batch is empty

    def batches(share):
        return [([share[i] for i in batch], [share[i].upper() for i in batch]) for batch in share.batches]

    rank1 = batches(shares[1])
    collective = FakeCollective(2, [[rank1[0]], [([], [])]])
    assert list(ordered_outputs(batches(shares[0]), shares[0].steps, collective)) == \
        [(f"s{i}", f"S{i}") for i in range(6)]


def test_the_other_ranks_write_nothing(registry, minimal_typed_config):
    config = parse_config(minimal_typed_config(save_configurations={
        "save_model_switch": True, "save_model_path": "m.pt", "save_csv_switch": True, "save_csv_path": "h.csv"}),
        registry)
    quiet = secondary_config(config).save_configurations
    assert not (quiet.save_model_switch or quiet.save_csv_switch or quiet.save_checkpoints_switch
                or quiet.save_tensorboard_switch)
    assert quiet.save_model_path == "m.pt"  # the rest of the config is the run's


# -- the launcher's side (dlae_core.cli.processes) ---------------------------------------------------
def test_a_failed_workers_error_reaches_the_launcher_not_the_console(tmp_path, monkeypatch):
    monkeypatch.setenv(processes.FAILURES, str(tmp_path))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert processes.report_failure(TrainingError("the loss became nan")) is False
    report = json.loads((tmp_path / "rank1.json").read_text())
    assert report["lines"] == ["the loss became nan"] and report["exit_code"] == 2 and not report["follows"]
    monkeypatch.delenv(processes.FAILURES)
    assert processes.report_failure(TrainingError("x")) is True  # under torchrun: each rank prints its own


def _report(folder, rank, lines, follows=False, time=0.0):
    (folder / f"rank{rank}.json").write_text(json.dumps({"rank": rank, "lines": lines, "exit_code": 2,
                                                         "time": time, "follows": follows}))


def test_the_launcher_names_the_failure_that_stopped_the_run(tmp_path):
    _report(tmp_path, 0, ["rank 0 of 3: another process of this run stopped"], follows=True, time=1.0)
    _report(tmp_path, 2, ["paths.train_X: sample '6' holds NaN values."], time=2.0)
    error = processes.launch_failure({0: 2, 1: -15, 2: 2}, tmp_path, 3)
    assert isinstance(error, DistributedError) and error.exit_code == 2
    assert error.lines() == ["paths.train_X: sample '6' holds NaN values.",
                             "rank 2 of 3 failed, so the other processes of the run were stopped"]


def test_the_launcher_names_a_killed_worker(tmp_path):
    _report(tmp_path, 0, ["rank 0 of 2: another process of this run stopped"], follows=True)
    error = processes.launch_failure({0: 2, 1: -9}, tmp_path, 2)
    assert error.lines()[0] == "rank 1 of 2 was killed by SIGKILL" and error.exit_code == 1
    # nobody could say: the worker not stopped by the launcher's SIGTERM is the cause
    error = processes.launch_failure({0: -15, 1: 1}, tmp_path / "none", 2)
    assert error.lines()[0] == "rank 1 of 2 stopped with exit code 1 (its output above says why)"


def test_workers_run_the_command_line_of_the_launcher():
    @click.command()
    @click.argument("config")
    @click.option("--backend", default="torch")
    @click.option("--quiet", is_flag=True)
    @click.option("--overwrite", is_flag=True)
    @click.option("--workers", type=int, default=None)
    def run(config, backend, quiet, overwrite, workers):
        click.echo(json.dumps(processes.worker_arguments(click.get_current_context())))

    result = CliRunner().invoke(run, ["c.json", "--quiet", "--workers", "0"], prog_name="run")
    assert json.loads(result.output) == ["run", "c.json", "--backend", "torch", "--quiet", "--workers", "0"]


def test_one_process_pays_nothing(config_of):
    """A single process is never wrapped: no launch, no join, the loop's reductions are its own means."""
    engine = types.SimpleNamespace(gpu_count=lambda: 0, process_per_gpu=True)
    assert processes.launched(engine, config_of(hardware="multi-gpu"), None, training=True) is False
    with processes.data_parallel(engine, None) as (world, where):
        assert world is SINGLE and where == ""
