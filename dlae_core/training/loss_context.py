"""What a backend's loss builder needs to know (framework-free).

A loss builder is ``builder(context: LossContext) -> callable(pred, target) -> scalar``.
"""

from __future__ import annotations

import attrs
import numpy as np


def _weights(value: object) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float64).reshape(-1)


@attrs.frozen(eq=False)
class LossContext:
    """``parameter1``/``parameter2``: the config's loss parameters (meaning per loss: ``dlae list losses``);
    ``categories``: number of classes; ``class_weights``: per-class weights (length ``categories``)
    for weighted_categorical_crossentropy; ``spatial_rank``: spatial axes of the model output
    (2 or 3 for FCN maps, 0 or None for CNN vectors)."""

    parameter1: float = 0.0
    parameter2: float = 0.0
    categories: int | None = None
    class_weights: np.ndarray | None = attrs.field(default=None, converter=_weights)
    spatial_rank: int | None = None
