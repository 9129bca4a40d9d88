"""The sweep's Optuna study: storage (SQLite in the sweep folder, or a database URL shared by several
machines), sampler, pruner, and the planned trials.

Exactly-once: the process that creates the study enqueues the planned trials (the grid's points, or as
many empty trials as ``trials`` for random/TPE, whose values the sampler draws when a worker takes one);
workers take only queued trials, so several processes (or ``--jobs`` threads) never run more than the plan.
A trial whose process died (no heartbeat for 3 heartbeat periods) is failed by Optuna and queued again with
its values (:func:`retry_callback`); one stopped by Ctrl-C is failed and queued again the same way at once.
So an interrupted sweep, run again, reruns exactly what was lost.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from dlae_core.experiments.sweep.spec import Sweep, SweepError

__all__ = ["need_optuna", "open_study", "planned_done", "countable", "retry_callback"]


def need_optuna():
    """The optuna module, or one line naming the extra to install."""
    try:
        import optuna
    except ImportError:
        raise SweepError('dlae sweep needs Optuna, which is not installed: pip install "dlae[sweep]"') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage_url(sweep: Sweep, folder: Path, given: str | None) -> str:
    if given or sweep.storage:
        return given or sweep.storage
    return f"sqlite:///{(folder / 'sweep.db').resolve()}"


def _storage(url: str, heartbeat: int):
    import warnings

    need_optuna()
    from optuna import storages
    from optuna.exceptions import ExperimentalWarning

    # the heartbeat API is marked experimental; its warnings say nothing a sweep's user can act on
    warnings.filterwarnings("ignore", category=ExperimentalWarning)
    if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 4.9
        retry = {"heartbeat_stale_trial_callback": retry_callback()}
    else:
        retry = {"failed_trial_callback": retry_callback()}
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    url = _driver(url)
    for attempt in range(5):
        try:
            return storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=heartbeat,
                                       grace_period=3 * heartbeat, **retry)
        except ImportError as exc:  # no driver: one line
            raise SweepError(f"storage {_safe(url)!r} cannot be opened: {_first_line(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - several processes creating the tables at once race: retry
            error = exc
            time.sleep(1.0 + attempt)
    # a bad URL, an unreachable server: one line
    raise SweepError(f"storage {_safe(url)!r} cannot be opened: {_first_line(error)}") from None


def retry_callback():
    """Optuna's callback that queues a lost trial again with its values (as often as it is lost)."""
    from optuna import storages

    retry = getattr(storages, "RetryHeartbeatStaleTrialCallback", None) or storages.RetryFailedTrialCallback
    return retry(max_retry=None)


def _driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy 2.1 means psycopg 3 by it, the
    extra installs psycopg2."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def _safe(url: str) -> str:
    """The URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':')[0]}:***@{host}"
    return url


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _sampler(sweep: Sweep, joined: bool, existing: int):
    optuna = need_optuna()
    # a process that joins (or resumes) a sweep draws from another seed, or it would repeat the values
    # the creator drew first; a fresh sweep with a seed is reproducible
    seed = sweep.seed if not joined else sweep.seed + 7919 * (existing + 1) + (time.time_ns() % 100003)
    if sweep.search == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, sweep.trials // 3)))
    return optuna.samplers.RandomSampler(seed=seed)  # grid trials are queued with all their values


def _pruner(sweep: Sweep):
    optuna = need_optuna()
    classes = {"none": optuna.pruners.NopPruner, "median": optuna.pruners.MedianPruner,
               "percentile": optuna.pruners.PercentilePruner, "hyperband": optuna.pruners.HyperbandPruner,
               "successive_halving": optuna.pruners.SuccessiveHalvingPruner}
    try:
        return classes[sweep.pruner](**sweep.pruner_options)
    except TypeError as exc:
        raise SweepError(f"{sweep.file.name}: pruner: {_first_line(exc)}") from None


def open_study(sweep: Sweep, folder: Path, storage_given: str | None = None):
    """Create the study and queue its trials, or join the existing one (checked to be this sweep)."""
    optuna = need_optuna()
    url = storage_url(sweep, folder, storage_given)
    storage = _storage(url, sweep.heartbeat)
    identity = json.dumps(sweep.identity(), sort_keys=True, default=str)
    try:
        study = optuna.create_study(storage=storage, study_name=sweep.study, direction=sweep.direction,
                                    sampler=_sampler(sweep, False, 0), pruner=_pruner(sweep))
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        created = False
    if created:
        study.set_user_attr("sweep", identity)
        _queue(study, sweep)
        study.set_user_attr("planned", sweep.trials)
        return study
    existing = len(storage.get_all_trials(storage.get_study_id_from_name(sweep.study), deepcopy=False))
    study = optuna.load_study(study_name=sweep.study, storage=storage, sampler=_sampler(sweep, True, existing),
                              pruner=_pruner(sweep))
    _check_same(study, identity, sweep, url)
    return study


def _check_same(study, identity: str, sweep: Sweep, url: str) -> None:
    for _ in range(120):  # the creator may still be queueing the plan
        attrs = study.user_attrs
        if "planned" in attrs:
            break
        time.sleep(0.5)
    else:
        _queue(study, sweep, resume=True)  # the creator died while queueing: queue the rest
        study.set_user_attr("planned", sweep.trials)
    if study.user_attrs.get("sweep") != identity:
        raise SweepError(f"study {sweep.study!r} in {_safe(url)} holds another sweep (other parameters, trials, "
                         f"objective or base config); give this one its own folder (-o) or \"study\" name")


def _queue(study, sweep: Sweep, resume: bool = False) -> None:
    have = study.get_trials(deepcopy=False) if resume else []
    if sweep.search == "grid":
        taken = [t.system_attrs.get("fixed_params") for t in have]
        for point in sweep.grid()[: sweep.trials]:
            params = {p.path: p.encoded()[p.values.index(point[p.path])] for p in sweep.parameters}
            if params not in taken:
                study.enqueue_trial(params)
        return
    for _ in range(sweep.trials - len(have)):
        study.enqueue_trial({})


def countable(trials) -> list:
    """The trials of the plan: all but those whose process died (each was queued again)."""
    return [t for t in trials if not is_interrupted(t)]


def is_interrupted(trial) -> bool:
    from optuna.trial import TrialState

    return trial.state == TrialState.FAIL and "error" not in trial.user_attrs


def planned_done(study) -> tuple[int, int]:
    """(finished trials of the plan, planned trials)."""
    from optuna.trial import TrialState

    done = [t for t in countable(study.get_trials(deepcopy=False))
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
    return len(done), int(study.user_attrs.get("planned", 0))
