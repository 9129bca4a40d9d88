"""The GAN epoch loop every backend runs (pix2pix and cycleGAN), framework-free.

A backend supplies a :class:`GanEngine` (its networks, optimizers, the discriminator and generator
updates, inference and saving) and an iterable of training batches; the loop does the rest,
identically for every framework:

* per batch: set the two learning rates (inverse-time decay per update: the discriminator(s)
  from ``discriminator_learning_rate``, the generator(s) from ``gan_learning_rate``), one
  discriminator step (every discriminator updated once), then one generator step;
* per epoch: the batch-size-weighted means of the step values (not the last batch's), the CSV row
  (:data:`PIX2PIX_COLUMNS` / :data:`CYCLEGAN_COLUMNS`), TensorBoard scalars, generator checkpoints
  and a preview PNG of validation samples; rich progress (G and D losses) as for the other
  techniques;
* after the last epoch: the final generator(s).

Files (:func:`planned_outputs`; existing ones are refused before training unless --overwrite):

* final generators (``save_model_switch``): pix2pix at ``save_model_path``; cycleGAN
  ``<stem>_generator1<ext>`` (X -> y) and ``<stem>_generator2<ext>`` (y -> X) beside it;
* checkpoints (``save_checkpoints_switch``, every ``save_checkpoints_frequency`` epochs):
  ``epoch_<e>_checkpoint_<role>_<basename>`` in the folder of ``save_checkpoints_path``
  (``e`` 0-based as in the CSV; role ``generator``, ``generator1``, ``generator2``);
* previews (when there is validation data): ``<folder of save_model_path, else .>/previews/
  epoch_<e>.png``; pix2pix rows source | generated | target, cycleGAN rows X | G1(X) | G2(G1(X))
  and y | G2(y) | G1(G2(y)), for the first :data:`PREVIEW_SAMPLES` validation samples (volumes:
  middle slice).

Every saved generator is a model file of the backend with graph role ``generator``, so
``dlae predict`` uses it like any saved model.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Protocol

import attrs
import numpy as np

from dlae_core.errors import TrainingError, UnsupportedSettingError
from dlae_core.extras import install_hint, missing_modules
from dlae_core.running.distributed import current_world, reduced_means
from dlae_core.running.run import refuse_existing
from dlae_core.training.history import CsvHistory
from dlae_core.training.progress import TrainingProgress
from dlae_core.training.schedule import LearningRateSchedule
from dlae_core.training.tensorboard import TensorBoardLog
from dlae_core.report.images import read_png
from dlae_core.techniques.gan.preview import write_preview

PIX2PIX_COLUMNS = ("g_loss", "g_adv", "g_l1", "d_loss", "d_real", "d_fake", "d_acc")
CYCLEGAN_COLUMNS = ("g_loss", "g_adv", "g_cycle", "g_identity", "d_loss", "d_acc")
ROLES = {"pix2pix": ("generator",), "cyclegan": ("generator1", "generator2")}
DISCRIMINATOR_ROLES = {"pix2pix": ("discriminator",), "cyclegan": ("discriminator1", "discriminator2")}
DIRECTIONS = {"generator": "X -> y", "generator1": "X -> y", "generator2": "y -> X"}
PREVIEW_SAMPLES = 3


class GanEngine(Protocol):
    """What a backend provides to :class:`GanLoop` (batches are whatever its loader yields)."""

    def set_learning_rates(self, discriminator: float, generator: float) -> None:
        """Learning rates of every discriminator optimizer and of the generator optimizer."""

    def batch_size(self, batch) -> int: ...

    def discriminator_step(self, batch) -> dict[str, float]:
        """Update every discriminator once; pix2pix: d_loss, d_real, d_fake, d_acc; cycleGAN:
        d_loss, d_acc."""

    def generator_step(self, batch) -> dict[str, float]:
        """Update the generator(s) once; pix2pix: g_loss, g_adv, g_l1; cycleGAN: g_loss, g_adv,
        g_cycle, g_identity."""

    def generate(self, role: str, x: np.ndarray) -> np.ndarray:
        """Generator ``role`` on channels-last numpy inputs, inference mode; numpy float32 out."""

    def save_generator(self, role: str, path: Path, state: dict) -> None:
        """Write generator ``role`` (graph role "generator") with ``state`` to ``path`` atomically."""


def variant_of(config) -> str:
    """``pix2pix`` or ``cyclegan`` (the GAN's loss)."""
    loss = config.loss_function.loss
    if loss not in ROLES:
        raise UnsupportedSettingError(f"a GAN trains with the loss pix2pix or cyclegan, not {loss!r}")
    return loss


def real_threshold(adversarial: str) -> float:
    """The discriminator output above which a patch counts as "real" for d_acc: 0.5 for the
    least-squares objective (targets 0/1), 0 for the log objective (the outputs are logits)."""
    return 0.5 if adversarial == "least_squares" else 0.0


def columns_of(variant: str) -> tuple[str, ...]:
    return PIX2PIX_COLUMNS if variant == "pix2pix" else CYCLEGAN_COLUMNS


def final_generator_paths(config) -> dict[str, Path]:
    """role -> final generator file ({} when save_model_switch is off)."""
    save = config.save_configurations
    if not (save.save_model_switch and save.save_model_path):
        return {}
    path = Path(save.save_model_path)
    if variant_of(config) == "pix2pix":
        return {"generator": path}
    return {role: path.with_name(f"{path.stem}_{role}{path.suffix}") for role in ROLES["cyclegan"]}


def checkpoint_path(config, epoch: int, role: str) -> Path | None:
    """The generator checkpoint of 0-based ``epoch`` (None when checkpoints are off or not due)."""
    save = config.save_configurations
    if not (save.save_checkpoints_switch and save.save_checkpoints_path):
        return None
    if (epoch + 1) % max(1, save.save_checkpoints_frequency):
        return None
    path = Path(save.save_checkpoints_path)
    return path.with_name(f"epoch_{epoch}_checkpoint_{role}_{path.name}")


def preview_folder(config) -> Path:
    path = config.save_configurations.save_model_path
    return (Path(path).parent if path else Path(".")) / "previews"


def preview_path(config, epoch: int) -> Path:
    return preview_folder(config) / f"epoch_{epoch}.png"


def planned_outputs(config, has_validation: bool) -> list[tuple[str, Path]]:
    """(what, path) of every file or folder the GAN session may write."""
    save, epochs = config.save_configurations, config.training_configurations.epochs
    out = [(f"final {role}", path) for role, path in final_generator_paths(config).items()]
    if save.save_csv_switch and save.save_csv_path:
        out.append(("CSV history", Path(save.save_csv_path)))
    if save.save_tensorboard_switch and save.save_tensorboard_path:
        out.append(("TensorBoard log folder", Path(save.save_tensorboard_path)))
    for epoch in range(epochs):
        for role in ROLES[variant_of(config)]:
            path = checkpoint_path(config, epoch, role)
            if path is not None:
                out.append((f"{role} checkpoint", path))
        if has_validation:
            out.append(("preview", preview_path(config, epoch)))
    return out


def refuse_existing_outputs(config, overwrite: bool, has_validation: bool) -> None:
    """OutputExistsError (one line) before any work when a planned output exists, unless ``overwrite``."""
    refuse_existing(planned_outputs(config, has_validation), overwrite)


def check_gan_session(config) -> None:
    """GAN sessions start from scratch: a checkpoint holds one generator only."""
    if config.paths.load_checkpoint or config.config_file.type_signal == "Train from Checkpoint":
        raise UnsupportedSettingError("continuing a GAN from a checkpoint is not available (generator checkpoints hold "
                           "no discriminator or optimizer state); use type_signal Train without "
                           "paths.load_checkpoint")


@attrs.define
class GanResult:
    history: list[dict]
    last_epoch: int
    models: dict = attrs.field(factory=dict)  # role -> the backend's trained generator


@attrs.define
class GanLoop:
    """Runs epochs 0 .. epochs-1 of a GAN through ``engine``; ``validation`` is the core
    EvaluationSamples of the validation split (previews only), or None."""

    config: object
    engine: GanEngine
    validation: object = None
    quiet: bool = False
    note: str = ""
    lines: list = attrs.field(factory=list)  # printed before the first epoch (e.g. the data's memory use)
    step: int = 0
    #: the processes' reductions in a data-parallel run (dlae_core.running.distributed), None in one process
    collective: object = None
    variant: str = attrs.field(init=False)
    d_schedule: LearningRateSchedule = attrs.field(init=False)
    g_schedule: LearningRateSchedule = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        lrs = self.config.learning_rate_schedule
        self.variant = variant_of(self.config)
        d, g = lrs.discriminator_learning_rate, lrs.gan_learning_rate
        self.d_schedule = LearningRateSchedule(d.learning_rate, d.decay)
        self.g_schedule = LearningRateSchedule(g.learning_rate, g.decay)

    @property
    def columns(self) -> tuple[str, ...]:
        return columns_of(self.variant)

    def run(self, batches, *, set_epoch=None) -> GanResult:
        cfg, save = self.config.training_configurations, self.config.save_configurations
        csv = CsvHistory(save.save_csv_path) if save.save_csv_switch and save.save_csv_path else None
        board = (TensorBoardLog(save.save_tensorboard_path, fresh=True)
                 if save.save_tensorboard_switch and save.save_tensorboard_path else None)
        # previews are rank 0's to draw in a data-parallel run
        samples, skipped = (self._preview_samples() if current_world().primary else None), None
        if samples is not None and "PIL" in missing_modules("report"):
            # a run without the pictures extra still trains
            samples, skipped = None, f"previews skipped (Pillow is not installed; run: {install_hint('report')})"
        history, epoch = [], -1
        with TrainingProgress(cfg.epochs, quiet=self.quiet) as progress, contextlib.ExitStack() as stack:
            if board is not None:
                stack.callback(board.close)
            for line in filter(None, self.lines):
                progress.message(line)
            for note in (self.note, skipped):
                if note:
                    progress.message(f"note: {note}")
            for epoch in range(cfg.epochs):
                if set_epoch is not None:
                    set_epoch(epoch)
                logs = self._train_epoch(batches, epoch, progress)
                if csv is not None:
                    csv.write(epoch, logs)
                if board is not None:
                    board.add_scalars(epoch, logs)
                history.append(logs)
                progress.end_epoch(epoch, logs, self._after_epoch(epoch, samples))
                if board is not None and samples is not None:  # the preview sheet in TensorBoard too
                    board.add_image("report/previews", read_png(preview_path(self.config, epoch)), epoch)
        for role, path in final_generator_paths(self.config).items():
            self.engine.save_generator(role, path, self._state(epoch, role))
        return GanResult(history, epoch)

    # -- one epoch ------------------------------------------------------------------------------
    def _train_epoch(self, batches, epoch: int, progress: TrainingProgress) -> dict:
        columns = self.columns
        totals, count = dict.fromkeys(columns, 0.0), 0
        progress.start_epoch(epoch, len(batches), first=epoch)
        ready = time.perf_counter()
        for batch in batches:
            fetched = time.perf_counter()
            self.engine.set_learning_rates(self.d_schedule.rate(self.step), self.g_schedule.rate(self.step))
            n = self.engine.batch_size(batch)
            values = {**self.engine.discriminator_step(batch), **self.engine.generator_step(batch)}
            self.step += 1
            if not (math.isfinite(values["g_loss"]) and math.isfinite(values["d_loss"])):
                raise TrainingError(f"the GAN losses became non-finite in epoch {epoch + 1} (g_loss "
                                   f"{values['g_loss']}, d_loss {values['d_loss']}); lower "
                                   f"learning_rate_schedule.gan_learning_rate / discriminator_learning_rate "
                                   f"or check the data (NaN/Inf values) and its normalization")
            count += n
            for key in columns:
                totals[key] += float(values[key]) * n
            done = time.perf_counter()
            progress.step(n, fetched - ready, done - fetched, {k: totals[k] / count for k in columns})
            ready = done
        return reduced_means(self.collective, totals, count)

    def _state(self, epoch: int, role: str) -> dict:
        return {"epoch": epoch, "step": self.step, "gan": self.variant, "role": role,
                "direction": DIRECTIONS[role]}

    def _after_epoch(self, epoch: int, samples) -> str:
        notes = []
        saved = []
        for role in ROLES[self.variant]:
            path = checkpoint_path(self.config, epoch, role)
            if path is not None:
                self.engine.save_generator(role, path, self._state(epoch, role))
                saved.append(role)
        if saved:
            notes.append("checkpoint saved")
        if samples is not None:
            path = preview_path(self.config, epoch)
            rows, ranges = self._preview(samples)
            write_preview(path, rows, ranges)
            notes.append(f"preview {path}")
        return ", ".join(notes)

    # -- previews -------------------------------------------------------------------------------
    def _preview_samples(self):
        """(X batch, y batch) of the first validation samples, or None without validation data."""
        if self.validation is None or len(self.validation) == 0:
            return None
        items = [self.validation[i] for i in range(min(PREVIEW_SAMPLES, len(self.validation)))]
        xs = np.stack([np.asarray(item["x"], np.float32) for item in items])
        ys = np.stack([np.asarray(item["y"], np.float32) for item in items])
        pre = getattr(self.validation, "preprocessor", None)
        ranges = (_domain_range(getattr(pre, "x_norm", None), xs), _domain_range(getattr(pre, "y_norm", None), ys))
        return xs, ys, ranges

    def _preview(self, samples) -> tuple[list, list]:
        xs, ys, (rx, ry) = samples
        if self.variant == "pix2pix":
            fake = self.engine.generate("generator", xs)
            return [[x, f, y] for x, f, y in zip(xs, fake, ys)], [[rx, ry, ry]] * len(xs)
        fake_y = self.engine.generate("generator1", xs)
        fake_x = self.engine.generate("generator2", ys)
        rec_x = self.engine.generate("generator2", fake_y)
        rec_y = self.engine.generate("generator1", fake_x)
        rows, ranges = [], []
        for i in range(len(xs)):
            rows += [[xs[i], fake_y[i], rec_x[i]], [ys[i], fake_x[i], rec_y[i]]]
            ranges += [[rx, ry, rx], [ry, rx, ry]]
        return rows, ranges


def _domain_range(norm, real: np.ndarray) -> tuple[float, float] | None:
    """The value range of a domain: the normalization's ([0, 1] or [-1, 1]), else that of the
    real preview images (None when flat: each image then uses its own range)."""
    if norm is not None and norm.kind != "none":
        return (-1.0, 1.0) if norm.negpos else (0.0, 1.0)
    finite = real[np.isfinite(real)]
    if finite.size == 0 or finite.min() == finite.max():
        return None
    return float(finite.min()), float(finite.max())
