"""Checkpoints written in the background (dlae_core.training.saver): the copy is taken when saved,
writes happen in order, one at a time, and a failed write reaches the training thread."""

from __future__ import annotations

import threading

import pytest

from dlae_core.training.saver import BackgroundSaver


class Engine:
    """A step engine whose 'weights' are a list; ``save_later`` copies them, the write waits for
    ``release`` so a test can train on while it is in flight."""

    def __init__(self):
        self.weights = [0]
        self.files: dict[str, list] = {}
        self.order: list[str] = []
        self.release = threading.Event()
        self.fail = False

    def save_later(self, path, state):
        copy = list(self.weights)

        def write():
            self.release.wait(5)
            if self.fail:
                raise OSError(28, "No space left on device")
            self.files[path] = copy
            self.order.append(path)

        return write


def test_the_saved_copy_is_taken_at_save_time_and_training_goes_on():
    engine, saver = Engine(), BackgroundSaver()
    saver.save(engine, "best.pt", {"epoch": 0})
    assert saver.busy  # the write waits: the training thread is free
    engine.weights.append(1)  # the next epoch changes the weights meanwhile
    engine.release.set()
    saver.wait()
    assert engine.files["best.pt"] == [0] and not saver.busy


def test_writes_are_in_order_and_a_failure_is_raised_in_the_training_thread():
    engine, saver = Engine(), BackgroundSaver()
    engine.release.set()
    for epoch in range(3):
        saver.save(engine, f"epoch{epoch}.pt", {"epoch": epoch})
    saver.wait()
    assert engine.order == ["epoch0.pt", "epoch1.pt", "epoch2.pt"]
    engine.fail = True
    saver.save(engine, "full.pt", {})
    with pytest.raises(OSError, match="No space left"):
        saver.save(engine, "next.pt", {})  # the previous write's error, before anything else is written
    saver.save(engine, "again.pt", {})
    saver.wait(raise_error=False)  # a run already ending with another error keeps that one


def test_an_engine_without_save_later_saves_in_the_training_thread():
    class Plain:
        def __init__(self):
            self.saved = []

        def save(self, path, state):
            self.saved.append((path, threading.current_thread().name))

    engine, saver = Plain(), BackgroundSaver()
    saver.save(engine, "model.pt", {})
    assert engine.saved == [("model.pt", threading.current_thread().name)] and not saver.busy
