"""Layer list -> backend-neutral graph IR with inferred shapes.

Backends translate :class:`Graph` node by node; they never re-parse layer strings.
Node ops: ``input``, ``layer`` (a registered layer type applied to one input) and ``merge`` (a skip
target or the pix2pix input concatenation, ``inputs`` = (skip, current); inside a pretrained network
also n-ary concatenations and additions, optionally weighted by ``scales``). A pretrained network is
expanded into its layers (built-in types with Keras names, :mod:`dlae_core.pretrained`); each of those
nodes names its ``network``, and :attr:`Graph.networks` records every expansion.
"""

from __future__ import annotations

import re

import attrs

from dlae_core.errors import Problem
from dlae_core.layers.builtin.markers import merge_shape
from dlae_core.layers.spec import LayerSpec, ShapeError, numel


@attrs.frozen
class Node:
    id: int
    name: str
    op: str
    spec: LayerSpec | None
    inputs: tuple[int, ...]
    output_shape: tuple
    position: int | None = None  # index in the layer list it came from
    mode: str | None = None  # merge type for merge nodes
    tap_index: int | None = None  # the node is tap #tap_index + 1 of its pretrained network
    trainable_params: int = 0
    non_trainable_params: int = 0
    scales: tuple[float, ...] | None = None  # weighted merge: sum of scale * input (InceptionResNetV2)
    network: str | None = None  # the pretrained network this node belongs to
    frozen: bool = False  # weights not trained, batch normalization in inference mode (freeze_pretrained)


@attrs.frozen
class NetworkUse:
    """One pretrained network in a graph: its layer (``spec``: type = network name, weights, input
    shape …), where it stands in the layer list, and its nodes in the order of
    :func:`dlae_core.layers.networks.record_network`'s layers."""

    spec: LayerSpec
    position: int
    nodes: tuple[int | None, ...]  # None: a tap-processing layer nothing used (pruned)


@attrs.frozen
class Graph:
    list_name: str
    nodes: tuple[Node, ...]
    inputs: tuple[int, ...]
    output: int
    hooks: tuple[int, ...] = ()
    networks: tuple[NetworkUse, ...] = ()

    @property
    def output_shape(self) -> tuple:
        return self.nodes[self.output].output_shape

    @property
    def input_shapes(self) -> tuple[tuple, ...]:
        return tuple(self.nodes[i].output_shape for i in self.inputs)

    def hook_shapes(self) -> tuple[tuple, ...]:
        return tuple(self.nodes[i].output_shape for i in self.hooks)

    def totals(self) -> tuple[int, int]:
        return (sum(n.trainable_params for n in self.nodes), sum(n.non_trainable_params for n in self.nodes))

    def activation_elements(self) -> int:
        """Elements of every node output for one sample (what training keeps for backward)."""
        return sum(numel(n.output_shape) for n in self.nodes if n.op != "input")


class WalkError(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.line())
        self.problem = problem


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


class _Builder:
    """Mutable state of one walk: nodes so far, current tensor, skip stacks, hooks."""

    def __init__(self, list_name: str, registry):
        self.list_name, self.registry = list_name, registry
        self.nodes: list[Node] = []
        self.counts: dict[str, int] = {}
        self.inputs: list[int] = []
        self.current: int | None = None
        # skip stacks of (node id, layer-list position of the source marker; None for encoder taps)
        self.outer: list[tuple[int, int | None]] = []
        self.inner: list[tuple[int, int | None]] = []
        self.hooks: list[int] = []
        self.names: set[str] = set()
        self.networks: list[NetworkUse] = []

    def where(self, position: int | None) -> str:
        return f"layers.{self.list_name}" + (f"[{position}]" if position is not None else "")

    def add(self, op: str, spec: LayerSpec | None, inputs: tuple[int, ...], shape: tuple, *,
            position: int | None, label: str, **extra) -> int:
        base = _snake(label)
        while True:  # skip names a pretrained network's Keras layers already hold
            self.counts[base] = self.counts.get(base, 0) + 1
            name = f"{base}_{self.counts[base]}"
            if name not in self.names:
                return self.add_named(op, spec, inputs, shape, position=position, name=name, **extra)

    def add_named(self, op: str, spec: LayerSpec | None, inputs: tuple[int, ...], shape: tuple, *,
                  position: int | None, name: str, **extra) -> int:
        self.names.add(name)
        node = Node(len(self.nodes), name, op, spec, inputs, tuple(shape), position, **extra)
        self.nodes.append(node)
        return node.id

    def shape(self, node_id: int) -> tuple:
        return self.nodes[node_id].output_shape

    def fail(self, position: int | None, what: str, spec: LayerSpec | None = None, expected: str | None = None):
        from dlae_core.errors import _MISSING

        received = self.describe(spec) if spec is not None else _MISSING
        raise WalkError(Problem(self.where(position), what, expected, received))

    def describe(self, spec: LayerSpec) -> str:
        from dlae_core.layers.grammar import format_layer

        return format_layer(spec, self.registry, legacy=True)

    # -- steps ---------------------------------------------------------------------------
    def add_input(self, spec: LayerSpec, position: int) -> None:
        node = self.add("input", spec, (), spec["shape"], position=position, label="input")
        self.inputs.append(node)
        self.current = node

    def apply(self, spec: LayerSpec, position: int) -> None:
        layer_type = self.registry.layers[spec.type]
        role = layer_type.role
        if role == "input":
            self.fail(position, "Input may only be the first entry of a layer list", spec)
        if role == "pretrained":
            self.apply_pretrained(layer_type, spec, position)
        elif role == "outer_source":
            self.outer.append((self.current, position))
        elif role == "inner_source":
            self.inner.append((self.current, position))
        elif role == "hook":
            self.hooks.append(self.current)
        elif role in ("outer_target", "inner_target"):
            self.apply_merge(role, spec, position)
        else:
            self.apply_layer(layer_type, spec, position)

    def apply_layer(self, layer_type, spec: LayerSpec, position: int) -> None:
        shape = self.shape(self.current)
        try:
            out = layer_type.output_shape(shape, spec)
            trainable, frozen = layer_type.param_counts(shape, spec)
        except ShapeError as exc:
            self.fail(position, f"cannot apply {spec.type} to the shape {shape}: {exc}", spec)
        self.current = self.add("layer", spec, (self.current,), out, position=position, label=spec.type,
                                trainable_params=trainable, non_trainable_params=frozen)

    def apply_merge(self, role: str, spec: LayerSpec, position: int) -> None:
        stack, kind = (self.outer, "outer") if role == "outer_target" else (self.inner, "inner")
        if not stack:
            self.fail(position, f"no open {kind} skip source to merge with (every {spec.type} needs an "
                                f"earlier unconsumed {kind.capitalize()} skip source)", spec)
        skip, _ = stack.pop()
        mode = spec["mode"]
        try:
            out = merge_shape(mode, self.shape(skip), self.shape(self.current))
        except ShapeError as exc:
            self.fail(position, f"cannot merge the skip from {self.nodes[skip].name}: {exc}", spec)
        self.current = self.add("merge", spec, (skip, self.current), out, position=position,
                                label=f"{kind}_skip_{mode}", mode=mode)

    def apply_pretrained(self, layer_type, spec: LayerSpec, position: int) -> None:
        if position != 1:
            self.fail(position, f"{spec.type} must directly follow the Input layer (it replaces the "
                                f"network input; layers before it would be discarded)", spec)
        input_shape = self.shape(self.inputs[0])
        if tuple(spec["input_shape"]) != input_shape:
            self.fail(position, f"{spec.type}'s input_shape {spec['input_shape']} differs from the Input layer's "
                                f"shape {input_shape}", spec, expected=f"input_shape {input_shape}")
        from dlae_core.layers.networks import record_network
        from dlae_core.pretrained.recorder import INPUT

        try:
            recording = record_network(spec.type, input_shape, spec["keep_heads"])
        except ShapeError as exc:
            self.fail(position, f"cannot build {spec.type}: {exc}", spec)
        ids: list[int] = []
        for layer in recording.layers:
            inputs = tuple(self.current if i == INPUT else ids[i] for i in layer.inputs)
            ids.append(self.add_named(layer.op, layer.spec, inputs, layer.shape, position=position,
                                      name=layer.name, mode=layer.mode, scales=layer.scales,
                                      trainable_params=layer.trainable, non_trainable_params=layer.non_trainable,
                                      network=spec.type))
        taps = [ids[t] for t in recording.taps]
        for index, tap in enumerate(taps):
            self.nodes[tap] = attrs.evolve(self.nodes[tap], tap_index=index)
        self.networks.append(NetworkUse(spec, position, tuple(ids)))
        self.current = ids[recording.output]
        if spec["skip_starts"]:
            self.outer = [(tap, None) for tap in taps]
        if spec["hook_connections"]:
            self.hooks = list(taps)

    def check_unmerged_sources(self, specs: tuple[LayerSpec, ...]) -> None:
        """A skip source marker whose skip no target ever merges (an encoder's taps may stay unused)."""
        open_sources = [(position, kind) for kind, stack in (("outer", self.outer), ("inner", self.inner))
                        for _, position in stack if position is not None]
        if not open_sources:
            return
        position, kind = min(open_sources)
        target = next((name for name, layer in self.registry.layers.items() if layer.role == f"{kind}_target"),
                      f"{kind.capitalize()} skip target")
        count = len(open_sources)
        more = f" ({count} unmerged skip sources in this list)" if count > 1 else ""
        self.fail(position, f"{specs[position].type} has no {target} after it: the skip is never merged{more}",
                  specs[position], expected=f"a later {target!r} for every {specs[position].type!r} "
                                            f"(or remove the source)")

    def graph(self) -> Graph:
        return _pruned(Graph(self.list_name, tuple(self.nodes), tuple(self.inputs), self.current,
                             tuple(self.hooks), tuple(self.networks)))


def _pruned(graph: Graph) -> Graph:
    """Drop the nodes neither the output nor a hook depends on: the processing (padding, the ResNet-V2
    BatchNormalization) of encoder taps that no skip merges. Frameworks would drop them anyway
    (Keras builds only what the outputs need), and they must not count or carry weights."""
    needed = set(graph.inputs)
    stack = [graph.output, *graph.hooks]
    while stack:
        node_id = stack.pop()
        if node_id not in needed:
            needed.add(node_id)
            stack.extend(graph.nodes[node_id].inputs)
    if len(needed) == len(graph.nodes):
        return graph
    new_id = {old: new for new, old in enumerate(sorted(needed))}
    nodes = tuple(attrs.evolve(node, id=new_id[node.id], inputs=tuple(new_id[i] for i in node.inputs))
                  for node in graph.nodes if node.id in needed)
    networks = tuple(attrs.evolve(use, nodes=tuple(new_id.get(i) for i in use.nodes)) for use in graph.networks)
    return Graph(graph.list_name, nodes, tuple(new_id[i] for i in graph.inputs), new_id[graph.output],
                 tuple(new_id[i] for i in graph.hooks), networks)


def build_graph(list_name: str, specs: tuple[LayerSpec, ...], registry, *,
                condition_shape: tuple | None = None) -> Graph:
    """Walk one layer list. ``condition_shape`` makes it a pix2pix discriminator: the
    list's Input is the target image T, a second input S of that shape is the source,
    and position 1 receives the channel concatenation [T, S]. Raises WalkError."""
    builder = _Builder(list_name, registry)
    if not specs:
        builder.fail(None, "the layer list is empty", expected="a list starting with an Input layer")
    first = specs[0]
    if registry.layers[first.type].role != "input":
        builder.fail(0, "the first layer must be Input", first, expected='"Input:(rows, cols, channels)"')
    builder.add_input(first, 0)
    if condition_shape is not None:
        _condition(builder, condition_shape)
    for position, spec in enumerate(specs[1:], start=1):
        if condition_shape is not None and registry.layers[spec.type].role in ("pretrained", "hook"):
            builder.fail(position, f"{spec.type} cannot be used in a pix2pix discriminator", spec)
        builder.apply(spec, position)
    if builder.current == builder.inputs[0] and len(specs) == 1:
        builder.fail(None, "the layer list has only an Input layer", expected="at least one layer after Input")
    builder.check_unmerged_sources(specs)
    return builder.graph()


def _condition(builder: _Builder, source_shape: tuple) -> None:
    target = builder.inputs[0]
    source = builder.add("input", LayerSpec("Input", {"shape": source_shape}), (), source_shape,
                         position=None, label="source_input")
    builder.inputs.append(source)
    try:
        shape = merge_shape("concatenate", builder.shape(target), source_shape)
    except ShapeError as exc:
        builder.fail(0, f"the discriminator's target input cannot be joined with the generator's source input: {exc}")
    builder.current = builder.add("merge", None, (target, source), shape, position=None,
                                  label="condition_concatenate", mode="concatenate")


def freeze_networks(graph: Graph) -> Graph:
    """``graph`` with every pretrained network's nodes frozen (``freeze_pretrained``): their weights
    count as non-trainable, as Keras counts a layer with ``trainable = False``."""
    if not graph.networks:
        return graph
    nodes = tuple(attrs.evolve(node, frozen=True, trainable_params=0,
                               non_trainable_params=node.trainable_params + node.non_trainable_params)
                  if node.network is not None else node for node in graph.nodes)
    return attrs.evolve(graph, nodes=nodes)
