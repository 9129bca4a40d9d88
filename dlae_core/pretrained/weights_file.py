"""Reading a keras-applications weights file into the canonical layout of a graph's network.

Two file layouts are read (h5py, no framework):

* the published one (Keras 2 / ``legacy_h5_format``): the root (or its ``model_weights`` group) lists
  ``layer_names``; each layer's group lists ``weight_names`` (``conv1_conv/kernel:0`` …), in the
  order the layer creates them;
* Keras 3 ``.weights.h5``: ``layers/<layer name>/vars/0, 1, …``.

Layers are matched by name ('/' read as '_', Keras 2 DenseNet's ``conv1/conv`` is Keras 3's
``conv1_conv``); layers Keras leaves unnamed (Inception's, Xception's shortcuts) by their rank among the
file's layers of the same automatic family (``conv2d``, ``conv2d_1`` … sorted by number), since their
numbers depend on what a process built before. Two conversions keep one file good for every input:

* ResNeXt: keras-applications 1.0.8 stores the grouped 3×3 convolution as a depthwise kernel
  (3, 3, F, F/32); it is rearranged into the grouped kernel (3, 3, F/32, F) it computes.
* Input channels: a first convolution trained on RGB serves C channels — summed over RGB for one
  channel (a grey image seen as R = G = B gives the same response), else the RGB kernels repeated
  cyclically and scaled by 3 / C (the response to a constant image keeps its size).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dlae_core.errors import ModelFileError
from dlae_core.running.weights import canonical_shapes

__all__ = ["PretrainedWeightsError", "read_layer_weights", "network_weights"]


class PretrainedWeightsError(ModelFileError):
    """A pretrained network's weights file cannot be read or does not fit the network."""


def read_layer_weights(path: str | Path) -> dict[str, list[np.ndarray]]:
    """``{layer name: [arrays in the layer's order]}`` of every layer with weights in the file."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "layers" in f and "layer_names" not in f.attrs:
                return _keras3_layers(f["layers"])
            group = f["model_weights"] if "model_weights" in f and "layer_names" not in f.attrs else f
            return _legacy_layers(group)
    except (OSError, KeyError, ValueError) as exc:
        raise PretrainedWeightsError(f"cannot read the weights file {path}: {exc}") from None


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _legacy_layers(group) -> dict[str, list[np.ndarray]]:
    out = {}
    for name in (_text(n) for n in group.attrs["layer_names"]):
        layer = group[name]
        arrays = [np.asarray(layer[_text(w)]) for w in layer.attrs.get("weight_names", ())]
        if arrays:
            out[name] = arrays
    return out


def _keras3_layers(group) -> dict[str, list[np.ndarray]]:
    out = {}
    for name, layer in group.items():
        if "vars" in layer and len(layer["vars"]):
            out[name] = [np.asarray(layer["vars"][str(i)]) for i in range(len(layer["vars"]))]
    return out


_AUTO_NAME = re.compile(r"^(?P<family>[a-z0-9_]+?)(?:_(?P<number>\d+))?$")


def _by_family(names, family: str) -> list[str]:
    """The file's layers of one automatic family, in creation order."""
    found = []
    for name in names:
        match = _AUTO_NAME.match(name)
        if match and match["family"] == family:
            found.append((int(match["number"] or 0), name))
    return [name for _, name in sorted(found)]


def network_weights(use, graph, recording, path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Canonical ``{node name: {weight: array}}`` for the pretrained network ``use`` (a
    :class:`dlae_core.planning.graph.NetworkUse` of ``graph``, recorded as ``recording``), read from
    the weights file at ``path``. Raises PretrainedWeightsError when the file does not fit."""
    layers = read_layer_weights(path)
    file_names = {name.replace("/", "_"): name for name in layers}
    ranks: dict[str, list[str]] = {}
    out: dict[str, dict[str, np.ndarray]] = {}
    for index, layer in enumerate(recording.layers[:recording.body]):
        node_id = use.nodes[index]
        if node_id is None or layer.spec is None:
            continue
        node = graph.nodes[node_id]
        expected = canonical_shapes(node.spec, tuple(graph.nodes[node.inputs[0]].output_shape)) or {}
        if not expected:
            continue
        if layer.auto is not None:
            family = ranks.setdefault(layer.auto, _by_family(layers, layer.auto))
            rank = int(layer.name.rsplit("_", 1)[1]) - 1
            source = family[rank] if rank < len(family) else None
        else:
            source = file_names.get(layer.name)
        if source is None:
            raise PretrainedWeightsError(_missing(use, layer.name, path))
        # the first layer with weights reads the image: its kernel may need other input channels
        out[node.name] = _fit(use, node, expected, layers[source], path, first=not out)
    return out


def _missing(use, name: str, path) -> str:
    hint = (" (the network keeps its ImageNet head: use the weights file with heads)"
            if use.spec["keep_heads"] else "")
    return f"{use.spec.type}: the weights file {path} has no weights for the layer {name!r}{hint}"


def _fit(use, node, expected: dict, arrays: list, path, first: bool) -> dict[str, np.ndarray]:
    names = list(expected)
    if len(arrays) != len(names):
        raise PretrainedWeightsError(
            f"{use.spec.type}: the layer {node.name!r} of the weights file {path} holds {len(arrays)} arrays, "
            f"the network expects {len(names)} ({', '.join(names)})")
    out = {}
    for name, array in zip(names, arrays):
        want = tuple(expected[name])
        array = np.asarray(array, dtype=np.float32)
        if array.shape != want and name == "kernel":
            array = _adapt_kernel(array, want, node.spec.params.get("groups", 1), first)
        if array.shape != want:
            raise PretrainedWeightsError(_mismatch(use, node, name, want, array.shape, path))
        out[name] = array
    return out


def _adapt_kernel(kernel: np.ndarray, want: tuple, groups: int, first: bool) -> np.ndarray:
    if groups > 1 and kernel.shape == want[:-2] + (want[-1], want[-1] // groups):
        return _grouped_from_depthwise(kernel, groups)
    if first and kernel.shape[:-2] == want[:-2] and kernel.shape[-1] == want[-1] and kernel.shape[-2] != want[-2]:
        return adapt_input_channels(kernel, want[-2])
    return kernel


def _grouped_from_depthwise(kernel: np.ndarray, groups: int) -> np.ndarray:
    """keras-applications 1.0.8's depthwise (kh, kw, F, c) with out[g*c + b] = sum_a in[g*c + a] *
    K[.., g*c + a, b] -> the grouped kernel W[.., a, g*c + b] = K[.., g*c + a, b]."""
    kh, kw, filters, c = kernel.shape
    blocks = kernel.reshape(kh, kw, groups, c, c)               # [.., g, a, b]
    return np.ascontiguousarray(blocks.transpose(0, 1, 3, 2, 4).reshape(kh, kw, c, filters))


def adapt_input_channels(kernel: np.ndarray, channels: int) -> np.ndarray:
    """An RGB first-layer kernel (.., 3, F) for ``channels`` input channels (see the module docstring)."""
    if channels == 1:
        return kernel.sum(axis=-2, keepdims=True)
    rgb = kernel.shape[-2]
    picked = kernel[..., [i % rgb for i in range(channels)], :]
    return (picked * (rgb / channels)).astype(kernel.dtype)


def _mismatch(use, node, name: str, want: tuple, got: tuple, path) -> str:
    text = (f"{use.spec.type}: the weights file {path} does not fit the layer {node.name!r}: {name} has the shape "
            f"{tuple(got)}, the network needs {want}")
    if node.spec.type == "Dense" and use.spec["keep_heads"]:
        text += (" (the ImageNet head's first dense layer fixes the input size: use the size the weights were "
                 "trained at, e.g. 224×224, or keep_heads False)")
    return text
