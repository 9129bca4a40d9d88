"""Pictures and report.html while a supervised session trains, at checkpoint times and at its end
(never per step). The model's outputs on a few validation samples are collected in the training
thread (the model is the training's); the drawing and the page are made in a background thread,
so training goes on meanwhile. A newer request replaces one not yet drawn, and refreshes during
training are at least ``MIN_INTERVAL`` seconds apart (the first that long into training; the libraries are imported
when training starts); the end
always draws and waits.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path


from dlae_core.extras import install_hint, missing_modules
from dlae_core.report import html, pictures
from dlae_core.report.images import read_png
from dlae_core.running.outputs import write_atomic
from dlae_core.running.record import read_record

MIN_INTERVAL = 60.0
TIMING = "timing.json"


def for_session(technique, run, engine, backend) -> tuple[Reporter | None, str | None]:
    """The reporter of a supervised session (None when ``run.options.report_folder`` is unset) and
    a note line when the pictures are skipped because the extra is missing."""
    folder = run.options.report_folder
    if not folder:
        return None, None
    missing = missing_modules("report")
    if "PIL" in missing:
        return None, (f"pictures and report.html skipped ({', '.join(missing)} not installed; run: "
                      f"{install_hint('report')})")
    loss = run.registry.losses.get(run.config.loss_function.loss)
    dense = loss is not None and loss.target == "dense"
    save = run.config.save_configurations
    csv_path = Path(save.save_csv_path) if save.save_csv_switch and save.save_csv_path else None
    return Reporter(Path(folder), getattr(technique, "report_pictures", ""), dense, engine, backend,
                    record_path=Path(str(folder)[:-len(".report")] + ".run.json"), csv_path=csv_path,
                    extra=list(technique.report_images(run.config))), None


class Reporter:
    """A TrainingLoop observer (``epoch_end``, ``end``); ``seconds_blocking`` is what it cost the
    training thread, ``seconds_drawing`` what the background thread spent."""

    def __init__(self, folder: Path, kind: str, dense: bool, engine, backend, *, record_path: Path | None = None,
                 csv_path: Path | None = None, extra: list | None = None):
        self.folder, self.kind, self.dense = folder, kind, dense
        self.engine, self.backend = engine, backend
        self.record_path, self.csv_path, self.extra = record_path, csv_path, extra or []
        self.history: list[dict] = []
        self.seconds_blocking = self.seconds_drawing = 0.0
        self._lock = threading.Lock()
        self._pending = None
        self._thread: threading.Thread | None = None
        self._last = time.monotonic()  # the first refresh comes MIN_INTERVAL into training: short runs draw once
        self._error: BaseException | None = None
        # import the drawing libraries now, beside the first epochs, not while the end of the run waits
        self.seconds_importing = 0.0
        threading.Thread(target=self._warm_up, name="dlae-report-import", daemon=True).start()

    # -- the loop's hooks -------------------------------------------------------------------------
    def epoch_end(self, loop, epoch: int, logs: dict, checkpoint: bool) -> None:
        self.history.append({"epoch": epoch, **logs})
        if checkpoint and time.monotonic() - self._last >= MIN_INTERVAL:
            self._submit(loop, epoch)

    def end(self, loop, history: list, completed: bool) -> None:
        started = time.perf_counter()
        if completed:
            self._submit(loop, self.history[-1]["epoch"] if self.history else 0)
        self.wait()
        self.seconds_blocking += time.perf_counter() - started
        self._write_timing()
        if self._error is not None and completed:
            raise self._error

    # -- work ----------------------------------------------------------------------------------------
    def _submit(self, loop, epoch: int) -> None:
        started = time.perf_counter()
        found = pictures.collect(self.kind, self.engine, self.backend, self.dense)
        job = (list(self.history), found, epoch, getattr(loop, "board", None))
        with self._lock:
            self._pending = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="dlae-report", daemon=True)
                self._thread.start()
        self._last = time.monotonic()
        self.seconds_blocking += time.perf_counter() - started

    def _warm_up(self) -> None:
        started = time.thread_time()
        from dlae_core.report.plot import font

        font()  # Pillow and its FreeType font, loaded beside the first epochs

        self.seconds_importing = time.thread_time() - started

    def wait(self) -> None:
        thread = self._thread
        if thread is not None:
            thread.join()

    def _work(self) -> None:
        while True:
            with self._lock:
                job, self._pending = self._pending, None
                if job is None:
                    self._thread = None
                    return
            started = time.thread_time()  # CPU time: waiting for the training thread is not drawing
            try:
                self._draw(*job)
            except BaseException as exc:  # re-raised by end(): a bug in the pictures must show
                self._error = exc
            self.seconds_drawing += time.thread_time() - started

    def _draw(self, history: list[dict], found, epoch: int, board) -> None:
        history = read_csv_history(self.csv_path) or history
        entries = pictures.draw(self.folder, history, found, [(t, p) for t, p in self.extra if Path(p).is_file()])
        html.write_report(self.folder, read_record(self.record_path) if self.record_path else None)
        if board is not None:
            for entry in entries:
                board.add_image(f"report/{Path(entry['file']).stem}", read_png(self.folder / entry["file"]), epoch)

    def _write_timing(self) -> None:
        text = json.dumps({"seconds_blocking": round(self.seconds_blocking, 4),
                           "seconds_drawing": round(self.seconds_drawing, 4),
                           "seconds_importing": round(self.seconds_importing, 4)})
        if self.folder.is_dir():
            write_atomic(self.folder / TIMING, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_csv_history(path: Path | None) -> list[dict]:
    """The CSV history's rows as numbers (all sessions of a resumed run); [] when there is none."""
    from dlae_core.training.history import read_history_leniently

    return read_history_leniently(path)
