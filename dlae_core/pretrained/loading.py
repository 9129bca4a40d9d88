"""Loading the pretrained weights of every network a freshly built model holds.

A network layer ``Name:keep_heads:weights:…`` names its weights: ``none`` (random initialisation),
``imagenet`` (the keras.applications file, found or downloaded by :mod:`.download`) or a path to a
weights file (relative paths were made absolute against the config's folder). The weights are read
in the canonical layout and set through the backend's ordinary weight exchange, so both backends load
the same numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dlae_core.layers.networks import record_network
from dlae_core.pretrained.weights_file import PretrainedWeightsError, network_weights

__all__ = ["weights_source", "load_pretrained_weights", "load_for_run"]


def weights_source(spec, *, progress: bool = True) -> Path | None:
    """The weights file of the network layer ``spec``: None for ``weights: none``."""
    value = spec["weights"]
    if value == "none":
        return None
    if value == "imagenet":
        from dlae_core.pretrained.download import find_weights

        return find_weights(spec.type, bool(spec["keep_heads"]), progress=progress)
    path = Path(value).expanduser()
    if not path.is_file():
        raise PretrainedWeightsError(f"{spec.type}: the weights file {path} does not exist (weights is "
                                     f"'imagenet', 'none' or the path of a weights file)")
    return path


def load_pretrained_weights(backend, model, graph, *, progress: bool = True) -> list[str]:
    """Set the weights of every pretrained network of ``graph`` that names weights, in ``model`` (built
    by ``backend`` from ``graph``); returns one line per network loaded, saying from where."""
    uses = [use for use in graph.networks if use.spec["weights"] != "none"]
    if not uses:
        return []
    weights = backend.export_weights(model, graph)
    lines = []
    for use in uses:
        path = weights_source(use.spec, progress=progress)
        recording = record_network(use.spec.type, use.spec["input_shape"], use.spec["keep_heads"])
        weights.update(network_weights(use, graph, recording, path))
        lines.append(f"{use.spec.type}: {use.spec['weights']} weights from {path}")
    backend.import_weights(model, graph, weights)
    return lines


def load_for_run(run, backend, model, graph) -> None:
    """:func:`load_pretrained_weights` for a training session, saying what it loaded unless quiet."""
    quiet = bool(getattr(run.options, "quiet", False))
    for line in load_pretrained_weights(backend, model, graph, progress=not quiet):
        if not quiet:
            print(line, file=sys.stderr, flush=True)
