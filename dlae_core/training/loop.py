"""The epoch loop every backend runs: steps, validation, schedule, callbacks, logs.

A backend supplies a :class:`StepEngine` (one optimisation step, one evaluation step,
setting the learning rate, saving) and iterables of batches; everything else — the
learning-rate schedule, plateau/step decay, early stopping, best checkpoints, CSV and
TensorBoard logs, progress — happens here, identically for every framework.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from collections.abc import Iterable
from typing import Protocol

import attrs

from dlae_core.errors import OutputExistsError, TrainingError
from dlae_core.running.distributed import reduced_means
from dlae_core.training.history import CsvHistory
from dlae_core.training.keep_better import KeepBetter, monitored
from dlae_core.training.progress import TrainingProgress
from dlae_core.training.saver import BackgroundSaver
from dlae_core.training.schedule import EpochRules, LearningRateSchedule
from dlae_core.training.tensorboard import TensorBoardLog, write_model_graph


class StepEngine(Protocol):
    def train_step(self, batch) -> tuple[int, dict[str, float]]:
        """One update on ``batch``; returns (batch size, {"loss": ..., monitor: ...})."""

    def eval_step(self, batch) -> tuple[int, dict[str, float]]:
        """Loss and monitors on a validation batch, no update."""

    def set_learning_rate(self, rate: float) -> None: ...

    def save(self, path: str, state: dict) -> None:
        """Write the model (and ``state``, the loop's resumable state) atomically to ``path``."""


@attrs.define
class LoopResult:
    history: list[dict]
    last_epoch: int
    stopped_early: bool = False
    notes: list[str] = attrs.field(factory=list)  # lines for the end of the run (KeepBetter)


@attrs.define
class TrainingLoop:
    """Runs epochs ``start_epoch .. epochs-1``; ``step`` counts optimizer updates so far."""

    config: object
    engine: StepEngine
    quiet: bool = False
    start_epoch: int = 0
    step: int = 0
    note: str = ""
    lines: list = attrs.field(factory=list)  # printed before the first epoch (e.g. the data's memory use)
    saver: BackgroundSaver = attrs.field(factory=BackgroundSaver)  # checkpoints written beside the next epoch
    keep: KeepBetter = attrs.field(factory=KeepBetter)  # what the save paths held before this run
    #: what watches the run (pictures, MLflow): ``epoch_end(loop, epoch, logs, checkpoint)`` after each
    #: epoch and ``end(loop, history, completed)`` once, before the TensorBoard log closes
    observers: list = attrs.field(factory=list)
    board: TensorBoardLog | None = attrs.field(default=None, init=False)
    _sample_batch: object = attrs.field(default=None, init=False)  # the batch histograms' gradients use
    schedule: LearningRateSchedule = attrs.field(init=False)
    rules: EpochRules = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        lrs = self.config.learning_rate_schedule
        self.schedule = LearningRateSchedule(lrs.learning_rate, lrs.learning_rate_decay_factor)
        self.rules = EpochRules.from_config(self.config, self.schedule)

    # -- resumable state ----------------------------------------------------------------------
    def state(self, epoch: int, logs: dict | None = None) -> dict:
        """What a model file saved after ``epoch`` carries; ``monitored``: the value it is judged by
        when a later run would replace it (keep_better)."""
        return {"epoch": epoch, "step": self.step, "lr_factor": self.schedule.factor, "rules": self.rules.state(),
                "monitored": monitored(logs)}

    def load_state(self, state: dict) -> None:
        self.schedule.factor = state.get("lr_factor", 1.0)
        self.rules.load_state(state.get("rules", {}))
        self.start_epoch, self.step = state.get("epoch", -1) + 1, state.get("step", 0)

    # -- the loop -----------------------------------------------------------------------------
    def run(self, train_batches, validation_batches=None, *, set_epoch=None) -> LoopResult:
        cfg, save = self.config.training_configurations, self.config.save_configurations
        csv = (CsvHistory(save.save_csv_path, append=self.start_epoch > 0, from_epoch=self.start_epoch)
               if save.save_csv_switch else None)
        board = self.board = (TensorBoardLog(save.save_tensorboard_path, fresh=self.start_epoch == 0)
                              if save.save_tensorboard_switch else None)
        history, epoch, stopped, completed = [], self.start_epoch - 1, False, False
        try:
            with TrainingProgress(cfg.epochs, quiet=self.quiet) as progress:
                epoch, stopped = self._epochs(train_batches, validation_batches, set_epoch, progress, csv, history)
            self.saver.wait()  # the last checkpoint is on disk before the final model is written
            self.save_final_model(epoch, history[-1] if history else None)
            completed = True
        finally:
            self.saver.wait(raise_error=completed)
            for observer in self.observers:
                observer.end(self, history, completed)
            if board is not None:
                board.close()
        return LoopResult(history, epoch, stopped, self.keep.notes)

    def _epochs(self, train_batches, validation_batches, set_epoch, progress, csv, history) -> tuple[int, bool]:
        """Run the epochs; (last epoch run, stopped early)."""
        cfg, board = self.config.training_configurations, self.board
        epoch, stopped = self.start_epoch - 1, False
        for line in filter(None, self.lines):
            progress.message(line)
        if self.note:
            progress.message(f"note: {self.note}")
        if board is not None and self.start_epoch == 0:  # a continued log has the graph already
            graph_note = write_model_graph(board, self.engine)
            if graph_note:
                progress.message(f"note: {graph_note}")
        for epoch in range(self.start_epoch, cfg.epochs):
            if set_epoch is not None:
                set_epoch(epoch)
            logs = self._train_epoch(train_batches, epoch, progress)
            if validation_batches is not None:
                logs.update({f"val_{k}": v for k, v in self._evaluate(validation_batches).items()})
                check_validation_loss(epoch, logs)
            decision = self.rules.end_epoch(epoch, logs.get("val_loss"))
            logs["lr"] = self.schedule.rate(self.step)
            if csv is not None:
                csv.write(epoch, logs)
            if board is not None:
                board.add_scalars(epoch, logs)
                self._histograms(epoch)
            history.append(logs)
            progress.end_epoch(epoch, logs, self._after_epoch(epoch, decision, logs, progress))
            for observer in self.observers:
                observer.epoch_end(self, epoch, logs, decision.save_checkpoint)
            if decision.stop:
                stopped = True
                break
        return epoch, stopped

    @property
    def _wants_sample(self) -> bool:
        return self.board is not None and bool(self.config.save_configurations.save_tensorboard_frequency)

    def _histograms(self, epoch: int) -> None:
        """Weights and gradients every ``save_tensorboard_frequency`` epochs (0: never), from the
        backend when it can give them (Backend.parameter_histograms)."""
        frequency = self.config.save_configurations.save_tensorboard_frequency
        backend = getattr(self.engine, "backend", None)
        if not frequency or (epoch + 1) % frequency or backend is None:
            return
        self.board.add_histograms(epoch, backend.parameter_histograms(self.engine, self._sample_batch))

    def save_final_model(self, epoch: int, logs: dict | None = None) -> None:
        """The final model at save_model_path (beside it when the model there is better: keep_better)."""
        save = self.config.save_configurations
        if save.save_model_switch:
            state = self.state(epoch, logs)
            save_or_rescue(self.engine, self.keep.final_model_path(save.save_model_path, state["monitored"]), state)

    def _train_epoch(self, batches: Iterable, epoch: int, progress: TrainingProgress) -> dict:
        totals, count = {}, 0
        progress.start_epoch(epoch, len(batches), first=epoch)
        ready = time.perf_counter()
        for batch in batches:
            fetched = time.perf_counter()
            self.engine.set_learning_rate(self.schedule.rate(self.step))
            n, values = self.engine.train_step(batch)
            if self._wants_sample and not getattr(getattr(self.engine, "data", None), "on_device", False):
                self._sample_batch = batch  # finished samples (on-device augmentation: raw ones)
            self.step += 1
            count += n
            for key, value in values.items():
                totals[key] = totals.get(key, 0.0) + value * n
            done = time.perf_counter()
            progress.step(n, fetched - ready, done - fetched, {k: v / count for k, v in totals.items()})
            ready = done
        return reduced_means(self._collective, totals, count)  # over every process of a data-parallel run

    def _evaluate(self, batches: Iterable) -> dict:
        totals, count = {}, 0
        for index, batch in enumerate(batches):
            if index == 0 and self._wants_sample:
                self._sample_batch = batch  # preferred: the same batch every time
            n, values = self.engine.eval_step(batch)
            count += n
            for key, value in values.items():
                totals[key] = totals.get(key, 0.0) + value * n
        return reduced_means(self._collective, totals, count)

    @property
    def _collective(self):
        """The processes' reductions of a data-parallel run (None in one process)."""
        return getattr(self.engine, "collective", None)

    def _after_epoch(self, epoch: int, decision, logs: dict, progress: TrainingProgress) -> str:
        notes = []
        if decision.save_checkpoint:
            path, state = self.config.save_configurations.save_checkpoints_path, self.state(epoch, logs)
            self.saver.wait()  # the previous checkpoint is on disk before keep_better looks at the file
            moved = self.keep.before_checkpoint(path, state["monitored"])
            if moved:
                progress.message(f"note: {moved}")
            self.saver.save(self.engine, path, state)
            notes.append("checkpoint saved")
        if decision.reduced_to is not None:
            notes.append(f"{decision.reduction_reason}: learning rate {decision.reduced_to:.3g}")
        if decision.stop:
            notes.append(f"early stop: {decision.stop_reason}")
        return ", ".join(notes)


def check_validation_loss(epoch: int, logs: dict) -> None:
    """TrainingError when the validation loss is NaN or infinite (no checkpoint, plateau or early
    stopping could ever act on it again), in the words of a non-finite training loss."""
    value = logs.get("val_loss")
    if value is not None and not math.isfinite(value):
        raise TrainingError(f"the validation loss became {value} in epoch {epoch + 1}; lower "
                            f"learning_rate_schedule.learning_rate, check the data normalization, or check the "
                            f"validation data for NaN or Inf values (dlae validate reads only a few samples of each)")


def save_or_rescue(engine, path: str, state: dict) -> None:
    """Save the final model at ``path``; when that fails (the folder went away, the disk is full,
    permissions changed during training) save it in the working directory instead and say where,
    so a finished training is never lost."""
    try:
        engine.save(path, state)
    except OSError as exc:
        rescue = Path.cwd() / f"dlae_rescued_{os.getpid()}_{Path(path).name}"
        engine.save(str(rescue), state)
        raise OutputExistsError(f"could not write the final model to {path!r} ({exc.strerror or exc}); it was "
                                f"saved to {str(rescue)!r} instead") from None
