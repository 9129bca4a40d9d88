"""A small chart kit on Pillow: panels with axes, ticks, lines, markers, bars, cells and legends.

The run report draws a handful of simple charts at the end of every run; matplotlib would cost
each run about a second of CPU to import and draw (measured on the digits CNN, issue 19), Pillow a
few milliseconds. Pixel coordinates: x to the right, y down; data coordinates map linearly into
a panel's plot area.
"""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw, ImageFont

#: the colours of series 0, 1, ... (matplotlib's first "tab" colours, which users know from other tools)
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))
GREY, INK, GRID = (128, 128, 128), (30, 30, 30), (225, 225, 225)


def font(size: int = 12):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def tick_text(value: float) -> str:
    return f"{value:.3g}"


class Chart:
    """A white image split into panels side by side; :meth:`png` gives its PNG bytes."""

    def __init__(self, width: int, height: int, panels: int = 1):
        self.image = Image.new("RGB", (width, height), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.small, self.normal = font(11), font(13)
        step = width / panels
        self.panels = [Panel(self, int(i * step), 0, int(step), height) for i in range(panels)]

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, format="PNG")
        return buffer.getvalue()


class Panel:
    """One plot: call :meth:`limits` (or let :meth:`fit` find them), then draw in data coordinates."""

    def __init__(self, chart: Chart, left: int, top: int, width: int, height: int):
        self.chart, self.draw = chart, chart.draw
        self.area = (left + 62, top + 30, left + width - 62, top + height - 46)  # room for ticks and labels
        self.x_range = self.y_range = (0.0, 1.0)
        self.legend: list[tuple[str, tuple, str]] = []

    # -- coordinates -------------------------------------------------------------------------------------
    def limits(self, x_range, y_range, *, pad: float = 0.05) -> None:
        (x0, x1), (y0, y1) = x_range, y_range
        if y1 <= y0:
            y0, y1 = y0 - 0.5, y1 + 0.5
        if x1 <= x0:
            x0, x1 = x0 - 0.5, x1 + 0.5
        dy = (y1 - y0) * pad
        self.x_range, self.y_range = (x0, x1), (y0 - dy, y1 + dy)

    def fit(self, xs, ys) -> None:
        xs = [float(v) for v in xs if v is not None and math.isfinite(v)]
        ys = [float(v) for v in ys if v is not None and math.isfinite(v)]
        self.limits((min(xs, default=0.0), max(xs, default=1.0)), (min(ys, default=0.0), max(ys, default=1.0)))

    def to_pixels(self, x: float, y: float) -> tuple[float, float]:
        left, top, right, bottom = self.area
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        return left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top)

    # -- frame ----------------------------------------------------------------------------------------------
    def axes(self, title: str, xlabel: str = "", ylabel: str = "", *, x_ticks=None, y_ticks=None,
             x_labels=None, grid: bool = True) -> None:
        """Grid (drawn first: call this before the marks), frame, ticks with their values, title and
        axis labels."""
        left, top, right, bottom = self.area
        draw, small = self.draw, self.chart.small
        x_ticks = nice_ticks(*self.x_range) if x_ticks is None else list(x_ticks)
        y_ticks = nice_ticks(*self.y_range) if y_ticks is None else list(y_ticks)
        for i, value in enumerate(x_ticks):
            x = self.to_pixels(value, self.y_range[0])[0]
            if left - 0.5 <= x <= right + 0.5:
                if grid:
                    draw.line([(x, top), (x, bottom)], fill=GRID)
                text = x_labels[i] if x_labels is not None else tick_text(value)
                draw.text((x, bottom + 4), text, fill=INK, font=small, anchor="ma")
        for value in y_ticks:
            y = self.to_pixels(self.x_range[0], value)[1]
            if top - 0.5 <= y <= bottom + 0.5:
                if grid:
                    draw.line([(left, y), (right, y)], fill=GRID)
                draw.text((left - 5, y), tick_text(value), fill=INK, font=small, anchor="rm")
        draw.rectangle([left, top, right, bottom], outline=INK)
        draw.text(((left + right) / 2, top - 8), title, fill=INK, font=self.chart.normal, anchor="md")
        if xlabel:
            draw.text(((left + right) / 2, bottom + 22), xlabel, fill=INK, font=small, anchor="ma")
        if ylabel:
            self._vertical_text(ylabel, left - 52, (top + bottom) / 2)

    def frame(self) -> None:
        """The plot area's frame again (after marks that cover it, such as matrix cells)."""
        self.draw.rectangle(list(self.area), outline=INK)

    def right_axis(self, y_range, label: str, color=GREY) -> "Panel":
        """A second y axis on the right (its own scale, same x); returns a panel drawing on it."""
        other = Panel.__new__(Panel)
        other.__dict__.update(self.__dict__, legend=[])
        other.limits(self.x_range, y_range)
        other.x_range = self.x_range
        left, top, right, bottom = self.area
        for value in nice_ticks(*other.y_range):
            y = other.to_pixels(other.x_range[0], value)[1]
            if top - 0.5 <= y <= bottom + 0.5:
                self.draw.text((right + 5, y), tick_text(value), fill=color, font=self.chart.small, anchor="lm")
        self._vertical_text(label, right + 52, (top + bottom) / 2, color)
        return other

    def _vertical_text(self, text: str, x: float, y: float, color=INK) -> None:
        size = self.draw.textbbox((0, 0), text, font=self.chart.small)
        label = Image.new("RGBA", (size[2] + 2, size[3] + 2), (255, 255, 255, 0))
        ImageDraw.Draw(label).text((1, 1), text, fill=color, font=self.chart.small)
        label = label.rotate(90, expand=True)
        self.chart.image.paste(label, (int(x - label.width / 2), int(y - label.height / 2)), label)

    # -- marks ----------------------------------------------------------------------------------------------
    def line(self, xs, ys, color, label: str = "", *, dashed: bool = False, markers: bool = True) -> None:
        """A polyline through the finite points (a gap at None/NaN), dots at the points."""
        segment: list[tuple[float, float]] = []
        segments = [segment]
        for x, y in zip(xs, ys):
            if y is None or not math.isfinite(y):
                segment = []
                segments.append(segment)
                continue
            segment.append(self.to_pixels(x, y))
        for points in segments:
            if len(points) > 1:
                self._polyline(points, color, dashed)
            if markers:
                for px, py in points:
                    self.draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=color)
        if label:
            self.legend.append((label, color, "dashed" if dashed else "solid"))

    def _polyline(self, points, color, dashed: bool) -> None:
        if not dashed:
            self.draw.line(points, fill=color, width=2)
            return
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            length = math.hypot(x1 - x0, y1 - y0)
            for start in range(0, int(length), 10):
                a, b = start / max(length, 1e-9), min(start + 6, length) / max(length, 1e-9)
                self.draw.line([(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a), (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)],
                               fill=color, width=2)

    def dots(self, xs, ys, color, radius: int = 2) -> None:
        for x, y in zip(xs, ys):
            if math.isfinite(x) and math.isfinite(y):
                px, py = self.to_pixels(x, y)
                self.draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=color)

    def bar(self, x: float, width: float, height: float, color, label: str = "", text: str = "") -> None:
        """A bar from 0 to ``height`` centred at ``x``; ``text`` written above it."""
        (x0, y0), (x1, y1) = self.to_pixels(x - width / 2, 0.0), self.to_pixels(x + width / 2, height)
        self.draw.rectangle([x0, min(y0, y1), x1, max(y0, y1)], fill=color)
        if text:
            self.draw.text(((x0 + x1) / 2, min(y0, y1) - 2), text, fill=INK, font=self.chart.small, anchor="md")
        if label and all(entry[0] != label for entry in self.legend):
            self.legend.append((label, color, "box"))

    def cell(self, column: int, row: int, color, text: str = "", text_color=INK) -> None:
        """The unit square of a matrix at (column, row), row 0 at the top (``limits`` in cells)."""
        (x0, y0), (x1, y1) = self.to_pixels(column - 0.5, row - 0.5), self.to_pixels(column + 0.5, row + 0.5)
        self.draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], fill=color)
        if text:
            self.draw.text(((x0 + x1) / 2, (y0 + y1) / 2), text, fill=text_color, font=self.chart.small, anchor="mm")

    def show_legend(self, corner: str = "left") -> None:
        if not self.legend:
            return
        left, top, right, _ = self.area
        small = self.chart.small
        width = max(self.draw.textlength(label, font=small) for label, _, _ in self.legend) + 36
        x = left + 6 if corner == "left" else right - 6 - width
        y = top + 6
        self.draw.rectangle([x, y, x + width, y + 16 * len(self.legend) + 4], fill="white", outline=GRID)
        for i, (label, color, style) in enumerate(self.legend):
            cy = y + 10 + 16 * i
            if style == "box":
                self.draw.rectangle([x + 6, cy - 5, x + 22, cy + 5], fill=color)
            else:
                self._polyline([(x + 4, cy), (x + 24, cy)], color, style == "dashed")
            self.draw.text((x + 30, cy), label, fill=INK, font=small, anchor="lm")
