"""Checkpoints written beside training, not in its way.

A step engine that offers ``save_later(path, state) -> write`` copies what a model file holds
(weights, optimizer state, generator states) when called, in the training thread, and returns a
function that serializes that copy to ``path``; :class:`BackgroundSaver` runs it on a thread of its
own while the next epoch trains. Files are still replaced atomically (a crash leaves the previous
checkpoint), one write at a time and in order, and a failed write is raised in the training thread
at the next save or at the end of the run. An engine without ``save_later`` saves in the loop's
thread (``engine.save``).
"""

from __future__ import annotations

import threading


class BackgroundSaver:
    """At most one model-file write in flight; :meth:`wait` joins it and re-raises its error."""

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def save(self, engine, path: str, state: dict) -> None:
        """Save ``engine``'s model with ``state`` to ``path`` (in the background where it can)."""
        self.wait()  # the previous checkpoint first: files are written in order
        later = getattr(engine, "save_later", None)
        if later is None:
            engine.save(path, state)
            return
        write = later(path, state)  # the copy is taken now, before the next step changes the weights
        # not a daemon: the interpreter waits for a write in flight before it exits
        self._thread = threading.Thread(target=self._write, args=(write,), name="dlae-checkpoint")
        self._thread.start()

    def _write(self, write) -> None:
        try:
            write()
        except BaseException as exc:  # re-raised in the training thread by wait()
            self._error = exc

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, *, raise_error: bool = True) -> None:
        """Wait for the write in flight; raise its error (unless ``raise_error`` is False, when the
        run already ends with another one)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        error, self._error = self._error, None
        if error is not None and raise_error:
            raise error
