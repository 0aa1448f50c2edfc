"""SVG charts of the study report: lines with 95 % CI whiskers, box plots per product, Bland–Altman.

Same conventions as ``charts.py`` (inline ``<svg role="img">`` with ``<title>``/``<desc>``, presentation
attributes only, the numbers also in a table next to each chart), in a module of its own so the study
report does not depend on that module's internals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from itertools import count

from markupsafe import Markup

FONT = "Noto Sans CJK JP, Noto Sans JP, sans-serif"
INK, MUTED, GRID, BAND = "#1b1f24", "#555d66", "#c9cfd6", "#e3f1e4"
COLOURS = ("#0b5cad", "#b3261e", "#2e7d32", "#b26a00", "#6a3d9a", "#555d66")
_ids = count(1)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Line:
    label: str
    points: Sequence[Point]
    colour: str = COLOURS[0]
    dashed: bool = False


@dataclass(frozen=True)
class Box:
    label: str
    q1: float
    median: float
    q3: float
    low: float
    """Lower whisker: the smallest value within 1.5 IQR of q1."""
    high: float
    mean: float
    outliers: Sequence[float] = field(default_factory=tuple)


def _svg(width: int, height: int, title: str, desc: str, body: str) -> Markup:
    n = next(_ids)
    return Markup(  # noqa: S704 - every text inserted is escaped in this module
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart study-chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-labelledby="study-t{n} study-d{n}" '
        f'font-family="{FONT}"><title id="study-t{n}">{escape(title)}</title>'
        f'<desc id="study-d{n}">{escape(desc)}</desc>{body}</svg>'
    )


def _text(x: float, y: float, text: str, size: int = 10, anchor: str = "middle", fill: str = INK) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}">{escape(text)}</text>'
    )


def _ticks(low: float, high: float, count_: int = 5) -> list[float]:
    if high <= low:
        high = low + 1
    raw = (high - low) / count_
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = (low // step) * step
    ticks = []
    value = first
    while value <= high + step * 0.001:
        if value >= low - step * 0.001:
            ticks.append(round(value, 6))
        value += step
    return ticks


class _Frame:
    """Plot area with linear scales and a y grid."""

    def __init__(self, width: int, height: int, xs: tuple[float, float], ys: tuple[float, float]) -> None:
        self.left, self.right, self.top, self.bottom = 52, width - 12, 28, height - 42
        pad = (ys[1] - ys[0]) * 0.08 or 0.5
        self.y0, self.y1 = ys[0] - pad, ys[1] + pad
        xpad = (xs[1] - xs[0]) * 0.06 or 1
        self.x0, self.x1 = xs[0] - xpad, xs[1] + xpad

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    def grid(self, y_format: str = "{:.1f}") -> str:
        parts = []
        for tick in _ticks(self.y0, self.y1):
            y = self.y(tick)
            parts.append(f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" stroke="{GRID}"/>')
            parts.append(_text(self.left - 4, y + 3, y_format.format(tick), 9, "end", MUTED))
        parts.append(
            f'<line x1="{self.left}" y1="{self.bottom}" x2="{self.right}" y2="{self.bottom}" stroke="{MUTED}"/>'
        )
        return "".join(parts)


def line_chart(
    lines: Sequence[Line],
    x_labels: Sequence[tuple[float, str]],
    title: str,
    desc: str,
    *,
    y_label: str = "",
    width: int = 440,
    height: int = 240,
    y_format: str = "{:.1f}",
) -> Markup:
    """Lines over x with optional 95 % CI whiskers at each point; a legend at the top."""
    values = [v for line in lines for p in line.points for v in (p.y, p.low, p.high) if v is not None]
    xs = [p.x for line in lines for p in line.points] + [x for x, _ in x_labels]
    if not values or not xs:
        return _svg(width, 60, title, desc, _text(width / 2, 30, "データなし / no data", 11, "middle", MUTED))
    frame = _Frame(width, height, (min(xs), max(xs)), (min(values), max(values)))
    parts = [frame.grid(y_format)]
    for x, label in x_labels:
        parts.append(_text(frame.x(x), frame.bottom + 14, label, 9))
    if y_label:
        parts.append(_text(frame.left - 40, frame.top - 10, y_label, 9, "start", MUTED))
    for index, line in enumerate(lines):
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        path = " ".join(f"{frame.x(p.x):.1f},{frame.y(p.y):.1f}" for p in line.points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{line.colour}" stroke-width="2"{dash}/>')
        for p in line.points:
            cx, cy = frame.x(p.x), frame.y(p.y)
            if p.low is not None and p.high is not None:
                parts.append(
                    f'<line x1="{cx:.1f}" y1="{frame.y(p.low):.1f}" x2="{cx:.1f}" y2="{frame.y(p.high):.1f}" '
                    f'stroke="{line.colour}"/>'
                )
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{line.colour}"/>')
        lx = frame.left + index * 150
        parts.append(f'<rect x="{lx}" y="6" width="12" height="4" fill="{line.colour}"/>')
        parts.append(_text(lx + 16, 12, line.label, 9, "start"))
    return _svg(width, height, title, desc, "".join(parts))


def box_plot(
    boxes: Sequence[Box], title: str, desc: str, *, band: float = 3.0, width: int = 440, height: int = 260
) -> Markup:
    """Vertical box plots (error rate %), with the ±``band`` % tolerance shaded and 0 marked."""
    if not boxes:
        return _svg(width, 60, title, desc, _text(width / 2, 30, "データなし / no data", 11, "middle", MUTED))
    values = [v for b in boxes for v in (b.low, b.high, b.mean, *b.outliers)] + [-band, band]
    frame = _Frame(width, height, (0, len(boxes) - 1), (min(values), max(values)))
    parts = [
        f'<rect x="{frame.left}" y="{frame.y(band):.1f}" width="{frame.right - frame.left}" '
        f'height="{frame.y(-band) - frame.y(band):.1f}" fill="{BAND}"/>',
        frame.grid("{:.0f}%"),
        f'<line x1="{frame.left}" y1="{frame.y(0):.1f}" x2="{frame.right}" y2="{frame.y(0):.1f}" stroke="{INK}" '
        'stroke-dasharray="2 2"/>',
    ]
    half = min(22.0, (frame.right - frame.left) / max(len(boxes), 1) / 3)
    for index, box in enumerate(boxes):
        cx = frame.x(index)
        parts += [
            f'<line x1="{cx:.1f}" y1="{frame.y(box.low):.1f}" x2="{cx:.1f}" y2="{frame.y(box.high):.1f}" '
            f'stroke="{MUTED}"/>',
            f'<rect x="{cx - half:.1f}" y="{frame.y(box.q3):.1f}" width="{2 * half:.1f}" '
            f'height="{max(frame.y(box.q1) - frame.y(box.q3), 1):.1f}" fill="#c6dbef" stroke="{COLOURS[0]}"/>',
            f'<line x1="{cx - half:.1f}" y1="{frame.y(box.median):.1f}" x2="{cx + half:.1f}" '
            f'y2="{frame.y(box.median):.1f}" stroke="{COLOURS[0]}" stroke-width="2"/>',
            f'<circle cx="{cx:.1f}" cy="{frame.y(box.mean):.1f}" r="2.5" fill="{COLOURS[1]}"/>',
            _text(cx, frame.bottom + 14, box.label, 9),
        ]
        parts += [f'<circle cx="{cx:.1f}" cy="{frame.y(v):.1f}" r="1.5" fill="{MUTED}"/>' for v in box.outliers[:50]]
    parts.append(_text(frame.right, frame.bottom + 30, f"帯: ±{band:g}%（JIS S 7200）/ band: ±{band:g}%", 8, "end"))
    return _svg(width, height, title, desc, "".join(parts))


def bland_altman(
    averages: Sequence[float],
    differences: Sequence[float],
    bias: float,
    loa: tuple[float, float],
    title: str,
    desc: str,
    *,
    width: int = 300,
    height: int = 220,
) -> Markup:
    """Difference (device − reference) against the mean of both, with the bias and limits of agreement."""
    if not averages:
        return _svg(width, 60, title, desc, _text(width / 2, 30, "データなし / no data", 11, "middle", MUTED))
    ys = [*differences, loa[0], loa[1], 0.0]
    frame = _Frame(width, height, (min(averages), max(averages)), (min(ys), max(ys)))
    parts = [frame.grid("{:.0f}")]
    parts += [
        f'<circle cx="{frame.x(a):.1f}" cy="{frame.y(d):.1f}" r="1.8" fill="{COLOURS[0]}" fill-opacity="0.6"/>'
        for a, d in zip(averages, differences, strict=True)
    ]
    for value, colour, dash, label in (
        (bias, COLOURS[1], "", f"bias {bias:.0f}"),
        (loa[0], MUTED, ' stroke-dasharray="4 3"', f"−1.96SD {loa[0]:.0f}"),
        (loa[1], MUTED, ' stroke-dasharray="4 3"', f"+1.96SD {loa[1]:.0f}"),
    ):
        y = frame.y(value)
        parts.append(f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.right}" y2="{y:.1f}" stroke="{colour}"{dash}/>')
        parts.append(_text(frame.right - 2, y - 3, label, 8, "end", colour))
    parts.append(_text((frame.left + frame.right) / 2, frame.bottom + 28, "平均（歩）/ mean of both (steps)", 8))
    return _svg(width, height, title, desc, "".join(parts))
