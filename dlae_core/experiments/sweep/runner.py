"""``dlae sweep``: take the queued trials of the study one at a time per job until the plan is done."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

from dlae_core.experiments.sweep.report import STATES, write_trials_csv
from dlae_core.experiments.sweep.spec import Sweep, SweepError
from dlae_core.experiments.sweep.study import need_optuna, open_study, planned_done

__all__ = ["run_sweep", "SweepInterrupted"]


class SweepInterrupted(Exception):
    """Ctrl-C: running trials were stopped and stay queued for the next run of the command."""


_CLAIM = threading.Lock()


@contextlib.contextmanager
def _claiming(url: str):
    """One claim at a time: SQLite has no row locks (SELECT ... FOR UPDATE), so two workers could both see a
    queued trial as theirs; the threads of this process take a lock, processes sharing the sweep folder's
    SQLite file a file lock beside it. Server databases lock the row themselves."""
    with _CLAIM:
        if not url.startswith("sqlite:///"):
            yield
            return
        import fcntl

        database = Path(url[len("sqlite:///"):])
        with open(database.with_name(f".{database.name}.claim-lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _take(study):
    """A queued trial of the study claimed for this worker (as Study.ask pops its queue), or None.
    Trials whose process died are failed and queued again first."""
    optuna = need_optuna()
    from optuna.trial import TrialState

    optuna.storages.fail_stale_trials(study)
    storage = study._storage
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
                storage.record_heartbeat(frozen._trial_id)
                return optuna.Trial(study, frozen._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def _running(study) -> bool:
    from optuna.trial import TrialState

    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def run_sweep(sweep: Sweep, base, folder: Path, *, jobs: int = 1, storage: str | None = None,
              echo=print) -> tuple[int, int]:
    """Run (or continue, or join) the sweep; returns (finished trials of the plan, planned trials)."""
    from dlae_core.experiments.sweep.launch import gpu_for_slot, gpu_slots, launcher, thread_env
    from dlae_core.experiments.sweep.trial import TrialRunner

    folder.mkdir(parents=True, exist_ok=True)
    study = open_study(sweep, folder, storage)
    from dlae_core.experiments.sweep.study import storage_url

    url = storage_url(sweep, folder, storage)
    done, planned = planned_done(study)
    echo(f"sweep {sweep.study!r}: {sweep.search} search, {planned} trials planned, {done} finished; "
         f"objective {sweep.metric} ({sweep.direction}); {jobs} job(s)")
    write_trials_csv(study, sweep, folder)
    stopping = threading.Event()
    runner = TrialRunner(sweep, base, folder, launcher(sweep.launcher, sweep.backend), stopping, thread_env(jobs))
    gpus, errors = gpu_slots(), []
    if gpus:
        echo("GPUs: " + ", ".join(f"job {slot + 1} on GPU {gpu_for_slot(slot, gpus)}" for slot in range(jobs)))

    def work(slot: int) -> None:
        gpu = gpu_for_slot(slot, gpus)
        try:
            while not stopping.is_set():
                with _claiming(url):
                    trial = _take(study)
                if trial is None:
                    if not _running(study):
                        return
                    time.sleep(1.0)  # others' trials: wait for them (a dead one is queued again)
                    continue
                write_trials_csv(study, sweep, folder)
                frozen = runner.run(study, trial, gpu)
                if frozen is not None:
                    echo(_line(frozen, sweep))
                write_trials_csv(study, sweep, folder)
        except BaseException as exc:  # shown by the main thread
            errors.append(exc)
            stopping.set()

    threads = [threading.Thread(target=work, args=(slot,), daemon=True) for slot in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    try:
        while any(thread.is_alive() for thread in threads):
            time.sleep(0.2)
    except KeyboardInterrupt:
        stopping.set()
        for thread in threads:
            thread.join()
        write_trials_csv(study, sweep, folder)
        raise SweepInterrupted() from None
    if errors:
        raise errors[0]
    write_trials_csv(study, sweep, folder)
    return planned_done(study)


def _line(frozen, sweep: Sweep) -> str:
    values = ", ".join(f"{k}={v}" for k, v in frozen.params.items())
    state = STATES.get(frozen.state.name, frozen.state.name.lower())  # the words of trials.csv
    if frozen.value is not None:
        return f"trial {frozen.number} {state}: {sweep.metric} {frozen.value:.6g} ({values})"
    error = frozen.user_attrs.get("error")
    return f"trial {frozen.number} {state} ({values})" + (f": {error}" if error else "")


def open_existing(sweep: Sweep, folder: Path, storage: str | None = None):
    """The study of a sweep that has run (for ``--status``); SweepError when there is none."""
    optuna = need_optuna()
    from dlae_core.experiments.sweep.study import storage_url

    url = storage_url(sweep, folder, storage)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        raise SweepError(f"no sweep has run in {str(folder)!r} yet (no sweep.db); run: dlae sweep "
                         f"{sweep.file} -o {folder}")
    try:
        return optuna.load_study(study_name=sweep.study, storage=url)
    except KeyError:
        raise SweepError(f"study {sweep.study!r} is not in the storage of {str(folder)!r}") from None
