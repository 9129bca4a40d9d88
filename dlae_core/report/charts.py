"""Charts drawn with matplotlib (Agg, no display, no pyplot state: safe in the report's thread):
training curves, the confusion matrix with per-class precision and recall, predicted-vs-true.
Each returns PNG bytes of a fixed size (``WIDTH`` x ``HEIGHT`` pixels)."""

from __future__ import annotations

import io

import numpy as np

DPI = 100
WIDTH, HEIGHT = 900, 450


def _figure(width: int = WIDTH, height: int = HEIGHT):
    from matplotlib.figure import Figure

    return Figure(figsize=(width / DPI, height / DPI), dpi=DPI)


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)  # no bbox "tight": the size stays as asked
    return buffer.getvalue()


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
    figure = _figure()
    epochs = [int(row.get("epoch", i)) + 1 for i, row in enumerate(history)]
    axes = figure.subplots(1, max(1, len(groups)), squeeze=False)[0]
    for ax, name in zip(axes, groups):
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            values = [row.get(key) for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], style, marker=".",
                        label="validation" if key.startswith("val_") else "train")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    rates = [row.get("lr") for row in history]
    if groups and any(r is not None for r in rates):
        twin = axes[0].twinx()
        twin.plot(epochs, [np.nan if r is None else r for r in rates], ":", color="grey", label="learning rate")
        twin.set_ylabel("learning rate", color="grey")
        twin.legend(loc="upper right", fontsize="small")
    figure.subplots_adjust(left=0.07, right=0.97, bottom=0.12, top=0.92, wspace=0.45)  # room for the lr axis
    return _png(figure)


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
    figure = _figure()
    left, right = figure.subplots(1, 2)
    left.imshow(matrix, cmap="Blues")
    classes = matrix.shape[0]
    for (i, j), count in np.ndenumerate(matrix):
        left.text(j, i, str(count), ha="center", va="center",
                  color="white" if count > matrix.max() / 2 else "black", fontsize="small")
    left.set(xlabel="predicted class", ylabel="true class", title=f"confusion matrix ({int(matrix.sum())} samples)",
             xticks=range(classes), yticks=range(classes))
    precision, recall = precision_recall(matrix)
    positions = np.arange(classes)
    right.bar(positions - 0.2, precision, 0.4, label="precision")
    right.bar(positions + 0.2, recall, 0.4, label="recall")
    right.set(xlabel="class", ylim=(0, 1.05), xticks=positions, title="per class")
    right.legend(fontsize="small")
    figure.tight_layout()
    return _png(figure)


def predicted_vs_true(true: np.ndarray, predicted: np.ndarray) -> bytes:
    """A scatter of predicted against true values (every output of every sample) with y = x."""
    true, predicted = np.ravel(true), np.ravel(predicted)
    figure = _figure(HEIGHT, HEIGHT)
    ax = figure.subplots()
    ax.scatter(true, predicted, s=8, alpha=0.6)
    finite = np.concatenate([true, predicted])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        ax.plot([lo, hi], [lo, hi], "k--", linewidth=1, label="y = x")
        ax.legend(fontsize="small")
    ax.set(xlabel="true", ylabel="predicted", title=f"predicted vs true ({true.size} values)")
    figure.tight_layout()
    return _png(figure)


def class_counts(counts: np.ndarray) -> bytes:
    """Bars of how many predictions fell in each class (the count written on each bar)."""
    counts = np.asarray(counts, np.int64)
    figure = _figure(HEIGHT, HEIGHT)
    ax = figure.subplots()
    positions = np.arange(len(counts))
    bars = ax.bar(positions, counts)
    ax.bar_label(bars, fontsize="small")
    ax.set(xlabel="predicted class", ylabel="predictions", xticks=positions,
           title=f"predicted classes ({int(counts.sum())} predictions)")
    figure.tight_layout()
    return _png(figure)
