"""keep_better: how a run judges the model an output path already holds (its saved record, else the
CSV history row of its epoch) and where this run's model goes instead (framework-free)."""

from __future__ import annotations

from types import SimpleNamespace

from dlae_core.errors import ModelFileError
from dlae_core.training.keep_better import KeepBetter, monitored


def _config(out, csv: bool = True):
    return SimpleNamespace(save_configurations=SimpleNamespace(
        save_model_switch=True, save_model_path=str(out / "model.pt"),
        save_checkpoints_switch=True, save_checkpoints_path=str(out / "best.pt"),
        save_csv_switch=csv, save_csv_path=str(out / "history.csv")))


def _files(out, states: dict):
    """Model files whose 'training state' a fake backend reader returns (a missing state: unreadable)."""
    out.mkdir(exist_ok=True)
    for name in states:
        (out / name).write_bytes(name.encode())

    def read(path):
        state = states[path.rsplit("/", 1)[-1]]
        if state is None:
            raise ModelFileError(f"{path!r} is not a model saved by dlae's torch backend")
        return {"training_state": state}

    return read


def test_the_monitored_value_prefers_validation_and_skips_non_finite_values():
    assert monitored({"loss": 0.5, "val_loss": 0.7}) == ["val_loss", 0.7]
    assert monitored({"loss": 0.5, "val_loss": float("nan")}) == ["loss", 0.5]
    assert monitored({"accuracy": 1.0}) is None and monitored(None) is None


def test_the_final_model_goes_beside_a_better_one_and_replaces_a_worse_one(tmp_path):
    out = tmp_path / "out"
    read = _files(out, {"model.pt": {"epoch": 4, "monitored": ["val_loss", 0.2]}})
    keep = KeepBetter.read(_config(out), read)
    path = str(out / "model.pt")
    assert keep.final_model_path(path, ["val_loss", 0.5]) == str(out / "model.new.pt")
    assert keep.notes == [f"kept the better final model of an earlier run at '{path}' (val_loss 0.2); this run "
                          f"ended worse (val_loss 0.5), its final model is at '{out / 'model.new.pt'}'"]
    assert KeepBetter.read(_config(out), read).final_model_path(path, ["val_loss", 0.1]) == path
    assert KeepBetter.read(_config(out), read).final_model_path(path, ["val_loss", 0.2]) == path  # not worse
    assert KeepBetter.read(_config(out), read).final_model_path(path, ["loss", 0.9]) == path  # not comparable
    assert KeepBetter.read(_config(out), read).final_model_path(path, None) == path


def test_a_file_without_a_record_is_judged_by_its_epoch_in_the_csv_history(tmp_path):
    out = tmp_path / "out"
    read = _files(out, {"model.pt": {"epoch": 1}, "best.pt": None})  # best.pt: unreadable, nothing to keep
    (out / "history.csv").write_text("epoch,loss,val_loss\n0,1.0,0.9\n1,0.8,0.3\n2,0.7,0.4\n")
    keep = KeepBetter.read(_config(out), read)
    assert (keep.model.monitor, keep.model.value, keep.checkpoint) == ("val_loss", 0.3, None)
    assert KeepBetter.read(_config(out, csv=False), read).model is None  # no history: nothing to compare


def test_a_better_checkpoint_is_moved_aside_once_under_a_free_name(tmp_path):
    out = tmp_path / "out"
    read = _files(out, {"best.pt": {"epoch": 3, "monitored": ["val_loss", 0.2]}})
    (out / "best.previous.pt").write_bytes(b"an older one")
    keep = KeepBetter.read(_config(out), read)
    path = str(out / "best.pt")
    note = keep.before_checkpoint(path, ["val_loss", 0.6])
    assert note == (f"the checkpoint at '{path}' from an earlier run (val_loss 0.2) is better than this run's first "
                    f"(val_loss 0.6); it was moved to '{out / 'best.previous-2.pt'}'")
    assert (out / "best.previous-2.pt").read_bytes() == b"best.pt" and not (out / "best.pt").exists()
    assert (out / "best.previous.pt").read_bytes() == b"an older one"
    (out / "best.pt").write_bytes(b"this run's")
    assert keep.before_checkpoint(path, ["val_loss", 0.9]) is None  # later ones replace this run's own
    assert (out / "best.pt").read_bytes() == b"this run's"
