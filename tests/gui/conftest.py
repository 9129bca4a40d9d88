"""Fixtures of the GUI tests (``dlae gui``; Flask comes with the ``gui`` extra, and the tests are
skipped without it).

* ``gui_registry`` -- the installed registry (plugins included: their layers must appear in the page);
* ``client`` -- ``client(config_path=None, workdir=tmp_path)``: a Flask test client of a server
  with token ``TOKEN`` on 127.0.0.1:5000, and the prefix of its URLs as ``client.prefix``;
* ``fcn_example`` -- a folder holding ``dlae example fcn`` (config and generated data), one per session;
* ``small_example(name, folder, n=8, **sections)`` -- ``dlae example NAME`` with ``n`` training samples
  (and max(2, n // 4) validation ones), each section's keys updated from ``sections``; its config path.
"""

from __future__ import annotations

import time

import json
from pathlib import Path

import pytest

pytest.importorskip("flask", reason="the gui extra is not installed (pip install 'dlae[gui]')")

TOKEN = "test-token-0123456789"
HOST = "127.0.0.1:5000"


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    """The first truthy value of ``predicate()``, polled every ``interval`` s; AssertionError after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def gui_registry():
    from dlae_core.plugin.registry import get_registry

    return get_registry()


@pytest.fixture
def client(tmp_path, gui_registry):
    from dlae_core.gui.security import allowed_hosts
    from dlae_core.gui.server import Session, create_app

    def make(config_path=None, workdir: Path | None = None):
        session = Session(gui_registry, tmp_path / "state", config_path, workdir or tmp_path)
        app = create_app(session, TOKEN, allowed_hosts("127.0.0.1", 5000))
        test_client = app.test_client()
        test_client.prefix = f"/t/{TOKEN}/"
        test_client.session = session
        return test_client

    return make


@pytest.fixture(scope="session")
def fcn_example(tmp_path_factory) -> Path:
    from dlae_core.cli.example_commands import write_example

    folder = tmp_path_factory.mktemp("gui-fcn")
    write_example("fcn", folder, overwrite=False)
    return folder


def write_small_example(name: str, folder: Path, n: int = 8, **sections: dict) -> Path:
    """``dlae example NAME FOLDER`` with ``n`` training samples, each section's keys updated."""
    from dlae_core.cli.example_commands import EXAMPLES, write_example
    from dlae_core.data.synthetic import write_example_data

    config_path = write_example(name, folder, overwrite=False)
    raw = json.loads(config_path.read_text())
    write_example_data(folder / "data", EXAMPLES[name][1], n=n, size=raw["config_file"]["input_shape"][0], seed=0,
                       overwrite=True)
    for section, keys in sections.items():
        raw.setdefault(section, {}).update(keys)
    config_path.write_text(json.dumps(raw, indent=1))
    return config_path


@pytest.fixture
def small_example():
    return write_small_example
