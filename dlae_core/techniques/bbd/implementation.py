"""What a backend registers as its implementation of technique BBD, assembled from its parts:

    IMPLEMENTATIONS = {"BBD": detection_implementation(build_detector, TorchDetectionSteps, ssd_loss)}

``build_detector(graph, bbd_options, builders, placement)`` builds the detector (graph + heads; its
model class knows its canonical weights: ``export_canonical``/``import_canonical``),
``steps_class`` is the backend's supervised step engine with :class:`DetectionEvaluation` mixed in,
``ssd_loss(neg_pos_ratio, alpha)`` the SSD loss as ``fn(pred, target)``.
"""

from __future__ import annotations

import functools

import attrs


@attrs.define
class DetectionImplementation:
    """Technique BBD on one backend: what :class:`dlae_core.techniques.bbd.technique.BBD` asks for."""

    backend: object
    build_detector: object
    steps_class: type
    ssd_loss: object

    def build(self, graph, bbd_options, placement=None):
        """The detector of ``graph`` with the heads of ``bbd_options`` on ``placement`` (None: CPU, fp32)."""
        return self.build_detector(graph, bbd_options, self.backend.implementations, placement)

    def engine(self, run, data, placement):
        """The step engine of a BBD training session."""
        config = run.config
        model = self.build(run.plan.graphs["model"], config.bbd_options, placement)
        loss = self.loss(config.loss_function.parameter1, config.loss_function.parameter2)
        return self.steps_class(run, self.backend, data, placement, model=model, loss_fn=loss, monitors=False)

    def loss(self, neg_pos_ratio: float, alpha: float):
        return self.ssd_loss(neg_pos_ratio, alpha)


def detection_implementation(build_detector, steps_class: type, ssd_loss):
    """The class-like factory ``backend -> DetectionImplementation`` a backend registers."""
    return functools.partial(DetectionImplementation, build_detector=build_detector, steps_class=steps_class,
                             ssd_loss=ssd_loss)
