"""The backend suite: every test in this folder's ``test_*.py`` files is written once and runs on each
registered backend through the ``backend`` fixture; torch_only/ and tensorflow_only/ hold the tests of
one framework's internals; test_cross_backend.py compares the two.

Fixtures:

* ``backend`` -- the name of a registered backend ("torch", "tensorflow"), one test per backend; the
  test is skipped where the backend's framework is not installed (``BackendInfo.missing()``);
* ``engine`` -- the backend's declared interface object (``registry.backend(name)``,
  a :class:`dlae_core.running.backend.Backend`);
* ``both_backends`` -- for the cross-backend tests: skips unless every backend is installed.

Nothing here imports a framework; the helpers shared by the tests live in ``support.py`` (this
folder is on ``sys.path`` because this conftest is, so a test module does ``from support import ...``).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow's C++ logging before it is imported

from support import BACKENDS, skip_reason  # noqa: E402


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Each registered backend whose framework is installed (skipped otherwise, saying what is missing)."""
    reason = skip_reason(request.param)
    if reason:
        pytest.skip(reason)
    return request.param


@pytest.fixture
def engine(backend):
    """The backend object of ``backend`` (``registry.backend(name)``)."""
    from dlae_core.plugin.registry import get_registry

    return get_registry().backend(backend)


@pytest.fixture
def both_backends() -> tuple[str, ...]:
    reasons = [reason for reason in map(skip_reason, BACKENDS) if reason]
    if reasons:
        pytest.skip("comparing backends needs all of them: " + "; ".join(reasons))
    return BACKENDS


@pytest.fixture(autouse=True)
def one_torch_thread(request):
    """The test machines share a few cores between pytest workers: one torch intra-op thread is much
    faster for these tiny networks (and changes no result the tests check). Applies to the torch runs
    of the shared tests, to torch_only/, and to any test after torch was imported."""
    import sys

    params = getattr(getattr(request.node, "callspec", None), "params", {})
    wanted = (params.get("backend") == "torch" or "torch_only" in request.node.nodeid
              or "torch" in sys.modules)
    if not wanted or skip_reason("torch"):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

