"""Saved models and checkpoints: one HDF5 file holding the config (so the graph is rebuilt from it,
whatever plugin losses the training used), the weights in the canonical layout
(``dlae_core.running.weights``, via weights.export_weights), the feature statistics and, for checkpoints
and final models, the training state including the optimizer variables. Written atomically.

Layout::

    attrs   format="dlae-tensorflow-model", version, config (JSON), graph_role,
            training_state (JSON, without the optimizer; absent when none)
    weights/<node name>/<weight name>   float32 arrays (Keras layout)
    stats/mean, stats/std               featurewise statistics (absent when none)
    optimizer/<i>                       the optimizer's variables in order, attr ``path`` each
    random/<i>                          the seed generators' states (random_state.py), attr ``path`` each
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import h5py
import numpy as np

from dlae_core.errors import ModelFileError
from dlae_core.running.outputs import write_atomic

FORMAT = "dlae-tensorflow-model"
VERSION = 1


def save_model_file(path: str | Path, *, config_dict: dict, graph_role: str, weights: dict,
                    stats: dict | None = None, training_state: dict | None = None,
                    optimizer_variables: list[tuple[str, np.ndarray]] | None = None,
                    random_state: list[tuple[str, np.ndarray]] | None = None) -> Path:
    """``weights``: ``{node: {name: array}}`` (weights.export_weights); ``optimizer_variables``:
    ``[(path, value), ...]`` in the optimizer's variable order; ``random_state``: the same for the
    seed generators (random_state.snapshot)."""

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as handle:
            handle.attrs["format"] = FORMAT
            handle.attrs["version"] = VERSION
            handle.attrs["config"] = json.dumps(config_dict)
            handle.attrs["graph_role"] = graph_role
            if training_state is not None:
                handle.attrs["training_state"] = json.dumps(training_state)
            group = handle.create_group("weights")
            for node, values in weights.items():
                node_group = group.create_group(node)
                for name, value in values.items():
                    node_group.create_dataset(name, data=np.asarray(value))
            if stats:
                stats_group = handle.create_group("stats")
                for key, value in stats.items():
                    if value is not None:
                        stats_group.create_dataset(key, data=np.asarray(value))
            for name, variables in (("optimizer", optimizer_variables), ("random", random_state)):
                if variables is not None:
                    group = handle.create_group(name)
                    for i, (var_path, value) in enumerate(variables):
                        group.create_dataset(str(i), data=np.asarray(value)).attrs["path"] = var_path

    return write_atomic(path, write)


def load_model_file(path: str | Path) -> dict:
    """``{"config", "graph_role", "weights", "stats", "training_state"}``; the training state holds
    ``"optimizer"`` and ``"random"``: ``[(path, array), ...]`` when the file has optimizer variables
    and seed generator states."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist")
    if zipfile.is_zipfile(path):
        raise ModelFileError(f"{str(path)!r} is a model saved by dlae's torch backend; predict with "
                             f"--backend torch (or retrain with --backend tensorflow)")
    try:
        with h5py.File(path, "r") as handle:
            if handle.attrs.get("format") != FORMAT:
                raise ModelFileError(f"{str(path)!r} is not a model saved by dlae's tensorflow backend")
            if int(handle.attrs.get("version", 0)) > VERSION:
                raise ModelFileError(f"{str(path)!r} was saved by a newer dlae (format {handle.attrs['version']})")
            payload = {"config": json.loads(handle.attrs["config"]), "graph_role": str(handle.attrs["graph_role"])}
            payload["weights"] = _read_weights(handle["weights"])
            payload["stats"] = ({key: np.asarray(ds[()]) for key, ds in handle["stats"].items()}
                                if "stats" in handle else None)
            state = json.loads(handle.attrs["training_state"]) if "training_state" in handle.attrs else None
            for name in ("optimizer", "random"):
                if state is not None and name in handle:
                    state[name] = _read_variables(handle[name])
            payload["training_state"] = state
    except ModelFileError:
        raise
    except Exception as exc:  # any unreadable file is the user's input, not a bug
        raise ModelFileError(f"{str(path)!r} is not a model saved by dlae's tensorflow backend "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
    return payload


def _read_variables(group) -> list[tuple[str, np.ndarray]]:
    return [(str(group[str(i)].attrs["path"]), np.asarray(group[str(i)][()])) for i in range(len(group))]


def _read_weights(group) -> dict:
    """``{node: {name: array}}``; a weight name with "/" (a plugin layer's ``reduce/kernel``) was
    stored as nested groups below its node, so the whole path below the node is the name."""
    weights: dict[str, dict[str, np.ndarray]] = {node: {} for node in group}

    def visit(path: str, item) -> None:
        if isinstance(item, h5py.Dataset):
            node, _, name = path.partition("/")
            weights[node][name] = np.asarray(item[()])

    group.visititems(visit)
    return weights
