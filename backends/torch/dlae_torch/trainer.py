"""Training sessions for CNN and FCN on PyTorch.

The epoch loop, schedules, callbacks and logs are the core's (dlae_core.training.loop);
this module supplies the PyTorch steps: forward, loss, backward, optimizer, saving.
"""

from __future__ import annotations

import attrs
import torch

from dlae_core.config.convert import config_to_dict
from dlae_core.errors import BackendError
from dlae_core.running.run import Run, refuse_existing, training_outputs
from dlae_core.training.loop import LoopResult, TrainingLoop

from dlae_torch import metrics as metric_fns
from dlae_torch.device import choose_placement
from dlae_torch.device_augment import augment_batch, finish_batch
from dlae_torch.loader import EpochIndexed, EpochSampler, make_loader, to_device
from dlae_torch.modelfile import load_model_file, save_model_file
from dlae_torch.optimizers import main_optimizer, set_learning_rate
from dlae_torch.setup import DataSetup, build_model, make_loss, prepare_data


@attrs.define
class TrainResult:
    epochs_run: int
    history: list[dict]
    model: torch.nn.Module
    stopped_early: bool = False


class TorchSteps:
    """The StepEngine of the core loop for one PyTorch model. Subclasses for other techniques
    (bbd.py) override ``techniques`` and :meth:`_build` (data, model, loss, monitors)."""

    techniques: tuple[str, ...] = ("CNN", "FCN")

    def __init__(self, run: Run, builders: dict):
        self.run_info, self.config = run, run.config
        if run.plan.technique not in self.techniques:
            raise BackendError(f"the torch backend trains CNN and FCN models; {run.plan.technique} training "
                               f"is not available in this version")
        self.graph = run.plan.graphs["model"]
        # A continued run appends to its CSV history, which is therefore not "overwritten".
        resumed_csv = [self.config.save_configurations.save_csv_path] if self.config.paths.load_checkpoint else []
        refuse_existing(training_outputs(self.config), run.options.overwrite, keep=[p for p in resumed_csv if p])
        self.placement = choose_placement(self.config, len(self.graph.input_shapes[0]) - 1)
        torch.manual_seed(self.config.augmentation.random_seed)
        self._build(run, builders)
        self.optimizer = main_optimizer(self.config, self.model.parameters())
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.placement.dtype == torch.float16)
        self.loop_state: dict = {}

    def _build(self, run: Run, builders: dict) -> None:
        """``data``, ``model``, ``loss_fn`` and ``monitors`` of a CNN/FCN session."""
        on_device = self.placement.device.type == "cuda" and self.config.augmentation.apply_augmentation_switch
        self.data: DataSetup = prepare_data(run, on_device=on_device)
        self.model = build_model(self.graph, builders, self.placement)
        self.loss_fn = make_loss(run, builders, self.data)
        self.monitors = metric_fns.monitors(self.config)
        if run.registry.losses[self.config.loss_function.loss].target == "dense":
            self.monitors.pop("accuracy", None)  # accuracy of a regression means nothing

    # -- StepEngine ------------------------------------------------------------------------------
    def set_learning_rate(self, rate: float) -> None:
        set_learning_rate(self.optimizer, rate)

    def train_step(self, batch: dict) -> tuple[int, dict]:
        if not self.model.training:  # train() walks every module: ~1.5 ms a step on a small U-Net
            self.model.train()
        x, y = self._inputs(batch, train=True)
        self.optimizer.zero_grad(set_to_none=True)
        with self.placement.autocast():
            pred = self.model(x)
        loss = self.loss_fn(pred.float(), y) + self.model.regularization_loss()
        if not torch.isfinite(loss):
            raise BackendError(non_finite_message(loss.item(), x, y))
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return x.shape[0], self._values(loss, pred, y)

    @torch.no_grad()
    def eval_step(self, batch: dict) -> tuple[int, dict]:
        if self.model.training:
            self.model.eval()
        x, y = self._inputs(batch, train=False)
        with self.placement.autocast():
            pred = self.model(x)
        loss = self.loss_fn(pred.float(), y) + self.model.regularization_loss()
        return x.shape[0], self._values(loss, pred, y)

    def save(self, path: str, state: dict) -> None:
        state = {**state, "optimizer": self.optimizer.state_dict()}
        save_model_file(path, config_dict=config_to_dict(self.config, self.run_info.registry, legacy=False),
                        graph_role="model", model=self.model, stats=self.data.stats_dict(), training_state=state)

    # -- helpers -----------------------------------------------------------------------------------
    def _inputs(self, batch: dict, *, train: bool):
        batch = to_device(batch, self.placement.device, self.placement.channels_last)
        if train and self.data.on_device:
            pre = self.data.preprocessor
            x, y = augment_batch(batch, fill_mode=pre.fill_mode, cval=pre.cval, target_kind=pre.target_kind)
            return finish_batch(x, y, pre)
        return batch["x"], batch["y"]

    @torch.no_grad()
    def _values(self, loss: torch.Tensor, pred: torch.Tensor, y: torch.Tensor) -> dict:
        values = {"loss": loss.item()}
        values.update({name: fn(pred.float(), y).item() for name, fn in self.monitors.items()})
        return values

    def resume(self, path: str) -> dict:
        """Load weights and optimizer state of a checkpoint; returns the loop state saved with it."""
        payload = load_model_file(path)
        try:
            self.model.load_state_dict(payload["state_dict"])
        except RuntimeError as exc:
            raise BackendError(f"checkpoint {path!r} does not fit this config's network: "
                               f"{str(exc).splitlines()[0]}") from None
        state = payload.get("training_state") or {}
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        return state


def non_finite_message(value: float, x: torch.Tensor, y: torch.Tensor) -> str:
    """Why the loss is NaN/Inf, in the user's terms."""
    if not torch.isfinite(x).all() or (y is not None and not torch.isfinite(y.float()).all()):
        return (f"the loss became {value} because a training batch holds NaN or Inf values; "
                f"check the data files (dlae validate reads only a few samples of each)")
    return (f"the loss became {value}; lower learning_rate_schedule.learning_rate or check the "
            f"data normalization")


def train(run: Run, builders: dict, steps_class: type = TorchSteps,
          loop_class: type = TrainingLoop) -> TrainResult:
    """A Train / Train from Checkpoint session: ``steps_class`` (the step engine) driven by the core's
    ``loop_class`` over this backend's loaders (BBD passes its detection engine and loop)."""
    steps = steps_class(run, builders)
    loop = loop_class(run.config, steps, quiet=run.options.quiet, note=steps.placement.note)
    if run.config.paths.load_checkpoint:
        loop.load_state(steps.resume(run.config.paths.load_checkpoint))
    cfg, pin = run.config.training_configurations, steps.placement.device.type == "cuda"
    train_set = EpochIndexed(steps.data.train)
    sampler = EpochSampler(len(train_set))
    loader = make_loader(train_set, cfg.batch_size, workers=run.options.workers, pin=pin, sampler=sampler)
    validation = (make_loader(steps.data.validation, cfg.batch_size, workers=run.options.workers, pin=pin)
                  if steps.data.validation is not None else None)
    result: LoopResult = loop.run(loader, validation, set_epoch=sampler.set_epoch)
    return TrainResult(result.last_epoch + 1 - loop.start_epoch, result.history, steps.model, result.stopped_early)
