"""Pretrained-network weights files for tests, without a framework: random weights for every layer of
a network, written in the published keras-applications layout or Keras 3's ``.weights.h5`` layout."""

from __future__ import annotations

import h5py
import numpy as np

from dlae_core.layers.networks import record_network
from dlae_core.running.weights import canonical_shapes


def network_file_layers(network: str, shape=(32, 32, 3), keep_heads: bool = False, rename=None,
                        seed: int = 0) -> dict[str, list[np.ndarray]]:
    """{Keras layer name: [arrays in Keras' order]} of random weights for every weighted layer of the
    network (``rename(net_layer) -> name`` changes the names, e.g. to Keras 2's)."""
    recording = record_network(network, shape, keep_heads)
    rng = np.random.default_rng(seed)
    out = {}
    for layer in recording.layers[:recording.body]:
        input_shape = tuple(shape) if layer.inputs == (-1,) else recording.layers[layer.inputs[0]].shape
        shapes = canonical_shapes(layer.spec, input_shape) if layer.spec is not None else None
        if shapes:
            arrays = [rng.normal(0, 0.1, s).astype("float32") for s in shapes.values()]
            if layer.spec.type == "Batch normalization":  # a positive moving variance
                arrays[-1] = np.abs(arrays[-1]) + 0.5
            out[rename(layer) if rename else layer.name] = arrays
    return out


def write_legacy_weights(path, layers: dict) -> str:
    """The published layout: ``layer_names`` at the root, ``weight_names`` per layer."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [name.encode() for name in layers]
        for name, arrays in layers.items():
            group = f.create_group(name)
            names = [f"{name}/w{i}:0".encode() for i in range(len(arrays))]
            group.attrs["weight_names"] = names
            for weight_name, array in zip(names, arrays):
                group.create_dataset(weight_name.decode(), data=array)
    return str(path)


def write_keras3_weights(path, layers: dict) -> str:
    """Keras 3 ``.weights.h5``: ``layers/<name>/vars/<i>``."""
    with h5py.File(path, "w") as f:
        for name, arrays in layers.items():
            group = f.create_group(f"layers/{name}/vars")
            for i, array in enumerate(arrays):
                group.create_dataset(str(i), data=array)
    return str(path)
