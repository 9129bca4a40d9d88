"""The tensorflow implementation of technique BBD (SSD-style detection): the detector (layer graph +
predictor heads, :mod:`dlae_tensorflow.bbd_model`), its step engine and the SSD loss -- module for
module ``dlae_torch.bbd``.

The session -- detection data, box checks, the loop with validation mAP@0.5, predictions -- is the
core's (:mod:`dlae_core.techniques.bbd`).
"""

from __future__ import annotations

import tensorflow as tf

from dlae_core.techniques.bbd.implementation import detection_implementation
from dlae_core.techniques.bbd.training import DetectionEvaluation

from dlae_tensorflow.bbd_model import build_detector, ssd_loss
from dlae_tensorflow.model import regularization_loss
from dlae_tensorflow.trainer import TensorflowSteps, _signature

__all__ = ["TensorflowDetectionSteps", "IMPLEMENTATIONS"]


class TensorflowDetectionSteps(DetectionEvaluation, TensorflowSteps):
    """The StepEngine of a BBD session: TensorflowSteps' compiled train step, saving and resuming on
    the detector (the backend exchanges its weights, heads included); evaluation also decodes the
    validation batches for mAP@0.5."""

    def eval_step(self, batch: dict) -> tuple[int, dict]:
        if self.mirrored is not None:  # every replica's detections, in order (all workers' too)
            size, loss, (pred, boxes, n_boxes) = self.mirrored.gather(self._judge_part, batch)
            self.validation_map.add(pred, boxes, n_boxes)
            return int(size), {"loss": loss}
        if self._eval_fn is None:
            self._eval_fn = tf.function(self._evaluate_detector, input_signature=[_signature(batch)])
        with self.placement.scope():
            loss, pred = self._eval_fn(batch)
        self.validation_map.add(pred.numpy(), batch["boxes"].numpy(), batch["n_boxes"].numpy())
        return int(pred.shape[0]), {"loss": float(loss)}

    def _evaluate_detector(self, batch: dict):
        pred = tf.cast(self.model(batch["x"], training=False), tf.float32)
        return self.loss_fn(pred, batch["y"]) + regularization_loss(self.model), pred

    def _judge_part(self, batch: dict):
        loss, pred = self._evaluate_detector(batch)
        return loss, pred, batch["boxes"], batch["n_boxes"]


#: This module's implementations of techniques (registered lazily by dlae_tensorflow.plugin).
IMPLEMENTATIONS = {"BBD": detection_implementation(build_detector, TensorflowDetectionSteps, ssd_loss)}
