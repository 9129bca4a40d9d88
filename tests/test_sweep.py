"""``dlae sweep`` on tiny data: grid (with a failing trial), random and TPE sweeps, trials.csv, --status
files, run folders named by the config hash (never trained twice), ``dlae runs``, and bad sweep files
stopped before any trial with one located line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from dlae_core.cli.main import cli
from sweep_support import dlae, read_trials, write_base, write_sweep

pytest.importorskip("optuna")
pytest.importorskip("torch")


@pytest.fixture
def folder(tmp_path):
    write_base(tmp_path)
    return tmp_path


@pytest.mark.parametrize("keys, line", [
    ({"search": "grid", "trials": 20, "objective": {"metric": "val_loss", "direction": "minimize"},
      "parameters": {"loss_function.loss": ["sparse_categorical_crossentropy"],
                     "learning_rate_schedule.learning_rate": {"low": 0.0001, "high": 0.01, "log": True}}},
     'sweep.json: parameters["learning_rate_schedule.learning_rate"]: a grid search takes lists of values only'),
    ({"parameters": {"loss_function.los": ["tversky"]}},
     'sweep.json: parameters["loss_function.los"]: unknown key of section \'loss_function\''),
    ({"parameters": {"loss_function.loss": ["sparse_categorical_crossentropy", "tversk"]}},
     'sweep.json: parameters["loss_function.loss"][1]: unknown loss.'),
    ({"search": "grid", "parameters": {"loss_function.loss": []}},
     'sweep.json: parameters["loss_function.loss"]: an empty list of values'),
    ({"parameters": {"training_configurations.epochs": [1]}, "objective": {"metric": "val_dice"}},
     "sweep.json: objective.metric: the FCN session of this config never logs this value"),
    ({"search": "grid", "parameters": {"loss_function.loss": ["categorical_crossentropy"]}},
     'sweep.json: parameters["loss_function.loss"][0]: with loss_function.loss=\'categorical_crossentropy\', '
     'paths.train_y:'),
    ({"parameters": {"layers.serial_layer_list[30].filters": [4]}},
     'sweep.json: parameters["layers.serial_layer_list[30].filters"][0]: layers.serial_layer_list has 11 entries'),
])
def test_bad_sweep_files_stop_before_any_trial(folder, keys, line):
    sweep = write_sweep(folder, **keys)
    result = CliRunner().invoke(cli, ["sweep", str(sweep), "-o", str(folder / "out")])
    assert result.exit_code == 2, result.output
    errors = [text for text in result.output.splitlines() if text.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {line}"), errors
    assert not (folder / "out").exists()


def test_grid_sweep_with_a_failing_trial_status_and_run_folders(folder):
    # a learning rate of 1e30 passes every check, but the loss becomes NaN in the first epoch: that trial
    # fails, the sweep goes on
    sweep = write_sweep(folder, search="grid", parameters={"learning_rate_schedule.learning_rate": [0.003, 1e30]})
    out = folder / "out"
    result = dlae("sweep", sweep, "-o", out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done: 2 of 2 trials finished" in result.stdout
    rows = read_trials(out)
    assert [(r["number"], r["state"], float(r["learning_rate_schedule.learning_rate"])) for r in rows] == \
        [("0", "complete", 0.003), ("1", "failed", 1e30)]
    assert float(rows[0]["val_loss"]) > 0 and rows[1]["val_loss"] == ""
    assert rows[1]["error"].startswith("error: the loss became nan") and "(exit code 2;" in rows[1]["error"]
    assert "trial 1 failed (learning_rate_schedule.learning_rate=1e+30): error: the loss became nan" in result.stdout
    run = out / "runs" / rows[0]["run"].rsplit("/", 1)[-1]
    record = json.loads((run / "model.pt.run.json").read_text())
    assert record["status"] == "finished" and run.name == record["hash"]
    assert {"config.json", "history.csv", "model.pt", "trial.log"} <= {p.name for p in run.iterdir()}
    assert json.loads((run / "config.json").read_text())["learning_rate_schedule"]["learning_rate"] == 0.003
    # the same hash as a plain dlae run of that config would record
    import dlae_core.experiments as dlae_api

    assert dlae_api.load(run / "config.json").hash() == run.name
    # run again: nothing is trained again
    stamp = (run / "model.pt").stat().st_mtime_ns
    again = dlae("sweep", sweep, "-o", out)
    assert "2 trials planned, 2 finished" in again.stdout and "trial " not in again.stdout
    assert (run / "model.pt").stat().st_mtime_ns == stamp
    status = dlae("sweep", sweep, "-o", out, "--status")
    assert status.returncode == 0, status.stderr
    assert {"results.csv", "objective.png", "parameters.png"} <= {p.name for p in out.iterdir()}
    assert (out / "results.csv").read_text().splitlines()[1].startswith("0,complete,0.003,")
    listing = CliRunner().invoke(cli, ["runs", str(out)])
    assert listing.exit_code == 0 and run.name in listing.output and "finished" in listing.output


@pytest.mark.parametrize("search", ["random", "tpe"])
def test_random_and_tpe_sweeps_draw_from_ranges(folder, search):
    sweep = write_sweep(folder, search=search, trials=2, seed=3, pruner="median",
                        objective={"metric": "val_accuracy", "direction": "maximize"},
                        parameters={"learning_rate_schedule.learning_rate": {"low": 0.0005, "high": 0.02, "log": True},
                                    "layers.serial_layer_list[5].filters": {"low": 2, "high": 8}})
    out = folder / search
    result = dlae("sweep", sweep, "-o", out)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["complete", "complete"]
    for row in rows:
        assert 0.0005 <= float(row["learning_rate_schedule.learning_rate"]) <= 0.02
        assert row["layers.serial_layer_list[5].filters"] in {str(n) for n in range(2, 9)}
        assert 0 <= float(row["val_accuracy"]) <= 1
        config = json.loads((out / "runs" / row["run"].rsplit("/", 1)[-1] / "config.json").read_text())
        assert config["layers"]["serial_layer_list"][5]["filters"] == int(row["layers.serial_layer_list[5].filters"])


def test_missing_extra_is_one_line(folder, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "optuna", None)  # as if not installed
    sweep = write_sweep(folder, parameters={"training_configurations.epochs": [1]})
    result = CliRunner().invoke(cli, ["sweep", str(sweep)])
    assert result.exit_code == 2
    assert result.output.strip() == 'error: dlae sweep needs Optuna, which is not installed: pip install "dlae[sweep]"'
