"""Training sessions for CNN and FCN on PyTorch: everything the config says, end to end."""

from __future__ import annotations

import time

import attrs
import torch

from dlae_core.config.convert import config_to_dict
from dlae_core.errors import BackendError
from dlae_core.session import Run, refuse_existing, training_outputs
from dlae_core.training.history import CsvHistory
from dlae_core.training.progress import TrainingProgress
from dlae_core.training.schedule import EpochRules, LearningRateSchedule
from dlae_core.training.tensorboard import ScalarWriter

from . import metrics as metric_fns
from .device import choose_placement
from .device_augment import augment_batch, finish_batch
from .loader import EpochIndexed, EpochSampler, make_loader, to_device
from .modelfile import load_model_file, save_model_file
from .optimizers import main_optimizer, set_learning_rate
from .setup import DataSetup, build_model, make_loss, prepare_data


@attrs.define
class TrainResult:
    epochs_run: int
    history: list[dict]
    model: torch.nn.Module
    stopped_early: bool = False


class Trainer:
    """One training session. ``run()`` returns a TrainResult; all outputs are written on the way."""

    def __init__(self, run: Run, builders: dict):
        self.run_info, self.config, self.builders = run, run.config, builders
        if run.plan.technique not in ("CNN", "FCN"):
            raise BackendError(f"the torch backend trains CNN and FCN models; {run.plan.technique} training "
                               f"is not available in this version")
        self.graph = run.plan.graphs["model"]
        save = self.config.save_configurations
        refuse_existing(training_outputs(self.config), run.options.overwrite)
        self.placement = choose_placement(self.config, len(self.graph.input_shapes[0]) - 1)
        torch.manual_seed(self.config.augmentation.random_seed)
        on_device = self.placement.device.type == "cuda" and self.config.augmentation.apply_augmentation_switch
        self.data: DataSetup = prepare_data(run, on_device=on_device)
        self.model = build_model(self.graph, builders, self.placement)
        self.loss_fn = make_loss(run, builders, self.data)
        self.monitors = metric_fns.monitors(self.config)
        if run.registry.losses[self.config.loss_function.loss].target == "dense":
            self.monitors.pop("accuracy", None)  # accuracy of a regression means nothing
        self.optimizer = main_optimizer(self.config, self.model.parameters())
        lrs = self.config.learning_rate_schedule
        self.schedule = LearningRateSchedule(lrs.learning_rate, lrs.learning_rate_decay_factor)
        self.rules = EpochRules.from_config(self.config, self.schedule)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.placement.dtype == torch.float16)
        self.start_epoch, self.step = 0, 0
        if self.config.paths.load_checkpoint:
            self._resume(self.config.paths.load_checkpoint)
        self.csv = CsvHistory(save.save_csv_path, append=self.start_epoch > 0) if save.save_csv_switch else None
        self.tensorboard = (ScalarWriter(save.save_tensorboard_path, fresh=self.start_epoch == 0)
                            if save.save_tensorboard_switch else None)

    # -- state -------------------------------------------------------------------------------
    def _resume(self, path: str) -> None:
        payload = load_model_file(path)
        try:
            self.model.load_state_dict(payload["state_dict"])
        except RuntimeError as exc:
            raise BackendError(f"checkpoint {path!r} does not fit this config's network: "
                               f"{str(exc).splitlines()[0]}") from None
        state = payload.get("training_state") or {}
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.factor = state.get("lr_factor", 1.0)
        self.rules.load_state(state.get("rules", {}))
        self.start_epoch, self.step = state.get("epoch", -1) + 1, state.get("step", 0)

    def _training_state(self, epoch: int) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "epoch": epoch, "step": self.step,
                "lr_factor": self.schedule.factor, "rules": self.rules.state()}

    def _save(self, path: str, epoch: int) -> None:
        save_model_file(path, config_dict=config_to_dict(self.config, self.run_info.registry, legacy=False),
                        graph_role="model", model=self.model, stats=self.data.stats_dict(),
                        training_state=self._training_state(epoch))

    # -- loop --------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg = self.config.training_configurations
        history, stopped = [], False
        train_set = EpochIndexed(self.data.train)
        sampler = EpochSampler(len(train_set))
        pin = self.placement.device.type == "cuda"
        loader = make_loader(train_set, cfg.batch_size, workers=self.run_info.options.workers, pin=pin,
                             sampler=sampler)
        val_loader = (make_loader(self.data.validation, cfg.batch_size, workers=self.run_info.options.workers,
                                  pin=pin) if self.data.validation is not None else None)
        epoch = self.start_epoch - 1
        with TrainingProgress(cfg.epochs, quiet=self.run_info.options.quiet) as progress:
            if self.placement.note:
                progress.message(f"note: {self.placement.note}")
            for epoch in range(self.start_epoch, cfg.epochs):
                sampler.set_epoch(epoch)
                logs = self._train_epoch(loader, epoch, progress)
                if val_loader is not None:
                    logs.update({f"val_{k}": v for k, v in self._evaluate(val_loader).items()})
                decision = self.rules.end_epoch(epoch, logs.get("val_loss"))
                logs["lr"] = self.schedule.rate(self.step)
                self._record(epoch, logs)
                history.append(logs)
                note = self._after_epoch(epoch, decision)
                progress.end_epoch(epoch, logs, note)
                if decision.stop:
                    stopped = True
                    break
        save = self.config.save_configurations
        if save.save_model_switch:
            self._save(save.save_model_path, epoch)
        return TrainResult(epoch + 1 - self.start_epoch, history, self.model, stopped)

    def _train_epoch(self, loader, epoch: int, progress: TrainingProgress) -> dict:
        self.model.train()
        totals, count = {}, 0
        progress.start_epoch(epoch, len(loader), first=epoch)
        ready = time.perf_counter()
        for batch in loader:
            fetched = time.perf_counter()
            batch = to_device(batch, self.placement.device, self.placement.channels_last)
            if self.data.on_device:
                batch["x"], batch["y"] = self._device_augment(batch)
            set_learning_rate(self.optimizer, self.schedule.rate(self.step))
            values = self._train_step(batch["x"], batch["y"])
            self.step += 1
            n = batch["x"].shape[0]
            count += n
            for key, value in values.items():
                totals[key] = totals.get(key, 0.0) + value * n
            done = time.perf_counter()
            progress.step(n, fetched - ready, done - fetched, {k: v / count for k, v in totals.items()})
            ready = done
        return {k: v / max(count, 1) for k, v in totals.items()}

    def _device_augment(self, batch: dict):
        pre = self.data.preprocessor
        x, y = augment_batch(batch, fill_mode=pre.fill_mode, cval=pre.cval, target_kind=pre.target_kind)
        return finish_batch(x, y, pre)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict:
        self.optimizer.zero_grad(set_to_none=True)
        with self.placement.autocast():
            pred = self.model(x)
        data_loss = self.loss_fn(pred.float(), y)
        loss = data_loss + self.model.regularization_loss()
        if not torch.isfinite(loss):
            raise BackendError(f"the loss became {loss.item()} at step {self.step}; lower "
                               f"learning_rate_schedule.learning_rate or check the data normalization")
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        with torch.no_grad():
            values = {"loss": loss.item()}
            values.update({name: fn(pred.float(), y).item() for name, fn in self.monitors.items()})
        return values

    @torch.no_grad()
    def _evaluate(self, loader) -> dict:
        self.model.eval()
        totals, count = {}, 0
        for batch in loader:
            batch = to_device(batch, self.placement.device, self.placement.channels_last)
            with self.placement.autocast():
                pred = self.model(batch["x"])
            pred, y = pred.float(), batch["y"]
            values = {"loss": (self.loss_fn(pred, y) + self.model.regularization_loss()).item()}
            values.update({name: fn(pred, y).item() for name, fn in self.monitors.items()})
            n = pred.shape[0]
            count += n
            for key, value in values.items():
                totals[key] = totals.get(key, 0.0) + value * n
        return {k: v / max(count, 1) for k, v in totals.items()}

    def _record(self, epoch: int, logs: dict) -> None:
        if self.csv is not None:
            self.csv.write(epoch, logs)
        if self.tensorboard is not None:
            self.tensorboard.add_scalars(epoch, logs)

    def _after_epoch(self, epoch: int, decision) -> str:
        notes = []
        if decision.save_checkpoint:
            self._save(self.config.save_configurations.save_checkpoints_path, epoch)
            notes.append("checkpoint saved")
        if decision.reduced_to is not None:
            notes.append(f"{decision.reason}: learning rate {decision.reduced_to:.3g}")
        if decision.stop:
            notes.append(f"early stop: {decision.reason}")
        return ", ".join(notes)


def train(run: Run, builders: dict) -> TrainResult:
    return Trainer(run, builders).run()

