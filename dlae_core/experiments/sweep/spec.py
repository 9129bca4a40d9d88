"""The sweep file: what to vary, how to search, what to optimize. Read and checked completely before any
trial runs; every problem is one located line (``sweep.json: parameters["loss_function.loss"][1]: ...``).

Keys: ``config`` (the base config, relative to the sweep file's folder), ``parameters`` (config path ->
a list of values, or a range ``{"low", "high", "log", "step", "type": "int"|"float"}``), ``search``
(grid, random, tpe), ``trials``, ``objective`` (``{"metric", "direction"}``), ``pruner``, ``seed``,
``backend``, ``workers``, ``study``, ``storage``, ``heartbeat``, ``launcher``. See docs/EXPERIMENTS.md.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import attrs

from dlae_core.errors import ConfigError, DlaeError, Problem, ProblemsError, problem

__all__ = ["Parameter", "Sweep", "SweepFileError", "SweepError", "read_sweep", "PRUNERS", "SEARCHES"]

SEARCHES = ("grid", "random", "tpe")
PRUNERS = ("none", "median", "percentile", "hyperband", "successive_halving")
KEYS = ("config", "parameters", "search", "trials", "objective", "pruner", "seed", "backend", "workers", "study",
        "storage", "heartbeat", "launcher")
LAUNCHERS = ("auto", "fork", "subprocess")


class SweepFileError(ProblemsError):
    """A sweep file that cannot be run: located problems, reported before any trial."""


class SweepError(DlaeError):
    """A sweep that cannot go on (the storage holds another sweep, Optuna is not installed, ...)."""


@attrs.frozen
class Parameter:
    """One varied config path: ``values`` (a list) or a range (``low``, ``high``, ``log``, ``step``, ``integer``)."""

    path: str
    values: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False

    def encoded(self) -> list:
        """The values as Optuna categorical choices (JSON text for lists and objects)."""
        return [_encode(v) for v in self.values]

    def decode(self, choice):
        """The config value of an Optuna choice."""
        return json.loads(choice[5:]) if isinstance(choice, str) and choice.startswith("json:") else choice


def _encode(value):
    return value if value is None or isinstance(value, (bool, int, float, str)) else "json:" + json.dumps(value)


@attrs.frozen
class Sweep:
    file: Path
    config: Path
    parameters: tuple  # of Parameter
    search: str
    trials: int
    metric: str
    direction: str
    pruner: str
    pruner_options: dict
    seed: int
    backend: str
    workers: int
    study: str
    storage: str | None
    heartbeat: int
    launcher: str

    def grid(self) -> list[dict]:
        """Every combination of the parameter lists (path -> value), in file order."""
        names = [p.path for p in self.parameters]
        return [dict(zip(names, combo)) for combo in itertools.product(*(p.values for p in self.parameters))]

    def identity(self) -> dict:
        """What makes two runs of the command the same sweep (stored with the study)."""
        return {"config": str(self.config), "search": self.search, "trials": self.trials, "metric": self.metric,
                "direction": self.direction, "parameters": [attrs.asdict(p) for p in self.parameters]}


def read_sweep(path: str | Path, registry=None, *, check_config: bool = True) -> tuple[Sweep, object]:
    """Read and check the sweep file ``path``; returns (Sweep, base Experiment). Raises SweepFileError
    (located lines) or the base config's own errors."""
    from dlae_core.config.parser import read_json
    from dlae_core.experiments.experiment import Experiment

    path = Path(path)
    try:
        raw = read_json(path)
    except DlaeError as exc:  # the config reader's messages say "config"; this is a sweep file
        raise SweepError(str(exc).replace("config file", "sweep file").replace("a config must", "a sweep file must"))
    name = path.name
    problems: list[Problem] = []
    for key in raw:
        if key not in KEYS:
            problems.append(problem(f"{name}: {key}", "unknown key", expected="one of " + ", ".join(KEYS),
                                    received=key, choices=KEYS))
    if not isinstance(raw.get("config"), str) or not raw.get("config"):
        problems.append(problem(f"{name}: config", "the base config is missing",
                                expected="a config file path (relative to the sweep file's folder)",
                                received=raw.get("config")))
    _raise(problems)
    config = (path.parent / raw["config"]).resolve()
    base = Experiment.load(config, registry)
    if check_config:
        base.validate(backend=raw.get("backend", "torch") if isinstance(raw.get("backend", "torch"), str) else None)
    sweep = _build(raw, name, path, config, base, problems)
    _raise(problems)
    return sweep, base


def _raise(problems: list[Problem]) -> None:
    if problems:
        raise SweepFileError(problems)


def _build(raw: dict, name: str, path: Path, config: Path, base, problems: list[Problem]) -> Sweep | None:
    from dlae_core.experiments.sweep.checks import check_objective, check_parameters, read_parameters

    search = raw.get("search", "tpe")
    if search not in SEARCHES:
        problems.append(problem(f"{name}: search", "unknown search", expected="one of " + ", ".join(SEARCHES),
                                received=search, choices=SEARCHES))
    parameters = read_parameters(raw.get("parameters"), name, search, base, problems)
    _raise(problems)
    check_parameters(parameters, name, search, base, problems)
    grid_size = _grid_size(parameters) if search == "grid" else None
    trials = _integer(raw, "trials", name, grid_size or 10, 1, problems)
    if grid_size is not None and trials > grid_size:
        trials = grid_size  # a grid has no more points to run
    metric, direction = check_objective(raw.get("objective"), name, base, problems)
    pruner, options = _pruner(raw.get("pruner", "none"), name, problems)
    launcher = raw.get("launcher", "auto")
    if launcher not in LAUNCHERS:
        problems.append(problem(f"{name}: launcher", "unknown launcher", expected="one of " + ", ".join(LAUNCHERS),
                                received=launcher, choices=LAUNCHERS))
    texts = {key: raw.get(key, default) for key, default in (("backend", "torch"), ("study", path.stem),
                                                             ("storage", None))}
    for key, value in texts.items():
        if value is not None and (not isinstance(value, str) or not value):
            problems.append(problem(f"{name}: {key}", "must be a non-empty string", received=value))
    seed = _integer(raw, "seed", name, 0, 0, problems)
    workers = _integer(raw, "workers", name, 0, 0, problems)
    heartbeat = _integer(raw, "heartbeat", name, 10, 1, problems)
    if problems:
        return None
    return Sweep(path.resolve(), config, parameters, search, trials, metric, direction, pruner, options, seed,
                 texts["backend"], workers, texts["study"], texts["storage"], heartbeat, launcher)


def _grid_size(parameters) -> int:
    size = 1
    for parameter in parameters:
        size *= len(parameter.values)
    return size


def _integer(raw: dict, key: str, name: str, default: int, minimum: int, problems: list[Problem]) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(problem(f"{name}: {key}", "invalid value", expected=f"an integer >= {minimum}",
                                received=value))
        return default
    return value


def _pruner(value, name: str, problems: list[Problem]) -> tuple[str, dict]:
    options = {}
    if isinstance(value, dict):
        options = {k: v for k, v in value.items() if k != "type"}
        value = value.get("type")
    if value not in PRUNERS:
        problems.append(problem(f"{name}: pruner", "unknown pruner", expected="one of " + ", ".join(PRUNERS)
                                + ' (or {"type": ..., options of the Optuna pruner})', received=value,
                                choices=PRUNERS))
    return value, options


def relocate(error: ConfigError, where: str, prefix: str = "") -> list[Problem]:
    """The problems of ``error`` located at ``where`` in the sweep file."""
    return [attrs.evolve(p, where=where, what=f"{prefix}{p.what}") for p in error.problems]
