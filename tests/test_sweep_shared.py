"""Sweeps that outlive a process or span several: SIGKILL mid-trial then the same command again (nothing lost,
nothing run twice), two processes sharing one SQLite storage, and two sharing a PostgreSQL server started by
the test (Debian's postgresql; .ci/run installs it)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from sweep_support import dlae, read_trials, start, write_base, write_sweep

optuna = pytest.importorskip("optuna")
pytest.importorskip("torch")

RATES = [0.01, 0.003, 0.001]
# A tiny trial's epoch takes about 10 ms; a signal sent after the first epoch must find the trial still
# running, even on a loaded machine where this test's polling loop gets the CPU late.
EPOCHS_BEFORE_SIGNAL = 300


def _study(out: Path, name: str = "sweep", url: str | None = None):
    return optuna.load_study(study_name=name, storage=url or f"sqlite:///{out / 'sweep.db'}")


def _wait_for_epoch(out: Path, process: subprocess.Popen, timeout: float = 240) -> Path:
    """The run folder of the first trial that has finished an epoch (the sweep still running)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert process.poll() is None, process.stdout.read()
        for history in (out / "runs").glob("*/history.csv"):
            if len(history.read_text().splitlines()) >= 2:
                return history.parent
        time.sleep(0.1)
    raise AssertionError("no trial finished an epoch in time")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie is not running
        return handle.read().split(")")[-1].split()[0] != "Z"


def test_sigkill_mid_trial_then_resume(tmp_path):
    write_base(tmp_path, epochs=EPOCHS_BEFORE_SIGNAL, n=32)
    sweep = write_sweep(tmp_path, search="grid", parameters={"learning_rate_schedule.learning_rate": RATES[:2]})
    out = tmp_path / "out"
    process = start("sweep", sweep, "-o", out)
    run = _wait_for_epoch(out, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    import json

    record = json.loads((run / "model.pt.run.json").read_text())
    assert record["status"] == "running"
    end = time.monotonic() + 20  # the trial dies with the sweep (its fork server notices, then the kernel)
    while _alive(record["pid"]) and time.monotonic() < end:
        time.sleep(0.1)
    assert not _alive(record["pid"]), "the trial outlived the killed sweep"
    assert [r["state"] for r in read_trials(out)][:1] == ["running"]
    result = dlae("sweep", sweep, "-o", out)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = read_trials(out)
    assert sorted(float(r["learning_rate_schedule.learning_rate"]) for r in rows) == sorted(RATES[:2])
    assert [r["state"] for r in rows] == ["complete", "complete"]
    trials = _study(out).get_trials()
    assert len(trials) == 3  # the killed one, failed by its stopped heartbeat, and its rerun
    assert sum(t.state.name == "FAIL" and "error" not in t.user_attrs for t in trials) == 1
    assert len(run.joinpath("history.csv").read_text().splitlines()) == 1 + EPOCHS_BEFORE_SIGNAL  # rerun whole
    assert json.loads((run / "model.pt.run.json").read_text())["status"] == "finished"


def test_ctrl_c_mid_trial_queues_it_again_at_once(tmp_path):
    write_base(tmp_path, epochs=10 * EPOCHS_BEFORE_SIGNAL)  # stopped long before its end
    sweep = write_sweep(tmp_path, search="grid", parameters={"learning_rate_schedule.learning_rate": RATES[:1]})
    out = tmp_path / "out"
    process = start("sweep", sweep, "-o", out)
    run = _wait_for_epoch(out, process)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 130, output
    assert "interrupted; finished trials are kept: run the same command again to continue" in output
    import json

    assert json.loads((run / "model.pt.run.json").read_text())["status"] == "interrupted"
    # the stopped trial is failed as interrupted (no error) and its values are queued again, without
    # waiting for a heartbeat to go stale: the next run of the command takes it first
    trials = _study(out).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]
    assert "error" not in trials[0].user_attrs and trials[1].params == trials[0].params
    assert [(r["number"], r["state"]) for r in read_trials(out)] == [("1", "queued")]


def _two_processes(commands: list[list], timeout: float = 400) -> list[str]:
    processes = [start(*command) for command in commands]
    outputs = [process.communicate(timeout=timeout)[0] for process in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output
    return outputs


def _trial_lines(outputs: list[str]) -> list[str]:
    return [line.split(":")[0] for output in outputs for line in output.splitlines() if line.startswith("trial ")]


def test_two_processes_share_one_sqlite_sweep(tmp_path):
    write_base(tmp_path)
    sweep = write_sweep(tmp_path, search="grid", parameters={"learning_rate_schedule.learning_rate": RATES})
    out = tmp_path / "out"
    outputs = _two_processes([["sweep", sweep, "-o", out], ["sweep", sweep, "-o", out]])
    ran = _trial_lines(outputs)
    assert sorted(ran) == sorted(set(ran)) and len(ran) == 3, outputs  # each trial once, by one process
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["complete"] * 3
    assert sorted(float(r["learning_rate_schedule.learning_rate"]) for r in rows) == sorted(RATES)
    assert len(_study(out).get_trials()) == 3
    assert len(list((out / "runs").iterdir())) == 3


def _initdb() -> str | None:
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    return found


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL cluster on a free port (as the postgres user when the tests run as root)."""
    initdb = _initdb()
    if initdb is None:
        pytest.skip("PostgreSQL is not installed here (Debian: apt-get install postgresql; .ci/run installs it)")
    pytest.importorskip("psycopg2", reason='the PostgreSQL driver is missing: pip install "dlae[sweep]"')
    bindir = Path(os.path.realpath(initdb)).parent
    folder = Path(tempfile.mkdtemp(prefix="dlae-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = folder / "data"
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"),
                    "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_machines_share_a_postgresql_sweep(tmp_path, postgres):
    write_base(tmp_path)
    sweep = write_sweep(tmp_path, search="grid", parameters={"learning_rate_schedule.learning_rate": RATES[:2]})
    # two "machines": each its own folder, one storage
    outputs = _two_processes([["sweep", sweep, "-o", tmp_path / "a", "--storage", postgres],
                              ["sweep", sweep, "-o", tmp_path / "b", "--storage", postgres]])
    ran = _trial_lines(outputs)
    assert sorted(ran) == sorted(set(ran)) and len(ran) == 2, outputs
    for machine in ("a", "b"):  # both see every trial
        rows = read_trials(tmp_path / machine)
        assert [r["state"] for r in rows] == ["complete", "complete"]
    url = postgres.replace("postgresql://", "postgresql+psycopg2://")  # SQLAlchemy 2.1 defaults to psycopg 3
    assert len(_study(tmp_path, url=url).get_trials()) == 2
