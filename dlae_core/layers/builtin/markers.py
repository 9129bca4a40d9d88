"""Connection markers (skips, hooks) and the pretrained-network layer types."""

from __future__ import annotations

from dlae_core.config.values import Choice, Shape, Text
from dlae_core.layers.kinds import MERGE_MODES, LiteralBool, Weights
from dlae_core.layers.spec import LayerSpec, LayerType, Param, ShapeError

MERGE = Choice(MERGE_MODES)


class OuterSkipSource(LayerType):
    name, role, family = "Outer skip source", "outer_source", "connection"
    # The original ignores the type written on a source; any text is accepted and kept.
    params = (Param("mode", Text(), "concatenate", "ignored (the target's type decides the merge)"),)
    doc = "Push the current tensor on the outer-skip stack (U-Net encoder side)."


class OuterSkipTarget(LayerType):
    name, role, family = "Outer skip target", "outer_target", "connection"
    params = (Param("mode", MERGE, "concatenate", "merge type: " + ", ".join(MERGE_MODES)),)
    doc = "Merge the most recent unconsumed outer source with the current tensor (LIFO)."


class InnerSkipSource(LayerType):
    name, role, family = "Inner skip source", "inner_source", "connection"
    params = (Param("mode", Text(), "concatenate", "ignored (the target's type decides the merge)"),)
    doc = "Open a residual connection at the current tensor."


class InnerSkipTarget(LayerType):
    name, role, family = "Inner skip target", "inner_target", "connection"
    params = (Param("mode", MERGE, "add", "merge type: " + ", ".join(MERGE_MODES)),)
    doc = "Merge the most recent open inner source with the current tensor (proper LIFO pairing)."


class HookConnectionSource(LayerType):
    name, role, family = "Hook connection source", "hook", "connection"
    doc = "Record the current tensor as a BBD predictor attachment point."


def merge_shape(mode: str, skip: tuple, current: tuple) -> tuple:
    """Output shape of merging ``skip`` (S) with ``current`` (x); raise ShapeError on mismatch."""
    if mode == "concatenate":
        if skip[:-1] != current[:-1]:
            raise ShapeError(f"concatenate needs equal spatial shapes, but the skip tensor is {skip} "
                             f"and the current tensor is {current}")
        return skip[:-1] + (skip[-1] + current[-1],)
    if skip != current:
        raise ShapeError(f"{mode} needs identical shapes, but the skip tensor is {skip} "
                         f"and the current tensor is {current}")
    return current


class PretrainedNetwork(LayerType):
    """An ImageNet encoder; replaces the graph input with its own."""

    role, family, rank = "pretrained", "pretrained", 2
    params = (
        Param("keep_heads", LiteralBool(), False, "keep the 1000-way ImageNet classifier head"),
        Param("weights", Weights(), "imagenet", "'imagenet', 'none' or a weights file"),
        Param("input_shape", Shape(3, 3), (512, 512, 1), "the network's own input shape"),
        Param("skip_starts", LiteralBool(), True, "the five tap points become the outer-skip stack"),
        Param("hook_connections", LiteralBool(), False, "the five tap points become the BBD hooks"),
    )
    example_params = {"weights": "none", "input_shape": (96, 96, 3)}

    def network_shapes(self, spec: LayerSpec) -> tuple[tuple, list[tuple]]:
        from dlae_core.layers.networks import network_shapes
        return network_shapes(self.name, spec["input_shape"], spec["keep_heads"])

    def output_shape(self, shape: tuple, spec: LayerSpec) -> tuple:
        return self.network_shapes(spec)[0]

    def param_counts(self, shape: tuple, spec: LayerSpec) -> tuple[int, int]:
        from dlae_core.layers.networks import network_param_counts
        return network_param_counts(self.name, spec["input_shape"], spec["keep_heads"])


def _network_types() -> tuple[type, ...]:
    from dlae_core.layers.networks import NETWORK_NAMES
    return tuple(
        type(name, (PretrainedNetwork,), {"name": name, "doc": f"{name} encoder (keras-applications layout)."})
        for name in NETWORK_NAMES
    )


def layer_types() -> tuple[type, ...]:
    markers = (OuterSkipSource, OuterSkipTarget, InnerSkipSource, InnerSkipTarget, HookConnectionSource)
    return markers + _network_types()
