"""FCN: image -> per-pixel (per-voxel) map, segmentation or regression (a built-in technique)."""

from __future__ import annotations

from dlae_core.data.hdf5 import with_channel_axis
from dlae_core.techniques.base import SupervisedTechnique, check_output_rank
from dlae_core.techniques.labels import check_categories, check_label_values


class FCN(SupervisedTechnique):
    name = "FCN"
    doc = "Image -> per-pixel (per-voxel) map: segmentation or regression."
    prediction_prefix = "fcn"
    map_targets = True
    report_pictures = "maps"

    def check_graphs(self, config, registry, graphs: dict) -> list:
        graph = graphs["model"]
        rank = len(graph.input_shapes[0])
        out = check_output_rank(graph, rank, "an FCN must end in a map with the input's spatial rank",
                                f"a {rank}-D output")
        return out + check_categories(config, registry, graph)

    def check_target_shape(self, rules, tally, name: str, shape: tuple, x_shape: tuple) -> None:
        check_map_target(rules, tally, name, shape, x_shape)

    def check_target_values(self, rules, tally, name: str, values) -> None:
        check_label_values(rules, tally, name, values)


def check_map_target(rules, tally, name: str, shape: tuple, x_shape: tuple) -> None:
    """A per-pixel target: the input's spatial size, the output's channels (one for label maps)."""
    got = with_channel_axis(shape, rules.spatial)
    if len(got) != rules.spatial + 1:
        tally.add("y-rank", name, f"a {len(shape)}-D target cannot be a per-pixel map of the model output "
                  f"{rules.output}", f"{rules.spatial}-D or {rules.spatial + 1}-D maps", shape)
        return
    x_spatial = with_channel_axis(x_shape, rules.spatial)[:-1]
    if len(x_spatial) == rules.spatial and got[:-1] != x_spatial:
        tally.add("y-spatial-x", name, f"the target's spatial size differs from its input's {x_spatial}",
                  f"{x_spatial} (rows, cols{', slices' if rules.spatial == 3 else ''} of X)", shape)
    if got[:-1] != rules.output[:-1]:
        tally.add("y-spatial", name, f"the target's spatial size differs from the model output {rules.output}",
                  str(rules.output[:-1]), shape)
    channels = 1 if rules.labels else rules.output[-1]
    if rules.target in ("sparse", "onehot", "dense") and got[-1] != channels:
        kind = "a label map has one channel" if rules.labels else f"targets need the {channels} output channels"
        tally.add("y-channels", name, f"{kind}", f"{got[:-1] + (channels,)}", shape)
