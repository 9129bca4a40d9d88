"""Value kinds: how one config value is read from either form and written back.

Every key of the config schema and every layer parameter has a *kind*. A kind
reads the original string form (``"True"``, ``"(3, 3)"``, ``"0.1, 0.9"``) and
the typed form (``true``, ``[3, 3]``, ``[0.1, 0.9]``) into one Python value, and
writes that value back in either form, so ``dlae convert`` loses nothing.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence

import attrs

from dlae_core.errors import did_you_mean


class ValueProblem(Exception):
    """Raised by a kind when a value does not fit; carries expected/suggestion."""

    def __init__(self, expected: str, suggestion: str | None = None):
        super().__init__(expected)
        self.expected = expected
        self.suggestion = suggestion


def literal(text: str) -> object:
    """Python-literal parse of a legacy string; raises ValueProblem on bad syntax."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueProblem("a Python literal such as (3, 3), 0.5 or None") from exc


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


NOT_FINITE = "finite: not NaN, Infinity or beyond 1.8e308"


def _finite(value: object) -> bool:
    """False for NaN, +-Inf (``"inf"``, ``"1e309"``, JSON ``Infinity``/``NaN``/``1e309``) and ints
    too large for a float (they would become Inf in any computation)."""
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the float range
        return False


def _not_finite(kind: "Kind") -> ValueProblem:
    return ValueProblem(f"{kind.describe()} ({NOT_FINITE})")


def format_float(value: float) -> str:
    return repr(float(value))


def format_tuple(values: Sequence[object]) -> str:
    """Legacy tuple text: ``(1, 2)``, ``(1000,)``, nested tuples allowed."""
    items = [format_tuple(v) if isinstance(v, (tuple, list)) else _format_scalar(v) for v in values]
    if len(items) == 1:
        return f"({items[0]},)"
    return "(" + ", ".join(items) + ")"


def _format_scalar(value: object) -> str:
    if value is None:
        return "None"
    if isinstance(value, float):
        return format_float(value)
    return str(value)


def to_json(value: object) -> object:
    """Typed-form JSON of a parsed value (tuples become lists, attrs become dicts)."""
    if isinstance(value, tuple):
        return [to_json(v) for v in value]
    if attrs.has(type(value)):
        return {k: to_json(v) for k, v in attrs.asdict(value, recurse=False).items()}
    return value


@attrs.frozen
class Kind:
    """Base kind. Subclasses override ``parse_text``/``parse_typed``/``format``."""

    def parse(self, raw: object) -> object:
        if isinstance(raw, str):
            return self.parse_text(raw)
        return self.parse_typed(raw)

    def parse_text(self, text: str) -> object:
        try:
            value = literal(text)
        except ValueProblem:
            # Say what this key expects, not just "a Python literal".
            raise ValueProblem(f"{self.describe()} (the text is not valid Python literal syntax)") from None
        return self.parse_typed(value)

    def parse_typed(self, value: object) -> object:  # pragma: no cover - abstract
        raise NotImplementedError

    def format(self, value: object) -> str:
        return _format_scalar(value)

    def typed(self, value: object) -> object:
        return to_json(value)

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


@attrs.frozen
class Bool(Kind):
    def parse_text(self, text: str) -> bool:
        if text in ("True", "False"):
            return text == "True"
        suggestion = {"true": "True", "false": "False"}.get(text.strip().lower())
        raise ValueProblem(self.describe(), suggestion)

    def parse_typed(self, value: object) -> bool:
        if isinstance(value, bool):
            return value
        raise ValueProblem(self.describe())

    def format(self, value: object) -> str:
        return "True" if value else "False"

    def describe(self) -> str:
        return '"True" or "False" (or a JSON boolean)'


@attrs.frozen
class Int(Kind):
    minimum: int | None = None
    maximum: int | None = None

    def parse_text(self, text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueProblem(self.describe()) from None
        return self._check(value)

    def parse_typed(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return self._check(int(value))
            raise ValueProblem(self.describe())
        return self._check(value)

    def _check(self, value: int) -> int:
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise ValueProblem(self.describe())
        return value

    def describe(self) -> str:
        return "an integer" + _range_text(self.minimum, self.maximum)


def _range_text(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False) -> str:
    if lo is not None and hi is not None:
        left, right = ("(" if lo_open else "["), (")" if hi_open else "]")
        return f" in {left}{lo}, {hi}{right}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi}"
    return ""


@attrs.frozen
class Float(Kind):
    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False
    max_open: bool = False

    def parse_text(self, text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueProblem(self.describe()) from None
        return self._check(value)

    def parse_typed(self, value: object) -> float:
        if not _is_number(value):
            raise ValueProblem(self.describe())
        if not _finite(value):
            raise _not_finite(self)
        return self._check(float(value))

    def _check(self, value: float) -> float:
        if not _finite(value):
            raise _not_finite(self)
        lo, hi = self.minimum, self.maximum
        bad_lo = lo is not None and (value <= lo if self.min_open else value < lo)
        bad_hi = hi is not None and (value >= hi if self.max_open else value > hi)
        if bad_lo or bad_hi:
            raise ValueProblem(self.describe())
        return value

    def format(self, value: object) -> str:
        return format_float(value)

    def describe(self) -> str:
        return "a number" + _range_text(self.minimum, self.maximum, self.min_open, self.max_open)


@attrs.frozen
class OptionalFloat(Float):
    """A float or None (``"None"`` in the string form)."""

    def parse_text(self, text: str) -> float | None:
        if text.strip() == "None":
            return None
        return super().parse_text(text)

    def parse_typed(self, value: object) -> float | None:
        return None if value is None else super().parse_typed(value)

    def format(self, value: object) -> str:
        return "None" if value is None else format_float(value)

    def describe(self) -> str:
        return super().describe() + ' or None ("None")'


@attrs.frozen
class FloatList(Kind):
    """Comma-separated floats without parentheses (``"0.1, 0.9"``) or a JSON list."""

    min_count: int = 1
    max_count: int | None = None
    positive: bool = False

    def parse_text(self, text: str) -> tuple[float, ...]:
        if text.strip().startswith(("(", "[")):
            raise ValueProblem(self.describe() + " (without parentheses)")
        try:
            values = tuple(float(part) for part in text.split(","))
        except ValueError:
            raise ValueProblem(self.describe()) from None
        return self._check(values)

    def parse_typed(self, value: object) -> tuple[float, ...]:
        if _is_number(value):
            value = [value]
        if not isinstance(value, list) or not all(_is_number(v) for v in value):
            raise ValueProblem(self.describe())
        if not all(_finite(v) for v in value):
            raise _not_finite(self)
        return self._check(tuple(float(v) for v in value))

    def _check(self, values: tuple[float, ...]) -> tuple[float, ...]:
        too_few = len(values) < self.min_count
        too_many = self.max_count is not None and len(values) > self.max_count
        if too_few or too_many:
            raise ValueProblem(self.describe())
        if not all(_finite(v) for v in values):
            raise _not_finite(self)
        if self.positive and any(v <= 0 for v in values):
            raise ValueProblem(self.describe())
        return values

    def format(self, value: object) -> str:
        return ", ".join(format_float(v) for v in value)

    def describe(self) -> str:
        if self.max_count == self.min_count:
            count = f"exactly {self.min_count}"
        elif self.max_count is None:
            count = f"at least {self.min_count}"
        else:
            count = f"{self.min_count} to {self.max_count}"
        sign = " positive" if self.positive else ""
        return f"{count}{sign} comma-separated numbers such as \"0.1, 0.9\""


@attrs.frozen
class Choice(Kind):
    """One of a fixed set of strings, matched exactly."""

    choices: tuple[str, ...] = ()

    def parse_text(self, text: str) -> str:
        return self.parse_typed(text)

    def parse_typed(self, value: object) -> str:
        if isinstance(value, str) and value in self.choices:
            return value
        raise ValueProblem(self.describe(), did_you_mean(value, self.choices))

    def format(self, value: object) -> str:
        return str(value)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)


@attrs.frozen
class Text(Kind):
    """Free text (used for names looked up in a registry later)."""

    def parse_text(self, text: str) -> str:
        return text

    def parse_typed(self, value: object) -> str:
        if isinstance(value, str):
            return value
        raise ValueProblem(self.describe())

    def format(self, value: object) -> str:
        return str(value)

    def describe(self) -> str:
        return "a string"


@attrs.frozen
class Path(Kind):
    """A file-system path; the empty string (or null) means "not set" (None)."""

    def parse_text(self, text: str) -> str | None:
        return self.parse_typed(text)

    def parse_typed(self, value: object) -> str | None:
        if value is None or isinstance(value, str):
            if value and "\0" in value:  # no file system accepts it
                raise ValueProblem(self.describe() + " without NUL characters")
            return value or None
        raise ValueProblem(self.describe())

    def format(self, value: object) -> str:
        return value or ""

    def describe(self) -> str:
        return 'a path string ("" when not set)'


@attrs.frozen
class Shape(Kind):
    """A tuple of positive integers, such as ``(512, 512, 1)``."""

    min_rank: int = 1
    max_rank: int | None = None

    def parse_typed(self, value: object) -> tuple[int, ...]:
        if isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
        ):
            rank_ok = len(value) >= self.min_rank and (self.max_rank is None or len(value) <= self.max_rank)
            if rank_ok:
                return tuple(value)
        raise ValueProblem(self.describe())

    def format(self, value: object) -> str:
        return format_tuple(value)

    def describe(self) -> str:
        rank = f"{self.min_rank}" if self.max_rank == self.min_rank else f"{self.min_rank} or more"
        if self.max_rank and self.max_rank != self.min_rank:
            rank = f"{self.min_rank} to {self.max_rank}"
        return f"a tuple of {rank} positive integers such as (512, 512, 1)"


@attrs.frozen
class NumberTuple(Kind):
    """A tuple of numbers of a fixed length (``(0.1, 0.1, 0.2, 0.2)``), or None if allowed."""

    length: int | None = None
    positive: bool = False
    allow_none: bool = False

    def parse_typed(self, value: object) -> tuple[float, ...] | None:
        if value is None and self.allow_none:
            return None
        ok = isinstance(value, (list, tuple)) and all(_is_number(v) for v in value)
        ok = ok and (self.length is None or len(value) == self.length) and len(value) > 0
        if ok and not all(_finite(v) for v in value):
            raise _not_finite(self)
        ok = ok and not (self.positive and any(v <= 0 for v in value))
        if not ok:
            raise ValueProblem(self.describe())
        return tuple(float(v) for v in value)

    def format(self, value: object) -> str:
        return "None" if value is None else format_tuple(value)

    def describe(self) -> str:
        count = f"{self.length} " if self.length else ""
        sign = "positive " if self.positive else ""
        text = f"a tuple of {count}{sign}numbers"
        return text + (" or None" if self.allow_none else "")


@attrs.frozen
class NestedNumbers(Kind):
    """None, a tuple of numbers, or a tuple of number tuples (BBD ratios, steps, offsets)."""

    allow_none: bool = True
    inner_length: int | None = None  # fixed length of the inner tuples (2 for steps/offsets)
    positive: bool = False

    def parse_typed(self, value: object) -> object:
        if value is None and self.allow_none:
            return None
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueProblem(self.describe())
        items = []
        for item in value:
            if _is_number(item):
                items.append(self._number(item))
            elif isinstance(item, (list, tuple)) and item and all(_is_number(v) for v in item):
                if self.inner_length is not None and len(item) != self.inner_length:
                    raise ValueProblem(self.describe())
                items.append(tuple(self._number(v) for v in item))
            else:
                raise ValueProblem(self.describe())
        return tuple(items)

    def _number(self, value: object) -> float:
        if not _finite(value):
            raise _not_finite(self)
        if self.positive and value <= 0:
            raise ValueProblem(self.describe())
        return float(value)

    def format(self, value: object) -> str:
        return "None" if value is None else format_tuple(value)

    def describe(self) -> str:
        inner = f"{self.inner_length}-tuples" if self.inner_length else "tuples"
        sign = "positive " if self.positive else ""
        text = f"a tuple of {sign}numbers or a tuple of {inner} of {sign}numbers"
        return ("None, " + text) if self.allow_none else text
