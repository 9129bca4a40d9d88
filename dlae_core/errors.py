"""The one error hierarchy of dlae.

Every problem a *user* can cause (a bad config value, a missing data file, an
output that would be overwritten) is a :class:`DlaeError`. The CLI turns it into
one line per problem and exit code 2. Anything else is a bug in dlae and keeps
its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import attrs

_MISSING = object()


def did_you_mean(received: object, choices: Iterable[str]) -> str | None:
    """Closest registered name to ``received`` (case-insensitive), or None."""
    if not isinstance(received, str) or not received:
        return None
    options = sorted({str(c) for c in choices})
    by_lower = {c.lower(): c for c in options}
    if received.lower() in by_lower and by_lower[received.lower()] != received:
        return by_lower[received.lower()]
    close = difflib.get_close_matches(received.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def format_received(value: object) -> str:
    """``repr`` of a received value, shortened so an error stays one line."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


@attrs.frozen
class Problem:
    """One thing wrong with the user's input: where, what, expected, received."""

    where: str
    what: str
    expected: str | None = None
    received: object = _MISSING
    suggestion: str | None = None

    def line(self) -> str:
        parts = [f"{self.where}: {self.what}" if self.where else self.what]
        if self.expected:
            parts.append(f"Expected {self.expected}")
        if self.received is not _MISSING:
            parts.append(f"Received: {format_received(self.received)}")
        text = ". ".join(p.rstrip(".") for p in parts) + "."
        if self.suggestion:
            text += f" Did you mean {self.suggestion!r}?"
        return text


class DlaeError(Exception):
    """Base class of every user-facing error; ``lines()`` are what the CLI prints."""

    exit_code = 2

    def lines(self) -> list[str]:
        return [" ".join(str(self).split())]


class ProblemsError(DlaeError):
    """One or more located problems (config, layer list, data)."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(p.line() for p in self.problems))

    def lines(self) -> list[str]:
        return [p.line() for p in self.problems]


class ConfigError(ProblemsError):
    """The configuration file is malformed or holds invalid values."""


class UnimplementedComponentsError(ProblemsError):
    """Components of the config (layers, activations, loss, optimizer, technique) that the chosen
    backend has no implementation of, each located in the config."""


class DataError(ProblemsError):
    """A data file is missing or does not hold the layout the model needs."""


class ConfigFileError(DlaeError):
    """The configuration file cannot be read or is not valid JSON."""


class PluginError(DlaeError):
    """A plugin registered something invalid (a duplicate name, a bad object)."""


class BackendError(DlaeError):
    """A backend could not do what the session asked; the subclasses say what failed."""


class BackendUnavailableError(BackendError):
    """The requested backend is unknown, or its framework is not installed or not usable."""


class MissingImplementationError(BackendError):
    """A component of the config (layer, loss, optimizer, activation, technique) has no
    implementation for the chosen backend."""


class UnsupportedSettingError(BackendError):
    """The config asks for something this version cannot do on this backend (e.g. several GPUs)."""


class TrainingError(BackendError):
    """Training started but cannot go on (a non-finite loss)."""


class DistributedError(BackendError):
    """The processes of a data-parallel run cannot go on together (one failed or was killed)."""


class WeightExchangeError(BackendError):
    """Weights in the canonical layout do not fit a model (dlae check, the contract tests)."""


class UsageError(DlaeError):
    """Command-line options that do not fit the session (e.g. --resume without a checkpoint)."""


class OutputExistsError(DlaeError):
    """An output file exists and ``--overwrite`` was not given."""


class ModelFileError(DlaeError):
    """A saved model or checkpoint cannot be read, or does not fit the config's network."""


class MissingExtraError(DlaeError):
    """What the session asks for needs an optional extra that is not installed (the message names
    the pip install to run)."""


def problem(where: str, what: str, *, expected: str | None = None, received: object = _MISSING,
            choices: Iterable[str] | None = None) -> Problem:
    """Build a :class:`Problem`, adding "did you mean" from ``choices``."""
    suggestion = did_you_mean(received, choices) if choices is not None else None
    return Problem(where, what, expected, received, suggestion)
