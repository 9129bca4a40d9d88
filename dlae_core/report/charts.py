"""Charts of the run report, drawn with Pillow (dlae_core.report.plot; thread-safe, no display):
training curves, the confusion matrix with per-class precision and recall, predicted-vs-true, the
classes of predictions. Each returns PNG bytes of a fixed size (``WIDTH`` x ``HEIGHT`` pixels)."""

from __future__ import annotations

import numpy as np

from dlae_core.report.plot import GREY, INK, PALETTE, Chart, nice_ticks

WIDTH, HEIGHT = 900, 450


def curve_groups(history: list[dict]) -> list[str]:
    """The logged quantities, one plot each: ``loss`` first, then the monitors (``val_x`` is drawn
    with ``x``; ``lr`` goes on the loss plot's second axis)."""
    names = []
    for row in history:
        for key in row:
            base = key[4:] if key.startswith("val_") else key
            if base not in names and key not in ("epoch", "lr"):
                names.append(base)
    return sorted(names, key=lambda name: (name != "loss", names.index(name)))


def curves(history: list[dict]) -> bytes:
    """Per-epoch curves (train and validation) with the learning rate on a second axis."""
    groups = curve_groups(history)
    chart = Chart(WIDTH, HEIGHT, max(1, len(groups)))
    epochs = [int(row.get("epoch", i)) + 1 for i, row in enumerate(history)]
    for panel, name in zip(chart.panels, groups):
        series = [(key, [row.get(key) for row in history]) for key in (name, f"val_{name}")]
        series = [(key, values) for key, values in series if any(v is not None for v in values)]
        panel.fit(epochs, [v for _, values in series for v in values])
        panel.axes(name, "epoch", x_ticks=_epoch_ticks(epochs))
        for color, (key, values) in zip(PALETTE, series):
            panel.line(epochs, values, color, "validation" if key.startswith("val_") else "train",
                       dashed=key.startswith("val_"))
    rates = [row.get("lr") for row in history]
    if groups and any(r is not None for r in rates):
        known = [r for r in rates if r is not None]
        twin = chart.panels[0].right_axis((min(known), max(known)), "learning rate")
        twin.line(epochs, rates, GREY, "learning rate", dashed=True, markers=False)
        twin.show_legend("right")
    for panel in chart.panels[:len(groups)]:
        panel.show_legend("left")  # over every line
    return chart.png()


def _epoch_ticks(epochs: list[int]) -> list[float]:
    """Whole epochs only (no 2.5th epoch)."""
    return [t for t in nice_ticks(min(epochs, default=1), max(epochs, default=1)) if float(t).is_integer()]


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (np.asarray(true, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def precision_recall(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class precision (of the predictions of a class) and recall (of its true samples); 0 where
    a class was never predicted or never present."""
    hits = np.diag(matrix).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(hits / matrix.sum(axis=0))
        recall = np.nan_to_num(hits / matrix.sum(axis=1))
    return precision, recall


def confusion(matrix: np.ndarray) -> bytes:
    """The confusion matrix (counts written in the cells) beside per-class precision and recall bars."""
    classes = matrix.shape[0]
    chart = Chart(WIDTH, HEIGHT, 2)
    left, right = chart.panels
    left.limits((-0.5, classes - 0.5), (-0.5, classes - 0.5), pad=0.0)
    left.y_range = (classes - 0.5, -0.5)  # row 0 at the top, as a matrix is read
    peak = max(int(matrix.max()), 1)
    ticks = list(range(classes))
    left.axes(f"confusion matrix ({int(matrix.sum())} samples)", "predicted class", "true class",
              x_ticks=ticks, y_ticks=ticks, grid=False)
    for (i, j), count in np.ndenumerate(matrix):
        shade = count / peak
        color = tuple(int(255 - (255 - c) * shade) for c in (8, 48, 107))  # white to dark blue
        left.cell(j, i, color, str(count), "white" if shade > 0.5 else INK)
    left.frame()
    precision, recall = precision_recall(matrix)
    right.limits((-0.6, classes - 0.4), (0.0, 1.0))
    right.axes("per class", "class", x_ticks=ticks)
    for c in range(classes):
        right.bar(c - 0.2, 0.4, float(precision[c]), PALETTE[0], "precision")
        right.bar(c + 0.2, 0.4, float(recall[c]), PALETTE[1], "recall")
    right.show_legend("right")
    return chart.png()


def predicted_vs_true(true: np.ndarray, predicted: np.ndarray) -> bytes:
    """A scatter of predicted against true values (every output of every sample) with y = x."""
    true, predicted = np.ravel(true).astype(np.float64), np.ravel(predicted).astype(np.float64)
    chart = Chart(HEIGHT, HEIGHT)
    panel = chart.panels[0]
    finite = np.concatenate([true, predicted])
    finite = finite[np.isfinite(finite)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    panel.limits((lo, hi), (lo, hi))
    panel.axes(f"predicted vs true ({true.size} values)", "true", "predicted")
    panel.dots(true.tolist(), predicted.tolist(), PALETTE[0])
    if finite.size:
        panel.line([lo, hi], [lo, hi], INK, "y = x", dashed=True, markers=False)
        panel.show_legend("left")
    return chart.png()


def class_counts(counts: np.ndarray) -> bytes:
    """Bars of how many predictions fell in each class (the count written on each bar)."""
    counts = np.asarray(counts, np.int64)
    chart = Chart(HEIGHT, HEIGHT)
    panel = chart.panels[0]
    panel.limits((-0.6, len(counts) - 0.4), (0.0, max(int(counts.max(initial=0)), 1) * 1.1), pad=0.0)
    panel.axes(f"predicted classes ({int(counts.sum())} predictions)", "predicted class", "predictions",
               x_ticks=range(len(counts)))
    for c, count in enumerate(counts):
        panel.bar(c, 0.8, int(count), PALETTE[0], text=str(int(count)))
    return chart.png()
