"""Learning-rate schedule and epoch-end rules shared by every backend (Keras semantics).

The backend asks :class:`LearningRateSchedule` for the rate of each update step and reports
epoch results to :class:`EpochRules`, which decides about plateau reductions, step decay,
early stopping and best-checkpoint saving.
"""

from __future__ import annotations

import math

import attrs

PLATEAU_MIN_DELTA = 1e-4
MIN_LEARNING_RATE = 1e-9


@attrs.define
class LearningRateSchedule:
    """lr_t = base * factor / (1 + decay * t): inverse-time decay per update ``t`` times the
    product of all plateau and step-decay reductions so far (``factor``)."""

    base: float
    decay: float = 0.0
    factor: float = 1.0

    def rate(self, step: int) -> float:
        return max(self.base * self.factor / (1.0 + self.decay * step), MIN_LEARNING_RATE)

    def state(self) -> dict:
        return {"base": self.base, "decay": self.decay, "factor": self.factor}


@attrs.define
class EpochDecision:
    save_checkpoint: bool = False
    stop: bool = False
    reduced_to: float | None = None  # new factor-scaled rate after a plateau/step reduction
    reduction_reason: str = ""  # why the rate was reduced ("plateau", "step decay")
    stop_reason: str = ""  # why training stops


@attrs.define
class EpochRules:
    """Plateau reduction, step decay, early stopping and best-only checkpoints on ``val_loss``."""

    schedule: LearningRateSchedule
    plateau: bool = False
    plateau_factor: float = 0.2
    plateau_patience: int = 3
    step_decay: bool = False
    step_factor: float = 0.1
    step_period: int = 3
    early_stop: bool = False
    early_patience: int = 10
    checkpoint_every: int | None = None  # None: checkpoints off
    best_val: float = math.inf  # for checkpoints and early stopping (min delta 0)
    plateau_best: float = math.inf  # plateau uses min delta 1e-4
    plateau_wait: int = 0
    cooldown: int = 0
    early_wait: int = 0

    @classmethod
    def from_config(cls, config, schedule: LearningRateSchedule) -> "EpochRules":
        lrs, train, save = config.learning_rate_schedule, config.training_configurations, config.save_configurations
        return cls(schedule, plateau=lrs.decay_on_plateau_switch, plateau_factor=lrs.decay_on_plateau_factor,
                   plateau_patience=lrs.decay_on_plateau_patience, step_decay=lrs.step_decay_switch,
                   step_factor=lrs.step_decay_factor, step_period=lrs.step_decay_period,
                   early_stop=train.early_stop_switch, early_patience=train.early_stop_patience,
                   checkpoint_every=save.save_checkpoints_frequency if save.save_checkpoints_switch else None)

    def end_epoch(self, epoch: int, val_loss: float | None) -> EpochDecision:
        """Apply the rules after 0-based ``epoch``; ``val_loss`` None when there is no validation."""
        decision = EpochDecision()
        if self.step_decay and (epoch + 1) % self.step_period == 0:
            self.schedule.factor *= self.step_factor
            decision.reduced_to = self.schedule.factor * self.schedule.base
            decision.reduction_reason = "step decay"
        if val_loss is None or not math.isfinite(val_loss):
            return decision
        improved = val_loss < self.best_val
        if self.checkpoint_every and improved and (epoch + 1) % self.checkpoint_every == 0:
            decision.save_checkpoint = True
        if improved:
            self.best_val, self.early_wait = val_loss, 0
        else:
            self.early_wait += 1
            if self.early_stop and self.early_wait >= self.early_patience:
                decision.stop, decision.stop_reason = True, f"val_loss has not improved for {self.early_wait} epochs"
        if self.plateau:
            self._plateau(val_loss, decision)
        return decision

    def _plateau(self, val_loss: float, decision: EpochDecision) -> None:
        if self.cooldown > 0:
            self.cooldown -= 1
            self.plateau_wait = 0
        if val_loss < self.plateau_best - PLATEAU_MIN_DELTA:
            self.plateau_best, self.plateau_wait = val_loss, 0
            return
        if self.cooldown > 0:
            return
        self.plateau_wait += 1
        if self.plateau_wait >= self.plateau_patience:
            current = self.schedule.base * self.schedule.factor
            if current > MIN_LEARNING_RATE:
                new = max(current * self.plateau_factor, MIN_LEARNING_RATE)
                self.schedule.factor = new / self.schedule.base
                reason = "plateau" if not decision.reduction_reason else f"{decision.reduction_reason} and plateau"
                decision.reduced_to, decision.reduction_reason = new, reason
            self.cooldown, self.plateau_wait = self.plateau_patience, 0

    #: what a checkpoint carries over: the counters; the rules themselves (patience, factors, switches)
    #: always come from the config of the run that resumes, so a changed config takes effect
    COUNTERS = ("best_val", "plateau_best", "plateau_wait", "cooldown", "early_wait")

    def state(self) -> dict:
        return {name: getattr(self, name) for name in self.COUNTERS}

    def load_state(self, state: dict) -> None:
        for name in self.COUNTERS:
            if name in state:
                setattr(self, name, state[name])
