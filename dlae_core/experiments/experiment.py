"""The experiment generator's config object (manual §11): load a config, change it, check it, save it,
run it, read what it left. See docs/EXPERIMENTS.md."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

from dlae_core.config.schema import LAYER_LISTS, SECTIONS
from dlae_core.errors import ConfigError, UsageError, problem
from dlae_core.experiments.layers import LayerList
from dlae_core.experiments.paths import get_value, is_legacy, parse_path, set_value

__all__ = ["Experiment", "load"]

#: the files a run folder gives each output (the model keeps the base config's extension)
RUN_FOLDER_NAMES = {"save_model_path": "model", "save_csv_path": "history.csv",
                    "save_checkpoints_path": "checkpoint", "save_tensorboard_path": "tensorboard"}


def load(path: str | os.PathLike, registry=None) -> "Experiment":
    """Load a config file (original string form or typed form) as an :class:`Experiment`."""
    return Experiment.load(path, registry)


class _Section:
    """Typed attribute access to one config section: ``exp.loss_function.loss = "tversky"``."""

    def __init__(self, experiment: "Experiment", name: str):
        object.__setattr__(self, "_experiment", experiment)
        object.__setattr__(self, "_name", name)

    def __getattr__(self, key: str):
        return self._experiment.get(f"{self._name}.{key}")

    def __setattr__(self, key: str, value) -> None:
        self._experiment.set(f"{self._name}.{key}", value)

    def __repr__(self) -> str:
        return f"<section {self._name} of {self._experiment!r}>"


class _Layers:
    def __init__(self, experiment: "Experiment"):
        self._experiment = experiment

    def __getattr__(self, name: str) -> LayerList:
        if name not in LAYER_LISTS:
            raise ConfigError([problem(f"layers.{name}", "unknown layer list", expected="one of "
                                       + ", ".join(LAYER_LISTS), received=name, choices=LAYER_LISTS)])
        return LayerList(self._experiment, name)


class Experiment:
    """A config being edited. Sections are attributes with typed values (``exp.training_configurations
    .epochs``, ``exp.config_file.input_shape`` -> a tuple); assigning checks the value as the parser does
    (a ConfigError names the key) and writes it in the config's own value form. ``exp.layers.<list>``
    are :class:`LayerList` helpers; ``get``/``set`` take config paths (``"layers.serial_layer_list[3]
    .filters"``). Relative paths are relative to ``folder`` (the loaded file's folder)."""

    def __init__(self, raw: dict, folder: str | os.PathLike = ".", registry=None, path: str | os.PathLike | None = None):
        from dlae_core.plugin.registry import get_registry

        self.raw = copy.deepcopy(raw)
        self.folder = Path(folder).resolve()
        self.registry = registry or get_registry()
        self.path = Path(path).resolve() if path else None  # the file this experiment was read from or saved to
        self._saved = False  # whether ``path`` holds the current state
        self._written = False  # whether save() wrote ``path`` (a file of this experiment, not the user's base)

    # -- loading -----------------------------------------------------------------------------------
    @classmethod
    def load(cls, path, registry=None) -> "Experiment":
        from dlae_core.config.parser import read_json

        path = Path(path)
        return cls(read_json(path), path.parent, registry, path)

    def copy(self) -> "Experiment":
        """An independent copy (same folder; not saved anywhere yet)."""
        return Experiment(self.raw, self.folder, self.registry)

    # -- reading and changing ----------------------------------------------------------------------
    def __getattr__(self, name: str):
        if name in SECTIONS:
            return _Section(self, name)
        if name == "layers":
            return _Layers(self)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r} (sections: "
                             f"{', '.join(SECTIONS)}, layers)")

    def get(self, path: str):
        """The typed value at a config path (defaults for absent keys; a LayerSpec for a layer entry)."""
        return get_value(self.raw, parse_path(path, registry=self.registry), self.registry)

    def set(self, path: str, value) -> "Experiment":
        """Check ``value`` and store it at config path ``path``; returns the experiment (chainable)."""
        set_value(self.raw, parse_path(path, registry=self.registry), value, self.registry)
        self._saved = False
        return self

    def update(self, values: dict) -> "Experiment":
        """``set`` for each config path -> value of ``values``."""
        for path, value in values.items():
            self.set(path, value)
        return self

    def set_loss(self, name: str, *args, **params) -> "Experiment":
        """Set ``loss_function.loss`` and its parameters, by position or by the loss's own parameter
        names: ``set_loss("tversky", alpha=0.3, beta=0.7)`` (see ``dlae list losses``)."""
        self.set("loss_function.loss", name)
        info = self.registry.losses[name]
        # a loss names its parameters with a description ("alpha (false-positive weight)"): the first word
        names = {"parameter1": "parameter1", "parameter2": "parameter2"}
        for key, described in (("parameter1", info.parameter1), ("parameter2", info.parameter2)):
            if described:
                names[described.split()[0]] = key
        if len(args) > 2:
            raise UsageError(f"set_loss: a loss has at most two parameters; received {len(args)}")
        values = dict(zip(("parameter1", "parameter2"), args))
        for key, value in params.items():
            if key not in names:
                raise ConfigError([problem("loss_function", f"loss {name!r} has no parameter {key!r}",
                                           expected="one of " + ", ".join(sorted(k for k in names)),
                                           received=key, choices=names)])
            values[names[key]] = value
        for key, value in values.items():
            self.set(f"loss_function.{key}", value)
        return self

    # -- checking ----------------------------------------------------------------------------------
    def parse(self):
        """The parsed Config, relative paths resolved against ``folder`` (ConfigError as dlae validate)."""
        from dlae_core.config.parser import parse_config
        from dlae_core.running.paths import resolve_relative_paths

        source = str(self.path) if self.path else None
        return resolve_relative_paths(parse_config(copy.deepcopy(self.raw), self.registry, source), self.folder)

    def validate(self, *, backend: str | None = None, check_data: bool = True):
        """Everything ``dlae validate`` checks (with ``--backend``; data unless ``check_data`` is off);
        raises the same DlaeError, whose ``lines()`` are the CLI's lines. Returns the model plan."""
        from dlae_core.planning.implementations import check_implementations
        from dlae_core.planning.plan import plan_model

        if backend is not None:
            self.registry.check_backend(backend)
        config = self.parse()
        plan = plan_model(config, self.registry)
        if backend is not None:
            check_implementations(config, plan, self.registry, backend)
        if check_data:
            from dlae_core.data.checks import check_data as run_checks
            from dlae_core.errors import DataError

            problems = run_checks(config, plan, self.registry)
            if problems:
                raise DataError(problems)
        return plan

    def hash(self) -> str:
        """The run identity: one hash whatever the value form and the output paths."""
        from dlae_core.running.identity import config_hash

        return config_hash(self.parse(), self.registry)

    # -- writing -----------------------------------------------------------------------------------
    def to_dict(self, form: str = "as-written") -> dict:
        """The config as JSON data: ``as-written`` (the loaded form with the edits), ``typed`` or
        ``legacy`` (every key, in that value form)."""
        if form == "as-written":
            return copy.deepcopy(self.raw)
        if form not in ("typed", "legacy"):
            raise UsageError(f"form must be 'as-written', 'typed' or 'legacy'; received {form!r}")
        from dlae_core.config.convert import config_to_dict
        from dlae_core.config.parser import parse_config

        return config_to_dict(parse_config(copy.deepcopy(self.raw), self.registry), self.registry,
                              legacy=form == "legacy")

    def save(self, path, *, form: str = "as-written", overwrite: bool = False) -> Path:
        """Write the config to ``path`` (never over an existing file unless ``overwrite``). Relative
        input paths are made absolute so they still name the same files from the new folder; relative
        output paths stay relative, so the saved experiment writes into its own folder."""
        from dlae_core.running.outputs import write_text_atomic

        path = Path(path).resolve()
        self.parse()  # refuse to save what cannot be read back
        self._rebase_inputs(path.parent)
        write_text_atomic(path, json.dumps(self.to_dict(form), indent=1) + "\n", overwrite=overwrite)
        self.path, self._saved, self._written = path, True, True
        return path

    def _rebase_inputs(self, folder: Path) -> None:
        from dlae_core.running.paths import INPUTS

        section = self.raw.get("paths") or {}
        for key in INPUTS:
            value = section.get(key)
            if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                # absolute (normalized): the same string the session resolves, so the hash is unchanged
                section[key] = os.path.normpath(self.folder / Path(value).expanduser())
        self.folder = folder

    def into_folder(self, folder) -> "Experiment":
        """A copy whose outputs go into ``folder`` (model, history.csv, checkpoint, tensorboard; the CSV
        history switched on), so results can be read back. Not saved yet."""
        exp = self.copy()
        save = dict(exp.raw.get("save_configurations") or {})
        model = Path(str(self.get("save_configurations.save_model_path") or "model.pt"))
        names = dict(RUN_FOLDER_NAMES, save_model_path="model" + (model.suffix or ".pt"))
        legacy = is_legacy(self.raw)
        for key, name in names.items():
            save[key] = str(Path(folder).resolve() / name)
        save["save_csv_switch"] = "True" if legacy else True
        exp.raw["save_configurations"] = save
        return exp

    # -- running -----------------------------------------------------------------------------------
    def run(self, backend: str = "torch", *, subprocess: bool = False, overwrite: bool = False,
            quiet: bool = True, workers: int | None = 0, resume: bool = False):
        """Run the saved config as ``dlae run`` does: in this process (errors raise DlaeError) or, with
        ``subprocess=True``, as a ``dlae run`` child (its exit code is in the result). Edits made after
        ``save`` are saved to the same file first; an experiment never saved is refused. Returns a
        :class:`~dlae_core.experiments.results.RunResult`."""
        path = self._saved_path()
        options = ["--backend", backend] + (["--overwrite"] if overwrite else []) + (["--quiet"] if quiet else [])
        options += (["--workers", str(workers)] if workers is not None else []) + (["--resume"] if resume else [])
        if subprocess:
            code = _run_child(["run", str(path), *options])
            return self.result(exit_code=code)
        from dlae_core.cli.run_commands import _execute

        _execute(str(path), backend, None, overwrite=overwrite, predictions=None, quiet=quiet, workers=workers,
                 resume=resume)
        return self.result()

    def _saved_path(self) -> Path:
        if self.path is not None and self._saved:
            return self.path
        if self.path is not None and self.raw == _read_raw(self.path):
            return self.path
        if self.path is not None and self._written:  # its own file: brought up to date
            return self.save(self.path, overwrite=True)
        raise UsageError("save the experiment before running it (exp.save(PATH)); its edits are not in "
                         + (f"{str(self.path)!r}" if self.path else "any file yet"))

    def result(self, exit_code: int | None = None):
        """What the runs of this config left in its output paths (history, best value, outputs)."""
        from dlae_core.experiments.results import result_of

        return result_of(self.parse(), self.path or self.folder, self.registry, exit_code)

    def __repr__(self) -> str:
        return f"Experiment({str(self.path) if self.path else 'unsaved'!r})"


def _read_raw(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _run_child(arguments: list[str]) -> int:
    """``dlae ARGUMENTS`` in a child Python; its output goes to ours. Returns the exit code."""
    command = [sys.executable, "-m", "dlae_core.cli.main", *arguments]
    return subprocess.run(command, check=False).returncode
