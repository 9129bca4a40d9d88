"""Backend parity of one config (``dlae check --backends A,B``), framework-free.

For every graph of the config's plan: build it on backend A, give it non-trivial weights (A's
initial kernels; biases, batch-norm statistics and PReLU slopes replaced by seeded random
values), export them in the canonical layout (``dlae_core.running.weights``), import them into the same
graph built on backend B, run both forward in inference mode on the same seeded random batch,
and evaluate the configured loss on each output against the same targets (generated to suit the
loss: one-hot, integer labels or dense values). Parameter counts, output shapes, the largest
relative output difference and the loss difference are compared.

Everything framework-specific goes through the backends' declared interface
(:class:`dlae_core.running.backend.Backend`: build_model, count_params, export_weights,
import_weights, forward, loss_value); a technique whose network is more than its graphs
compares its own way (:meth:`dlae_core.techniques.base.Technique.check_parity`).
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from dlae_core.training.loss_context import LossContext
from dlae_core.running.weights import max_relative_difference

TOLERANCE = 1e-4  # fp32
LOSS_TARGETS = ("onehot", "sparse", "dense")


@attrs.frozen
class GraphParity:
    """The comparison of one graph (``role``) on ``backends`` = (A, B)."""

    role: str
    backends: tuple[str, str]
    expected_params: tuple[int, int]
    params: tuple[tuple[int, int], tuple[int, int]]
    expected_shape: tuple
    shapes: tuple[tuple, tuple]
    output_difference: float
    loss: str | None = None
    losses: tuple[float, float] | None = None
    loss_difference: float | None = None

    def problems(self, tolerance: float) -> list[str]:
        a, b = self.backends
        out = []
        if self.params[0] != self.params[1]:
            out.append(f"{self.role}: parameter counts differ ({a} {_count(self.params[0])}, "
                       f"{b} {_count(self.params[1])})")
        elif self.params[0] != self.expected_params:
            out.append(f"{self.role}: parameter counts {_count(self.params[0])} differ from the graph's "
                       f"{_count(self.expected_params)}")
        if self.shapes[0] != self.shapes[1] or self.shapes[0] != self.expected_shape:
            out.append(f"{self.role}: output shapes differ ({a} {self.shapes[0]}, {b} {self.shapes[1]}, "
                       f"graph {self.expected_shape})")
        elif not self.output_difference <= tolerance:
            out.append(f"{self.role}: largest relative output difference {self.output_difference:.3g} "
                       f"exceeds {tolerance:g}")
        if self.loss_difference is not None and not self.loss_difference <= tolerance:
            out.append(f"{self.role}: {self.loss} loss differs by {self.loss_difference:.3g} relative "
                       f"({a} {self.losses[0]:.7g}, {b} {self.losses[1]:.7g}), more than {tolerance:g}")
        return out


def _count(pair: tuple[int, int]) -> str:
    return f"{pair[0]:,}/{pair[1]:,}"


@attrs.frozen
class ParityReport:
    technique: str
    graphs: tuple[GraphParity, ...]
    tolerance: float = TOLERANCE

    def problems(self) -> list[str]:
        return [p for g in self.graphs for p in g.problems(self.tolerance)]

    @property
    def ok(self) -> bool:
        return not self.problems()


def nontrivial_weights(weights: dict, rng: np.random.Generator) -> dict:
    """``weights`` with every constant array (zero biases, unit gammas, batch-norm statistics,
    zero PReLU slopes) replaced by seeded random values of a sensible range; kernels are kept."""
    out = {}
    for node, values in weights.items():
        out[node] = {}
        for name, value in values.items():
            value = np.asarray(value, np.float32)
            if value.size and np.all(value == value.flat[0]):
                if name == "moving_variance":
                    value = rng.uniform(0.5, 2.0, value.shape)
                elif name == "gamma":
                    value = rng.uniform(0.5, 1.5, value.shape)
                elif name == "alpha":
                    value = rng.uniform(0.0, 0.5, value.shape)
                else:
                    value = rng.normal(0.0, 0.1, value.shape)
            out[node][name] = np.asarray(value, np.float32)
    return out


def random_targets(target: str, output_shape: tuple, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Targets for a loss expecting ``target`` (onehot / sparse / dense) of ``(batch,) + output_shape``."""
    channels, spatial = output_shape[-1], tuple(output_shape[:-1])
    if target == "onehot":
        return np.eye(channels, dtype=np.float32)[rng.integers(0, channels, (batch,) + spatial)]
    if target == "sparse":
        return rng.integers(0, channels, (batch,) + spatial + (1,)).astype(np.float32)
    return rng.random((batch,) + tuple(output_shape)).astype(np.float32)


def build_seeded(backend, graph, seed: int = 0):
    """``graph`` built on ``backend`` (CPU, fp32) after seeding its generators."""
    backend.seed(seed)
    return backend.build_model(graph)


def compare_graph(role: str, graph, backends: tuple, engines: tuple, registry, *, loss: str | None = None,
                  context: LossContext | None = None, batch: int = 2, seed: int = 0) -> GraphParity:
    """Compare ``graph`` on two backends (``engines``: their Backend objects)."""
    a, b = engines
    rng = np.random.default_rng(seed)
    model_a = build_seeded(a, graph)
    a.import_weights(model_a, graph, nontrivial_weights(a.export_weights(model_a, graph), rng))
    model_b = build_seeded(b, graph)
    b.import_weights(model_b, graph, a.export_weights(model_a, graph))
    inputs = [rng.standard_normal((batch,) + tuple(shape)).astype(np.float32) for shape in graph.input_shapes]
    out_a, out_b = a.forward(model_a, inputs), b.forward(model_b, inputs)
    shapes = (tuple(out_a.shape[1:]), tuple(out_b.shape[1:]))
    difference = max_relative_difference(out_a, out_b) if shapes[0] == shapes[1] else math.inf
    losses = loss_difference = None
    if loss is not None and shapes[0] == shapes[1] == tuple(graph.output_shape):
        targets = random_targets(registry.losses[loss].target, graph.output_shape, batch, rng)
        losses = (a.loss_value(loss, context, out_a, targets), b.loss_value(loss, context, out_b, targets))
        scale = max(abs(losses[0]), abs(losses[1]))
        loss_difference = abs(losses[0] - losses[1]) / scale if scale > 0 else 0.0
        if not all(math.isfinite(v) for v in losses):
            loss_difference = 0.0 if losses[0] == losses[1] else math.inf
    return GraphParity(role, tuple(backends), tuple(graph.totals()), (a.count_params(model_a), b.count_params(model_b)),
                       tuple(graph.output_shape), shapes, difference, loss, losses, loss_difference)


def check_parity(config, plan, registry, backends: tuple[str, str], *, batch: int = 2, seed: int = 0,
                 tolerance: float = TOLERANCE) -> ParityReport:
    """``dlae check`` of ``plan`` on the two ``backends``, as the plan's technique compares."""
    technique = registry.techniques[plan.technique]
    return technique.check_parity(config, plan, registry, backends, batch=batch, seed=seed, tolerance=tolerance)


def check_graphs_parity(config, plan, registry, backends: tuple[str, str], *, batch: int = 2, seed: int = 0,
                        tolerance: float = TOLERANCE) -> ParityReport:
    """Compare every graph of ``plan`` on the two ``backends``; the configured loss is evaluated on
    the main graph when it is a loss of onehot, sparse or dense targets."""
    engines = tuple(registry.backend(name) for name in backends)
    loss_name = config.loss_function.loss
    info = registry.losses.get(loss_name)
    reports = []
    for role, graph in plan.graphs.items():
        loss = context = None
        if graph is plan.main and info is not None and info.target in LOSS_TARGETS:
            channels = int(graph.output_shape[-1])
            rng = np.random.default_rng(seed + 1)
            weights = (rng.uniform(0.5, 2.0, channels) if loss_name == "weighted_categorical_crossentropy"
                       else None)
            loss = loss_name
            context = LossContext(parameter1=config.loss_function.parameter1,
                                  parameter2=config.loss_function.parameter2, categories=channels,
                                  class_weights=weights, spatial_rank=len(graph.output_shape) - 1)
        reports.append(compare_graph(role, graph, backends, engines, registry, loss=loss, context=context,
                                     batch=batch, seed=seed))
    return ParityReport(plan.technique, tuple(reports), tolerance)
