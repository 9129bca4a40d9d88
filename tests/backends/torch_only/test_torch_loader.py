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
