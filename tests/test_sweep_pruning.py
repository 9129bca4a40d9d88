"""Pruning in ``dlae sweep``: a poor trial is stopped by the sweep file's Optuna pruner right after the epoch
whose value decided it (the epoch gate makes this exact however fast the epochs are), good trials complete,
and the pruned trial stays pruned when the sweep runs again."""

from __future__ import annotations

import json
import threading

import pytest

from dlae_core.experiments.results import read_history
from dlae_core.training.epoch_gate import EpochGate, release
from sweep_support import dlae, read_trials, write_base, write_sweep

optuna = pytest.importorskip("optuna")
pytest.importorskip("torch")

EPOCHS = 3
# two good rates run first and complete (the median pruner judges nothing before two trials completed);
# a rate of 1e-6 barely moves the model, so its first val_loss is far above the median of the others'
RATES = [0.01, 0.003, 1e-6]


def test_a_poor_trial_is_pruned_after_its_first_epoch(tmp_path):
    write_base(tmp_path, epochs=EPOCHS)
    sweep = write_sweep(tmp_path, search="grid", parameters={"learning_rate_schedule.learning_rate": RATES},
                        pruner={"type": "median", "n_startup_trials": 2, "n_warmup_steps": 0})
    out = tmp_path / "out"
    result = dlae("sweep", sweep, "-o", out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done: 3 of 3 trials finished" in result.stdout

    rows = read_trials(out)
    assert [(r["state"], float(r["learning_rate_schedule.learning_rate"])) for r in rows] == \
        [("complete", 0.01), ("complete", 0.003), ("pruned", 1e-6)]
    trials = optuna.load_study(study_name="sweep", storage=f"sqlite:///{out / 'sweep.db'}").get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]

    runs = [out / "runs" / row["run"].rsplit("/", 1)[-1] for row in rows]
    histories = [read_history(run / "history.csv") for run in runs]
    assert [len(h) for h in histories] == [EPOCHS, EPOCHS, 1]  # stopped before its second epoch
    assert list(trials[2].intermediate_values) == [0]  # judged on epoch 0 only
    first_val_loss = histories[2][0]["val_loss"]
    assert trials[2].intermediate_values[0] == pytest.approx(first_val_loss)
    assert float(rows[2]["val_loss"]) == pytest.approx(first_val_loss)  # a pruned trial's last value
    assert first_val_loss > max(float(rows[0]["val_loss"]), float(rows[1]["val_loss"]))
    record = json.loads((runs[2] / "model.pt.run.json").read_text())
    assert record["status"] == "interrupted"  # not a finished run: never reused as one
    assert not any(run.joinpath(".epoch-gate").exists() for run in runs)  # the gates are cleaned up

    again = dlae("sweep", sweep, "-o", out)
    assert "3 trials planned, 3 finished" in again.stdout and "trial " not in again.stdout
    status = dlae("sweep", sweep, "-o", out, "--status")
    assert status.returncode == 0, status.stderr
    assert {"objective.png", "parameters.png", "importance.png"} <= {p.name for p in out.iterdir()}


def test_the_epoch_gate_holds_a_run_until_its_epoch_is_released(tmp_path):
    gate_file = tmp_path / ".epoch-gate"
    release(gate_file, -1)
    gate = EpochGate(gate_file, epochs=3)
    waiting = threading.Thread(target=gate.epoch_end, args=(None, 0, {}, False), daemon=True)
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive()  # epoch 0 not released yet
    release(gate_file, 0)
    waiting.join(30)
    assert not waiting.is_alive()
    gate.epoch_end(None, 2, {}, False)  # the last epoch never waits: nothing is left to decide
    gate_file.unlink()
    gate.epoch_end(None, 1, {}, False)  # no gate file: the watcher is gone, the run goes on


def test_a_row_being_appended_is_left_for_the_next_look(tmp_path):
    from dlae_core.experiments.sweep.trial import _complete_rows

    history = tmp_path / "history.csv"
    history.write_text("epoch,loss,val_loss\n0,1.5,1.25\n1,1.0,0.7", encoding="utf-8")  # "0.7" may become 0.75
    assert _complete_rows(history) == [{"epoch": 0, "loss": 1.5, "val_loss": 1.25}]
    history.write_text("epoch,loss,val_loss\n0,1.5,1.25\n1,1.0,\n", encoding="utf-8")
    assert _complete_rows(history)[1] == {"epoch": 1, "loss": 1.0, "val_loss": None}
