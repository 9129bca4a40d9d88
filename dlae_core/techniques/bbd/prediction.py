"""The framework-free side of a BBD inference session (cf. :mod:`dlae_core.running.prediction`).

A backend loads the detector of a model file, then :class:`DetectionJob` supplies the samples
(the saved training config's preprocessing and featurewise statistics), the anchors (the saved
config's geometry: the anchors the model was trained with) and turns each batch of network
outputs into detections -- (k, 6) rows ``[class, confidence, xmin, ymin, xmax, ymax]`` in input
pixels, decoded with the **inference** config's ``confidence_threshold``, ``iou_threshold``,
``top_k`` and ``nms_maximum_output``. ``dlae predict`` stores one such dataset per input image,
named as the input.
"""

from __future__ import annotations

import attrs
import numpy as np

from dlae_core.config.parser import parse_config
from dlae_core.planning.plan import ModelPlan
from dlae_core.running.prediction import PredictionJob
from dlae_core.techniques.bbd.anchors import make_anchors
from dlae_core.techniques.bbd.decode import decode
from dlae_core.techniques.bbd.heads import split_output
from dlae_core.techniques.bbd.training import decoding_options, image_hw

__all__ = ["DetectionJob", "PREDICTION_VALUES"]

PREDICTION_VALUES = "rows [class, confidence, xmin, ymin, xmax, ymax] in input pixels"


@attrs.frozen(eq=False)
class DetectionJob:
    job: PredictionJob
    saved_config: object
    anchors: np.ndarray
    decoding: object  # bbd_options used for decoding
    image_hw: tuple[int, int]

    @classmethod
    def create(cls, run, plan: ModelPlan, payload: dict, path: str) -> "DetectionJob":
        """``plan``: :func:`dlae_core.running.prediction.saved_plan` of ``payload`` (read from ``path``), a BBD plan."""
        saved = parse_config(payload["config"], run.registry, source=path)
        hw = image_hw(saved)
        anchors = make_anchors(saved.bbd_options, hw, plan.main.hook_shapes())
        return cls(PredictionJob.create(run, plan, payload), saved, anchors, decoding_options(run.config, saved), hw)

    @property
    def samples(self):
        return self.job.samples

    def outputs(self, outputs: np.ndarray) -> list[np.ndarray]:
        """Network outputs (B, N, C+5) -> B detection arrays (k, 6) float32 (as PredictionJob.outputs)."""
        scores, offsets = split_output(np.asarray(outputs, dtype=np.float64))
        return decode(scores, offsets, self.anchors, self.decoding, self.image_hw)

    def attributes(self, backend: str) -> dict:
        return {"backend": backend, "model": self.job.model_path, "technique": "BBD", "values": PREDICTION_VALUES}
