"""Value kinds of layer parameters (tuples that may be written as one int, pads, ...)."""

from __future__ import annotations

import attrs

from dlae_core.config.values import Kind, ValueProblem, format_tuple

INITIALIZERS = (
    "he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal", "lecun_uniform",
    "zeros", "ones", "random_normal", "random_uniform", "truncated_normal", "orthogonal",
)
REGULARIZERS = ("l1", "l2", "l1_l2")
MERGE_MODES = ("concatenate", "add", "subtract", "multiply", "average", "maximum")


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@attrs.frozen
class IntTuple(Kind):
    """``dims`` positive ints; a single int means the same value on every axis."""

    dims: int = 2
    allow_none: bool = False  # None means "use the default given by the layer" (e.g. pool stride)

    def parse_typed(self, value: object) -> tuple[int, ...] | None:
        if value is None and self.allow_none:
            return None
        if _positive_int(value):
            return (value,) * self.dims
        if isinstance(value, (list, tuple)) and len(value) == self.dims and all(map(_positive_int, value)):
            return tuple(value)
        raise ValueProblem(self.describe())

    def format(self, value: object) -> str:
        return "None" if value is None else format_tuple(value)

    def describe(self) -> str:
        example = "(3, 3)" if self.dims == 2 else "(3, 3, 3)"
        text = f"a positive integer or a {self.dims}-tuple of positive integers such as {example}"
        return text + (" or None" if self.allow_none else "")


@attrs.frozen
class Dilation(IntTuple):
    """Dilation rate; None (or an empty field) means no dilation on every axis."""

    def parse_typed(self, value: object) -> tuple[int, ...]:
        if value is None:
            return (1,) * self.dims
        return super().parse_typed(value)


@attrs.frozen
class Pads(Kind):
    """Zero padding / cropping: int, per-axis ints, or per-axis (before, after) pairs."""

    dims: int = 2

    def parse_typed(self, value: object) -> tuple[tuple[int, int], ...]:
        def amount(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v >= 0

        if amount(value):
            return ((value, value),) * self.dims
        if isinstance(value, (list, tuple)) and len(value) == self.dims:
            if all(amount(v) for v in value):
                return tuple((v, v) for v in value)
            if all(isinstance(v, (list, tuple)) and len(v) == 2 and all(map(amount, v)) for v in value):
                return tuple((v[0], v[1]) for v in value)
        raise ValueProblem(self.describe())

    def format(self, value: object) -> str:
        return format_tuple(value)

    def describe(self) -> str:
        return (f"an integer >= 0, a {self.dims}-tuple of them, or {self.dims} (before, after) pairs "
                f"such as ((1, 1), (1, 1))")


@attrs.frozen
class Regularizer(Kind):
    """None, l1, l2 or l1_l2."""

    def parse_text(self, text: str) -> str | None:
        return self.parse_typed(None if text.strip() == "None" else text.strip())

    def parse_typed(self, value: object) -> str | None:
        if value is None or value in REGULARIZERS:
            return value
        from dlae_core.errors import did_you_mean
        raise ValueProblem(self.describe(), did_you_mean(value, REGULARIZERS + ("None",)))

    def format(self, value: object) -> str:
        return "None" if value is None else str(value)

    def describe(self) -> str:
        return "one of None, 'l1', 'l2', 'l1_l2'"


@attrs.frozen
class LiteralBool(Kind):
    """``True``/``False`` written as a Python literal (pretrained-network flags)."""

    def parse_typed(self, value: object) -> bool:
        if isinstance(value, bool):
            return value
        raise ValueProblem(self.describe())

    def parse_text(self, text: str) -> bool:
        text = text.strip()
        if text in ("True", "False"):
            return text == "True"
        raise ValueProblem(self.describe(), {"true": "True", "false": "False"}.get(text.lower()))

    def format(self, value: object) -> str:
        return "True" if value else "False"

    def describe(self) -> str:
        return "True or False"


@attrs.frozen
class Weights(Kind):
    """Pretrained weights: 'imagenet', 'none' or a weights-file path (no colons)."""

    def parse_text(self, text: str) -> str:
        return self.parse_typed(text.strip())

    def parse_typed(self, value: object) -> str:
        if value is None:
            return "none"
        if isinstance(value, str) and value:
            return "none" if value == "None" else value
        raise ValueProblem(self.describe())

    def format(self, value: object) -> str:
        return str(value)

    def describe(self) -> str:
        return "'imagenet', 'none' or a weights-file path"


@attrs.frozen
class TargetShape(Kind):
    """Reshape target: a tuple of positive ints where one entry may be -1."""

    def parse_typed(self, value: object) -> tuple[int, ...]:
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value,)
        ok = isinstance(value, (list, tuple)) and len(value) > 0
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and (v > 0 or v == -1) for v in value)
        if not ok or list(value).count(-1) > 1:
            raise ValueProblem(self.describe())
        return tuple(value)

    def format(self, value: object) -> str:
        return format_tuple(value)

    def describe(self) -> str:
        return "a tuple of positive integers (one may be -1) such as (262144, 1)"


@attrs.frozen
class Permutation(Kind):
    """Permute dims: a 1-based permutation of the non-batch axes, e.g. (2, 1, 3)."""

    def parse_typed(self, value: object) -> tuple[int, ...]:
        ok = isinstance(value, (list, tuple)) and len(value) > 0
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        if not ok or sorted(value) != list(range(1, len(value) + 1)):
            raise ValueProblem(self.describe())
        return tuple(value)

    def format(self, value: object) -> str:
        return format_tuple(value)

    def describe(self) -> str:
        return "a 1-based permutation of the non-batch axes such as (2, 1, 3)"
