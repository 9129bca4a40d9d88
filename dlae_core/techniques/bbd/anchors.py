"""The one anchor generator of BBD, shared by training and decoding.

numpy only. :func:`make_anchors` gives the anchors the target encoder
(:mod:`.encode`) matches ground truth against **and** the decoder (:mod:`.decode`)
turns predicted offsets back into boxes, so both always use the same anchor
set. The original's in-network anchor layer gave every anchor of a layer the
shape of the first aspect ratio and lost steps/offsets on reload; here every
aspect ratio has its own box shape and the anchors never live in the network.

Network output contract (what a backend's BBD model must produce)
-----------------------------------------------------------------
For predictor layer j (hook j, feature map H_j x W_j, b_j = boxes_per_cell[j]):

* class head: 3x3 convolution with b_j*(C+1) channels, box head: 3x3
  convolution with b_j*4 channels (hook 0 first L2-normalized, §9.1);
* in **channels-last** order, reshape the class head (H_j, W_j, b_j*(C+1)) to
  (H_j*W_j*b_j, C+1) and the box head to (H_j*W_j*b_j, 4), both row-major
  over (row, column, box): channel ``box*(C+1) + class`` resp. ``box*4 + k``
  (a channels-first backend permutes to channels-last before reshaping);
* concatenate the layers in hook order along the anchor axis, softmax the
  class scores over the class axis, and concatenate along the last axis::

      output (batch, N, C + 5) = [C+1 class probabilities, background (class 0) first
                                  | t_cx, t_cy, t_w, t_h box offsets]

  with N = sum_j H_j*W_j*b_j; anchor a of the output is row a of
  ``make_anchors(...)``. Anchors and variances are **not** part of the
  output (unlike the original's C+13 columns); they come from this module.

Anchor shapes (size = min(H, W), scale s_j, next scale s_{j+1}), one per
aspect ratio in configured order: ar = 1 gives a square of side s_j*size,
followed (two_boxes_for_AR1) by a square of side sqrt(s_j*s_{j+1})*size;
ar != 1 gives w = s_j*size*sqrt(ar), h = s_j*size/sqrt(ar).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np

from dlae_core.errors import ConfigError, problem
from dlae_core.techniques.bbd.geometry import check_bbd_geometry

__all__ = ["PredictorLayout", "predictor_layouts", "make_anchors", "boxes_per_cell", "layer_aspect_ratios",
           "layer_scales", "variances", "anchors_to_corners"]


@attrs.frozen
class PredictorLayout:
    """Anchor settings of predictor layer j.

    ``feature_hw`` (H_j, W_j); ``aspect_ratios`` of the layer; ``scale`` s_j and
    ``next_scale`` s_{j+1}; ``two_boxes_for_ar1``; ``step_hw`` (step_h, step_w)
    and ``offset_hw`` (off_h, off_w) in pixels / fractions of a step (already
    resolved from None); ``image_hw`` (H, W); ``clip``, ``normalize`` and the
    four ``variances``.
    """

    feature_hw: tuple[int, int]
    image_hw: tuple[int, int]
    aspect_ratios: tuple[float, ...]
    scale: float
    next_scale: float
    two_boxes_for_ar1: bool
    step_hw: tuple[float, float]
    offset_hw: tuple[float, float]
    clip: bool = False
    normalize: bool = False
    variances: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)

    @property
    def boxes_per_cell(self) -> int:
        """b_j: one box per aspect ratio, plus one when 1.0 is a ratio and two-boxes is on."""
        return len(self.aspect_ratios) + int(self.two_boxes_for_ar1 and 1.0 in self.aspect_ratios)

    @property
    def count(self) -> int:
        """Anchors of this layer: H_j * W_j * b_j."""
        return self.feature_hw[0] * self.feature_hw[1] * self.boxes_per_cell

    def box_shapes(self) -> np.ndarray:
        """(b_j, 2) array of (w, h) in pixels, in the order of the boxes of a cell."""
        size = min(self.image_hw)
        shapes = []
        for ar in self.aspect_ratios:
            if ar == 1.0:
                shapes.append((self.scale * size, self.scale * size))
                if self.two_boxes_for_ar1:
                    side = math.sqrt(self.scale * self.next_scale) * size
                    shapes.append((side, side))
            else:
                shapes.append((self.scale * size * math.sqrt(ar), self.scale * size / math.sqrt(ar)))
        return np.asarray(shapes, dtype=np.float64).reshape(-1, 2)

    def centroids(self) -> np.ndarray:
        """(H_j*W_j*b_j, 4) anchors (cx, cy, w, h), row-major over (row, column, box), after
        clipping/normalization."""
        rows, cols = self.feature_hw
        height, width = self.image_hw
        cy = (self.offset_hw[0] + np.arange(rows)) * self.step_hw[0]
        cx = (self.offset_hw[1] + np.arange(cols)) * self.step_hw[1]
        shapes = self.box_shapes()
        boxes = np.zeros((rows, cols, len(shapes), 4))
        boxes[..., 0] = cx[None, :, None]
        boxes[..., 1] = cy[:, None, None]
        boxes[..., 2] = shapes[None, None, :, 0]
        boxes[..., 3] = shapes[None, None, :, 1]
        boxes = boxes.reshape(-1, 4)
        corners = anchors_to_corners(boxes)
        if self.clip:
            for axis, extent in ((0, width), (1, height)):
                for col in (axis, axis + 2):
                    values = corners[:, col]
                    values[values >= extent] = extent - 1
                    values[values < 0] = 0
        if self.normalize:
            corners[:, [0, 2]] /= width
            corners[:, [1, 3]] /= height
        return np.stack([(corners[:, 0] + corners[:, 2]) / 2, (corners[:, 1] + corners[:, 3]) / 2,
                         corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1]], axis=1)


def anchors_to_corners(centroids: np.ndarray) -> np.ndarray:
    """(..., 4) (cx, cy, w, h) -> (..., 4) (xmin, ymin, xmax, ymax), float64."""
    c = np.asarray(centroids, dtype=np.float64)
    half_w, half_h = c[..., 2] / 2, c[..., 3] / 2
    return np.stack([c[..., 0] - half_w, c[..., 1] - half_h, c[..., 0] + half_w, c[..., 1] + half_h], axis=-1)


def _fail(key: str, what: str, received: object, expected: str | None = None) -> ConfigError:
    return ConfigError([problem(f"bbd_options.{key}", what, expected=expected, received=received)])


def layer_aspect_ratios(bbd, n_layers: int) -> list[tuple[float, ...]]:
    """Aspect ratios of each of the ``n_layers`` predictor layers (global: the same tuple)."""
    ratios = bbd.aspect_ratios
    if bbd.aspect_ratios_type == "global":
        if any(isinstance(r, (tuple, list)) for r in ratios):
            raise _fail("aspect_ratios", "global aspect ratios must be one flat tuple of numbers", ratios,
                        "e.g. (0.5, 1.0, 2.0), or aspect_ratios_type 'per predictor layer'")
        return [tuple(float(r) for r in ratios)] * n_layers
    if len(ratios) != n_layers:
        raise ConfigError(check_bbd_geometry(bbd, n_layers))
    return [tuple(float(r) for r in (item if isinstance(item, (tuple, list)) else (item,))) for item in ratios]


def layer_scales(bbd, n_layers: int) -> list[float]:
    """The n+1 scales s_0..s_n (global: linearly spaced between the two smallest values)."""
    if bbd.scaling_type == "global":
        low, high = sorted(float(s) for s in bbd.scales)[:2]
        return [float(s) for s in np.linspace(low, high, n_layers + 1)]
    if len(bbd.scales) != n_layers + 1:
        raise ConfigError(check_bbd_geometry(bbd, n_layers))
    return [float(s) for s in bbd.scales]


def _pairs(bbd, key: str, n_layers: int, default) -> list:
    value = getattr(bbd, key)
    if value is None:
        return [default] * n_layers
    if len(value) != n_layers:
        raise ConfigError(check_bbd_geometry(bbd, n_layers))
    return [tuple(float(v) for v in item) if isinstance(item, (tuple, list)) else (float(item), float(item))
            for item in value]


def variances(bbd) -> np.ndarray:
    """The four variances (v0, v1, v2, v3) as float64 (4,)."""
    values = np.asarray(bbd.variances, dtype=np.float64).reshape(-1)
    if values.shape != (4,) or (values <= 0).any():
        raise _fail("variances", "exactly four positive variances are needed", bbd.variances)
    return values


def boxes_per_cell(bbd, n_layers: int) -> list[int]:
    """b_j for each predictor layer (what the class/box heads multiply their channels by)."""
    return [len(r) + int(bool(bbd.two_boxes_for_AR1_switch) and 1.0 in r)
            for r in layer_aspect_ratios(bbd, n_layers)]


def predictor_layouts(bbd, image_hw: Sequence[int], hook_shapes: Sequence[Sequence[int]]) -> list[PredictorLayout]:
    """One :class:`PredictorLayout` per hook. ``image_hw`` is (H, W) of the network input
    (``config_file.input_shape[:2]``); ``hook_shapes`` the hooks' output shapes
    (``graph.hook_shapes()``, channels-last; only the first two entries are used).
    Raises ConfigError for per-layer settings whose count does not match the hooks."""
    n = len(hook_shapes)
    if n == 0:
        raise ConfigError([problem("layers.serial_layer_list", "a BBD needs at least one predictor layer",
                                   expected="'Hook connection source' entries", received="no hooks")])
    height, width = int(image_hw[0]), int(image_hw[1])
    ratios, scales = layer_aspect_ratios(bbd, n), layer_scales(bbd, n)
    steps, offsets = _pairs(bbd, "steps", n, None), _pairs(bbd, "offsets", n, (0.5, 0.5))
    var = tuple(float(v) for v in variances(bbd))
    out = []
    for j, shape in enumerate(hook_shapes):
        rows, cols = int(shape[0]), int(shape[1])
        step = steps[j] if steps[j] is not None else (height / rows, width / cols)
        out.append(PredictorLayout((rows, cols), (height, width), ratios[j], scales[j], scales[j + 1],
                                   bool(bbd.two_boxes_for_AR1_switch), step, offsets[j],
                                   bool(bbd.clip_boxes_switch), bool(bbd.normalize_coordinates_switch), var))
    return out


def make_anchors(bbd, image_hw: Sequence[int], hook_shapes: Sequence[Sequence[int]]) -> np.ndarray:
    """All anchors (N, 4) float64 centroids (cx, cy, w, h) -- pixels, or fractions of the image
    width (x) / height (y) with ``normalize_coordinates_switch`` -- row-major over (row, column,
    box) per layer, layers concatenated in hook order (the network output order).
    Raises ConfigError when clipping leaves an anchor without area (centres outside the image
    because of the configured steps/offsets)."""
    layouts = predictor_layouts(bbd, image_hw, hook_shapes)
    parts = [layout.centroids() for layout in layouts]
    for j, part in enumerate(parts):
        if (part[:, 2] <= 0).any() or (part[:, 3] <= 0).any():
            raise _fail("steps", f"predictor layer {j} places anchor centres outside the {image_hw[0]}x"
                        f"{image_hw[1]} image, so clipped anchors have no area", bbd.steps,
                        "steps and offsets with every centre inside the image, or None")
    return np.concatenate(parts, axis=0)
