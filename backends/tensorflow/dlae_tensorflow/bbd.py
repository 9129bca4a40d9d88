"""The tensorflow implementation of technique BBD (SSD-style detection): the detector (layer graph +
predictor heads, :mod:`dlae_tensorflow.bbd_model`), its step engine and the SSD loss -- module for
module ``dlae_torch.bbd``.

The session -- detection data, box checks, the loop with validation mAP@0.5, predictions -- is the
core's (:mod:`dlae_core.techniques.bbd`); :class:`TensorflowDetection` is what the core asks for.
"""

from __future__ import annotations

import tensorflow as tf

from dlae_core.running.run import Run
from dlae_core.techniques.bbd.training import ValidationMap

from dlae_tensorflow.bbd_model import DetectionModel, build_detector, ssd_loss
from dlae_tensorflow.model import regularization_loss
from dlae_tensorflow.trainer import TensorflowSteps, _signature

__all__ = ["TensorflowDetection", "TensorflowDetectionSteps"]


class TensorflowDetectionSteps(TensorflowSteps):
    """The StepEngine of a BBD session: TensorflowSteps' compiled train step, saving and resuming on
    the detector (the backend exchanges its weights, heads included); evaluation also decodes the
    validation batches for mAP@0.5."""

    def _build(self, run: Run, *, model, loss_fn, monitors: bool) -> None:
        config = self.config
        self.model: DetectionModel = model if model is not None else build_detector(
            self.graph, config.bbd_options, self.backend.implementations, self.placement)
        self.loss_fn = loss_fn or ssd_loss(config.loss_function.parameter1, config.loss_function.parameter2)
        self.monitors = {}  # accuracy has no meaning for detection; mAP comes from end_evaluation
        self.sparse = False
        self.validation_map = ValidationMap(config.bbd_options, self.data.anchors, self.data.image_hw,
                                            self.data.n_classes)

    def eval_step(self, batch: dict) -> tuple[int, dict]:
        if self._eval_fn is None:
            self._eval_fn = tf.function(self._evaluate_detector, input_signature=[_signature(batch)])
        with self.placement.scope():
            loss, pred = self._eval_fn(batch)
        self.validation_map.add(pred.numpy(), batch["boxes"].numpy(), batch["n_boxes"].numpy())
        return int(pred.shape[0]), {"loss": float(loss)}

    def _evaluate_detector(self, batch: dict):
        pred = tf.cast(self.model(batch["x"], training=False), tf.float32)
        return self.loss_fn(pred, batch["y"]) + regularization_loss(self.model), pred

    def begin_evaluation(self) -> None:
        self.validation_map.reset()

    def end_evaluation(self) -> dict:
        return {"mAP": self.validation_map.result()}


class TensorflowDetection:
    """Technique BBD on tensorflow (registered with ``register_implementations``)."""

    def __init__(self, backend):
        self.backend = backend

    def build(self, graph, bbd_options, placement=None) -> DetectionModel:
        """The detector of ``graph`` with the heads of ``bbd_options`` on ``placement`` (None: CPU, fp32)."""
        return build_detector(graph, bbd_options, self.backend.implementations, placement)

    def engine(self, run: Run, data, placement) -> TensorflowDetectionSteps:
        return TensorflowDetectionSteps(run, self.backend, data, placement)

    def loss(self, neg_pos_ratio: float, alpha: float):
        return ssd_loss(neg_pos_ratio, alpha)


#: This module's implementations of techniques (registered lazily by dlae_tensorflow.plugin).
IMPLEMENTATIONS = {"BBD": TensorflowDetection}
