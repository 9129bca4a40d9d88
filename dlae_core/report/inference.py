"""The pictures of an Inference session (``dlae predict``, or ``dlae run`` of an Inference config),
drawn once at its end from the files it read and wrote: the first samples of ``paths.test_X`` (their
stored values, before preprocessing) beside what the predictions file holds for them.

* FCN (``report_pictures`` "maps"): image | predicted labels overlaid (regression maps: image |
  predicted map); volumes by the middle slice of each axis;
* CNN ("labels"): the samples captioned with the predicted class and its probability (regression:
  the predicted values) and, for classes, how many of the predictions fell in each class;
* BBD ("boxes"): the detections drawn on the image, class and confidence;
* a technique that generates images (GAN, the autoencoder plugin): source | generated.

They go to ``<predictions>.report/`` beside the session's run record, listed in its manifest, with
report.html.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlae_core.report import boxes as boxes_drawing
from dlae_core.report import charts, images, pictures
from dlae_core.report.boxes import MAX_DETECTIONS

SAMPLES = 8  # the first predictions drawn (volumes: 2, three rows each)


def picture_kind(technique) -> str:
    """What an inference report of ``technique`` shows: "images", "maps", "labels", "boxes" or ""."""
    if getattr(technique, "generates_images", False):
        return "images"
    return getattr(technique, "report_pictures", "")


def draw(folder: Path, technique, config, predictions: Path, dense: bool) -> list[dict]:
    """Draw the pictures of the predictions file ``predictions`` of ``config``'s ``paths.test_X``
    into ``folder`` and write its manifest; returns the entries (none for a technique that shows
    nothing or an empty file)."""
    from dlae_core.data.hdf5 import SampleFile

    kind = picture_kind(technique)
    entries: list[dict] = []
    with SampleFile(predictions) as outputs, SampleFile(config.paths.test_X) as inputs:
        names = outputs.names()
        if kind and names:
            volume = inputs.read(names[0]).ndim >= 4
            shown = names[:2 if volume and kind in ("maps", "images") else SAMPLES]
            x = [_with_channels(inputs.read(name), volume) for name in shown]
            pred = [np.asarray(outputs.read(name)) for name in shown]
            entries.append(_SHEETS[kind](folder, shown, x, pred, dense))
            if kind == "labels" and not dense:
                entries.append(_class_counts(folder, [outputs.read(name) for name in names[:pictures.LABEL_SAMPLES]]))
    return pictures.write_manifest(folder, entries)


def _with_channels(x: np.ndarray, volume: bool) -> np.ndarray:
    """A stored sample with its channel axis (stored 2-D images and volumes may lack it)."""
    x = np.asarray(x, np.float32)
    return x[..., None] if x.ndim == (3 if volume else 2) else x


def _rows_per_slice(x: np.ndarray, pred: np.ndarray, panels) -> list[list[np.ndarray]]:
    """``panels(x2d, pred2d)`` for a 2-D sample, or for each middle slice of a volume (one row each)."""
    if x.ndim == 4:
        return [panels(xs, ps) for xs, ps in zip(images.middle_slices(x), images.middle_slices(pred))]
    return [panels(x, pred)]


def _maps(folder: Path, names, x, pred, dense: bool) -> dict:
    scale = images.panel_scale(x[0].shape)

    def panels(image, output):
        base = images.grey_rgb(image)
        shown = images.grey_rgb(output[..., :1]) if dense else images.overlay(base, images.label_map(output))
        return [images.enlarge(base, scale), images.enlarge(shown, scale)]

    rows = [row for xi, pi in zip(x, pred) for row in _rows_per_slice(xi, pi, panels)]
    images.save_png(folder / "predictions.png", images.grid(rows))
    what = "image | predicted map" if dense else "image | predicted labels overlaid"
    return {"file": "predictions.png", "title": "Predictions", "caption": f"{what}, samples {', '.join(names)}",
            "samples": list(names), "scale": scale}


def _images(folder: Path, names, x, pred, dense: bool) -> dict:
    scale = images.panel_scale(x[0].shape)

    def panels(source, generated):
        return [images.enlarge(images.grey_rgb(source), scale), images.enlarge(images.grey_rgb(generated), scale)]

    rows = [row for xi, pi in zip(x, pred) for row in _rows_per_slice(xi, np.asarray(pi, np.float32), panels)]
    images.save_png(folder / "predictions.png", images.grid(rows))
    return {"file": "predictions.png", "title": "Generated images",
            "caption": f"source | generated, samples {', '.join(names)}", "samples": list(names), "scale": scale}


def predicted_class(output: np.ndarray) -> tuple[int, float]:
    """(class, probability) of a classifier's output: the argmax of several, else a sigmoid's > 0.5."""
    values = np.ravel(np.asarray(output, np.float64))
    if values.size > 1:
        best = int(np.argmax(values))
        return best, float(values[best])
    return int(values[0] > 0.5), float(values[0] if values[0] > 0.5 else 1.0 - values[0])


def _labels(folder: Path, names, x, pred, dense: bool) -> dict:
    scale = images.panel_scale(x[0].shape)
    panels, said = [], []
    for name, image, output in zip(names, x, pred):
        if dense:
            text = " ".join(f"{v:.3g}" for v in np.ravel(output)[:3])
        else:
            cls, probability = predicted_class(output)
            text = f"class {cls} ({probability:.2f})"
        said.append(text)
        panels.append(images.captioned(images.enlarge(images.grey_rgb(image[..., :3]), scale), f"{name}: {text}"))
    images.save_png(folder / "predictions.png", images.grid([panels]))
    what = "predicted values" if dense else "predicted class (probability)"
    return {"file": "predictions.png", "title": "Predictions", "caption": f"samples {', '.join(names)} with the "
            f"{what}", "samples": list(names), "scale": scale, "labels": said}


def _class_counts(folder: Path, outputs: list[np.ndarray]) -> dict:
    classes = max(2, np.ravel(outputs[0]).size)
    counts = np.bincount([predicted_class(output)[0] for output in outputs], minlength=classes)
    return pictures.write_picture(folder, "predicted_classes.png", charts.class_counts(counts), "Predicted classes",
                                  f"how many of {len(outputs)} predictions fell in each class",
                                  counts=counts.tolist())


def _boxes(folder: Path, names, x, pred, dense: bool) -> dict:
    scale = images.panel_scale(x[0].shape, pictures.BOX_PANEL)
    panels = [boxes_drawing.draw_boxes(images.grey_rgb(image), rows, scale, detections=True)
              for image, rows in zip(x, pred)]
    images.save_png(folder / "predictions.png", images.grid([panels[i:i + 4] for i in range(0, len(panels), 4)]))
    drawn = [np.round(np.asarray(rows, np.float64).reshape(-1, 6)[:MAX_DETECTIONS], 4).tolist() for rows in pred]
    return {"file": "predictions.png", "title": "Detections",
            "caption": f"detections (class confidence, at most {MAX_DETECTIONS} per image), samples "
                       f"{', '.join(names)}", "samples": list(names), "scale": scale, "detections": drawn}


_SHEETS = {"maps": _maps, "images": _images, "labels": _labels, "boxes": _boxes}
