"""The torch implementation of technique BBD (SSD-style detection): the detector (layer graph +
predictor heads, :mod:`dlae_torch.bbd_model`), its step engine and the SSD loss.

The session -- detection data, box checks, the loop with validation mAP@0.5, predictions -- is the
core's (:mod:`dlae_core.techniques.bbd`).
"""

from __future__ import annotations

import torch

from dlae_core.techniques.bbd.implementation import detection_implementation
from dlae_core.techniques.bbd.training import DetectionEvaluation

from dlae_torch.bbd_model import build_detector, ssd_loss
from dlae_torch.loader import to_device
from dlae_torch.model import with_penalties
from dlae_torch.trainer import TorchSteps

__all__ = ["TorchDetectionSteps", "IMPLEMENTATIONS"]


class TorchDetectionSteps(DetectionEvaluation, TorchSteps):
    """The StepEngine of a BBD session: TorchSteps' train step, saving and resuming on the
    detector; evaluation also decodes the validation batches for mAP@0.5."""

    unused_parameters = True  # the layer list's main path beyond the last hook feeds no head

    @torch.no_grad()
    def eval_step(self, batch: dict) -> tuple[int, dict]:
        self.model.eval()
        batch = to_device(batch, self.placement.device, self.placement.channels_last)
        with self.placement.autocast():
            pred = self.model(batch["x"])
        loss = with_penalties(self.loss_fn(pred.float(), batch["y"]), self.model)
        self.validation_map.add(pred.float().cpu().numpy(), batch["boxes"].cpu().numpy(),
                                batch["n_boxes"].cpu().numpy())
        return batch["x"].shape[0], {"loss": loss.item()}


#: This module's implementations of techniques (registered lazily by dlae_torch.plugin).
IMPLEMENTATIONS = {"BBD": detection_implementation(build_detector, TorchDetectionSteps, ssd_loss)}
