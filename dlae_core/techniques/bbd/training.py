"""A BBD training session, framework-free: data, box checks, validation mAP, the epoch loop.

Both backends train BBD through these pieces (``dlae_torch.bbd`` / ``dlae_tensorflow.bbd``):

* :func:`prepare_detection_data` -- splits, preprocessing, the one anchor set
  (:func:`~dlae_core.techniques.bbd.anchors.make_anchors` on the hooks of the plan's graph), training samples
  (augmented when ``apply_augmentation_switch``) and validation samples with their boxes; every
  box of the training and validation targets is checked **before training starts**
  (:func:`check_all_boxes`: wrong column count, class outside 1..number_classes, xmax <= xmin or
  ymax <= ymin, NaN/Inf give one DataError line each);
* :class:`ValidationMap` -- collects decoded detections and ground truth over the validation
  batches and gives mAP@0.5;
* :class:`DetectionLoop` -- the core :class:`~dlae_core.training.loop.TrainingLoop` whose
  validation also reports ``val_mAP`` (progress line, CSV history, TensorBoard); checkpoints and
  schedules keep following ``val_loss``.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import numpy as np

from dlae_core.data.datasets import feature_stats
from dlae_core.data.hdf5 import SampleFile
from dlae_core.data.preprocess import Preprocessor
from dlae_core.data.splits import DataSplit, make_splits
from dlae_core.errors import DataError, problem
from dlae_core.training.loop import TrainingLoop
from dlae_core.techniques.bbd.anchors import make_anchors
from dlae_core.techniques.bbd.datasets import DetectionEvaluationSamples, DetectionTrainingSamples, unpad_boxes
from dlae_core.techniques.bbd.decode import decode
from dlae_core.techniques.bbd.encode import check_boxes
from dlae_core.techniques.bbd.heads import split_output
from dlae_core.techniques.bbd.metrics import mean_average_precision

__all__ = ["DetectionData", "prepare_detection_data", "check_all_boxes", "ValidationMap", "DetectionLoop",
           "MAP_KEY", "image_hw", "decoding_options", "DECODING_KEYS"]

MAP_KEY = "mAP"
MAX_BOX_PROBLEMS = 5
DECODING_KEYS = ("confidence_threshold", "iou_threshold", "top_k", "nms_maximum_output")


def image_hw(config) -> tuple[int, int]:
    """(H, W) of the network input (``config_file.input_shape``), where anchors are placed."""
    shape = config.config_file.input_shape
    return int(shape[0]), int(shape[1])


def decoding_options(config, saved_config):
    """bbd_options for decoding at inference: the saved model's anchor geometry (so decoding uses
    the anchors the model was trained with) with the inference config's decoding settings
    (``DECODING_KEYS``)."""
    return attrs.evolve(saved_config.bbd_options,
                        **{key: getattr(config.bbd_options, key) for key in DECODING_KEYS})


def check_all_boxes(split: DataSplit, n_classes: int, key: str) -> None:
    """Read every target of ``split`` and raise one DataError listing the first malformed samples
    (see :func:`~dlae_core.techniques.bbd.encode.check_boxes`), or saying that the split holds no box at all;
    boxes are small, so this is cheap."""
    problems = []
    bad = boxes = 0
    with SampleFile(split.y_path) as handle:
        for name in split.names:
            try:
                boxes += len(check_boxes(handle.read(name), n_classes, key))
            except DataError as exc:
                bad += 1
                if len(problems) < MAX_BOX_PROBLEMS:
                    problems.extend(problem(p.where, f"{split.y_path}, sample {name!r}: {p.what}",
                                            expected=p.expected, received=p.received) for p in exc.problems)
    if problems:
        if bad > len(problems):
            last = problems[-1]
            problems[-1] = problem(last.where, f"{last.what} ({bad} malformed samples in all)",
                                   expected=last.expected, received=last.received)
        raise DataError(problems)
    if boxes == 0:  # nothing to learn from or to score: the loss and mAP would be 0 every epoch
        raise DataError([problem(key, f"{split.y_path} holds no boxes in any of its {len(split.names)} "
                                      f"samples used here", expected="annotated objects: (n_boxes, 5) rows "
                                      "[class_id, xmin, ymin, xmax, ymax] in at least one sample",
                                 received=0)])


@attrs.define
class DetectionData:
    """The data of a BBD training session (cf. :class:`dlae_core.training.data_setup.DataSetup`)."""

    preprocessor: Preprocessor
    train: DetectionTrainingSamples
    validation: DetectionEvaluationSamples | None
    anchors: np.ndarray
    image_hw: tuple[int, int]
    n_classes: int
    stats: object = None
    on_device: bool = False  # BBD augmentation always runs in the loader (boxes move with the image)

    def stats_dict(self) -> dict | None:
        if self.stats is None:
            return None
        return {"mean": np.asarray(self.stats.mean), "std": np.asarray(self.stats.std)}


def prepare_detection_data(config, plan, registry) -> DetectionData:
    """Splits, preprocessing, anchors and samples of a BBD Train session (DataError for bad boxes)."""
    splits = make_splits(config, "Train")
    bbd = config.bbd_options
    n_classes = int(bbd.number_classes)
    for split in splits.values():
        key = "paths.train_y" if split.y_path == config.paths.train_y else "paths.validation_y"
        check_all_boxes(split, n_classes, key)
    pre = Preprocessor(config, plan, registry)
    stats = feature_stats(pre, splits["train"]) if pre.needs_stats else None
    if stats is not None:
        pre = pre.with_stats(stats)
    hw = image_hw(config)
    anchors = make_anchors(bbd, hw, plan.main.hook_shapes())
    aug = config.augmentation
    train = DetectionTrainingSamples(pre, splits["train"], bbd, anchors, hw, n_classes, aug.random_seed, aug.rounds,
                                     aug.apply_augmentation_switch)
    validation = (DetectionEvaluationSamples(pre, splits["validation"], bbd, anchors, hw, n_classes)
                  if "validation" in splits else None)
    return DetectionData(pre, train, validation, anchors, hw, n_classes, stats)


class ValidationMap:
    """mAP@0.5 over one pass of validation batches: :meth:`reset`, :meth:`add` per batch (network
    output and the batch's padded boxes), :meth:`result`."""

    def __init__(self, bbd, anchors: np.ndarray, image_hw, n_classes: int, iou_threshold: float = 0.5):
        self.bbd, self.anchors, self.image_hw = bbd, np.asarray(anchors), tuple(image_hw)
        self.n_classes, self.iou_threshold = int(n_classes), float(iou_threshold)
        self.reset()

    def reset(self) -> None:
        self.detections: list[np.ndarray] = []
        self.truths: list[np.ndarray] = []

    def add(self, output: np.ndarray, boxes: np.ndarray, n_boxes: np.ndarray) -> None:
        scores, offsets = split_output(np.asarray(output, dtype=np.float64))
        self.detections.extend(decode(scores, offsets, self.anchors, self.bbd, self.image_hw))
        self.truths.extend(unpad_boxes(np.asarray(boxes), np.asarray(n_boxes)))

    def gather(self, collective) -> None:
        """Take every process's detections and truths, in rank order (each rank evaluated a contiguous
        part of the validation data: dlae_core.running.distributed.evaluation_part)."""
        parts = collective.gather((self.detections, self.truths))
        self.detections = [d for detections, _ in parts for d in detections]
        self.truths = [t for _, truths in parts for t in truths]

    def result(self) -> float:
        value, _ = mean_average_precision(self.detections, self.truths, self.n_classes, self.iou_threshold)
        return value


@attrs.define
class DetectionLoop(TrainingLoop):
    """The core training loop; the engine also has ``begin_evaluation()`` and
    ``end_evaluation() -> dict`` (e.g. ``{"mAP": value}``), called around each validation pass, whose
    values are logged with the ``val_`` prefix."""

    def _evaluate(self, batches: Iterable) -> dict:
        self.engine.begin_evaluation()
        logs = super()._evaluate(batches)
        logs.update(self.engine.end_evaluation())
        return logs


class DetectionEvaluation:
    """Mixin for a backend's BBD step engine (first base, before the backend's SupervisedSteps
    subclass): no accuracy monitor, validation mAP@0.5 from the batches its ``eval_step`` adds to
    ``self.validation_map``."""

    def monitor_functions(self, config) -> dict:
        return {}  # accuracy has no meaning for detection; mAP comes from end_evaluation

    def ready(self) -> None:
        super().ready()
        data = self.data
        self.validation_map = ValidationMap(self.config.bbd_options, data.anchors, data.image_hw, data.n_classes)

    def begin_evaluation(self) -> None:
        self.validation_map.reset()

    def end_evaluation(self) -> dict:
        if getattr(self, "collective", None) is not None:  # a data-parallel run: mAP over every process's part
            self.validation_map.gather(self.collective)
        return {"mAP": self.validation_map.result()}
