"""A resumed run (no --overwrite needed) or a run with --overwrite never silently replaces a better
model of an earlier run: the better final model stays where it was and this run's goes beside it
(``model.new.pt``); a better earlier checkpoint is moved aside (``best.previous.pt``) before this run's
first one takes its place (--resume continues this run); each is said in one line."""

from __future__ import annotations

from support import cnn_layers, make_config, make_data, model_state, read_csv, train

TINY = {"learning_rate": 1e-12}  # the weights stay where they start: a run that does not get better


def _config(data, out, epochs: int, frequency: int = 2, **sections) -> dict:
    save = {"save_model_switch": True, "save_model_path": str(out / "model.pt"), "save_csv_switch": True,
            "save_csv_path": str(out / "history.csv"), "save_checkpoints_switch": True,
            "save_checkpoints_path": str(out / "best.pt"), "save_checkpoints_frequency": frequency}
    return make_config("CNN", (8, 8, 1), cnn_layers(8), data, save_configurations=save,
                       training_configurations={"epochs": epochs}, **sections)


def _first_run(tmp_path, backend):
    """3 epochs: checkpoint after epoch 1, final model after epoch 2 (better than the checkpoint)."""
    data = make_data(tmp_path / "data", "classification", n=16, size=8)
    out = tmp_path / "out"
    train(backend, _config(data, out, 3), tmp_path / "config.json")
    _, rows = read_csv(out / "history.csv")
    assert rows[2]["val_loss"] < rows[1]["val_loss"] < rows[0]["val_loss"], "the first run must learn"
    return data, out, rows


def test_a_diverged_resume_keeps_the_better_final_model(tmp_path, backend):
    data, out, first = _first_run(tmp_path, backend)
    kept = (out / "model.pt").read_bytes()
    assert model_state(backend, out / "model.pt")["monitored"] == ["val_loss", first[2]["val_loss"]]

    result = train(backend, _config(data, out, 4, learning_rate_schedule=TINY), tmp_path / "config.json", "--resume")
    _, rows = read_csv(out / "history.csv")
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3] and rows[3]["val_loss"] > first[2]["val_loss"]
    assert (out / "model.pt").read_bytes() == kept
    new = out / "model.new.pt"
    assert model_state(backend, new)["epoch"] == 3
    assert (f"note: kept the better final model of an earlier run at '{out / 'model.pt'}' (val_loss "
            f"{first[2]['val_loss']:.4g}); this run ended worse (val_loss {rows[3]['val_loss']:.4g}), its final "
            f"model is at '{new}'") in result.stdout.splitlines()
    assert not list(out.glob(".*.dlae-lock"))  # the lock beside model.new.pt is gone too


def test_overwrite_moves_a_better_checkpoint_aside_and_keeps_the_better_model(tmp_path, backend):
    data, out, first = _first_run(tmp_path, backend)
    earlier_checkpoint, earlier_model = (out / "best.pt").read_bytes(), (out / "model.pt").read_bytes()

    # checkpoints every epoch: this run's first one comes after epoch 0
    result = train(backend, _config(data, out, 3, 1, learning_rate_schedule=TINY), tmp_path / "config.json",
                   "--overwrite")
    _, rows = read_csv(out / "history.csv")
    assert rows[0]["val_loss"] > first[1]["val_loss"] and rows[2]["val_loss"] > first[2]["val_loss"]
    aside = out / "best.previous.pt"
    assert aside.read_bytes() == earlier_checkpoint  # moved whole, not rewritten
    assert model_state(backend, out / "best.pt")["monitored"] == ["val_loss", rows[0]["val_loss"]]  # this run's
    assert (f"note: the checkpoint at '{out / 'best.pt'}' from an earlier run (val_loss {first[1]['val_loss']:.4g}) "
            f"is better than this run's first (val_loss {rows[0]['val_loss']:.4g}); it was moved to "
            f"'{aside}'") in result.stderr.splitlines()
    assert (out / "model.pt").read_bytes() == earlier_model
    assert model_state(backend, out / "model.new.pt")["monitored"] == ["val_loss", rows[2]["val_loss"]]
    assert sum(line.startswith("note: kept the better final model") for line in result.stdout.splitlines()) == 1
