"""Kinds for the colon-joined GAN strings: ``"lr:decay"`` and the optimizer record."""

from __future__ import annotations

import attrs

from dlae_core.config.values import Choice, Float, Kind, OptionalFloat, ValueProblem, format_float

OPTIMIZER_NAMES = ("Adam", "NAdam", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax")


@attrs.frozen
class LearningRate:
    """A learning rate with its inverse-time decay: lr_t = lr / (1 + decay * t)."""

    learning_rate: float
    decay: float = 0.0


@attrs.frozen
class OptimizerRecord:
    """The six fields of ``discriminator_optimizer`` / ``gan_optimizer``."""

    optimizer: str
    beta1: float = 0.9
    beta2: float = 0.999
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float | None = None


_RATE = Float(minimum=0.0)
_DECAY = Float(minimum=0.0)


@attrs.frozen
class LearningRateKind(Kind):
    """``"0.0001:0.0"`` in the string form; ``[0.0001, 0.0]`` or an object when typed."""

    def parse_text(self, text: str) -> LearningRate:
        fields = text.split(":")
        if len(fields) != 2:
            raise ValueProblem(self.describe())
        return LearningRate(_RATE.parse_text(fields[0]), _DECAY.parse_text(fields[1]))

    def parse_typed(self, value: object) -> LearningRate:
        if isinstance(value, dict):
            unknown = set(value) - {"learning_rate", "decay"}
            if unknown or "learning_rate" not in value:
                raise ValueProblem(self.describe())
            return LearningRate(_RATE.parse_typed(value["learning_rate"]),
                                _DECAY.parse_typed(value.get("decay", 0.0)))
        if isinstance(value, list) and len(value) == 2:
            return LearningRate(_RATE.parse_typed(value[0]), _DECAY.parse_typed(value[1]))
        raise ValueProblem(self.describe())

    def format(self, value: LearningRate) -> str:
        return f"{format_float(value.learning_rate)}:{format_float(value.decay)}"

    def describe(self) -> str:
        return 'a "learning_rate:decay" pair of numbers >= 0 such as "0.0001:0.0"'


_FIELDS = (
    ("optimizer", Choice(OPTIMIZER_NAMES)),
    ("beta1", Float(0.0, 1.0)),
    ("beta2", Float(0.0, 1.0)),
    ("rho", Float(minimum=0.0)),
    ("momentum", Float(minimum=0.0)),
    ("epsilon", OptionalFloat(minimum=0.0, min_open=True)),
)


@attrs.frozen
class OptimizerKind(Kind):
    """``"Adam:0.9:0.999:0.9:0.0:None"``; typed: an object with the six field names."""

    def parse_text(self, text: str) -> OptimizerRecord:
        parts = text.split(":")
        if len(parts) != len(_FIELDS):
            raise ValueProblem(self.describe())
        return self._build([kind.parse_text(part.strip()) for (_, kind), part in zip(_FIELDS, parts)])

    def parse_typed(self, value: object) -> OptimizerRecord:
        if isinstance(value, list) and len(value) == len(_FIELDS):
            return self._build([kind.parse_typed(v) for (_, kind), v in zip(_FIELDS, value)])
        if isinstance(value, dict) and "optimizer" in value and set(value) <= {n for n, _ in _FIELDS}:
            defaults = attrs.asdict(OptimizerRecord("Adam"))
            return self._build([kind.parse_typed(value.get(name, defaults[name])) for name, kind in _FIELDS])
        raise ValueProblem(self.describe())

    @staticmethod
    def _build(values: list) -> OptimizerRecord:
        return OptimizerRecord(*values)

    def format(self, value: OptimizerRecord) -> str:
        return ":".join(kind.format(getattr(value, name)) for name, kind in _FIELDS)

    def describe(self) -> str:
        names = "|".join(OPTIMIZER_NAMES)
        return f'"name:beta1:beta2:rho:momentum:epsilon" with name one of {names}, e.g. "Adam:0.9:0.999:0.9:0.0:None"'
