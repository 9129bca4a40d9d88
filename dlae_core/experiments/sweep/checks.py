"""Checks of a sweep file against its base config: every varied path exists, every value (and both ends
of every range) is accepted by the config and gives a model that plans, and the objective is a value the
technique logs."""

from __future__ import annotations

import itertools

import attrs

from dlae_core.errors import ConfigError, DlaeError, Problem, ProblemsError, problem
from dlae_core.experiments.paths import parse_path

__all__ = ["read_parameters", "check_parameters", "check_objective", "logged_columns"]

_RANGE_KEYS = ("low", "high", "log", "step", "type")


def _where(name: str, path: str, index: int | str | None = None) -> str:
    text = f'{name}: parameters["{path}"]'
    return text if index is None else f'{text}[{index}]' if isinstance(index, int) else f"{text} ({index} end)"


def read_parameters(raw, name: str, search: str, base, problems: list[Problem]) -> tuple:
    """The Parameter of every entry of ``parameters`` (problems collected)."""
    from dlae_core.experiments.sweep.spec import Parameter

    if not isinstance(raw, dict) or not raw:
        problems.append(problem(f"{name}: parameters", "no parameters to vary",
                                expected='an object such as {"loss_function.loss": ["soft_dice", "tversky"]}',
                                received=raw))
        return ()
    out = []
    for path, spec in raw.items():
        where = _where(name, path)
        try:
            parse_path(path, where, base.registry)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if isinstance(spec, dict) and "values" in spec:
            spec = spec["values"]
        if isinstance(spec, list):
            if not spec:
                problems.append(problem(where, "an empty list of values", expected="at least one value"))
                continue
            out.append(Parameter(path, values=tuple(spec)))
        elif isinstance(spec, dict):
            if search == "grid":
                problems.append(problem(where, "a grid search takes lists of values only",
                                        expected="a list such as [0.001, 0.01] (ranges need search random or tpe)",
                                        received=spec))
                continue
            parameter = _range(path, spec, where, base, problems)
            if parameter is not None:
                out.append(parameter)
        else:
            problems.append(problem(where, "invalid parameter", expected='a list of values or a range '
                                    '{"low": ..., "high": ..., "log": true}', received=spec))
    return tuple(out)


def _range(path: str, spec: dict, where: str, base, problems: list[Problem]):
    from dlae_core.experiments.sweep.spec import Parameter

    unknown = [key for key in spec if key not in _RANGE_KEYS]
    low, high = spec.get("low"), spec.get("high")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if unknown or not numbers or low >= high:
        problems.append(problem(where, f"unknown range key {unknown[0]!r}" if unknown else "invalid range",
                                expected='{"low": L, "high": H} with numbers L < H, and optionally "log", '
                                         '"step", "type" ("int" or "float")', received=spec))
        return None
    kind = spec.get("type") or ("int" if _integer_key(path, base) else "float")
    if kind not in ("int", "float"):
        problems.append(problem(where, "invalid range type", expected="'int' or 'float'", received=kind))
        return None
    log = bool(spec.get("log", False))
    if log and low <= 0:
        problems.append(problem(where, "a log range needs a positive low end", received=low))
        return None
    return Parameter(path, low=low, high=high, log=log, step=spec.get("step"), integer=kind == "int")


def _integer_key(path: str, base) -> bool:
    """Whether the value at ``path`` is an integer in the base config."""
    try:
        value = base.get(path)
    except DlaeError:
        return False
    return isinstance(value, int) and not isinstance(value, bool)


def check_parameters(parameters, name: str, search: str, base, problems: list[Problem]) -> None:
    """Every value (both ends of a range) is accepted by the config; then the configs the sweep will run
    pass every check of ``dlae validate`` (data included): each grid combination (up to
    :data:`MAX_COMBINATIONS`), else each value set alone on the base config."""
    from dlae_core.experiments.sweep.spec import relocate

    for parameter, index, value in _candidates(parameters):
        try:
            base.copy().set(parameter.path, value)
        except ConfigError as exc:
            problems.extend(relocate(exc, _where(name, parameter.path, index)))
    if problems:
        return
    combinations = 1
    for parameter in parameters:
        combinations *= len(parameter.values) if parameter.values is not None else 2
    if search == "grid" and combinations <= MAX_COMBINATIONS:
        lists = [[(p, i, v) for p, i, v in _candidates([p])] for p in parameters]
        for combination in itertools.product(*lists):
            where = f"{name}: parameters" if len(combination) > 1 else _where(name, combination[0][0].path,
                                                                               combination[0][1])
            prefix = "with " + ", ".join(f"{p.path}={v!r}" for p, _, v in combination) + ", "
            _check_config(base, [(p.path, v) for p, _, v in combination], where, prefix, problems)
            if problems:  # one line: the first combination that cannot run
                return
        return
    for parameter, index, value in _candidates(parameters):
        _check_config(base, [(parameter.path, value)], _where(name, parameter.path, index), "with this value, ",
                      problems)
        if problems:
            return


MAX_COMBINATIONS = 64


def _candidates(parameters):
    """(parameter, index or 'low'/'high', value) of every listed value and both ends of every range."""
    for parameter in parameters:
        if parameter.values is not None:
            yield from ((parameter, i, v) for i, v in enumerate(parameter.values))
        else:
            for end in ("low", "high"):
                value = getattr(parameter, end)
                yield parameter, end, int(value) if parameter.integer else value


def _check_config(base, values: list, where: str, prefix: str, problems: list[Problem]) -> None:
    exp = base.copy()
    try:
        for path, value in values:
            exp.set(path, value)
        exp.validate(check_data=True)
    except ProblemsError as exc:
        problems.extend(attrs.evolve(p, where=where, what=f"{prefix}{p.where}: {p.what}") for p in exc.problems[:1])


def logged_columns(base) -> set[str] | None:
    """The history columns a supervised technique logs for the base config (None: not known ahead)."""
    from dlae_core.techniques.base import SupervisedTechnique
    from dlae_core.training.monitors import monitor_names

    config = base.parse()
    technique = base.registry.techniques.get(config.config_file.model_signal)
    if not isinstance(technique, SupervisedTechnique):
        return None
    names = ["loss", *monitor_names(config)]
    if config.config_file.model_signal == "BBD":
        names.append("mAP")
    validation = (config.training_configurations.validation_split > 0 or bool(config.paths.validation_X))
    return set(names) | ({f"val_{n}" for n in names} if validation else set()) | {"lr"}


def check_objective(raw, name: str, base, problems: list[Problem]) -> tuple[str, str]:
    """(metric, direction) of ``objective``; default the config's judged value: val_loss, else loss."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict) or any(k not in ("metric", "direction") for k in raw):
        problems.append(problem(f"{name}: objective", "invalid objective", expected='{"metric": "val_loss", '
                                '"direction": "minimize"} (both optional)', received=raw))
        return "loss", "minimize"
    columns = logged_columns(base)
    default = "val_loss" if columns is None or "val_loss" in columns else "loss"
    metric = raw.get("metric", default)
    if columns is not None and metric not in columns:
        problems.append(problem(f"{name}: objective.metric", f"the {base.parse().config_file.model_signal} "
                                f"session of this config never logs this value",
                                expected="one of " + ", ".join(sorted(columns)), received=metric, choices=columns))
    lower = ("loss", "error", "lr")
    default_direction = "minimize" if any(str(metric).endswith(s) for s in lower) else "maximize"
    direction = raw.get("direction", default_direction)
    if direction not in ("minimize", "maximize"):
        problems.append(problem(f"{name}: objective.direction", "invalid direction",
                                expected="'minimize' or 'maximize'", received=direction,
                                choices=("minimize", "maximize")))
    return metric, direction
