"""One trial: its values applied to the base config, a run folder named by the config hash, a ``dlae run``
child whose per-epoch history is reported to Optuna (pruning stops it), and the result told to the study.
A folder already holding a finished run is not trained again: its result is read back.

With a pruner the child waits after each epoch at an epoch gate (:mod:`dlae_core.training.epoch_gate`)
until its row was reported and judged, so a trial to prune is stopped right after the epoch that decided
it, exactly as Optuna prunes in-process, however short the epochs are."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

from dlae_core.experiments.record import best_of, read_record
from dlae_core.experiments.results import read_history
from dlae_core.training.epoch_gate import ENV as GATE_ENV
from dlae_core.training.history import parse_history
from dlae_core.training.epoch_gate import release

__all__ = ["TrialRunner"]

POLL_SECONDS = 0.1  # how often a running trial's history is read (and its epoch gate released)


class TrialRunner:
    """Runs the trials of one sweep process (shared by its ``--jobs`` threads)."""

    def __init__(self, sweep, base, folder: Path, start, stopping, env: dict | None = None):
        self.sweep, self.base, self.folder, self.start, self.stopping = sweep, base, folder, start, stopping
        self.env = env or {}  # for every trial's process (its share of the CPU threads)

    def values(self, trial) -> dict:
        """config path -> value of ``trial`` (drawn by the sampler, or fixed when queued)."""
        out = {}
        for p in self.sweep.parameters:
            if p.values is not None:
                out[p.path] = p.decode(trial.suggest_categorical(p.path, p.encoded()))
            elif p.integer:
                out[p.path] = trial.suggest_int(p.path, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
            else:
                out[p.path] = trial.suggest_float(p.path, p.low, p.high, step=p.step, log=p.log)
        return out

    def prepare(self, trial):
        """(experiment writing into its run folder, run folder) of ``trial``; the resolved config saved."""
        from dlae_core.config.convert import config_to_dict
        from dlae_core.running.outputs import write_text_atomic

        exp = self.base.copy().update(self.values(trial))
        folder = self.folder / "runs" / exp.hash()
        exp = exp.into_folder(folder)
        trial.set_user_attr("run", str(folder))
        resolved = config_to_dict(exp.parse(), exp.registry, legacy=False)
        if not _finished(exp):
            _clear_unfinished(exp)
            write_text_atomic(folder / "config.json", json.dumps(resolved, indent=1) + "\n", overwrite=True)
        return exp, folder

    def run(self, study, trial, gpu: str | None) -> None:
        from optuna.trial import TrialState

        try:
            exp, folder = self.prepare(trial)
        except Exception as exc:  # a combination the config refuses: this trial fails, the sweep goes on
            lines = exc.lines() if hasattr(exc, "lines") else [f"{type(exc).__name__}: {exc}"]
            return self._fail(study, trial, " ".join(lines))
        if _finished(exp):
            trial.set_user_attr("reused", True)
            return self._finish(study, trial, read_history(folder / "history.csv"))
        arguments = ["run", "--backend", self.sweep.backend, str(folder / "config.json"), "--quiet",
                     "--workers", str(self.sweep.workers)]
        env = dict(self.env)
        if gpu is not None:  # this trial's GPU, alone: the framework sees it as its only one
            env["CUDA_VISIBLE_DEVICES"] = gpu
            trial.set_user_attr("gpu", gpu)
        gate = _open_gate(folder) if self.sweep.pruner != "none" else None
        if gate is not None:
            env[GATE_ENV] = str(gate)
        try:
            child = self.start(arguments, folder / "trial.log", env)
            outcome = self._watch(study, trial, child, folder, gate)
        finally:
            if gate is not None:
                gate.unlink(missing_ok=True)
        if outcome == "stopped":  # the sweep was interrupted (Ctrl-C): queued again for the next run
            return _requeue(study, trial)
        if outcome == "pruned":
            return study.tell(trial, state=TrialState.PRUNED)
        code = child.wait(60)
        if code != 0:
            return self._fail(study, trial, _error_line(folder / "trial.log", code))
        return self._finish(study, trial, read_history(folder / "history.csv"))

    def _watch(self, study, trial, child, folder: Path, gate: Path | None) -> str:
        """Report each new epoch, keep the heartbeat, prune (else release the gate); 'done', 'pruned' or
        'stopped'."""
        seen, released, beat = -1, -1, 0.0
        storage = study._storage  # the study's RDB storage: the heartbeat of this trial
        while child.poll() is None:
            if self.stopping.is_set():
                child.interrupt()
                child.wait(30)
                return "stopped"
            now = time.monotonic()
            if now - beat >= max(1.0, self.sweep.heartbeat / 2):
                storage.record_heartbeat(trial._trial_id)
                beat = now
            seen, prune = self._report(trial, folder, seen)
            if prune:
                child.interrupt()
                child.wait(30)
                return "pruned"
            if gate is not None and seen > released:
                release(gate, seen)
                released = seen
            time.sleep(POLL_SECONDS)
        self._report(trial, folder, seen)  # the last epochs: reported, too late to prune a finished run
        return "done"

    def _report(self, trial, folder: Path, seen: int) -> tuple[int, bool]:
        """Report the epochs after ``seen`` (those that logged the objective); (last epoch seen, prune)."""
        for row in _complete_rows(folder / "history.csv"):
            epoch, value = row.get("epoch"), row.get(self.sweep.metric)
            if epoch is None or epoch <= seen:
                continue
            seen = epoch
            if value is not None and math.isfinite(value):
                trial.report(value, epoch)
                if trial.should_prune():
                    return seen, True
        return seen, False

    def _finish(self, study, trial, history: list[dict]):
        best = best_of(history, self.sweep.metric, self.sweep.direction)
        if best is None:
            return self._fail(study, trial, f"the run never logged {self.sweep.metric!r}")
        trial.set_user_attr("epoch", best["epoch"])
        return study.tell(trial, best["value"])

    @staticmethod
    def _fail(study, trial, line: str):
        from optuna.trial import TrialState

        trial.set_user_attr("error", line[:1000])
        return study.tell(trial, state=TrialState.FAIL)


def _requeue(study, trial) -> None:
    """Fail ``trial`` as interrupted (no error: not counted in the plan) and queue it again with its values,
    as Optuna does with a trial whose heartbeat stopped, so the next run of the command reruns it at once."""
    from optuna.trial import TrialState

    from dlae_core.experiments.sweep.study import retry_callback

    study.tell(trial, state=TrialState.FAIL)
    retry_callback()(study, study._storage.get_trial(trial._trial_id))


def _open_gate(folder: Path) -> Path:
    """The epoch gate of a trial about to start in ``folder``: nothing released yet."""
    gate = folder / ".epoch-gate"
    release(gate, -1)
    return gate


def _complete_rows(history: Path) -> list[dict]:
    """The rows of a growing CSV history whose line is complete (a row being appended waits for the next
    look), as read_history_leniently gives them."""
    try:
        text = history.read_text(encoding="utf-8")
        return parse_history(text[: text.rfind("\n") + 1])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _record_of(exp) -> dict | None:
    from dlae_core.experiments.record import record_path

    where = record_path(exp.parse())
    return read_record(where) if where else None


def _finished(exp) -> bool:
    record = _record_of(exp)
    return bool(record) and record.get("status") == "finished"


def _clear_unfinished(exp) -> None:
    """Remove what an unfinished run of this folder left (the sweep's own files, rewritten by the rerun)."""
    import shutil

    from dlae_core.experiments.record import record_path
    from dlae_core.running.run import training_outputs

    config = exp.parse()
    where = record_path(config)
    for _, path in training_outputs(config) + ([("record", where)] if where else []):
        for candidate in (path, path.with_name(path.stem + ".new" + path.suffix)):
            if candidate.is_dir():
                shutil.rmtree(candidate)
            elif candidate.exists():
                candidate.unlink()


def _error_line(log: Path, code: int) -> str:
    """The child's ``error:`` line (the last one), else its last line, with the exit code."""
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    errors = [line for line in lines if line.startswith("error:")]
    text = errors[-1] if errors else (lines[-1] if lines else "no output")
    return f"{text} (exit code {code}; log {log})"
