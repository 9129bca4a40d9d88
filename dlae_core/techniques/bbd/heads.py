"""The BBD predictor heads as a framework-free description both backends build.

For hook j (in ``graph.hooks`` order) with C_j channels and b_j boxes per cell:

* j = 0 only: L2 normalization -- each position's channel vector divided by its L2 norm
  (``sqrt(max(sum x^2, 1e-12))``, Keras' ``l2_normalize``) and multiplied by a learnable
  per-channel scale ``gamma`` initialised to 20 (SSD); canonical weights
  ``{L2_NAME: {"gamma": (C_0,)}}``;
* class head ``class_name(j)``: 3x3 convolution, stride 1, ``same``, He-normal kernel, zero bias,
  linear, b_j * (C+1) channels; box head ``box_name(j)``: the same with b_j * 4 channels;
  canonical weights ``{name: {"kernel": (3, 3, C_j, out), "bias": (out,)}}`` (the Keras layout).

Heads carry no regularization. The network output is
``(batch, N, C+5) = [C+1 softmax class scores, background first | 4 box offsets]`` (see
:mod:`.anchors`); :func:`split_output` separates the two parts.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from dlae_core.techniques.bbd.anchors import boxes_per_cell

__all__ = ["HeadSpec", "L2_NAME", "L2_INIT", "L2_EPSILON", "KERNEL", "head_specs", "head_params", "split_output",
           "output_shape"]

L2_NAME = "bbd_l2_normalization"
L2_INIT = 20.0
L2_EPSILON = 1e-12
KERNEL = (3, 3)


@attrs.frozen
class HeadSpec:
    """Predictor layer ``index``: graph node ``hook``, its output (H_j, W_j, C_j) = ``feature_hw`` +
    ``channels``, ``boxes`` b_j per cell and ``classes`` = C + 1 scores per box."""

    index: int
    hook: int
    feature_hw: tuple[int, int]
    channels: int
    boxes: int
    classes: int

    @property
    def class_name(self) -> str:
        return f"bbd_class_head_{self.index}"

    @property
    def box_name(self) -> str:
        return f"bbd_box_head_{self.index}"

    @property
    def class_filters(self) -> int:
        return self.boxes * self.classes

    @property
    def box_filters(self) -> int:
        return self.boxes * 4

    @property
    def anchors(self) -> int:
        return self.feature_hw[0] * self.feature_hw[1] * self.boxes


def head_specs(bbd, graph) -> list[HeadSpec]:
    """One :class:`HeadSpec` per hook of ``graph`` (the plan's main graph) for ``bbd_options``."""
    shapes = graph.hook_shapes()
    counts = boxes_per_cell(bbd, len(shapes))
    classes = int(bbd.number_classes) + 1
    return [HeadSpec(j, int(hook), (int(shape[0]), int(shape[1])), int(shape[-1]), counts[j], classes)
            for j, (hook, shape) in enumerate(zip(graph.hooks, shapes))]


def head_params(specs: list[HeadSpec]) -> int:
    """Trainable parameters of the heads (all of them are trainable): L2 scale + kernels + biases."""
    area = KERNEL[0] * KERNEL[1]
    total = specs[0].channels if specs else 0
    for s in specs:
        total += (area * s.channels + 1) * (s.class_filters + s.box_filters)
    return total


def output_shape(specs: list[HeadSpec]) -> tuple[int, int]:
    """(N, C+5) of one sample's network output."""
    return (sum(s.anchors for s in specs), specs[0].classes + 4)


def split_output(output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores (..., N, C+1), offsets (..., N, 4)) of a network output (..., N, C+5)."""
    output = np.asarray(output)
    return output[..., :-4], output[..., -4:]


def add_heads_to_report(report: dict, config, graph) -> None:
    """A BBD network is its layer graph plus the predictor heads on the hooks (dlae_core.techniques.bbd.heads):
    L2 normalization of hook 0, a class and a box convolution per hook, and the (N, C+5) output."""
    specs = head_specs(config.bbd_options, graph)
    area = KERNEL[0] * KERNEL[1]
    hook_name = [graph.nodes[s.hook].name for s in specs]
    first = specs[0]
    rows = [_head_row(L2_NAME, "L2 normalization (scale 20)", [hook_name[0]], list(graph.nodes[first.hook].output_shape),
                      first.channels, graph.list_name)]
    for spec, source in zip(specs, hook_name):
        inputs = [L2_NAME if spec.index == 0 else source]
        for name, filters, what in ((spec.class_name, spec.class_filters, "class scores"),
                                    (spec.box_name, spec.box_filters, "box offsets")):
            rows.append(_head_row(name, f"3x3 convolution, {filters} filters ({spec.boxes} boxes x {what})", inputs,
                                  [*spec.feature_hw, filters], (area * spec.channels + 1) * filters, graph.list_name))
    heads = [r["name"] for r in rows[1:]]
    rows.append(_head_row("bbd_output", "softmax class scores | box offsets per anchor", heads,
                          list(output_shape(specs)), 0, graph.list_name))
    added = sum(r["trainable_params"] for r in rows)
    report["layers"] += rows
    report["output_shape"] = list(output_shape(specs))
    report["trainable_params"] += added
    report["total_params"] += added
    report["activation_bytes_per_sample"] += 2 * 4 * sum(math.prod(r["output_shape"]) for r in rows)


def _head_row(name: str, layer: str, inputs: list, shape: list, trainable: int, model: str) -> dict:
    return {"name": name, "model": model, "op": "bbd_head", "type": "BBD head", "layer": layer, "position": None,
            "inputs": inputs, "output_shape": shape, "trainable_params": trainable, "non_trainable_params": 0}
