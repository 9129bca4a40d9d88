"""Map-style BBD datasets, numpy only, like :mod:`dlae_core.data.datasets`.

A framework loader wraps them (``DataLoader(dataset, batch_size, shuffle=False)``);
items are dicts of numpy arrays, every random choice is seeded from
``(seed, epoch, index)``. Typical training use::

    anchors = make_anchors(config.bbd_options, image_hw, plan.main.hook_shapes())
    train = DetectionTrainingSamples(pre, splits["train"], config.bbd_options, anchors, image_hw,
                                     config.bbd_options.number_classes, aug.random_seed, aug.rounds,
                                     aug.apply_augmentation_switch)
    val = DetectionEvaluationSamples(pre, splits["validation"], config.bbd_options, anchors, image_hw,
                                     config.bbd_options.number_classes)
    # per validation batch: detections = decode(scores, offsets, anchors, bbd, image_hw)
    #                       truths = unpad_boxes(batch["boxes"], batch["n_boxes"])
    # then mean_average_precision(all detections, all truths, C)

Per sample: X is read, given a channel axis, channel-repeated, standardized and
normalized (``Preprocessor.load`` then ``finish``; CNN/FCN augmentation settings,
ZCA and ``categorical_switch`` do not apply); y is read as float32 (k, 5) (a 1-D
single box becomes one row, an empty array no boxes) and checked
(:func:`~dlae_core.techniques.bbd.encode.check_boxes`). Training then augments
(:func:`~dlae_core.techniques.bbd.augment.augment_detection`, ``rounds`` trials) when switched on.

Deviation from the original: a sample without boxes (stored empty, or all boxes dropped by
augmentation) is kept with all-background targets instead of being dropped, so every batch
has ``batch_size`` samples.
"""

from __future__ import annotations

import numpy as np

from dlae_core.data.datasets import PredictionSamples, TrainingSamples, _position
from dlae_core.data.hdf5 import SampleFile
from dlae_core.data.preprocess import Preprocessor
from dlae_core.data.splits import DataSplit
from dlae_core.techniques.bbd.augment import augment_detection
from dlae_core.techniques.bbd.encode import check_boxes, encode_image

__all__ = ["DetectionTrainingSamples", "DetectionEvaluationSamples", "DetectionPredictionSamples", "read_boxes",
           "count_max_boxes", "unpad_boxes"]

_BBD_AUGMENT_STREAM = 3

DetectionPredictionSamples = PredictionSamples  # items {"x", "name"}; nothing BBD-specific at inference


def read_boxes(preprocessor: Preprocessor, split: DataSplit, name: str, n_classes: int) -> np.ndarray:
    """The checked boxes float32 (k, 5) of sample ``name`` (DataError for malformed boxes)."""
    y = preprocessor.read_y(split, name)
    return check_boxes(y, n_classes, f"{split.y_path}, sample {name!r}")


def _image(preprocessor: Preprocessor, split: DataSplit, name: str) -> np.ndarray:
    x = preprocessor.standardize(preprocessor.read_x(split, name))
    return preprocessor.finish(x, None, name)[0]


def count_max_boxes(split: DataSplit) -> int:
    """Most boxes in one sample of ``split`` (from the y file's metadata; at least 1)."""
    most = 1
    with SampleFile(split.y_path) as handle:
        for name in split.names:
            shape = handle.shape(name)
            count = 0 if int(np.prod(shape)) == 0 else (1 if len(shape) <= 1 else int(np.prod(shape[:-1])))
            most = max(most, count)
    return most


def unpad_boxes(boxes: np.ndarray, n_boxes: np.ndarray) -> list[np.ndarray]:
    """Batched padded ``boxes`` (B, M, 5) and counts ``n_boxes`` (B,) -> list of (k_i, 5) arrays."""
    boxes = np.asarray(boxes)
    return [boxes[i, :int(k)] for i, k in enumerate(np.asarray(n_boxes).reshape(-1))]


class DetectionTrainingSamples(TrainingSamples):
    """Training samples ``{"x": (H, W, C) float32, "y": (N, C+5) float32}`` (targets of
    :func:`~dlae_core.techniques.bbd.encode.encode_image` against ``anchors``).

    ``len`` is ``rounds * N``; epoch order as :class:`~dlae_core.data.datasets.TrainingSamples`
    (shuffled per epoch with ``shuffle``, default the config's shuffle_data_switch). Item ``i``
    of epoch e augments (when ``augment``) with ``default_rng([seed, 3, e, i])`` and up to
    ``rounds`` trials per translate/zoom step. Call :meth:`set_epoch` before each epoch.
    """

    def __init__(self, preprocessor: Preprocessor, split: DataSplit, bbd_options, anchors: np.ndarray,
                 image_hw, n_classes: int, seed: int, rounds: int = 1, augment: bool = True,
                 shuffle: bool | None = None):
        super().__init__(preprocessor, split, None, seed, rounds, augment, on_device=False, shuffle=shuffle)
        self.bbd, self.anchors = bbd_options, np.asarray(anchors, dtype=np.float64)
        self.image_hw, self.n_classes = (int(image_hw[0]), int(image_hw[1])), int(n_classes)

    def rng(self, index: int) -> np.random.Generator:
        """The augmentation generator of item ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, _BBD_AUGMENT_STREAM, self.epoch, _position(index, len(self))])

    def params(self, index: int):
        raise NotImplementedError("BBD samples have no affine parameters; see rng() and augment_detection()")

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Item ``index`` before encoding: (image, boxes (k, 5) in pixels after augmentation)."""
        name = self.name(index)
        x = _image(self.preprocessor, self.split, name)
        boxes = read_boxes(self.preprocessor, self.split, name, self.n_classes)
        if self.augment:
            x, boxes = augment_detection(x, boxes, self.rng(index), self.rounds)
        return x, boxes

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        x, boxes = self.sample(index)
        return {"x": x, "y": encode_image(boxes, self.anchors, self.bbd, self.image_hw, self.n_classes)}


class DetectionEvaluationSamples:
    """Validation/test samples with targets, in split order, no augmentation:
    ``{"x", "y" (N, C+5), "boxes" (max_boxes, 5) float32 (zero rows after the real ones),
    "n_boxes" int64 scalar}``; ``max_boxes`` defaults to the most boxes of a sample of the split
    (:func:`count_max_boxes`). :func:`unpad_boxes` recovers the ground truth of a batch for mAP."""

    fixed_items = True  # the same items every epoch: kept in memory whole (dlae_core.data.memory)

    def __init__(self, preprocessor: Preprocessor, split: DataSplit, bbd_options, anchors: np.ndarray, image_hw,
                 n_classes: int, max_boxes: int | None = None):
        if split.y_path is None:
            raise ValueError("evaluation samples need a split with targets")
        self.preprocessor, self.split, self.bbd = preprocessor, split, bbd_options
        self.anchors = np.asarray(anchors, dtype=np.float64)
        self.image_hw, self.n_classes = (int(image_hw[0]), int(image_hw[1])), int(n_classes)
        self.max_boxes = int(max_boxes) if max_boxes is not None else count_max_boxes(split)

    def __len__(self) -> int:
        return len(self.split.names)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        name = self.split.names[_position(index, len(self))]
        x = _image(self.preprocessor, self.split, name)
        boxes = read_boxes(self.preprocessor, self.split, name, self.n_classes)
        if len(boxes) > self.max_boxes:
            raise ValueError(f"sample {name!r} has {len(boxes)} boxes, more than max_boxes={self.max_boxes}")
        padded = np.zeros((self.max_boxes, 5), np.float32)
        padded[:len(boxes)] = boxes
        return {"x": x, "y": encode_image(boxes, self.anchors, self.bbd, self.image_hw, self.n_classes),
                "boxes": padded, "n_boxes": np.asarray(len(boxes), dtype=np.int64)}
