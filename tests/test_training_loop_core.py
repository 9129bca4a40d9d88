"""The core epoch loop (dlae_core.training.loop.TrainingLoop) driven by a fake step engine.

No framework is imported: :class:`FakeEngine` implements the ``StepEngine`` protocol with scripted
per-epoch losses, records every learning rate it is given and every save (path and loop state, the
latter round-tripped through JSON as the TensorFlow model file stores it), and writes the state as a
small JSON file. Configs are parsed from small typed config dicts with the built-in registry, so the
config keys themselves (``learning_rate_schedule``, ``training_configurations``,
``save_configurations``) are what these tests exercise.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from dlae_core.config.parser import parse_config
from dlae_core.training.history import read_history
from dlae_core.training.loop import TrainingLoop
from dlae_core.training.schedule import MIN_LEARNING_RATE

# A batch is (number of samples, offset added to the epoch's scripted loss), so the epoch means
# the loop computes from the steps are known exactly.
TWO_BATCHES = [(2, 0.0), (2, 0.0)]
ONE_BATCH = [(1, 0.0)]


class FakeEngine:
    """A StepEngine whose losses are scripted per epoch (the loop tells it the epoch via set_epoch)."""

    def __init__(self, val_losses=None, *, train_losses=None, val_accuracy=None, write_files=True):
        self.val_losses = list(val_losses) if val_losses is not None else None
        self.train_losses = train_losses
        self.val_accuracy = val_accuracy
        self.write_files = write_files
        self.epoch = None
        self.epochs_seen: list[int] = []
        self.rates: list[float] = []  # every rate passed to set_learning_rate, in order
        self.rate_epochs: list[int] = []  # the epoch each of those rates was set in
        self.saves: list[tuple[str, dict]] = []

    # -- the StepEngine protocol -------------------------------------------------------------
    def set_learning_rate(self, rate: float) -> None:
        self.rates.append(rate)
        self.rate_epochs.append(self.epoch)

    def train_step(self, batch):
        n, offset = batch
        loss = (self.train_losses[self.epoch] if self.train_losses is not None else 1.0) + offset
        return n, {"loss": loss, "accuracy": 0.5 + offset}

    def eval_step(self, batch):
        n, offset = batch
        accuracy = self.val_accuracy[self.epoch] if self.val_accuracy is not None else 0.25
        return n, {"loss": self.val_losses[self.epoch] + offset, "accuracy": accuracy + offset}

    def save(self, path: str, state: dict) -> None:
        text = json.dumps(state)  # as the TensorFlow backend stores it (inf -> Infinity)
        self.saves.append((path, json.loads(text)))
        if self.write_files:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")

    # -- helpers -----------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.epochs_seen.append(epoch)

    def rates_by_epoch(self) -> dict[int, list[float]]:
        out: dict[int, list[float]] = {}
        for epoch, rate in zip(self.rate_epochs, self.rates):
            out.setdefault(epoch, []).append(rate)
        return out


@pytest.fixture
def make_config(registry, minimal_typed_config):
    """``make_config(section={key: value}, ...)`` -> a parsed Config; the plateau and early stopping
    (both on by default) are off unless a test turns them on."""

    def make(**sections):
        base = {
            "learning_rate_schedule": {"learning_rate": 0.1, "decay_on_plateau_switch": False},
            "training_configurations": {"epochs": 5, "early_stop_switch": False},
        }
        for name, values in sections.items():
            base.setdefault(name, {}).update(values)
        return parse_config(minimal_typed_config(**base), registry)

    return make


def run_loop(config, engine, train=TWO_BATCHES, validation=TWO_BATCHES, state=None):
    loop = TrainingLoop(config, engine, quiet=True)
    if state is not None:
        loop.load_state(state)
    result = loop.run(list(train), None if validation is None else list(validation), set_epoch=engine.set_epoch)
    return loop, result


# ---------------------------------------------------------------------------------------------
# epoch logs
# ---------------------------------------------------------------------------------------------
def test_epoch_logs_are_sample_weighted_means_with_val_prefix_and_next_rate(make_config):
    config = make_config(training_configurations={"epochs": 2})
    engine = FakeEngine([0.5, 0.25], train_losses=[1.0, 2.0])
    # train: 3 samples at loss+0 and 1 sample at loss+0.4 -> mean loss + 0.1, accuracy 0.6
    # validation: 1 sample at -0.2 and 3 samples at +0.2 -> mean val_loss + 0.1, accuracy 0.25 + 0.1
    loop, result = run_loop(config, engine, train=[(3, 0.0), (1, 0.4)], validation=[(1, -0.2), (3, 0.2)])
    assert [list(logs) for logs in result.history] == [["loss", "accuracy", "val_loss", "val_accuracy", "lr"]] * 2
    assert [logs["loss"] for logs in result.history] == pytest.approx([1.1, 2.1], abs=1e-12)
    assert [logs["accuracy"] for logs in result.history] == pytest.approx([0.6, 0.6], abs=1e-12)
    assert [logs["val_loss"] for logs in result.history] == pytest.approx([0.6, 0.35], abs=1e-12)
    assert [logs["val_accuracy"] for logs in result.history] == pytest.approx([0.35, 0.35], abs=1e-12)
    assert [logs["lr"] for logs in result.history] == [0.1, 0.1]
    assert engine.epochs_seen == [0, 1]
    assert loop.step == 4 and len(engine.rates) == 4
    assert result.last_epoch == 1 and result.stopped_early is False


def test_without_validation_the_logs_hold_no_val_keys(make_config):
    engine = FakeEngine(None)
    _, result = run_loop(make_config(training_configurations={"epochs": 3}), engine, validation=None)
    assert [list(logs) for logs in result.history] == [["loss", "accuracy", "lr"]] * 3
    assert result.last_epoch == 2 and not result.stopped_early


# ---------------------------------------------------------------------------------------------
# early stopping (monitor val_loss, mode min, min delta 0)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("val_losses, patience, stop_epoch", [
    # an equal val_loss is no improvement (min delta 0, strict <)
    ([1.0, 0.8, 0.8, 0.9, 0.5, 0.4, 0.3, 0.2], 2, 3),
    # any improvement, however small, resets the wait
    ([1.0, 0.8, 0.79999999, 0.8, 0.8, 0.1, 0.1, 0.1], 2, 4),
    # an improvement in the middle of the wait starts it over
    ([3.0, 2.0, 1.0, 1.5, 0.9, 1.2, 1.1, 1.0, 0.95, 0.1], 3, 7),
    # patience 0: the first epoch without improvement stops (Keras: wait 1 >= 0)
    ([1.0, 2.0, 0.5, 0.4], 0, 1),
    # patience 1
    ([5.0, 4.0, 3.0, 3.0, 1.0], 1, 3),
])
def test_early_stopping_stops_at_the_expected_epoch(make_config, val_losses, patience, stop_epoch):
    config = make_config(training_configurations={"epochs": len(val_losses), "early_stop_switch": True,
                                                  "early_stop_patience": patience})
    engine = FakeEngine(val_losses)
    loop, result = run_loop(config, engine)
    assert result.stopped_early is True
    assert result.last_epoch == stop_epoch
    assert len(result.history) == stop_epoch + 1
    assert [logs["val_loss"] for logs in result.history] == val_losses[:stop_epoch + 1]
    assert engine.epochs_seen == list(range(stop_epoch + 1))
    assert loop.step == 2 * (stop_epoch + 1)
    assert loop.rules.early_wait == max(patience, 1)


def test_early_stopping_watches_val_loss_only(make_config):
    epochs = 6
    config = make_config(training_configurations={"epochs": epochs, "early_stop_switch": True,
                                                  "early_stop_patience": 2})
    # val_loss flat while the training loss and val_accuracy improve: stops after 2 epochs of waiting
    flat = FakeEngine([1.0] * epochs, train_losses=[5.0, 4.0, 3.0, 2.0, 1.0, 0.5],
                      val_accuracy=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    _, result = run_loop(config, flat)
    assert (result.stopped_early, result.last_epoch, len(result.history)) == (True, 2, 3)
    # val_loss improving while the training loss gets worse: never stops
    improving = FakeEngine([1.0, 0.9, 0.8, 0.7, 0.6, 0.5], train_losses=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                           val_accuracy=[0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    _, result = run_loop(config, improving)
    assert (result.stopped_early, result.last_epoch, len(result.history)) == (False, epochs - 1, epochs)


@pytest.mark.parametrize("switch, validation", [(False, TWO_BATCHES), (True, None)])
def test_early_stopping_is_inert_when_off_or_without_validation(make_config, switch, validation):
    config = make_config(training_configurations={"epochs": 6, "early_stop_switch": switch,
                                                  "early_stop_patience": 1})
    engine = FakeEngine([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    _, result = run_loop(config, engine, validation=validation)
    assert (result.stopped_early, result.last_epoch, len(result.history)) == (False, 5, 6)
    assert engine.epochs_seen == [0, 1, 2, 3, 4, 5]


# ---------------------------------------------------------------------------------------------
# learning-rate schedules: the exact rates given to set_learning_rate
# ---------------------------------------------------------------------------------------------
def test_constant_rate_without_any_schedule(make_config):
    config = make_config(learning_rate_schedule={"learning_rate": 0.003}, training_configurations={"epochs": 3})
    engine = FakeEngine([3.0, 3.0, 3.0])  # no improvement, but the plateau is off
    _, result = run_loop(config, engine)
    assert engine.rates == [0.003] * 6
    assert [logs["lr"] for logs in result.history] == [0.003] * 3


def test_inverse_time_decay_per_update_step(make_config):
    config = make_config(learning_rate_schedule={"learning_rate": 0.1, "learning_rate_decay_factor": 0.5},
                         training_configurations={"epochs": 2})
    engine = FakeEngine([1.0, 0.9])
    loop, result = run_loop(config, engine, train=[(1, 0.0)] * 3)
    # lr_t = 0.1 / (1 + 0.5 t), t = updates done before this one: 0.1, 0.0667, 0.05, 0.04, 0.0333, 0.0286
    assert engine.rates == pytest.approx([0.1 / (1 + 0.5 * t) for t in range(6)], rel=1e-12)
    assert engine.rates[0] == 0.1 and engine.rates[2] == pytest.approx(0.05, rel=1e-12)
    assert loop.step == 6
    # the logged lr is the rate of the next update (t = 3 after epoch 0, t = 6 after epoch 1)
    assert [logs["lr"] for logs in result.history] == pytest.approx([0.1 / 2.5, 0.1 / 4.0], rel=1e-12)


def test_inverse_time_decay_is_floored_at_the_minimum_rate(make_config):
    config = make_config(learning_rate_schedule={"learning_rate": 1e-6, "learning_rate_decay_factor": 10000.0},
                         training_configurations={"epochs": 1})
    engine = FakeEngine([1.0])
    run_loop(config, engine, train=[(1, 0.0)] * 3)
    # 1e-6 / 10001 would be ~1e-10; the rate never goes below 1e-9
    assert engine.rates == [1e-6, MIN_LEARNING_RATE, MIN_LEARNING_RATE]


def test_step_decay_multiplies_the_rate_every_period_epochs(make_config):
    config = make_config(learning_rate_schedule={"learning_rate": 1.0, "step_decay_switch": True,
                                                 "step_decay_factor": 0.5, "step_decay_period": 2},
                         training_configurations={"epochs": 7})
    engine = FakeEngine(None)
    loop, result = run_loop(config, engine, train=ONE_BATCH, validation=None)  # needs no validation
    # reductions after epochs 1, 3, 5 (1-based epochs 2, 4, 6)
    assert engine.rates == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    assert [logs["lr"] for logs in result.history] == [1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    assert loop.schedule.factor == 0.125


def test_step_decay_combines_with_inverse_time_decay(make_config):
    config = make_config(learning_rate_schedule={"learning_rate": 0.2, "learning_rate_decay_factor": 0.1,
                                                 "step_decay_switch": True, "step_decay_factor": 0.1,
                                                 "step_decay_period": 3},
                         training_configurations={"epochs": 4})
    engine = FakeEngine([1.0] * 4)
    run_loop(config, engine)  # 2 updates per epoch; reduction after epoch index 2
    expected = [0.2 * (0.1 if t >= 6 else 1.0) / (1 + 0.1 * t) for t in range(8)]
    assert engine.rates == pytest.approx(expected, rel=1e-12)
    assert engine.rates[6] == pytest.approx(0.02 / 1.6, rel=1e-12)


def test_reduce_on_plateau_with_patience_and_cooldown(make_config):
    config = make_config(learning_rate_schedule={"learning_rate": 1.0, "decay_on_plateau_switch": True,
                                                 "decay_on_plateau_factor": 0.5, "decay_on_plateau_patience": 2},
                         training_configurations={"epochs": 10})
    engine = FakeEngine([1.0] * 10)
    loop, result = run_loop(config, engine, train=ONE_BATCH)
    # epoch 0 sets the best; epochs 1, 2 wait -> reduce after epoch 2; cooldown of 2 epochs (3, 4), in which the
    # wait stays 0 (Keras: epoch 4 leaves the cooldown and already counts) -> wait 1 at 4, reduce after 5, ...
    assert engine.rates == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
    assert [logs["lr"] for logs in result.history] == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125]
    assert (loop.rules.cooldown, loop.rules.plateau_wait) == (1, 0)


def test_an_improvement_resets_the_plateau_wait(make_config):
    config = make_config(learning_rate_schedule={"learning_rate": 1.0, "decay_on_plateau_switch": True,
                                                 "decay_on_plateau_factor": 0.1, "decay_on_plateau_patience": 2},
                         training_configurations={"epochs": 7})
    engine = FakeEngine([1.0, 1.0, 0.5, 0.5, 0.4, 0.4, 0.4])
    loop, _ = run_loop(config, engine, train=ONE_BATCH)
    # waits: e1 1, e2 improved -> 0, e3 1, e4 improved -> 0, e5 1, e6 2 -> reduce after epoch 6 only
    assert engine.rates == [1.0] * 7
    assert loop.schedule.factor == pytest.approx(0.1, rel=1e-12)


def test_plateau_min_delta_is_1e4_while_early_stopping_min_delta_is_0(make_config):
    config = make_config(learning_rate_schedule={"learning_rate": 1.0, "decay_on_plateau_switch": True,
                                                 "decay_on_plateau_factor": 0.5, "decay_on_plateau_patience": 2},
                         training_configurations={"epochs": 4, "early_stop_switch": True, "early_stop_patience": 2})
    # each epoch improves by 3e-5 < 1e-4: a plateau for the reduction, an improvement for early stopping
    engine = FakeEngine([1.0, 0.99997, 0.99994, 0.99991])
    loop, result = run_loop(config, engine, train=ONE_BATCH)
    assert engine.rates == [1.0, 1.0, 1.0, 0.5]
    assert result.stopped_early is False and result.last_epoch == 3
    assert loop.rules.early_wait == 0 and loop.rules.best_val == 0.99991
    assert loop.rules.plateau_best == 1.0


def test_plateau_reductions_stop_at_the_minimum_rate(make_config):
    config = make_config(learning_rate_schedule={"learning_rate": 1e-8, "decay_on_plateau_switch": True,
                                                 "decay_on_plateau_factor": 0.01, "decay_on_plateau_patience": 1},
                         training_configurations={"epochs": 6})
    engine = FakeEngine([1.0] * 6)
    run_loop(config, engine, train=ONE_BATCH)
    # 1e-8 * 0.01 = 1e-10 is raised to the 1e-9 floor; further plateaus change nothing
    assert engine.rates[:2] == [1e-8, 1e-8]
    assert engine.rates[2:] == pytest.approx([1e-9] * 4, rel=1e-9)
    assert min(engine.rates) >= MIN_LEARNING_RATE * (1 - 1e-12)


@pytest.mark.parametrize("validation", [None, TWO_BATCHES])
def test_plateau_is_inert_without_validation_or_when_off(make_config, validation):
    switch = validation is None  # on without validation data, off with validation data
    config = make_config(learning_rate_schedule={"learning_rate": 0.01, "decay_on_plateau_switch": switch,
                                                 "decay_on_plateau_factor": 0.5, "decay_on_plateau_patience": 1},
                         training_configurations={"epochs": 5})
    engine = FakeEngine([1.0] * 5)
    run_loop(config, engine, train=ONE_BATCH, validation=validation)
    assert engine.rates == [0.01] * 5


def test_plateau_and_step_decay_reductions_multiply(make_config):
    config = make_config(learning_rate_schedule={"learning_rate": 1.0, "decay_on_plateau_switch": True,
                                                 "decay_on_plateau_factor": 0.5, "decay_on_plateau_patience": 2,
                                                 "step_decay_switch": True, "step_decay_factor": 0.1,
                                                 "step_decay_period": 2},
                         training_configurations={"epochs": 5})
    engine = FakeEngine([1.0] * 5)
    loop, _ = run_loop(config, engine, train=ONE_BATCH)
    # step decay after epochs 1 and 3; plateau after epoch 2 (halving the already step-decayed rate)
    assert engine.rates == pytest.approx([1.0, 1.0, 0.1, 0.05, 0.005], rel=1e-12)
    assert loop.schedule.factor == pytest.approx(0.005, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# checkpoints (save best only on val_loss, checked every save_checkpoints_frequency epochs) and the final model
# ---------------------------------------------------------------------------------------------
def _checkpoint_config(make_config, tmp_path, frequency, epochs, **save):
    return make_config(training_configurations={"epochs": epochs},
                       save_configurations={"save_checkpoints_switch": True, "save_checkpoints_frequency": frequency,
                                            "save_checkpoints_path": str(tmp_path / "ckpt" / "best.json"), **save})


@pytest.mark.parametrize("frequency, val_losses, saved_epochs", [
    (1, [3.0, 2.0, 2.5, 1.0, 1.0, 0.5], [0, 1, 3, 5]),
    # every 2nd epoch (indices 1, 3, 5) and only if val_loss improved on the best so far
    (2, [3.0, 2.0, 2.5, 1.0, 1.5, 0.5], [1, 3, 5]),
    (2, [3.0, 2.0, 1.0, 4.0, 5.0, 0.5], [1, 5]),
    (3, [3.0, 2.0, 1.0, 0.9, 0.8, 0.7], [2, 5]),
])
def test_checkpoints_on_improvement_at_the_configured_cadence(make_config, tmp_path, frequency, val_losses,
                                                              saved_epochs):
    config = _checkpoint_config(make_config, tmp_path, frequency, len(val_losses))
    engine = FakeEngine(val_losses)
    run_loop(config, engine)
    path = str(tmp_path / "ckpt" / "best.json")
    assert [p for p, _ in engine.saves] == [path] * len(saved_epochs)
    assert [state["epoch"] for _, state in engine.saves] == saved_epochs
    assert [state["step"] for _, state in engine.saves] == [2 * (e + 1) for e in saved_epochs]
    assert [state["rules"]["best_val"] for _, state in engine.saves] == [val_losses[e] for e in saved_epochs]
    # one file, overwritten: it holds the last saved state
    assert json.loads(Path(path).read_text())["epoch"] == saved_epochs[-1]


@pytest.mark.parametrize("switch, validation", [(False, TWO_BATCHES), (True, None)])
def test_no_checkpoints_when_off_or_without_validation(make_config, tmp_path, switch, validation):
    config = make_config(training_configurations={"epochs": 3},
                         save_configurations={"save_checkpoints_switch": switch,
                                              "save_checkpoints_path": str(tmp_path / "best.json")})
    engine = FakeEngine([3.0, 2.0, 1.0])
    run_loop(config, engine, validation=validation)
    assert engine.saves == []
    assert not (tmp_path / "best.json").exists()


def test_the_final_model_is_saved_after_the_last_epoch_and_after_an_early_stop(make_config, tmp_path):
    model = str(tmp_path / "out" / "model.json")
    config = _checkpoint_config(make_config, tmp_path, 1, 8, save_model_switch=True, save_model_path=model)
    config = config.evolve(training_configurations={"early_stop_switch": True, "early_stop_patience": 2})
    engine = FakeEngine([2.0, 1.0, 1.5, 1.6, 0.1, 0.1, 0.1, 0.1])
    _, result = run_loop(config, engine)
    assert result.stopped_early and result.last_epoch == 3
    ckpt = str(tmp_path / "ckpt" / "best.json")
    assert [(p, s["epoch"]) for p, s in engine.saves] == [(ckpt, 0), (ckpt, 1), (model, 3)]
    final = engine.saves[-1][1]
    assert (final["epoch"], final["step"], final["rules"]["early_wait"]) == (3, 8, 2)
    assert json.loads(Path(model).read_text()) == final

    engine = FakeEngine([2.0, 1.0, 0.5])
    run_loop(config.evolve(training_configurations={"epochs": 3}), engine)
    assert [(p, s["epoch"]) for p, s in engine.saves][-1] == (model, 2)


def test_no_final_model_when_save_model_is_off(make_config, tmp_path):
    config = make_config(save_configurations={"save_model_switch": False,
                                              "save_model_path": str(tmp_path / "model.json")})
    engine = FakeEngine([1.0] * 5)
    run_loop(config, engine)
    assert engine.saves == [] and not (tmp_path / "model.json").exists()


# ---------------------------------------------------------------------------------------------
# resumable state
# ---------------------------------------------------------------------------------------------
# 14 epochs at most; plateau (patience 2, factor 0.5) reduces after epochs 3, 6 and 10, step decay (x0.9 every
# 4 epochs) after 3, 7 and 11, early stopping (patience 4) stops at epoch 12; inverse-time decay throughout.
RESUME_VAL = [1.0, 0.9, 0.95, 0.93, 0.85, 0.86, 0.87, 0.88, 0.84, 0.845, 0.846, 0.847, 0.85, 0.1]
RESUME_STOP = 12


def _resume_config(make_config, folder: Path, epochs: int):
    return make_config(
        learning_rate_schedule={"learning_rate": 0.1, "learning_rate_decay_factor": 0.05,
                                "decay_on_plateau_switch": True, "decay_on_plateau_factor": 0.5,
                                "decay_on_plateau_patience": 2, "step_decay_switch": True,
                                "step_decay_factor": 0.9, "step_decay_period": 4},
        training_configurations={"epochs": epochs, "early_stop_switch": True, "early_stop_patience": 4},
        save_configurations={"save_csv_switch": True, "save_csv_path": str(folder / "history.csv"),
                             "save_checkpoints_switch": True, "save_checkpoints_path": str(folder / "best.json"),
                             "save_model_switch": True, "save_model_path": str(folder / "model.json")})


def _uninterrupted(make_config, folder: Path):
    engine = FakeEngine(RESUME_VAL)
    loop, result = run_loop(_resume_config(make_config, folder, len(RESUME_VAL)), engine)
    return engine, loop, result


def test_the_uninterrupted_reference_run(make_config, tmp_path):
    engine, loop, result = _uninterrupted(make_config, tmp_path)
    assert (result.stopped_early, result.last_epoch, loop.step) == (True, RESUME_STOP, 2 * (RESUME_STOP + 1))
    first = engine.rates_by_epoch()
    factors = {0: 1.0, 4: 0.5 * 0.9, 7: 0.25 * 0.9, 8: 0.25 * 0.81, 11: 0.125 * 0.81, 12: 0.125 * 0.729}
    for epoch in range(RESUME_STOP + 1):
        factor = factors[max(e for e in factors if e <= epoch)]
        expected = [0.1 * factor / (1 + 0.05 * t) for t in (2 * epoch, 2 * epoch + 1)]
        assert first[epoch] == pytest.approx(expected, rel=1e-12), epoch
    assert [s["epoch"] for p, s in engine.saves if p.endswith("best.json")] == [0, 1, 4, 8]


@pytest.mark.parametrize("split", [1, 3, 4, 5, 7, 9, 11, 12])
def test_a_run_split_in_two_matches_the_uninterrupted_run(make_config, tmp_path, split):
    whole, whole_loop, whole_result = _uninterrupted(make_config, tmp_path / "whole")

    folder = tmp_path / "split"
    first = FakeEngine(RESUME_VAL)
    loop1, result1 = run_loop(_resume_config(make_config, folder, split), first)  # epochs 0 .. split-1
    assert (result1.last_epoch, result1.stopped_early) == (split - 1, False)
    state = loop1.state(result1.last_epoch, result1.history[-1])
    assert state == first.saves[-1][1]  # the final model file carries the same state
    assert state["monitored"] == ["val_loss", RESUME_VAL[split - 1]]  # what a later run compares with
    state = json.loads((folder / "model.json").read_text())  # resume from what was written

    second = FakeEngine(RESUME_VAL)
    loop2 = TrainingLoop(_resume_config(make_config, folder, len(RESUME_VAL)), second, quiet=True)
    loop2.load_state(state)
    assert (loop2.start_epoch, loop2.step) == (split, 2 * split)
    assert loop2.schedule.factor == loop1.schedule.factor
    assert loop2.rules.state() == loop1.rules.state()
    result2 = loop2.run(list(TWO_BATCHES), list(TWO_BATCHES), set_epoch=second.set_epoch)

    assert second.epochs_seen == list(range(split, RESUME_STOP + 1))
    assert first.rates + second.rates == whole.rates
    assert result1.history + result2.history == whole_result.history
    assert (result2.last_epoch, result2.stopped_early) == (whole_result.last_epoch, True)
    assert loop2.step == whole_loop.step
    assert loop2.rules.state() == whole_loop.rules.state()
    saved = [(Path(p).name, s) for p, s in first.saves + second.saves if p.endswith("best.json")]
    assert saved == [(Path(p).name, s) for p, s in whole.saves if p.endswith("best.json")]
    # the CSV appended by the second half equals the uninterrupted run's, byte for byte
    assert (folder / "history.csv").read_text() == (tmp_path / "whole" / "history.csv").read_text()


def test_resuming_from_the_best_checkpoint_restores_its_epoch_step_and_counters(make_config, tmp_path):
    engine, loop, _ = _uninterrupted(make_config, tmp_path)
    state = json.loads((tmp_path / "best.json").read_text())  # last written: epoch 8
    resumed = TrainingLoop(_resume_config(make_config, tmp_path, len(RESUME_VAL)), FakeEngine(RESUME_VAL), quiet=True)
    resumed.load_state(state)
    assert (resumed.start_epoch, resumed.step) == (9, 18)
    assert resumed.schedule.factor == pytest.approx(0.25 * 0.81, rel=1e-12)
    rules = resumed.rules
    assert (rules.best_val, rules.early_wait, rules.plateau_best, rules.plateau_wait, rules.cooldown) == \
        (0.84, 0, 0.84, 0, 0)
    # the rate of its first update continues the inverse-time decay at t = 18
    assert resumed.schedule.rate(resumed.step) == pytest.approx(0.1 * 0.25 * 0.81 / (1 + 0.05 * 18), rel=1e-12)


def test_state_mid_plateau_keeps_the_waits(make_config, tmp_path):
    _, loop, _ = _uninterrupted(make_config, tmp_path)
    # after the stop at epoch 12: early wait 4 (epochs 9-12), cooldown 0 and plateau wait 1
    state = loop.state(RESUME_STOP)
    assert state["epoch"] == RESUME_STOP and state["step"] == 26
    assert state["lr_factor"] == pytest.approx(0.125 * 0.729, rel=1e-12)
    assert {k: state["rules"][k] for k in ("best_val", "early_wait", "plateau_wait", "cooldown")} == \
        {"best_val": 0.84, "early_wait": 4, "plateau_wait": 1, "cooldown": 0}


def test_load_state_of_an_empty_state_starts_fresh(make_config):
    loop = TrainingLoop(make_config(), FakeEngine([1.0] * 5), quiet=True)
    loop.load_state({})
    assert (loop.start_epoch, loop.step, loop.schedule.factor) == (0, 0, 1.0)
    assert loop.rules.best_val == math.inf and loop.rules.early_wait == 0


def test_resuming_after_the_last_epoch_trains_nothing(make_config, tmp_path):
    config = make_config(training_configurations={"epochs": 3},
                         save_configurations={"save_model_switch": True,
                                              "save_model_path": str(tmp_path / "model.json")})
    engine = FakeEngine([1.0] * 3)
    _, result = run_loop(config, engine, state={"epoch": 2, "step": 6, "lr_factor": 0.5})
    assert result.history == [] and result.last_epoch == 2 and not result.stopped_early
    assert engine.rates == [] and engine.epochs_seen == []
    assert [(s["epoch"], s["step"], s["lr_factor"]) for _, s in engine.saves] == [(2, 6, 0.5)]


# ---------------------------------------------------------------------------------------------
# CSV history
# ---------------------------------------------------------------------------------------------
def _csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_csv_history_columns_and_values(make_config, tmp_path):
    path = tmp_path / "logs" / "history.csv"  # the folder is created
    config = make_config(learning_rate_schedule={"learning_rate": 0.5, "step_decay_switch": True,
                                                 "step_decay_factor": 0.5, "step_decay_period": 2},
                         training_configurations={"epochs": 3},
                         save_configurations={"save_csv_switch": True, "save_csv_path": str(path)})
    engine = FakeEngine([0.75, 0.5, 0.25], train_losses=[2.0, 1.5, 1.0], val_accuracy=[0.25, 0.5, 0.75])
    run_loop(config, engine)
    assert _csv_rows(path) == [
        ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"],
        ["0", "2.0", "0.5", "0.75", "0.25", "0.5"],
        ["1", "1.5", "0.5", "0.5", "0.5", "0.25"],
        ["2", "1.0", "0.5", "0.25", "0.75", "0.25"],
    ]
    assert read_history(path)[1] == {"epoch": 1.0, "loss": 1.5, "accuracy": 0.5, "val_loss": 0.5,
                                     "val_accuracy": 0.5, "lr": 0.25}


def test_csv_without_validation_has_training_columns_only(make_config, tmp_path):
    path = tmp_path / "history.csv"
    config = make_config(training_configurations={"epochs": 2},
                         save_configurations={"save_csv_switch": True, "save_csv_path": str(path)})
    run_loop(config, FakeEngine(None, train_losses=[3.0, 2.0]), validation=None)
    assert _csv_rows(path) == [["epoch", "loss", "accuracy", "lr"], ["0", "3.0", "0.5", "0.1"],
                               ["1", "2.0", "0.5", "0.1"]]


def test_csv_appends_on_resume_and_a_fresh_run_overwrites(make_config, tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,stale\n0,9.0\n")
    config = make_config(training_configurations={"epochs": 2},
                         save_configurations={"save_csv_switch": True, "save_csv_path": str(path)})
    first = FakeEngine([0.5, 0.4, 0.3, 0.2], train_losses=[4.0, 3.0, 2.0, 1.0])
    loop, result = run_loop(config, first)  # start_epoch 0: the stale file is replaced
    assert _csv_rows(path)[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert [row[0] for row in _csv_rows(path)[1:]] == ["0", "1"]

    second = FakeEngine([0.5, 0.4, 0.3, 0.2], train_losses=[4.0, 3.0, 2.0, 1.0])
    run_loop(config.evolve(training_configurations={"epochs": 4}), second, state=loop.state(result.last_epoch))
    rows = _csv_rows(path)
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert [row[:2] for row in rows[1:]] == [["0", "4.0"], ["1", "3.0"], ["2", "2.0"], ["3", "1.0"]]
    assert [row[3] for row in rows[1:]] == ["0.5", "0.4", "0.3", "0.2"]
    assert sum(row[0] == "epoch" for row in rows) == 1


def test_resume_appends_in_the_columns_of_the_existing_header(make_config, tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,val_loss,loss\n0,0.9,2.0\n")  # columns fixed by the first run
    config = make_config(training_configurations={"epochs": 2},
                         save_configurations={"save_csv_switch": True, "save_csv_path": str(path)})
    run_loop(config, FakeEngine([0.9, 0.7], train_losses=[2.0, 1.25]), state={"epoch": 0, "step": 2})
    assert _csv_rows(path) == [["epoch", "val_loss", "loss"], ["0", "0.9", "2.0"], ["1", "0.7", "1.25"]]


# ---------------------------------------------------------------------------------------------
# what the loop reports per epoch
# ---------------------------------------------------------------------------------------------
def test_epoch_lines_name_checkpoints_reductions_and_the_early_stop(make_config, tmp_path, capsys):
    config = make_config(learning_rate_schedule={"learning_rate": 1.0, "decay_on_plateau_switch": True,
                                                 "decay_on_plateau_factor": 0.5, "decay_on_plateau_patience": 2},
                         training_configurations={"epochs": 6, "early_stop_switch": True, "early_stop_patience": 3},
                         save_configurations={"save_checkpoints_switch": True,
                                              "save_checkpoints_path": str(tmp_path / "best.json")})
    run_loop(config, FakeEngine([1.0, 2.0, 2.0, 2.0, 0.1, 0.1]), train=ONE_BATCH)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 4
    assert lines[0].startswith("epoch 1/6: ") and lines[0].endswith("% | checkpoint saved")
    assert lines[1].startswith("epoch 2/6: ") and lines[1].endswith("%")  # nothing happened
    assert lines[2].endswith("% | plateau: learning rate 0.5")
    assert lines[3].endswith("% | early stop: val_loss has not improved for 3 epochs")


# ---------------------------------------------------------------------------------------------
# faults (issue 18): a non-finite validation loss, coinciding notes, a resume under a changed config
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_validation_loss_stops_with_a_clear_line(make_config, bad):
    from dlae_core.errors import TrainingError

    config = make_config(training_configurations={"epochs": 4})
    engine = FakeEngine([0.5, 0.4, bad, 0.3])
    with pytest.raises(TrainingError) as info:
        run_loop(config, engine)
    assert str(info.value).startswith(f"the validation loss became {bad} in epoch 3; lower "
                                      f"learning_rate_schedule.learning_rate")
    assert engine.epochs_seen == [0, 1, 2]  # nothing after the bad epoch


def test_a_reduction_and_an_early_stop_in_one_epoch_are_each_named(make_config, capsys):
    config = make_config(training_configurations={"epochs": 6, "early_stop_switch": True,
                                                  "early_stop_patience": 2},
                         learning_rate_schedule={"decay_on_plateau_switch": True, "decay_on_plateau_patience": 2})
    engine = FakeEngine([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    _, result = run_loop(config, engine)
    assert result.stopped_early and len(result.history) == 3
    err = capsys.readouterr().err
    last = [line for line in err.splitlines() if line.startswith("epoch 3/6")][0]
    assert "plateau: learning rate 0.02" in last
    assert "early stop: val_loss has not improved for 2 epochs" in last


def test_a_resumed_run_follows_its_own_config_not_the_checkpoints(make_config):
    """The counters come from the checkpoint; the rules (here: early stopping off) from the config."""
    first = make_config(training_configurations={"epochs": 3, "early_stop_switch": True, "early_stop_patience": 2})
    engine = FakeEngine([0.5, 0.6, 0.7, 0.8, 0.9])
    loop, _ = run_loop(first, engine)
    state = json.loads(json.dumps(loop.state(2)))
    assert state["rules"]["early_wait"] == 2 and "early_stop" not in state["rules"]
    relaxed = make_config(training_configurations={"epochs": 5, "early_stop_switch": False})
    engine2 = FakeEngine([0.5, 0.6, 0.7, 0.8, 0.9])
    resumed, result = run_loop(relaxed, engine2, state=state)
    assert engine2.epochs_seen == [3, 4] and not result.stopped_early
    assert resumed.rules.early_wait == 4  # the counters went on from the checkpoint


def test_resuming_from_a_lagging_checkpoint_writes_no_duplicate_rows(make_config, tmp_path):
    """The CSV has rows up to epoch 3, the checkpoint is from epoch 1: epochs 2-3 are trained again
    and written once."""
    csv_path = tmp_path / "history.csv"
    config = make_config(training_configurations={"epochs": 5},
                         save_configurations={"save_csv_switch": True, "save_csv_path": str(csv_path)})
    run_loop(make_config(training_configurations={"epochs": 4},
                         save_configurations={"save_csv_switch": True, "save_csv_path": str(csv_path)}),
             FakeEngine([0.5, 0.4, 0.3, 0.2]))
    assert [row.split(",")[0] for row in csv_path.read_text().splitlines()[1:]] == ["0", "1", "2", "3"]
    state = {"epoch": 1, "step": 4, "lr_factor": 1.0, "rules": {}}
    run_loop(config, FakeEngine([0.5, 0.4, 0.3, 0.2, 0.1]), state=state)
    assert [row.split(",")[0] for row in csv_path.read_text().splitlines()[1:]] == ["0", "1", "2", "3", "4"]
