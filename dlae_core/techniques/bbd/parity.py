"""``dlae check`` for BBD: the same detector on two backends gives the same outputs, loss and
decoded boxes (framework-free).

The detector (layer graph + predictor heads) is built on backend A, given non-trivial weights
(:func:`dlae_core.running.parity.nontrivial_weights`), exported in the canonical layout (graph nodes and
heads) and imported into the detector built on backend B. Both run the same seeded random batch;
compared are parameter counts (graph + heads), the output (B, N, C+5), the SSD loss against
targets encoded from seeded random boxes, and the decoded boxes (the config's decoding settings;
when neither backend finds a box above ``confidence_threshold``, the comparison is repeated with
threshold 0 so that it is never vacuous).

The detector and the SSD loss come from each backend's implementation of technique ``BBD``
(``build`` and ``loss``); counting, weight exchange and the forward pass from the backend itself.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from dlae_core.running.parity import GraphParity, ParityReport, TOLERANCE, nontrivial_weights
from dlae_core.running.weights import max_relative_difference
from dlae_core.techniques.bbd.anchors import make_anchors
from dlae_core.techniques.bbd.decode import decode
from dlae_core.techniques.bbd.encode import encode_boxes
from dlae_core.techniques.bbd.heads import head_params, head_specs, output_shape, split_output
from dlae_core.techniques.bbd.training import image_hw

__all__ = ["DetectionParity", "BbdParityReport", "check_bbd_parity", "random_boxes"]


@attrs.frozen
class DetectionParity:
    """Decoded boxes of both backends: rows per backend, the confidence threshold used and the
    largest relative difference of the rows (inf when the counts differ)."""

    counts: tuple[int, int]
    threshold: float
    difference: float

    def problems(self, backends, tolerance: float) -> list[str]:
        a, b = backends
        if self.counts[0] != self.counts[1]:
            return [f"decoded boxes: {a} finds {self.counts[0]}, {b} {self.counts[1]} "
                    f"(confidence threshold {self.threshold:g})"]
        if not self.difference <= tolerance:
            return [f"decoded boxes differ by {self.difference:.3g} relative, more than {tolerance:g}"]
        return []


@attrs.frozen
class BbdParityReport(ParityReport):
    detections: DetectionParity | None = None

    def problems(self) -> list[str]:
        out = super().problems()
        if self.detections is not None:
            out += self.detections.problems(self.graphs[0].backends, self.tolerance)
        return out


def random_boxes(rng: np.random.Generator, batch: int, hw: tuple[int, int], n_classes: int) -> list[np.ndarray]:
    """1-3 boxes per image with sides 15-50 % of the image, inside it."""
    height, width = hw
    out = []
    for _ in range(batch):
        k = int(rng.integers(1, 4))
        w = rng.uniform(0.15, 0.5, k) * width
        h = rng.uniform(0.15, 0.5, k) * height
        x0 = rng.uniform(0, 1, k) * (width - w)
        y0 = rng.uniform(0, 1, k) * (height - h)
        cls = rng.integers(1, n_classes + 1, k)
        out.append(np.stack([cls, x0, y0, x0 + w, y0 + h], axis=1).astype(np.float32))
    return out


def _compare_detections(out_a, out_b, anchors, bbd, hw) -> DetectionParity:
    threshold = float(bbd.confidence_threshold)
    found = [decode(*split_output(o), anchors, bbd, hw) for o in (out_a, out_b)]
    if sum(len(d) for d in found[0]) == 0 and sum(len(d) for d in found[1]) == 0:
        threshold = 0.0
        bbd = attrs.evolve(bbd, confidence_threshold=0.0)
        found = [decode(*split_output(o), anchors, bbd, hw) for o in (out_a, out_b)]
    counts = tuple(sum(len(d) for d in f) for f in found)
    if counts[0] != counts[1] or any(len(x) != len(y) for x, y in zip(*found)):
        return DetectionParity(counts, threshold, math.inf)
    return DetectionParity(counts, threshold, max((_row_difference(x, y) for x, y in zip(*found)), default=0.0))


def _row_difference(rows_a: np.ndarray, rows_b: np.ndarray) -> float:
    """Largest relative difference between the rows of one image, each row of ``rows_a`` paired with
    the closest unpaired row of ``rows_b`` (rows of nearly equal confidence may come in either order)."""
    if len(rows_a) == 0:
        return 0.0
    a, b = np.asarray(rows_a, np.float64), np.asarray(rows_b, np.float64)
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), 1e-12)
    free = np.ones(len(b), dtype=bool)
    worst = 0.0
    for row in a:
        distance = np.where(free, np.abs(b - row).max(axis=1), np.inf)
        best = int(np.argmin(distance))
        free[best] = False
        worst = max(worst, float(distance[best]) / scale)
    return worst


def check_bbd_parity(config, plan, registry, backends: tuple[str, str], *, batch: int = 2, seed: int = 0,
                     tolerance: float = TOLERANCE) -> BbdParityReport:
    """Compare the BBD detector of ``config`` on the two ``backends``."""
    a, b = (registry.backend(name) for name in backends)
    bbd, graph = config.bbd_options, plan.graphs["model"]
    rng = np.random.default_rng(seed)

    def build(backend):
        backend.seed(0)
        return backend.technique_implementation("BBD").build(graph, bbd)

    model_a = build(a)
    a.import_weights(model_a, graph, nontrivial_weights(a.export_weights(model_a, graph), rng))
    model_b = build(b)
    b.import_weights(model_b, graph, a.export_weights(model_a, graph))
    x = rng.standard_normal((batch,) + tuple(graph.input_shapes[0])).astype(np.float32)
    out_a, out_b = a.forward(model_a, [x]), b.forward(model_b, [x])
    specs = head_specs(bbd, graph)
    expected_shape = output_shape(specs)
    shapes = (tuple(out_a.shape[1:]), tuple(out_b.shape[1:]))
    same = shapes[0] == shapes[1] == expected_shape
    difference = max_relative_difference(out_a, out_b) if shapes[0] == shapes[1] else math.inf
    hw = image_hw(config)
    anchors = make_anchors(bbd, hw, graph.hook_shapes())
    losses = loss_difference = detections = None
    if same:
        targets = encode_boxes(random_boxes(rng, batch, hw, int(bbd.number_classes)), anchors, bbd, hw,
                               int(bbd.number_classes))
        r, alpha = config.loss_function.parameter1, config.loss_function.parameter2
        losses = tuple(float(e.evaluate_loss(e.technique_implementation("BBD").loss(r, alpha), out, targets))
                       for e, out in ((a, out_a), (b, out_b)))
        scale = max(abs(losses[0]), abs(losses[1]))
        loss_difference = abs(losses[0] - losses[1]) / scale if scale > 0 else 0.0
        detections = _compare_detections(out_a, out_b, anchors, bbd, hw)
    trainable, frozen = graph.totals()
    report = GraphParity("model", tuple(backends), (trainable + head_params(specs), frozen),
                         (a.count_params(model_a), b.count_params(model_b)), expected_shape, shapes,
                         difference, "ssd" if losses else None, losses, loss_difference)
    return BbdParityReport(plan.technique, (report,), tolerance, detections)
