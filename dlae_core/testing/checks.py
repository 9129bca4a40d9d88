"""The checks of the plugin test kit (see :mod:`dlae_core.testing`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import attrs
import numpy as np

from dlae_core.errors import BackendError, WeightExchangeError, did_you_mean
from dlae_core.layers.spec import REQUIRED, LayerSpec
from dlae_core.plugin.components import OptimizerSettings
from dlae_core.running.backend import Backend
from dlae_core.running.parity import compare_graph, nontrivial_weights, random_targets
from dlae_core.running.weights import canonical_shapes, max_relative_difference
from dlae_core.training.loss_context import LossContext

LOSS_TARGETS = ("onehot", "sparse", "dense")
LOSS_SHAPES = ((4, 5), (2, 6, 5, 3), (2, 4, 3, 5, 3))


class CheckFailed(AssertionError):
    """A kit check found differences; ``problems`` lists them (one line each)."""

    def __init__(self, subject: str, problems: Sequence[str]):
        self.subject = subject
        self.problems = tuple(problems)
        super().__init__(f"{subject}:\n  " + "\n  ".join(self.problems))


def _fail_if(subject: str, problems: list[str]) -> None:
    if problems:
        raise CheckFailed(subject, problems)


def _engine(registry, backend: str) -> Backend:
    engine = registry.backend(backend)  # BackendUnavailableError when unknown or not installed
    if not isinstance(engine, Backend):
        raise CheckFailed(f"backend {backend!r}", [
            f"{type(engine).__module__}.{type(engine).__qualname__} does not implement the declared backend "
            f"interface (dlae_core.api.Backend), which the kit drives"])
    return engine


def _require(registry, kind: str, name: str, backend: str) -> None:
    registry.check_backend(backend)  # BackendUnavailableError first: unknown backend, framework missing
    table = registry.items[{"layer": "layers", "loss": "losses", "optimizer": "optimizers",
                            "activation": "activations"}[kind]]
    if name not in table:
        hint = did_you_mean(name, table)
        raise CheckFailed(f"{kind} {name!r}", [f"no plugin registers a {kind} named {name!r}"
                                               + (f"; did you mean {hint!r}?" if hint else "")])
    if not registry.has_implementation(kind, name, backend):
        raise CheckFailed(f"{kind} {name!r} on {backend}", [
            f"no {backend} implementation is attached (set implementations={{{backend!r}: ...}} on its record "
            f"or register one with the register_implementations hook)"])


def _where(index: tuple) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def _largest_difference(actual: np.ndarray, expected: np.ndarray) -> str:
    """Where ``actual`` and ``expected`` differ most, as text."""
    diff = np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64))
    diff = np.where(np.isnan(diff), np.inf, diff)
    index = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    return (f"largest difference {float(diff[index]):.3g} at {_where(index)} "
            f"(got {float(actual[index]):.7g}, expected {float(expected[index]):.7g})")


# -- layers ------------------------------------------------------------------------------------------------
def layer_graph(registry, layer: str, input_shape: tuple | None = None, params: Mapping | None = None):
    """The graph ``Input -> layer`` (a :class:`dlae_core.planning.graph.Graph`) that the layer checks
    build: the layer type's ``example_spec()`` (its defaults and ``example_params``) updated with
    ``params``, applied to ``input_shape`` (default: the type's ``default_example_input()``)."""
    from dlae_core.planning.graph import WalkError, build_graph

    layer_type = registry.layers.get(layer)
    if layer_type is None:
        raise CheckFailed(f"layer {layer!r}", [f"no plugin registers a layer named {layer!r}"])
    if layer_type.role != "layer":
        raise CheckFailed(f"layer {layer!r}", [f"its role is {layer_type.role!r}; the kit checks layers of role 'layer'"])
    spec = layer_type.example_spec()
    spec = LayerSpec(spec.type, {**spec.params, **(params or {})})
    missing = [name for name, value in spec.params.items() if value is REQUIRED]
    if missing:
        raise CheckFailed(f"layer {layer!r}", [f"parameter {name!r} has no default: give a value in the layer type's "
                                               f"example_params or in params=" for name in missing])
    shape = tuple(input_shape) if input_shape is not None else tuple(layer_type.default_example_input())
    try:
        return build_graph("serial_layer_list", (LayerSpec("Input", {"shape": shape}), spec), registry)
    except WalkError as exc:
        raise CheckFailed(f"layer {layer!r}, input shape {shape}", [exc.problem.line()]) from None


def _vary(weights: dict, rng: np.random.Generator) -> dict:
    """Other weights of the same names and shapes: constants randomized, every value scaled by a
    random factor in [0.8, 1.25] (signs and positive variances are kept)."""
    varied = nontrivial_weights(weights, rng)
    return {node: {name: (value * rng.uniform(0.8, 1.25, value.shape)).astype(np.float32)
                   for name, value in values.items()} for node, values in varied.items()}


def check_layer(registry, layer: str, backend: str, *, input_shape: tuple | None = None,
                params: Mapping | None = None, reference: Callable | None = None, compare_with: str | None = None,
                batch: int = 2, seed: int = 0, tolerance: float = 1e-4) -> None:
    """Check the ``backend`` implementation of layer type ``layer`` on the graph ``Input -> layer``
    (see :func:`layer_graph`):

    * the built model's parameter counts (trainable, non-trainable) equal the layer type's
      ``param_counts`` and its output shape equals the type's ``output_shape``; outputs are finite;
    * the weights exported in the canonical layout hold as many values as the model has parameters
      (a built-in layer: with the canonical names and shapes), and weights imported are exported back
      unchanged;
    * ``reference(x, weights) -> array``, when given: the output for the seeded input ``x`` (batch
      first, channels-last float32) equals the numpy reference given the layer's canonical weights
      (``{weight name: array}``) up to ``tolerance`` (largest difference relative to the output scale);
    * ``compare_with`` (another backend), when given: with the same weights copied through the canonical
      layout, both backends give the same outputs and parameter counts (both directions).

    Raises :class:`CheckFailed` listing every difference."""
    layer_type = registry.layers.get(layer)
    _require(registry, "layer", layer, backend)
    graph = layer_graph(registry, layer, input_shape, params)
    node = graph.nodes[graph.output]
    in_shape, out_shape = graph.input_shapes[0], tuple(graph.output_shape)
    cls = type(layer_type).__name__
    subject = f"layer {layer!r} on {backend}, input shape {in_shape}"
    engine = _engine(registry, backend)
    problems: list[str] = []

    engine.seed(seed)
    try:
        model = engine.build_model(graph)
    except BackendError as exc:  # e.g. a backend that compares shapes while building
        raise CheckFailed(subject, [f"the backend cannot build it: {exc}"]) from exc
    counts = tuple(int(c) for c in engine.count_params(model))
    if counts != tuple(graph.totals()):
        problems.append(f"parameter counts (trainable, non-trainable) are {counts} but {cls}.param_counts "
                        f"gives {tuple(graph.totals())}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch,) + tuple(in_shape)).astype(np.float32)
    out = np.asarray(engine.forward(model, [x]))
    if tuple(out.shape) != (batch,) + out_shape:
        problems.append(f"output shape is {tuple(out.shape[1:])} but {cls}.output_shape gives {out_shape}")
        _fail_if(subject, problems)
    if not np.all(np.isfinite(out)):
        problems.append(f"{int(np.size(out) - np.isfinite(out).sum())} of {out.size} output values are not finite")

    try:
        exported = {n: {k: np.asarray(v) for k, v in values.items()}
                    for n, values in engine.export_weights(model, graph).items()}
    except WeightExchangeError as exc:
        problems.append(f"the weights cannot be exported in the canonical layout: {exc}")
        _fail_if(subject, problems)
    values = sum(v.size for node_weights in exported.values() for v in node_weights.values())
    if values != sum(counts):
        listing = ", ".join(f"{n}/{k} {v.shape}" for n, w in exported.items() for k, v in w.items()) or "nothing"
        problems.append(f"the weights exported in the canonical layout hold {values} values but the model has "
                        f"{sum(counts)} parameters (exported: {listing}); a plugin layer exports every weight "
                        f"(torch: the module's export_keras_weights()/import_keras_weights())")
    canonical = canonical_shapes(node.spec, tuple(in_shape))
    if canonical is not None:  # a layer type whose canonical layout the core knows
        got = {k: tuple(v.shape) for k, v in exported.get(node.name, {}).items()}
        if got != canonical:
            problems.append(f"exported weights {got} differ from the canonical layout {canonical}")
    node_weights: dict[str, np.ndarray] = {}
    if exported:
        varied = _vary(exported, rng)
        try:
            engine.import_weights(model, graph, varied)
            back = engine.export_weights(model, graph)
        except WeightExchangeError as exc:
            problems.append(f"the weights it exported cannot be imported back: {exc}")
            _fail_if(subject, problems)
        for n, named in varied.items():
            for k, value in named.items():
                read = np.asarray(back.get(n, {}).get(k, np.full(value.shape, np.nan)))
                if read.shape != value.shape or not np.allclose(read, value, rtol=1e-6, atol=0):
                    problems.append(f"weight {n}/{k} exported after import_weights differs from the imported value")
        node_weights = varied.get(node.name, {})
        out = np.asarray(engine.forward(model, [x]))
    if reference is not None:
        expected = np.asarray(reference(x.copy(), {k: v.copy() for k, v in node_weights.items()}), np.float64)
        problems += _against_reference(out, expected, "layer", tolerance)
    if compare_with is not None:
        problems += _compare_backends(registry, graph, "layer", layer, backend, compare_with, engine,
                                      batch=batch, seed=seed, tolerance=tolerance)
    _fail_if(subject, problems)


def _against_reference(out: np.ndarray, expected: np.ndarray, what: str, tolerance: float) -> list[str]:
    """Problems of ``out`` (the ``what``'s output) against the reference's ``expected``."""
    if expected.shape != out.shape:
        return [f"the reference gives shape {expected.shape}, the {what} {out.shape}"]
    difference = max_relative_difference(out, expected)
    if not difference <= tolerance:
        return [f"outputs differ from the reference: relative difference {difference:.3g} > {tolerance:g}; "
                f"{_largest_difference(out, expected)}"]
    return []


def _compare_backends(registry, graph, kind: str, name: str, backend: str, other: str, engine, *,
                      batch: int, seed: int, tolerance: float) -> list[str]:
    if other == backend:
        return [f"compare_with names the backend under test ({backend!r}); name another backend"]
    _require(registry, kind, name, other)
    other_engine = _engine(registry, other)
    problems = []
    for names, engines in (((backend, other), (engine, other_engine)), ((other, backend), (other_engine, engine))):
        try:
            result = compare_graph(f"weights {names[0]} -> {names[1]}", graph, names, engines, registry,
                                   batch=batch, seed=seed)
        except WeightExchangeError as exc:
            problems.append(f"the weights exported by {names[0]} cannot be imported by {names[1]}: {exc}")
            continue
        problems += result.problems(tolerance)
    return problems


# -- activations -------------------------------------------------------------------------------------------
def check_activation(registry, activation: str, backend: str, reference: Callable | None = None, *,
                     input_shape: tuple = (4, 5, 3), compare_with: str | None = None, batch: int = 2,
                     seed: int = 0, scale: float = 3.0, tolerance: float = 1e-5) -> None:
    """Check the ``backend`` implementation of activation ``activation`` as the layer
    ``Activation:<activation>`` on ``input_shape``: same output shape, no weights, finite outputs,
    ``reference(x) -> array`` (numpy, element-wise or over the last axis) on seeded inputs
    ``scale * N(0, 1)`` up to ``tolerance`` relative to the output scale, and with ``compare_with``
    the same outputs on both backends. Raises :class:`CheckFailed` listing every difference."""
    _require(registry, "activation", activation, backend)
    _require(registry, "layer", "Activation", backend)
    from dlae_core.planning.graph import build_graph

    shape = tuple(input_shape)
    graph = build_graph("serial_layer_list", (LayerSpec("Input", {"shape": shape}),
                                              LayerSpec("Activation", {"activation": activation})), registry)
    subject = f"activation {activation!r} on {backend}, input shape {shape}"
    engine = _engine(registry, backend)
    problems: list[str] = []
    engine.seed(seed)
    try:
        model = engine.build_model(graph)
    except BackendError as exc:
        raise CheckFailed(subject, [f"the backend cannot build it: {exc}"]) from exc
    counts = tuple(int(c) for c in engine.count_params(model))
    if counts != (0, 0):
        problems.append(f"the activation has parameters {counts}; an activation has none "
                        f"(a layer type with weights is registered with register_layers)")
    rng = np.random.default_rng(seed)
    x = (scale * rng.standard_normal((batch,) + shape)).astype(np.float32)
    out = np.asarray(engine.forward(model, [x]))
    if tuple(out.shape) != x.shape:
        problems.append(f"output shape is {tuple(out.shape[1:])}, the input shape is {shape}")
        _fail_if(subject, problems)
    if not np.all(np.isfinite(out)):
        problems.append(f"{int(out.size - np.isfinite(out).sum())} of {out.size} output values are not finite "
                        f"for inputs in [{x.min():.3g}, {x.max():.3g}]")
    if reference is not None:
        expected = np.asarray(reference(x.astype(np.float64)), np.float64)
        problems += _against_reference(out, expected, "activation", tolerance)
    if compare_with is not None:
        problems += _compare_backends(registry, graph, "activation", activation, backend, compare_with, engine,
                                      batch=batch, seed=seed, tolerance=tolerance)
    _fail_if(subject, problems)


# -- losses ------------------------------------------------------------------------------------------------
def loss_data(target: str, shape: tuple, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (prediction, target) of ``shape`` (batch first, classes/channels last) for a loss of
    target form ``target``: predictions are softmax probabilities (in (0, 1), summing to 1 over the
    last axis); targets one-hot, integer labels (last axis 1) or uniform values in [0, 1)."""
    logits = rng.standard_normal(shape)
    prediction = (np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)).astype(np.float32)
    return prediction, random_targets(target, tuple(shape[1:]), shape[0], rng)


def check_loss(registry, loss: str, backend: str, reference: Callable, *, context: LossContext | None = None,
               shapes: Sequence[tuple] | None = None, seed: int = 0, rtol: float = 1e-5,
               atol: float = 1e-6) -> None:
    """Check the ``backend`` implementation of loss ``loss`` against ``reference(prediction, target)
    -> float`` (numpy) on seeded data (see :func:`loss_data`) of each of ``shapes`` (default: a
    batch of vectors and of 2-D and 3-D maps; maps only for a ``spatial_only`` loss).

    ``context`` carries the loss parameters (the reference must use the same values); its
    ``categories`` and ``spatial_rank`` are filled in per shape when None. Raises :class:`CheckFailed`
    listing every shape whose value differs by more than ``atol + rtol * |reference|``."""
    _require(registry, "loss", loss, backend)
    info = registry.losses[loss]
    subject = f"loss {loss!r} on {backend}"
    if info.target not in LOSS_TARGETS:
        raise CheckFailed(subject, [f"its target form is {info.target!r}; the kit checks losses of "
                                    f"{', '.join(LOSS_TARGETS)} targets"])
    if shapes is None:
        shapes = [s for s in LOSS_SHAPES if not (info.spatial_only and len(s) < 4)]
    engine = _engine(registry, backend)
    base = context if context is not None else LossContext()
    problems = []
    for index, shape in enumerate(shapes):
        shape = tuple(shape)
        rng = np.random.default_rng(seed + index)
        prediction, target = loss_data(info.target, shape, rng)
        ctx = attrs.evolve(base, categories=base.categories if base.categories is not None else shape[-1],
                           spatial_rank=base.spatial_rank if base.spatial_rank is not None else len(shape) - 2)
        got = float(engine.loss_value(loss, ctx, prediction, target))
        expected = float(reference(prediction.copy(), target.copy()))
        if not (math.isfinite(got) and abs(got - expected) <= atol + rtol * abs(expected)):
            problems.append(f"prediction shape {shape}, target shape {target.shape}: loss {got!r} but the reference "
                            f"gives {expected!r} (difference {abs(got - expected):.3g})")
    _fail_if(subject, problems)


# -- optimizers --------------------------------------------------------------------------------------------
def check_optimizer_step(registry, optimizer: str, backend: str, reference: Callable, *,
                         settings: OptimizerSettings | None = None, shape: tuple = (3, 4), steps: int = 3,
                         learning_rates: Sequence[float] | None = None, seed: int = 0, rtol: float = 1e-5,
                         atol: float = 1e-6) -> None:
    """Check the ``backend`` implementation of optimizer ``optimizer``: from a seeded parameter of
    ``shape``, ``steps`` updates with seeded gradients must follow
    ``reference(param, grad, state, settings) -> new param`` (numpy float64; ``state`` is a dict the
    reference keeps between steps, empty at first; ``settings`` the :class:`OptimizerSettings` with
    the step's learning rate).

    ``settings`` default: ``OptimizerSettings(optimizer, learning_rate=0.01)``; ``learning_rates``
    (one per step, default the settings' rate every step) is set on the optimizer before a step whose
    rate differs from the previous one, as the backends' learning-rate schedules do (the first step runs
    at the rate the factory was given). Raises :class:`CheckFailed` naming the first step and
    element that differ by more than ``atol + rtol * |reference|``."""
    from dlae_core.testing.optimizer_steps import trajectory

    _require(registry, "optimizer", optimizer, backend)
    settings = settings if settings is not None else OptimizerSettings(optimizer, 0.01)
    if settings.name != optimizer:
        settings = attrs.evolve(settings, name=optimizer)
    rates = list(learning_rates) if learning_rates is not None else [settings.learning_rate] * steps
    subject = f"optimizer {optimizer!r} on {backend}"
    rng = np.random.default_rng(seed)
    initial = rng.standard_normal(shape).astype(np.float32)
    gradients = [rng.standard_normal(shape).astype(np.float32) for _ in rates]
    engine = _engine(registry, backend)
    got = trajectory(engine, settings, initial, gradients, rates)
    if len(got) != len(rates):
        raise CheckFailed(subject, [f"{len(got)} parameter values came back for {len(rates)} steps"])
    state: dict = {}
    param = initial.astype(np.float64)
    for step, (gradient, rate, actual) in enumerate(zip(gradients, rates, got), start=1):
        param = np.asarray(reference(param.copy(), gradient.astype(np.float64), state,
                                     attrs.evolve(settings, learning_rate=rate)), np.float64)
        actual = np.asarray(actual, np.float64)
        if actual.shape != param.shape:
            raise CheckFailed(subject, [f"step {step}: the parameter has shape {actual.shape}, expected {param.shape}"])
        if not np.allclose(actual, param, rtol=rtol, atol=atol):
            raise CheckFailed(subject, [f"step {step} of {len(rates)} (learning rate {rate:g}, {settings}): parameter "
                                        f"differs from the reference; {_largest_difference(actual, param)}"])
