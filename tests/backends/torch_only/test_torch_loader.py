"""What torch's data loader processes send back: a worker's user error reaches the CLI as a user error."""

import sys

import pytest

pytest.importorskip("torch")

from torch._utils import ExceptionWrapper  # noqa: E402

from dlae_core.errors import DlaeError  # noqa: E402
from dlae_torch.loader import WorkerDataError  # noqa: E402


def test_user_errors_of_loader_workers_reach_the_cli_as_user_errors():
    """torch re-raises a worker's exception as ``type(exc)(formatted traceback)``; the loader's
    WorkerDataError must come back with its one-line messages intact."""
    lines = ["preprocessing.categories: sample '1' holds the class label 7. Received: 7.", "second: line"]
    try:
        raise WorkerDataError(lines)
    except WorkerDataError:
        wrapped = ExceptionWrapper(sys.exc_info(), where="in DataLoader worker process 0")
    with pytest.raises(DlaeError) as caught:
        wrapped.reraise()
    assert caught.value.lines() == lines
    assert caught.value.exit_code == 2


# -- intra-op threads beside loader workers (issue 19) ------------------------------------------------

import os  # noqa: E402

import torch  # noqa: E402

from dlae_torch.loader import CoresLeftToWorkers, threads_beside_workers  # noqa: E402


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def test_threads_beside_workers_take_the_cores_the_workers_leave(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert threads_beside_workers(3) == 5
    assert threads_beside_workers(8) == 1  # never fewer than one
    assert threads_beside_workers(0) is None  # no workers: torch's own choice
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert threads_beside_workers(3) is None  # the user's setting wins


def test_a_pass_over_worker_batches_runs_with_fewer_threads_and_gives_them_back(two_threads):
    seen = []
    batches = CoresLeftToWorkers([1, 2, 3], threads=1)
    assert len(batches) == 3
    for _ in batches:
        seen.append(torch.get_num_threads())
    assert seen == [1, 1, 1]
    assert torch.get_num_threads() == 2  # validation and everything after the pass: torch's choice


def test_threads_come_back_when_a_pass_stops_early(two_threads):
    batches = iter(CoresLeftToWorkers([1, 2, 3], threads=1))
    next(batches)
    assert torch.get_num_threads() == 1
    batches.close()  # what an exception in a training step does to the loop's iterator
    assert torch.get_num_threads() == 2


def test_cpu_training_with_workers_limits_threads_only_there(two_threads, monkeypatch, tmp_path):
    """The backend wraps the worker loader of CPU training; in-memory batches (no workers) are not."""
    import numpy as np

    from dlae_core.data.memory import InMemorySamples
    from dlae_core.plugin.registry import get_registry
    from dlae_torch.device import Placement

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)

    class Samples:
        def __len__(self):
            return 4

        def __getitem__(self, index):
            return {"x": np.full((2, 2, 1), index, np.float32), "y": np.zeros((1,), np.float32)}

        def set_epoch(self, epoch):
            pass

    placement = Placement(device=torch.device("cpu"), dtype=None, channels_last=False)
    backend = get_registry().backend("torch")
    loader, set_epoch = backend.training_batches(Samples(), 2, 1, placement)
    assert isinstance(loader, CoresLeftToWorkers) and loader.threads == 1
    set_epoch(0)
    threads, values = [], []
    for batch in loader:
        threads.append(torch.get_num_threads())
        values += batch["x"][:, 0, 0, 0].tolist()
    assert threads == [1, 1] and sorted(values) == [0.0, 1.0, 2.0, 3.0]
    assert torch.get_num_threads() == 2
    in_memory, _ = backend.training_batches(InMemorySamples.fill(Samples(), budget=1 << 20), 2, 1, placement)
    assert not isinstance(in_memory, CoresLeftToWorkers)  # no workers: torch's own thread count
    assert [batch["x"].shape[0] for batch in in_memory] == [2, 2] and torch.get_num_threads() == 2
