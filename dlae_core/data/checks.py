"""Data checks: do the configured HDF5 files fit the planned model?

:func:`check_data` is what ``dlae validate`` runs unless ``--skip-data`` is
given, and what a training or inference session runs before it starts. It reads
the HDF5 *metadata* (names, shapes, dtypes) of every sample, which is cheap, and
the *values* of at most :data:`MAX_SAMPLED` samples per file (first, middle,
last and a few evenly spaced ones) -- never the whole data set.

Every problem says which config key (``where``), which file and sample
(``what``), what was expected and what was received. Shape problems found in
many samples are reported once per file, with the first offending sample and a
count.
"""

from __future__ import annotations

import os

import numpy as np

from dlae_core.errors import DataError, Problem, problem
from dlae_core.data.splits import validation_count
from dlae_core.data.hdf5 import SampleFile, is_numeric, with_channel_axis

MAX_SAMPLED = 8
TRAIN_SESSIONS = ("Train", "Train from Checkpoint")


def sample_positions(count: int, limit: int = MAX_SAMPLED) -> list[int]:
    """Positions of the samples whose values are read: first, middle, last, evenly spaced."""
    if count <= limit:
        return list(range(count))
    picks = {count // 2, *np.linspace(0, count - 1, limit - 1).round().astype(int).tolist()}
    return sorted(picks)


def check_data(config, plan, registry, session: str | None = None) -> list[Problem]:
    """All problems of the data files ``config`` names for ``session`` (default: its type_signal)."""
    session = session or config.config_file.type_signal
    paths, out = config.paths, []
    rules = _Rules(config, plan, registry)
    if session == "Inference":
        _require(out, "paths.load_model", paths.load_model, "an Inference session needs the model to load")
        if _require(out, "paths.test_X", paths.test_X, "an Inference session needs the inputs to predict on"):
            _check_pair(out, rules, ("paths.test_X", paths.test_X), None)
        return out
    if paths.load_checkpoint:
        _require(out, "paths.load_checkpoint", paths.load_checkpoint, "")
    targets = rules.technique.reads_targets  # False: the technique makes its targets from the inputs
    have_x = _require(out, "paths.train_X", paths.train_X, f"a {session} session needs training inputs")
    have_y = not targets or _require(out, "paths.train_y", paths.train_y, f"a {session} session needs training "
                                     f"targets")
    if have_x and have_y:
        count = _check_pair(out, rules, ("paths.train_X", paths.train_X),
                            ("paths.train_y", paths.train_y) if targets else None)
        split = config.training_configurations.validation_split
        if count and split > 0 and count - validation_count(count, split) < 1:
            out.append(problem("training_configurations.validation_split",
                               f"splitting {count} training sample(s) leaves none for training",
                               expected=f"a smaller split or more than {count} samples", received=split))
    if config.training_configurations.validation_split == 0 and (paths.validation_X or
                                                                 (targets and paths.validation_y)):
        vx = _require(out, "paths.validation_X", paths.validation_X, "validation inputs are missing")
        vy = not targets or _require(out, "paths.validation_y", paths.validation_y, "validation targets are missing")
        if vx and vy:
            _check_pair(out, rules, ("paths.validation_X", paths.validation_X),
                        ("paths.validation_y", paths.validation_y) if targets else None)
    return out


def _require(out: list[Problem], where: str, path: str | None, why: str) -> bool:
    """Append a problem unless ``path`` is set and exists; return whether it may be read."""
    if not path:
        out.append(problem(where, why, expected="a path", received=""))
        return False
    if not os.path.exists(path):
        out.append(problem(where, f"{path} does not exist", expected="an existing file (relative paths are "
                           "taken from the config file's folder)", received=path))
        return False
    return True


def _open(out: list[Problem], where: str, path: str) -> tuple[SampleFile, list[str]] | None:
    data = SampleFile(path)
    try:
        return data, data.names()
    except DataError as exc:
        out.extend(problem(where, f"{path}: {p.what}", expected=p.expected, received=p.received)
                   for p in exc.problems)
        data.close()
        return None


class _Tally:
    """Collects one problem per rule: the first offending sample plus a count."""

    def __init__(self, where: str, path: str, total: int):
        self.where, self.path, self.total = where, path, total
        self.first: dict[str, tuple] = {}
        self.counts: dict[str, int] = {}
        self.names: set[str] = set()  # samples with any problem

    def add(self, rule: str, name: str, what: str, expected: str, received: object) -> None:
        self.names.add(name)
        self.counts[rule] = self.counts.get(rule, 0) + 1
        self.first.setdefault(rule, (name, what, expected, received))

    def problems(self, checked: int | None = None) -> list[Problem]:
        out = []
        for rule, (name, what, expected, received) in self.first.items():
            count, of = self.counts[rule], checked if checked is not None else self.total
            more = f" ({count} of {of} {'checked ' if checked is not None else ''}samples)" if of > 1 else ""
            out.append(problem(self.where, f"{self.path}, sample {name!r}: {what}{more}",
                               expected=expected, received=received))
        return out


def _check_pair(out: list[Problem], rules: "_Rules", x: tuple[str, str], y: tuple[str, str] | None) -> int:
    """Check one X file (and its y file); return the number of X samples (0 when unreadable)."""
    opened = _open(out, *x)
    if opened is None:
        return 0
    xfile, names = opened
    other = _open(out, *y) if y else None
    try:
        common = names
        if other is not None:
            present = set(other[1])
            missing = [n for n in names if n not in present]
            if missing:
                out.append(problem(y[0], f"{y[1]} lacks {len(missing)} of the {len(names)} samples of {x[1]}",
                                   expected=f"every dataset name of {x[0]} also in {y[0]}", received=missing[:3]))
            common = [n for n in names if n in present]
        xtally = _Tally(x[0], x[1], len(names))
        xshapes = {}
        for name in names:
            meta = _metadata(xtally, xfile, name)
            if meta is None:
                continue
            xshapes[name], dtype = meta
            _dtype(xtally, name, dtype)
            rules.x_shape(xtally, name, xshapes[name])
        out.extend(xtally.problems())
        picked = [names[i] for i in sample_positions(len(names)) if names[i] in xshapes]
        out.extend(_values(x, xfile, picked, None))
        if other is not None:
            yfile = other[0]
            ytally = _Tally(y[0], y[1], len(common))
            for name in common:
                meta = _metadata(ytally, yfile, name)
                if meta is None:
                    continue
                shape, dtype = meta
                _dtype(ytally, name, dtype)
                if name in xshapes:
                    rules.y_shape(ytally, name, shape, xshapes[name])
            out.extend(ytally.problems())
            in_y = set(common)
            picked = [n for n in picked if n in in_y] or [common[i] for i in sample_positions(len(common))]
            if rules.technique.check_every_target:
                picked = common  # e.g. boxes: a few numbers per sample, all checked before training
            out.extend(_values(y, yfile, picked, rules, skip=ytally.names))
        return len(names)
    finally:
        xfile.close()
        if other is not None:
            other[0].close()


def _metadata(tally: _Tally, data: SampleFile, name: str) -> tuple | None:
    """(shape, dtype) of a sample, or None after tallying a sample a damaged file cannot describe."""
    try:
        return data.metadata(name)
    except DataError as exc:
        _unreadable(tally, name, exc)
        return None


def _unreadable(tally: _Tally, name: str, exc: DataError) -> None:
    first = exc.problems[0]
    tally.add("unreadable", name, "cannot be read; the file may be damaged or truncated",
              "an intact HDF5 file (write it again from its source)", first.received)


def _dtype(tally: _Tally, name: str, dtype) -> None:
    if not is_numeric(dtype):
        tally.add("dtype", name, "values are not numbers", "a bool, integer or float dataset", str(dtype))


def _values(key: tuple[str, str], data: SampleFile, picked: list[str], rules: "_Rules | None",
            skip: set[str] = frozenset()) -> list[Problem]:
    """Value checks on a few samples: finite numbers, and (for targets) labels and boxes
    (not for the samples in ``skip``, whose shape is already reported)."""
    tally = _Tally(key[0], key[1], len(picked))
    for name in picked:
        try:
            if not is_numeric(data.dtype(name)):
                continue
            values = data.read(name)
        except DataError as exc:  # a damaged dataset
            _unreadable(tally, name, exc)
            continue
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            nan, inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
            tally.add("finite", name, "contains NaN or Inf values", "finite numbers", f"{nan} NaN, {inf} Inf")
            continue
        if rules is not None and name not in skip:
            rules.y_values(tally, name, values)
    return tally.problems(checked=len(picked))


class _Rules:
    """What the planned model needs from X and y, derived once from config and plan."""

    def __init__(self, config, plan, registry):
        pre = config.preprocessing
        self.technique = registry.techniques[plan.technique]
        main = plan.main
        self.x_expected = tuple(main.input_shapes[0])
        self.spatial = len(self.x_expected) - 1
        self.output = self.technique.target_shape(plan)
        self.repeat = pre.repeat_X_quantity if pre.repeat_X_switch else 1
        info = registry.losses.get(config.loss_function.loss)
        self.target = info.target if info is not None else None
        self.switch = pre.categorical_switch
        self.labels = self.target == "sparse" or (self.switch and self.target in ("onehot", "sparse", "dense"))
        self.classes = pre.categories if self.switch else (self.output[-1] if self.output else 1)
        self.config = config

    # -- inputs -------------------------------------------------------------------------
    def x_shape(self, tally: _Tally, name: str, shape: tuple) -> None:
        want, got = self.x_expected, with_channel_axis(shape, self.spatial)
        if len(got) != len(want):
            tally.add("x-rank", name, f"a {len(shape)}-D input cannot feed the model input {want}",
                      f"{self.spatial}-D samples {want[:-1]} or {self.spatial + 1}-D samples {self._x_text()}", shape)
        elif self.repeat > 1 and (got[:-1] != want[:-1] or got[-1] * self.repeat != want[-1]):
            tally.add("x-shape", name, f"with repeat_X_quantity {self.repeat} the input does not match the model "
                      f"input {want}", self._x_text(), shape)
        elif self.repeat == 1 and got != want:
            tally.add("x-shape", name, f"the input shape does not match the model input {want}",
                      self._x_text(), shape)

    def _x_text(self) -> str:
        want = self.x_expected
        if self.repeat > 1:
            return f"{want[:-1] + (want[-1] // self.repeat,)} (channels x {self.repeat} = {want[-1]})"
        return f"{want}" + (f" or {want[:-1]}" if want[-1] == 1 else "")

    # -- targets: the technique says what it needs ------------------------------------------
    def y_shape(self, tally: _Tally, name: str, shape: tuple, x_shape: tuple) -> None:
        self.technique.check_target_shape(self, tally, name, tuple(shape), tuple(x_shape))

    def y_values(self, tally: _Tally, name: str, values: np.ndarray) -> None:
        self.technique.check_target_values(self, tally, name, values)


def number_text(value) -> int | float:
    """A number as a person writes it: 3, not 3.0."""
    value = float(value)
    return int(value) if value.is_integer() else value
