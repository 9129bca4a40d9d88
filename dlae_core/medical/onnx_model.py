"""An exported ONNX folder (``dlae export``) as the model of ``dlae predict``, run with onnxruntime
alone: no torch, no TensorFlow. The sidecar carries the training config and its statistics, so
preprocessing and the stored form of the outputs are exactly those of the backend's predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dlae_core.errors import ModelFileError
from dlae_core.medical import require
from dlae_core.medical.export import SIDECAR


def read_sidecar(folder: Path) -> dict:
    """The sidecar of an export folder; ModelFileError when it is not one dlae can run."""
    try:
        sidecar = json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{folder / SIDECAR}: the export sidecar cannot be read "
                             f"({str(exc).splitlines()[0]})") from None
    if sidecar.get("format") != "onnx":
        raise ModelFileError(f"{folder}: dlae predict runs ONNX exports; this folder holds format "
                             f"{sidecar.get('format')!r} (export with --format onnx)")
    if not (folder / sidecar.get("file", "")).is_file():
        raise ModelFileError(f"{folder}: the exported model {sidecar.get('file')!r} named by its sidecar is missing")
    return sidecar


class OnnxPredictor:
    """What the prediction writer needs of a model: plan, payload, and a prediction loop."""

    name = "onnxruntime"

    def __init__(self, technique, run, folder: Path):
        from dlae_core.running.prediction import saved_plan

        ort = require("onnxruntime")
        sidecar = read_sidecar(folder)
        stats = sidecar.get("stats")
        self.payload = {"config": sidecar["config"], "graph_role": sidecar.get("graph_role", "model"),
                        "stats": None if not stats else {k: np.asarray(v, np.float64) for k, v in stats.items()}}
        self.plan = saved_plan(self.payload, run.registry, str(folder), technique=technique.saved_technique())
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        try:
            self.session = ort.InferenceSession(str(folder / sidecar["file"]), providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelFileError(f"{folder / sidecar['file']}: onnxruntime cannot load the model "
                                 f"({str(exc).splitlines()[0]})") from None
        self.input_name, self.output_name = sidecar["input"]["name"], sidecar["output"]["name"]
        self.fixed_batch = sidecar["input"].get("batch")

    def predict_batches(self, samples, batch_size: int, workers=None):
        """(names, float32 outputs) per batch of ``samples`` (items with ``x`` and ``name``)."""
        size = self.fixed_batch or batch_size
        for start in range(0, len(samples), size):
            items = [samples[i] for i in range(start, min(start + size, len(samples)))]
            x = np.stack([np.asarray(item["x"], np.float32) for item in items])
            out = self.session.run([self.output_name], {self.input_name: x})[0]
            yield [str(item["name"]) for item in items], np.asarray(out, np.float32)
