"""``dlae export``: a saved model as a file another program runs without dlae, plus a sidecar JSON
(``dlae_export.json``) saying how to feed it and read it.

The model at ``paths.load_model`` (for a training config without one, its ``save_model_path``) is
rebuilt on the chosen backend and written by the backend (:meth:`Backend.export_model`); an ONNX
file is then run with onnxruntime on a random batch and compared with the framework's own output
(the export fails above 1e-4). Everything is written in a temporary folder beside the output and
moved into place at the end, so a failed export leaves nothing; existing files are refused unless
``--overwrite``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from dlae_core.errors import DlaeError, ModelFileError, UsageError
from dlae_core.medical import require

SIDECAR = "dlae_export.json"
FILES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt", "savedmodel": "savedmodel"}
TOLERANCE = 1e-4
LAYOUT = "channels last: (batch, rows, cols[, slices], channels), float32"


class ExportCheckError(DlaeError):
    """The exported model does not compute what the framework computes."""


def model_to_export(config) -> str:
    """``paths.load_model``, else the training config's final model; UsageError when neither is set."""
    save = config.save_configurations
    path = config.paths.load_model or (save.save_model_path if save.save_model_switch else None)
    if not path:
        raise UsageError("paths.load_model: dlae export needs a saved model. Expected paths.load_model, or a training "
                         "config with save_configurations.save_model_switch on. Received: ''")
    if not Path(path).is_file():
        raise ModelFileError(f"{path}: the model to export does not exist (train it first, or set paths.load_model)")
    return str(path)


def export(config_path: str, backend_name: str, fmt: str, out: Path, *, overwrite: bool = False,
           class_names: list[str] | None = None) -> dict:
    """Export ``config_path``'s model on ``backend_name`` into folder ``out``; returns the sidecar."""
    from dlae_core.cli.loading import load_and_plan
    from dlae_core.running.inference import load_saved_network
    from dlae_core.running.run import refuse_existing

    config, plan, registry = load_and_plan(config_path, check_data=False, backend=backend_name)
    engine = registry.backend(backend_name)
    if fmt not in engine.export_formats:
        raise UsageError(f"--format {fmt}: the {backend_name} backend exports {', '.join(engine.export_formats)}")
    if fmt == "onnx":
        require("onnxruntime")  # before any work: the export is checked with it
    targets = [("exported model", out / FILES[fmt]), ("export sidecar", out / SIDECAR)]
    refuse_existing(targets, overwrite, hint="or choose another -o folder")
    model_path = model_to_export(config)
    technique = registry.techniques[plan.technique]
    model, saved_plan, payload = load_saved_network(technique, engine, model_path, None)
    role = payload.get("graph_role", "model")
    input_shape = tuple(saved_plan.graphs[role].input_shapes[0])
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dlae-export-", dir=out))
    try:
        info = engine.export_model(model, input_shape, fmt, str(staging / FILES[fmt]))
        check = _check_onnx(engine, model, staging / FILES[fmt], info, input_shape) if fmt == "onnx" else None
        sidecar = make_sidecar(fmt, engine.name, technique, registry, saved_plan, payload, info, input_shape,
                               model_path, check, class_names)
        (staging / SIDECAR).write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
        for _, target in targets:
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(staging / target.name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sidecar


def _check_onnx(engine, model, path: Path, info: dict, input_shape: tuple) -> dict:
    """The largest difference between onnxruntime and the framework on a random batch of 2."""
    ort = require("onnxruntime")
    x = np.random.default_rng(0).random((2, *input_shape), dtype=np.float32)
    expected = engine.forward(model, [x])
    x = x[:info["batch"]] if info["batch"] else x
    expected = expected[:len(x)]
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run([info["output_name"]], {info["input_name"]: x})[0]
    except Exception as exc:  # onnxruntime's own exception types: the file is not a model it runs
        raise ExportCheckError(f"onnxruntime cannot run the exported model: {str(exc).splitlines()[0]}; "
                               f"nothing was written") from None
    if got.shape != expected.shape:
        raise ExportCheckError(f"the exported model's output has shape {got.shape}, the framework's "
                               f"{expected.shape}; the export is not usable")
    difference = float(np.max(np.abs(got.astype(np.float64) - expected)))
    if not difference <= TOLERANCE:
        raise ExportCheckError(f"onnxruntime and the framework differ by {difference:.3g} on a random input "
                               f"(at most {TOLERANCE:g} allowed); nothing was written")
    return {"max_abs_difference": difference, "tolerance": TOLERANCE, "runtime": f"onnxruntime {ort.__version__}",
            "input": f"uniform random values in [0, 1), shape {[2, *input_shape]}"}


def config_hash(config: dict) -> str:
    """sha256 of the saved training config (canonical JSON): which experiment the model came from."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def make_sidecar(fmt, backend, technique, registry, plan, payload, info, input_shape, model_path, check,
                 class_names) -> dict:
    """What a program needs to run the exported model without dlae (and what dlae predict reads)."""
    from dlae_core import __version__
    from dlae_core.config.parser import parse_config

    saved = parse_config(payload["config"], registry, source=model_path)
    graph = plan.graphs[payload.get("graph_role", "model")]
    output_shape = _output_shape(technique, saved, graph)
    stats = payload.get("stats")
    classes = _class_count(technique, saved, output_shape)
    if class_names is not None and classes is not None and len(class_names) != classes:
        raise UsageError(f"--class-names: the model has {classes} classes. Received: {len(class_names)} names")
    return {
        "format": fmt, "file": FILES[fmt], "dlae_version": __version__, "backend": backend,
        "technique": plan.technique, "graph_role": payload.get("graph_role", "model"),
        "input": {"name": info["input_name"], "shape": list(input_shape), "layout": LAYOUT, "batch": info["batch"]},
        "output": {"name": info["output_name"], "shape": output_shape,
                   "kind": _output_kind(technique, registry, saved)},
        "preprocessing": _preprocessing(saved, stats),
        "classes": {"count": classes, "names": class_names},
        "decoding": detection_decoding(saved, graph) if technique.name == "BBD" else None,
        "config_sha256": config_hash(payload["config"]), "source_model": str(model_path),
        "check": check, "config": payload["config"],
        "stats": None if not stats else {k: np.asarray(v).tolist() for k, v in stats.items()},
    }


def _output_shape(technique, config, graph) -> list[int]:
    """The exported model's output shape per sample: a detector's is its heads' (N, C+5), not the
    layer list's main path."""
    if technique.name == "BBD":
        from dlae_core.techniques.bbd.heads import head_specs, output_shape

        return list(output_shape(head_specs(config.bbd_options, graph)))
    return list(graph.output_shape)


def _class_count(technique, config, output_shape: list) -> int | None:
    if technique.generates_images:
        return None
    if technique.name == "BBD":
        return int(config.bbd_options.number_classes)
    return int(output_shape[-1])


def _output_kind(technique, registry, config) -> str:
    loss = registry.losses.get(config.loss_function.loss)
    dense = loss is not None and loss.target == "dense"
    if technique.generates_images:
        return "image in normalized units (invert with preprocessing.target_normalization)"
    if technique.name == "BBD":
        return ("per anchor (the rows of decoding.anchors): softmax class scores (background first), then box "
                "offsets t_cx, t_cy, t_w, t_h; decoding turns them into boxes")
    if technique.map_targets:
        return "per-pixel values" if dense else "per-pixel class scores (argmax: the label map)"
    return "values" if dense else "class scores"


def detection_decoding(config, graph) -> dict:
    """Everything that turns a detector's output into boxes, as ``dlae predict`` decodes it: the
    anchors (one per output row), variances, coordinate units and the selection thresholds of the
    training config (``dlae predict`` applies the inference config's thresholds)."""
    from dlae_core.techniques.bbd.anchors import make_anchors, variances
    from dlae_core.techniques.bbd.prediction import PREDICTION_VALUES
    from dlae_core.techniques.bbd.training import DECODING_KEYS, image_hw

    bbd, hw = config.bbd_options, image_hw(config)
    normalized = bool(bbd.normalize_coordinates_switch)
    units = "fractions of the image width (x) and height (y)" if normalized else "input pixels"
    return {
        "image_size": list(hw),
        "anchors": make_anchors(bbd, hw, graph.hook_shapes()).tolist(),
        "anchor_format": f"one row per output row: centre x, centre y, width, height in {units}",
        "variances": variances(bbd).tolist(),
        "normalize_coordinates": normalized,
        **{key: getattr(bbd, key) for key in DECODING_KEYS},
        "boxes": "with anchor (cx_a, cy_a, w_a, h_a) and variances v: cx = t_cx v0 w_a + cx_a, cy = t_cy v1 h_a + "
                 "cy_a, w = exp(t_w v2) w_a, h = exp(t_h v3) h_a; corners (cx - w/2, cy - h/2, cx + w/2, cy + h/2)"
                 + ("; x times the image width, y times its height" if normalized else ""),
        "selection": "per object class c >= 1: anchors whose score is > confidence_threshold, the "
                     "nms_maximum_output best of them (0: all), greedy non-maximum suppression dropping boxes whose "
                     "IoU with a kept box is > iou_threshold; all classes merged by decreasing confidence and the "
                     "top_k best kept (0: all)",
        "rows": PREDICTION_VALUES,
    }


def _preprocessing(config, stats) -> dict:
    """Intensity normalization of the inputs (and targets) as formulas and numbers."""
    from dlae_core.data.preprocess import normalizations

    pre, aug = config.preprocessing, config.augmentation
    x_norm, y_norm = normalizations(pre, True) if pre.normalization_type != "imagenet" else (None, None)
    return {
        "order": "channel repetition, featurewise centering/standardization (training statistics), samplewise "
                 "centering/standardization, then the intensity normalization",
        "repeat_channels": pre.repeat_X_quantity if pre.repeat_X_switch else 1,
        "featurewise_centering": aug.featurewise_centering_switch,
        "featurewise_standardization": aug.featurewise_normalization_switch,
        "samplewise_centering": aug.samplewise_centering_switch,
        "samplewise_standardization": aug.samplewise_normalization_switch,
        "statistics": None if not stats else {k: np.asarray(v).tolist() for k, v in stats.items()},
        "normalization_type": pre.normalization_type,
        "normalization": "samplewise: (x - min) / (max - min) of each image; global: (x - low) / (high - low); "
                         "negpos: 2 * (u - 0.5)",
        "intensity_window": None if x_norm is None or x_norm.kind != "global" else [x_norm.low, x_norm.high],
        "target_normalization": None if y_norm is None or y_norm.kind != "global" else [y_norm.low, y_norm.high],
    }
