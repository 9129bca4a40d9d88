"""The torch implementation of technique BBD (SSD-style detection): the detector (layer graph +
predictor heads, :mod:`dlae_torch.bbd_model`), its step engine and the SSD loss.

The session -- detection data, box checks, the loop with validation mAP@0.5, predictions -- is the
core's (:mod:`dlae_core.techniques.bbd`); :class:`TorchDetection` is what the core asks for.
"""

from __future__ import annotations

import torch

from dlae_core.running.run import Run
from dlae_core.techniques.bbd.training import ValidationMap

from dlae_torch.bbd_model import DetectionModel, build_detector, ssd_loss
from dlae_torch.loader import to_device
from dlae_torch.trainer import TorchSteps

__all__ = ["TorchDetection", "TorchDetectionSteps"]


class TorchDetectionSteps(TorchSteps):
    """The StepEngine of a BBD session: TorchSteps' train step, saving and resuming on the
    detector; evaluation also decodes the validation batches for mAP@0.5."""

    def _build(self, run: Run, *, model, loss_fn, monitors: bool) -> None:
        config = self.config
        self.model: DetectionModel = model if model is not None else build_detector(
            self.graph, config.bbd_options, self.backend.implementations, self.placement)
        self.loss_fn = loss_fn or ssd_loss(config.loss_function.parameter1, config.loss_function.parameter2)
        self.monitors = {}  # accuracy has no meaning for detection; mAP comes from end_evaluation
        self.validation_map = ValidationMap(config.bbd_options, self.data.anchors, self.data.image_hw,
                                            self.data.n_classes)

    @torch.no_grad()
    def eval_step(self, batch: dict) -> tuple[int, dict]:
        self.model.eval()
        batch = to_device(batch, self.placement.device, self.placement.channels_last)
        with self.placement.autocast():
            pred = self.model(batch["x"])
        loss = self.loss_fn(pred.float(), batch["y"]) + self.model.regularization_loss()
        self.validation_map.add(pred.float().cpu().numpy(), batch["boxes"].cpu().numpy(),
                                batch["n_boxes"].cpu().numpy())
        return batch["x"].shape[0], {"loss": loss.item()}

    def begin_evaluation(self) -> None:
        self.validation_map.reset()

    def end_evaluation(self) -> dict:
        return {"mAP": self.validation_map.result()}


class TorchDetection:
    """Technique BBD on torch (registered with ``register_implementations``)."""

    def __init__(self, backend):
        self.backend = backend

    def build(self, graph, bbd_options, placement=None) -> DetectionModel:
        """The detector of ``graph`` with the heads of ``bbd_options`` on ``placement`` (None: CPU)."""
        return build_detector(graph, bbd_options, self.backend.implementations, placement)

    def engine(self, run: Run, data, placement) -> TorchDetectionSteps:
        return TorchDetectionSteps(run, self.backend, data, placement)

    def loss(self, neg_pos_ratio: float, alpha: float):
        return ssd_loss(neg_pos_ratio, alpha)


#: This module's implementations of techniques (registered lazily by dlae_torch.plugin).
IMPLEMENTATIONS = {"BBD": TorchDetection}
