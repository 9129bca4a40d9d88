"""The supervised step engine of the torch backend (CNN, FCN, and any technique trained on
(x, y) pairs): forward, loss, backward, optimizer step, saving and resuming. The session around it
-- data, loop, schedules, callbacks, logs -- is the core's (dlae_core.running.training)."""

from __future__ import annotations

import math
from copy import deepcopy

import torch

from dlae_core.config.convert import config_to_dict
from dlae_core.errors import ModelFileError, TrainingError
from dlae_core.running.steps import SupervisedSteps

from dlae_torch import random_state
from dlae_torch.distributed import batch_weight, parallel, peer_safe, rank_generators
from dlae_torch import metrics as metric_fns
from dlae_torch.device_augment import augment_batch, finish_batch
from dlae_torch.loader import to_device
from dlae_torch.model import with_penalties
from dlae_torch.modelfile import load_model_file, model_payload, write_payload
from dlae_torch.optimizers import set_learning_rate


class TorchSteps(SupervisedSteps):
    """The StepEngine of the core loop for one PyTorch model (what it holds: SupervisedSteps). In a
    data-parallel run the training step calls the model through DistributedDataParallel
    (``network``); everything else uses the model itself."""

    #: parameters some steps leave without gradient (a detector's main path beyond its hooks)
    unused_parameters = False

    def monitor_functions(self, config) -> dict:
        return metric_fns.monitors(config)

    def optimized_parameters(self):
        return self.model.parameters()

    def ready(self) -> None:
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.placement.dtype == torch.float16)
        synchronized = self.config.training_configurations.synchronized_batch_normalization
        self.network = parallel(self.model, self.placement, synchronized=synchronized, unused=self.unused_parameters)
        rank_generators()

    # -- StepEngine ------------------------------------------------------------------------------
    def set_learning_rate(self, rate: float) -> None:
        set_learning_rate(self.optimizer, rate)

    @peer_safe
    def train_step(self, batch: dict) -> tuple[int, dict]:
        if not self.model.training:  # train() walks every module: ~1.5 ms a step on a small U-Net
            self.model.train()
        weight = batch_weight(batch)  # this process's share of the global batch (None: one process)
        x, y = self._inputs(batch, train=True)
        self.optimizer.zero_grad(set_to_none=True)
        with self.placement.autocast():
            pred = self.network(x)
        loss = with_penalties(self.loss_fn(pred.float(), y), self.model)
        value = loss.item()  # the one read of the loss: the finiteness check and the reported value
        if not math.isfinite(value):
            raise TrainingError(non_finite_message(value, x, y))
        self.scaler.scale(loss if weight is None or weight == 1.0 else loss * weight).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return x.shape[0], self._values(value, pred, y)

    @torch.no_grad()
    def eval_step(self, batch: dict) -> tuple[int, dict]:
        if self.model.training:
            self.model.eval()
        x, y = self._inputs(batch, train=False)
        with self.placement.autocast():
            pred = self.model(x)
        loss = with_penalties(self.loss_fn(pred.float(), y), self.model)
        return x.shape[0], self._values(loss.item(), pred, y)

    def save(self, path: str, state: dict) -> None:
        write_payload(path, self._payload(state, copy=False))

    def save_later(self, path: str, state: dict):
        """A function writing the model file of now to ``path`` (dlae_core.training.saver)."""
        payload = self._payload(state, copy=True)
        return lambda: write_payload(path, payload)

    def _payload(self, state: dict, *, copy: bool) -> dict:
        optimizer = self.optimizer.state_dict()  # references to the live moment tensors
        # the generators' states too: a resumed run draws the same dropout masks as an uninterrupted one
        state = {**state, "optimizer": deepcopy(optimizer) if copy else optimizer, **random_state.snapshot(self.model)}
        return model_payload(config_dict=config_to_dict(self.config, self.run_info.registry, legacy=False),
                             graph_role="model", model=self.model, stats=self.data.stats_dict(), training_state=state,
                             copy=copy)

    # -- helpers -----------------------------------------------------------------------------------
    def _inputs(self, batch: dict, *, train: bool):
        batch = to_device(batch, self.placement.device, self.placement.channels_last)
        if train and self.data.on_device:
            pre = self.data.preprocessor
            x, y = augment_batch(batch, fill_mode=pre.fill_mode, cval=pre.cval, target_kind=pre.target_kind)
            return finish_batch(x, y, pre)
        return batch["x"], batch["y"]

    @torch.no_grad()
    def _values(self, loss: float, pred: torch.Tensor, y: torch.Tensor) -> dict:
        values = {"loss": loss}
        values.update({name: fn(pred.float(), y).item() for name, fn in self.monitors.items()})
        return values

    def resume(self, path: str) -> dict:
        """Load weights and optimizer state of a checkpoint; returns the loop state saved with it."""
        payload = load_model_file(path)
        try:
            self.model.load_state_dict(payload["state_dict"])
        except RuntimeError as exc:
            raise ModelFileError(f"checkpoint {path!r} does not fit this config's network: "
                                 f"{str(exc).splitlines()[0]}") from None
        state = payload.get("training_state") or {}
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        random_state.restore(self.model, {key: state.pop(key) for key in ("torch_rng", "cuda_rng") if key in state},
                             path)
        rank_generators()  # the checkpoint holds rank 0's generators
        return state


def non_finite_message(value: float, x: torch.Tensor, y: torch.Tensor) -> str:
    """Why the loss is NaN/Inf, in the user's terms."""
    if not torch.isfinite(x).all() or (y is not None and not torch.isfinite(y.float()).all()):
        return (f"the loss became {value} because a training batch holds NaN or Inf values; "
                f"check the data files (dlae validate reads only a few samples of each)")
    return (f"the loss became {value}; lower learning_rate_schedule.learning_rate or check the "
            f"data normalization")
