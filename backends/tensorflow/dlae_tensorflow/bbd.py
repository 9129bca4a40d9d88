"""BBD (SSD-style detection) sessions on TensorFlow: training, inference, and the tensorflow side of
``dlae check`` (TECHNIQUES.md §9) -- module for module ``dlae_torch.bbd``.

Training reuses the CNN/FCN machinery: :class:`TensorflowDetectionSteps` is a
:class:`~dlae_tensorflow.trainer.TensorflowSteps` (its compiled train step, saving, resuming)
whose model is the detector of :mod:`.bbd_model` and whose loss is the SSD loss; the data
(anchors, targets, augmentation, box checks) and the epoch loop with validation mAP@0.5 are the
core's (:mod:`dlae_core.techniques.bbd.training`). Inference writes one dataset per input image, named as the
input, holding (k, 6) rows ``[class, confidence, xmin, ymin, xmax, ymax]`` in input pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from dlae_core.techniques.bbd.prediction import DetectionJob
from dlae_core.techniques.bbd.training import DetectionLoop, ValidationMap, prepare_detection_data
from dlae_core.config.parser import parse_config
from dlae_core.errors import BackendError, ModelFileError
from dlae_core.running.prediction import claim_predictions_path, saved_plan
from dlae_core.running.run import Run

from dlae_tensorflow import require_tensorflow_keras
from dlae_tensorflow.bbd_model import (DetectionModel, build_detector, export_detector_weights, import_detector_weights,
                        ssd_loss)
from dlae_tensorflow.device import choose_placement
from dlae_tensorflow.model import count_params, regularization_loss
from dlae_tensorflow.modelfile import load_model_file
from dlae_tensorflow.predictor import write_outputs
from dlae_tensorflow.trainer import TensorflowSteps, TrainResult, train, _signature

keras = require_tensorflow_keras()

__all__ = ["TensorflowDetectionSteps", "train_bbd", "predict_bbd", "load_detector"]


class TensorflowDetectionSteps(TensorflowSteps):
    """The StepEngine of a BBD session: TensorflowSteps' train step, saving and resuming on the
    detector; evaluation also decodes the validation batches for mAP@0.5."""

    techniques = ("BBD",)

    def _build(self, run: Run, builders: dict) -> None:
        config = self.config
        self.data = prepare_detection_data(config, run.plan, run.registry)
        self.model: DetectionModel = build_detector(self.graph, config.bbd_options, builders, self.placement)
        self.loss_fn = ssd_loss(config.loss_function.parameter1, config.loss_function.parameter2)
        self.monitors = {}  # accuracy has no meaning for detection; mAP comes from end_evaluation
        self.sparse = False
        self.validation_map = ValidationMap(config.bbd_options, self.data.anchors, self.data.image_hw,
                                            self.data.n_classes)

    def export_model_weights(self) -> dict:
        return export_detector_weights(self.model)

    def import_model_weights(self, weights: dict) -> None:
        import_detector_weights(self.model, weights)

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


def train_bbd(run: Run, builders: dict) -> TrainResult:
    """A BBD Train / Train from Checkpoint session on TensorFlow."""
    return train(run, builders, TensorflowDetectionSteps, DetectionLoop)


# -- inference ------------------------------------------------------------------------------------
def load_detector(path: str, registry, builders: dict, placement):
    """(detector, plan of the saved config, payload) of a BBD model file."""
    payload = load_model_file(path)
    plan = saved_plan(payload, registry, path, technique="BBD")
    saved = parse_config(payload["config"], registry, source=path)
    model = build_detector(plan.graphs["model"], saved.bbd_options, builders, placement)
    try:
        import_detector_weights(model, payload["weights"])
    except BackendError as exc:
        raise ModelFileError(f"the weights stored in {path!r} do not fit its detector: "
                             f"{str(exc).splitlines()[0]}") from None
    return model, plan, payload


def predict_bbd(run: Run, builders: dict) -> tuple[Path, int]:
    """Detections for every image of ``paths.test_X`` (dlae_core.techniques.bbd.prediction.DetectionJob)."""
    config = run.config
    out_path = claim_predictions_path(run)
    placement = choose_placement(config, 2)
    model, plan, payload = load_detector(config.paths.load_model, run.registry, builders, placement)
    job = DetectionJob.create(run, plan, payload, config.paths.load_model)
    return out_path, write_outputs(run, model, placement, job, out_path)


# -- dlae check (dlae_core.techniques.bbd.parity) ------------------------------------------------------------
def parity_build(graph, bbd, registry) -> DetectionModel:
    keras.utils.set_random_seed(0)
    return build_detector(graph, bbd, registry.builders("tensorflow"))


def parity_count_params(model) -> tuple[int, int]:
    return count_params(model)


def parity_export(model) -> dict:
    return export_detector_weights(model)


def parity_import(model, weights: dict) -> None:
    import_detector_weights(model, weights)


def parity_forward(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(np.ascontiguousarray(x, dtype=np.float32), training=False), dtype=np.float32)


def parity_loss(outputs: np.ndarray, targets: np.ndarray, neg_pos_ratio: float, alpha: float) -> float:
    return float(ssd_loss(neg_pos_ratio, alpha)(tf.constant(outputs, tf.float32), tf.constant(targets, tf.float32)))
