"""BBD (SSD-style detection) sessions on PyTorch: training, inference, and the torch side of
``dlae check`` (TECHNIQUES.md §9).

Training reuses the CNN/FCN machinery: :class:`TorchDetectionSteps` is a
:class:`~dlae_torch.trainer.TorchSteps` whose model is the detector of :mod:`.bbd_model` and
whose loss is the SSD loss; the data (anchors, targets, augmentation, box checks) and the epoch
loop with validation mAP@0.5 are the core's (:mod:`dlae_core.techniques.bbd.training`).
Inference writes one dataset per input image, named as the input, holding (k, 6) rows
``[class, confidence, xmin, ymin, xmax, ymax]`` in input pixels (:func:`dlae_core.techniques.bbd.decode.decode`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlae_core.techniques.bbd.prediction import DetectionJob
from dlae_core.techniques.bbd.training import DetectionLoop, ValidationMap, prepare_detection_data
from dlae_core.config.parser import parse_config
from dlae_core.errors import ModelFileError
from dlae_core.running.prediction import claim_predictions_path, saved_plan
from dlae_core.running.run import Run

from dlae_torch.bbd_model import (DetectionModel, build_detector, export_detector_weights, import_detector_weights,
                        ssd_loss)
from dlae_torch.device import choose_placement
from dlae_torch.loader import to_device
from dlae_torch.modelfile import load_model_file
from dlae_torch.predictor import write_outputs
from dlae_torch.trainer import TorchSteps, TrainResult, train

__all__ = ["TorchDetectionSteps", "train_bbd", "predict_bbd", "load_detector"]


class TorchDetectionSteps(TorchSteps):
    """The StepEngine of a BBD session: TorchSteps' train step, saving and resuming on the
    detector; evaluation also decodes the validation batches for mAP@0.5."""

    techniques = ("BBD",)

    def _build(self, run: Run, builders: dict) -> None:
        config = self.config
        self.data = prepare_detection_data(config, run.plan, run.registry)
        self.model: DetectionModel = build_detector(self.graph, config.bbd_options, builders, self.placement)
        self.loss_fn = ssd_loss(config.loss_function.parameter1, config.loss_function.parameter2)
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


def train_bbd(run: Run, builders: dict) -> TrainResult:
    """A BBD Train / Train from Checkpoint session on PyTorch."""
    return train(run, builders, TorchDetectionSteps, DetectionLoop)


# -- inference ------------------------------------------------------------------------------------
def load_detector(path: str, registry, builders: dict, placement):
    """(detector in eval mode, plan of the saved config, payload) of a BBD model file."""
    payload = load_model_file(path)
    plan = saved_plan(payload, registry, path, technique="BBD")
    saved = parse_config(payload["config"], registry, source=path)
    model = build_detector(plan.graphs["model"], saved.bbd_options, builders, placement)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise ModelFileError(f"the weights stored in {path!r} do not fit its detector: "
                             f"{str(exc).splitlines()[0]}") from None
    return model.eval(), plan, payload


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
    torch.manual_seed(0)
    return build_detector(graph, bbd, registry.builders("torch")).eval()


def parity_count_params(model) -> tuple[int, int]:
    from dlae_torch.model import count_params

    return count_params(model)


def parity_export(model) -> dict:
    return export_detector_weights(model)


def parity_import(model, weights: dict) -> None:
    import_detector_weights(model, weights)


@torch.no_grad()
def parity_forward(model, x: np.ndarray) -> np.ndarray:
    model.eval()
    return model(torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32)).float().cpu().numpy()


@torch.no_grad()
def parity_loss(outputs: np.ndarray, targets: np.ndarray, neg_pos_ratio: float, alpha: float) -> float:
    fn = ssd_loss(neg_pos_ratio, alpha)
    return float(fn(torch.as_tensor(outputs, dtype=torch.float32), torch.as_tensor(targets, dtype=torch.float32)))

