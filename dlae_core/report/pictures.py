"""A run's pictures: what is collected from the model (in the training thread, :func:`collect`) and
the PNG files drawn from it (in the report's thread, :func:`draw`), listed in ``pictures.json``.

What a technique shows is its ``report_pictures`` attribute: ``"maps"`` (FCN: validation samples
with ground truth and prediction overlaid, or image | target | prediction for regression maps,
volumes by the middle slice of each axis), ``"labels"`` (CNN: confusion matrix with per-class
precision and recall, or predicted-vs-true for regression), ``"boxes"`` (BBD: validation samples
with the true boxes | the detections, class and confidence), anything else: curves only. Images a
technique writes itself (GAN previews: source | generated | target) come from
``technique.report_images(config)``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from dlae_core.report import boxes as boxes_drawing
from dlae_core.report import charts, images
from dlae_core.report.boxes import MAX_DETECTIONS
from dlae_core.running.outputs import write_atomic

MANIFEST = "pictures.json"
SAMPLES = 4            # validation samples drawn for maps (2 for volumes: three rows each)
LABEL_SAMPLES = 2000   # at most this many validation samples in a confusion matrix / scatter
BOX_PANEL = 160        # about this many pixels per detection panel (room for the labels)


#: the items of a validation sample each kind of picture keeps (besides the model's output)
KEPT = {"maps": ("x", "y"), "labels": ("y",), "boxes": ("x", "boxes", "n_boxes")}


class ReportSamples:
    """The first ``count`` validation samples with names, as Backend.predict_batches reads them;
    keeps the items named ``keep`` of each (read once, in order) for the pictures."""

    def __init__(self, validation, count: int, keep: tuple[str, ...]):
        self.validation, self.count, self.keep = validation, min(count, len(validation)), keep
        self.kept: dict[str, dict[int, np.ndarray]] = {key: {} for key in keep}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        item = self.validation[index]
        for key in self.keep:
            self.kept[key][index] = np.asarray(item[key])
        return {"x": item["x"], "name": str(index)}

    def stacked(self, key: str) -> np.ndarray:
        return np.stack([self.kept[key][i] for i in range(self.count)])


def collect(kind: str, engine, backend, dense: bool) -> dict | None:
    """Validation inputs, targets and the model's outputs for the pictures of ``kind`` (None: no
    validation data, or a kind with no sample pictures). Runs the model: call it in the training thread."""
    data = getattr(engine, "data", None)
    validation = getattr(data, "validation", None)
    if kind not in KEPT or validation is None or len(validation) == 0:
        return None
    rank = np.asarray(validation[0]["x"]).ndim
    samples = ReportSamples(validation, LABEL_SAMPLES if kind == "labels" else (SAMPLES if rank < 4 else 2),
                            KEPT[kind])
    batch = engine.config.training_configurations.batch_size
    outputs = [out for _, out in backend.predict_batches(engine.model, samples, batch, 0, engine.placement)]
    found = {"kind": kind, "dense": dense, "pred": np.concatenate(outputs),
             **{key: samples.stacked(key) for key in KEPT[kind]}}
    if kind == "boxes":  # the network's anchor outputs decoded as dlae predict does
        found["pred"] = detections(found["pred"], engine.config.bbd_options, data.anchors, data.image_hw)
    return found


def detections(outputs: np.ndarray, bbd_options, anchors, image_hw) -> list[np.ndarray]:
    """(k, 6) rows [class, confidence, xmin, ymin, xmax, ymax] per image of a BBD network's outputs."""
    from dlae_core.techniques.bbd.decode import decode
    from dlae_core.techniques.bbd.heads import split_output

    scores, offsets = split_output(np.asarray(outputs, np.float64))
    return decode(scores, offsets, anchors, bbd_options, image_hw)


def draw(folder: Path, history: list[dict], found: dict | None, extra: list[tuple[str, Path]] = ()) -> list[dict]:
    """Draw the pictures into ``folder`` and write its manifest; returns the manifest entries."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    if history:
        entries.append(write_picture(folder, "curves.png", charts.curves(history), "Training curves",
                              "loss and monitors per epoch (train solid, validation dashed); learning rate dotted, "
                              "right axis"))
    if found is not None and found["kind"] == "maps":
        entries.append(_maps(folder, found))
    elif found is not None and found["kind"] == "labels":
        entries.append(_labels(folder, found))
    elif found is not None and found["kind"] == "boxes":
        entries.append(_boxes(folder, found))
    for title, source in extra:
        target = folder / f"technique_{Path(source).name}"
        shutil.copyfile(source, target)
        entries.append({"file": target.name, "title": title, "caption": f"from {source}"})
    return write_manifest(folder, entries)


def write_manifest(folder: Path, entries: list[dict]) -> list[dict]:
    """List ``entries`` in ``folder``'s manifest and remove the PNG files not listed (an earlier
    run's, replaced with --overwrite); returns the entries."""
    text = json.dumps(entries, indent=1)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    listed = {entry["file"] for entry in entries}
    for old in folder.glob("*.png"):
        if old.name not in listed:
            old.unlink()
    return entries


def write_picture(folder: Path, name: str, png: bytes, title: str, caption: str, **data) -> dict:
    """Write PNG bytes as ``folder/name``; the manifest entry that describes it."""
    write_atomic(folder / name, lambda tmp: tmp.write_bytes(png))
    return {"file": name, "title": title, "caption": caption, **data}


def _maps(folder: Path, found: dict) -> dict:
    x, y, pred = found["x"], found["y"], found["pred"]
    if y.ndim == x.ndim - 1:  # integer label maps stored without a channel axis
        y = y[..., None]
    scale = images.panel_scale(x.shape[1:])
    rows_of = images.map_rows if found["dense"] else images.segmentation_rows
    rows = [row for i in range(len(x)) for row in rows_of(x[i], y[i], pred[i], scale)]
    images.save_png(folder / "samples.png", images.grid(rows))
    volume = "; volumes: the middle slice of each axis, one row each" if x.ndim == 5 else ""
    what = "image | target | prediction" if found["dense"] else "image | ground truth | prediction (overlaid)"
    return {"file": "samples.png", "title": "Validation samples",
            "caption": f"{what}, first {len(x)} validation samples{volume}", "samples": len(x), "scale": scale}


def _labels(folder: Path, found: dict) -> dict:
    y, pred = found["y"], found["pred"].reshape(len(found["pred"]), -1)
    if found["dense"]:
        return write_picture(folder, "predicted_vs_true.png", charts.predicted_vs_true(y, pred), "Predicted vs true",
                      f"every output of {len(y)} validation samples", samples=len(y))
    classes = pred.shape[1] if pred.shape[1] > 1 else 2
    true = np.argmax(y.reshape(len(y), -1), axis=1) if y.size > len(y) else np.ravel(y).astype(np.int64)
    guess = np.argmax(pred, axis=1) if pred.shape[1] > 1 else (pred[:, 0] > 0.5).astype(np.int64)
    matrix = charts.confusion_matrix(true, guess, classes)
    precision, recall = charts.precision_recall(matrix)
    return write_picture(folder, "confusion.png", charts.confusion(matrix), "Confusion matrix",
                  f"{len(y)} validation samples; per-class precision and recall", matrix=matrix.tolist(),
                  precision=precision.tolist(), recall=recall.tolist())


def _boxes(folder: Path, found: dict) -> dict:
    x = found["x"]
    scale = images.panel_scale(x.shape[1:], BOX_PANEL)
    rows, drawn = [], []
    for image, boxes, count, found_boxes in zip(x, found["boxes"], found["n_boxes"], found["pred"]):
        base = images.grey_rgb(image)
        shown = np.asarray(found_boxes, np.float64).reshape(-1, 6)[:MAX_DETECTIONS]
        rows.append([boxes_drawing.draw_boxes(base, boxes[:int(count)], scale, detections=False),
                     boxes_drawing.draw_boxes(base, shown, scale, detections=True)])
        drawn.append(np.round(shown, 4).tolist())
    images.save_png(folder / "detections.png", images.grid(rows))
    return {"file": "detections.png", "title": "Validation detections",
            "caption": f"ground truth | detections (class confidence, at most {MAX_DETECTIONS} per image), first "
                       f"{len(x)} validation samples", "samples": len(x), "scale": scale, "detections": drawn}


def read_manifest(folder: Path) -> list[dict]:
    try:
        return json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
