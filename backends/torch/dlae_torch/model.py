"""``GraphModel``: a torch module built node by node from a :class:`dlae_core.planning.graph.Graph`.

At the boundary tensors are channels-last (N, rows, cols[, slices], C), as everywhere in dlae;
inside, every tensor with >= 2 non-batch axes is channels-first (see ``dlae_torch.layers``).
"""

from __future__ import annotations

import torch
from torch import nn

from dlae_core.errors import BackendError, MissingImplementationError

from dlae_torch.layers import Merge, Regularized, to_channels_last, to_internal


class GraphModel(nn.Module):
    """One graph as a module; each layer/merge node is a submodule named ``node.name``
    (so state_dict keys read ``convolution_2d_1.weight``)."""

    def __init__(self, graph, builders: dict, activations: dict | None = None):
        """``builders``: ``registry.builders("torch")`` (kind -> name -> builder), or just its
        ``"layer"`` dict with the ``"activation"`` dict passed as ``activations``."""
        super().__init__()
        self.graph = graph
        if isinstance(builders.get("layer"), dict):
            layer_builders = builders["layer"]
            activations = activations if activations is not None else builders.get("activation")
        else:
            layer_builders = builders
        activation_builders = activations or None
        self.steps: list[tuple[int, str | None, tuple[int, ...]]] = []  # (node id, module name, inputs)
        for node in graph.nodes:
            if node.op == "input":
                continue
            if node.op == "merge":
                module = Merge(node.mode, node.scales)
            elif node.op == "layer":
                module = self._build_layer(node, graph, layer_builders, activation_builders)
            else:
                raise BackendError(f"node {node.name}: unknown graph op {node.op!r}")
            if node.frozen:  # freeze_pretrained: no gradients, batch normalization in inference mode
                module.requires_grad_(False)
                module.frozen = True
            if hasattr(self, node.name):
                raise BackendError(f"node name {node.name!r} clashes with a torch.nn.Module attribute")
            self.add_module(node.name, module)
            self.steps.append((node.id, node.name, node.inputs))
        self._last_use = self._last_uses()
        self._in_place = self._in_place_steps()

    @staticmethod
    def _build_layer(node, graph, layer_builders: dict, activation_builders: dict | None) -> nn.Module:
        spec = node.spec
        builder = layer_builders.get(spec.type)
        if builder is None:
            raise MissingImplementationError(f"layer type {spec.type!r} (node {node.name}) has no torch implementation; "
                               f"the plugin that registers it must register a torch builder")
        input_shape = graph.nodes[node.inputs[0]].output_shape
        if spec.type == "Activation" and activation_builders is not None:
            name = spec["activation"]
            if name not in activation_builders:
                raise MissingImplementationError(f"activation {name!r} (node {node.name}) has no torch implementation")
            return activation_builders[name]()
        return builder(spec, tuple(input_shape))

    def _last_uses(self) -> dict[int, int]:
        last: dict[int, int] = {}
        for step, (_, _, inputs) in enumerate(self.steps):
            for i in inputs:
                last[i] = step
        return last

    def _in_place_steps(self) -> frozenset[int]:
        """Steps whose activation may overwrite its input (like ``nn.ReLU(inplace=True)``): a module
        with an in-place form (``in_place_fn``) whose input node feeds no other step and comes from a
        module that declares ``overwritable_output`` (its backward does not need its output) and has
        no activity penalty on it. ``run`` also leaves inputs that the caller keeps untouched."""
        uses: dict[int, int] = {}
        for _, _, inputs in self.steps:
            for i in inputs:
                uses[i] = uses.get(i, 0) + 1
        producers = {node_id: self._modules[name] for node_id, name, _ in self.steps}
        chosen = set()
        for step, (_, name, inputs) in enumerate(self.steps):
            if getattr(self._modules[name], "in_place_fn", None) is None or len(inputs) != 1:
                continue
            producer = producers.get(inputs[0])  # None: a graph input, never overwritten
            if (uses[inputs[0]] == 1 and getattr(producer, "overwritable_output", False)
                    and getattr(producer, "activity_reg", None) is None):
                chosen.add(step)
        return frozenset(chosen)

    def run(self, *inputs: torch.Tensor, keep: tuple[int, ...] = ()) -> dict[int, torch.Tensor]:
        """Run the graph on channels-last inputs; returns the internal-layout tensors of the output
        node and of the node ids in ``keep``."""
        if len(inputs) != len(self.graph.inputs):
            raise ValueError(f"{self.graph.list_name} takes {len(self.graph.inputs)} input(s), got {len(inputs)}")
        values: dict[int, torch.Tensor] = {}
        for node_id, x in zip(self.graph.inputs, inputs):
            want = tuple(self.graph.nodes[node_id].output_shape)
            if tuple(x.shape[1:]) != want:
                raise ValueError(f"input {self.graph.nodes[node_id].name} must have shape (N, *{want}), "
                                 f"got {tuple(x.shape)}")
            values[node_id] = to_internal(x)
        wanted = set(keep) | {self.graph.output}
        for step, (node_id, name, ids) in enumerate(self.steps):
            module = self._modules[name]
            if step in self._in_place and ids[0] not in wanted:
                values[node_id] = module(values[ids[0]], in_place=True)
            else:
                values[node_id] = module(*(values[i] for i in ids))
            for i in ids:  # free what no later step needs
                if self._last_use.get(i) == step and i not in wanted:
                    values.pop(i, None)
        return {i: values[i] for i in wanted}

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return to_channels_last(self.run(*inputs)[self.graph.output])

    def outputs_of(self, *inputs: torch.Tensor, nodes: tuple[int, ...]) -> list[torch.Tensor]:
        """Channels-last outputs of the given node ids (e.g. the BBD hooks)."""
        values = self.run(*inputs, keep=tuple(nodes))
        return [to_channels_last(values[i]) for i in nodes]

    def penalty(self) -> torch.Tensor | None:
        """Sum of the kernel penalties plus the activity penalties of the latest forward; None for a
        network without regularizers (the training step then adds nothing: no zero tensor, no op)."""
        total = None
        if getattr(self, "_penalized", None) is None:  # the modules are fixed once built: look once
            self._penalized = [m for m in self.modules() if _may_penalize(m)]
        for module in self._penalized:
            penalty_fn = getattr(module, "kernel_penalty", None)
            terms = [penalty_fn() if callable(penalty_fn) else None, getattr(module, "activity_loss", None)]
            for term in terms:
                if term is not None:
                    total = term if total is None else total + term
        return total

    def regularization_loss(self) -> torch.Tensor:
        """:meth:`penalty` as a tensor (0 without regularizers)."""
        total = self.penalty()
        if total is None:
            param = next(self.parameters(), None)
            return torch.zeros((), device=param.device if param is not None else None)
        return total


def with_penalties(loss: torch.Tensor, *networks) -> torch.Tensor:
    """``loss`` plus the regularization penalties of ``networks`` (each with a ``penalty()``);
    ``loss`` itself when none has a regularizer."""
    for network in networks:
        term = network.penalty()
        if term is not None:
            loss = loss + term
    return loss


def _may_penalize(module: nn.Module) -> bool:
    """Whether ``module`` can contribute to ``regularization_loss`` (dlae's layers only with a regularizer)."""
    if isinstance(module, Regularized):
        return module.kernel_reg is not None or module.activity_reg is not None
    return callable(getattr(module, "kernel_penalty", None)) or hasattr(module, "activity_loss")


def count_params(module: nn.Module) -> tuple[int, int]:
    """(trainable, non-trainable) counted like Keras: parameters by requires_grad; persistent
    floating-point buffers (BatchNorm moving mean/variance) are non-trainable weights."""
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    for sub in module.modules():
        skip = getattr(sub, "_non_persistent_buffers_set", set())
        for name, buf in sub.named_buffers(recurse=False):
            if name not in skip and name != "num_batches_tracked" and buf.is_floating_point():
                frozen += buf.numel()
    return trainable, frozen
