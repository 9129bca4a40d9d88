"""Saved models and checkpoints: one torch file holding the config (so the graph can be
rebuilt without naming custom objects), the weights and, for checkpoints, the optimizer and
schedule state. Written atomically; read with ``weights_only=True`` (no pickled code)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlae_core.errors import ModelFileError
from dlae_core.running.outputs import write_atomic

FORMAT = "dlae-torch-model"
VERSION = 1


def save_model_file(path: str | Path, *, config_dict: dict, graph_role: str, model: torch.nn.Module,
                    stats: dict | None = None, training_state: dict | None = None) -> Path:
    return write_payload(path, model_payload(config_dict=config_dict, graph_role=graph_role, model=model,
                                             stats=stats, training_state=training_state))


def model_payload(*, config_dict: dict, graph_role: str, model: torch.nn.Module, stats: dict | None = None,
                  training_state: dict | None = None, copy: bool = False) -> dict:
    """What a model file holds; with ``copy`` every tensor is a copy of its own (training may go on
    while the payload is written: dlae_core.training.saver)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": config_dict,
        "graph_role": graph_role,
        "state_dict": {k: v.detach().to("cpu", copy=copy) for k, v in model.state_dict().items()},
        "stats": _tensors(stats) if stats else None,
        "training_state": training_state,
    }


def write_payload(path: str | Path, payload: dict) -> Path:
    """Write a model file's ``payload`` to ``path`` atomically."""
    return write_atomic(path, lambda tmp: torch.save(payload, tmp))


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # the tensorflow backend's model files are HDF5


def load_model_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist")
    with open(path, "rb") as handle:
        if handle.read(8) == HDF5_SIGNATURE:
            raise ModelFileError(f"{str(path)!r} was written by dlae's tensorflow backend; use it with "
                                 f"--backend tensorflow (or retrain with --backend torch)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file is the user's input, not a bug
        raise ModelFileError(f"{str(path)!r} is not a model saved by dlae's torch backend "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{str(path)!r} is not a model saved by dlae's torch backend")
    if payload.get("version", 0) > VERSION:
        raise ModelFileError(f"{str(path)!r} was saved by a newer dlae (format {payload['version']})")
    if payload.get("stats"):
        payload["stats"] = {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in payload["stats"].items()}
    return payload


def _tensors(stats: dict) -> dict:
    return {k: torch.as_tensor(np.asarray(v)) if v is not None else None for k, v in stats.items()}
