"""Charts as inline SVG, generated here: bars by group, a 47-prefecture tile grid, a radar, a histogram.

Every chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` naming what it shows; the
report places the same numbers in a table next to it (the text alternative). Colours and sizes are SVG
presentation attributes (``fill="…"``), never ``style`` attributes, so the charts pass the web app's
Content-Security-Policy and render identically in WeasyPrint. A value hidden by small-cell suppression
is drawn as an empty bar or a hatched tile marked "—", never as zero.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from itertools import count

from markupsafe import Markup

FONT = "DH Report Sans, Noto Sans CJK JP, Noto Sans JP, sans-serif"
"""A PDF batch's subset font first (``reports.fonts``; browsers skip it), then the full Japanese font."""
INK = "#1b1f24"
MUTED = "#555d66"
GRID = "#c9cfd6"
BAR = "#5b8fc7"
HIGHLIGHT = "#0b5cad"
GOOD, FAIR, POOR = "#2e7d32", "#b26a00", "#b3261e"
PALETTE = ("#f1f4f8", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c")
_ids = count(1)

# (column, row) of each prefecture (JIS order) on a 13 × 10 tile grid, roughly where it lies.
TILES: tuple[tuple[int, int], ...] = (
    (12, 0), (12, 1), (12, 2), (12, 3), (11, 2), (11, 3), (12, 4), (11, 5), (11, 4), (10, 4),
    (10, 5), (10, 6), (9, 6), (9, 7), (10, 3), (9, 3), (8, 3), (7, 4), (9, 5), (9, 4),
    (8, 4), (8, 6), (8, 5), (7, 6), (7, 5), (6, 5), (5, 6), (5, 5), (6, 6), (5, 7),
    (4, 5), (3, 5), (4, 6), (3, 6), (2, 6), (4, 8), (4, 7), (3, 7), (3, 8), (1, 6),
    (0, 7), (0, 8), (1, 7), (2, 7), (2, 8), (1, 8), (0, 9),
)  # fmt: skip


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    """0–100, ``None`` when hidden (suppressed) or unknown."""
    highlight: bool = False


def _svg(width: int, height: int, title: str, desc: str, body: str, css: str) -> Markup:
    n = next(_ids)
    return Markup(  # noqa: S704 - every text inserted below is escaped by this module  # nosec B704
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css}" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="chart-t{n} chart-d{n}" font-family="{FONT}">'
        f'<title id="chart-t{n}">{escape(title)}</title><desc id="chart-d{n}">{escape(desc)}</desc>{body}</svg>'
    )


def _text(
    x: float, y: float, text: str, size: int = 11, anchor: str = "start", fill: str = INK, bold: bool = False
) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"{weight}>'
        f"{escape(text)}</text>"
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


def bar_chart(
    bars: Sequence[Bar], title: str, desc: str, width: int = 420, label_width: int = 110, caption: bool = False
) -> Markup:
    """Horizontal bars on a 0–100 % scale, one per group; the highlighted group (yours) in dark blue."""
    row, top = 22, 24 if caption else 8
    height = top + row * len(bars) + 22
    plot = width - label_width - 48
    parts = [_text(0, 14, title, 11, "start", INK, True)] if caption else []
    for tick in (0, 25, 50, 75, 100):
        x = label_width + plot * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 20}" stroke="{GRID}" stroke-width="0.6"/>'
        )
        parts.append(_text(x, height - 6, f"{tick}%", 9, "middle", MUTED))
    for i, bar in enumerate(bars):
        y = top + i * row
        parts.append(_text(label_width - 6, y + 14, bar.label, 10, "end", INK, bar.highlight))
        if bar.value is None:
            parts.append(_text(label_width + 4, y + 14, "—", 10, "start", MUTED))
            continue
        length = max(plot * min(bar.value, 100) / 100, 0.5)
        colour = HIGHLIGHT if bar.highlight else BAR
        parts.append(f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" fill="{colour}"/>')
        parts.append(_text(label_width + length + 4, y + 14, _pct(bar.value), 10, "start", INK, bar.highlight))
    return _svg(width, height, title, desc, "".join(parts), "bar-chart")


def _shade(value: float | None, low: float, high: float) -> str:
    if value is None:
        return "#ffffff"
    span = (high - low) or 1.0
    index = int((min(max(value, low), high) - low) / span * (len(PALETTE) - 1) + 0.5)
    return PALETTE[index]


def tile_map(
    values: Sequence[float | None],
    title: str,
    desc: str,
    names: Sequence[str],
    highlight: int | None = None,
    low: float = 0,
    high: float = 100,
    tile: int = 34,
) -> Markup:
    """The 47 prefectures as tiles shaded by value (index 0 = Hokkaido); hidden values hatched with "—"."""
    width, height = 13 * tile + 4, 10 * tile + 34
    hatch = f"hatch-{next(_ids)}"
    parts = [
        f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{GRID}" stroke-width="2"/></pattern></defs>'
    ]
    for index, (col, row) in enumerate(TILES):
        value = values[index] if index < len(values) else None
        x, y = 2 + col * tile, 2 + row * tile
        fill = f"url(#{hatch})" if value is None else _shade(value, low, high)
        stroke = INK if highlight == index + 1 else "#ffffff"
        width_attr = "2.5" if highlight == index + 1 else "1"
        parts.append(
            f'<rect x="{x}" y="{y}" width="{tile - 2}" height="{tile - 2}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{width_attr}"/>'
        )
        dark = value is not None and _shade(value, low, high) in PALETTE[4:]
        colour = "#ffffff" if dark else INK
        name = names[index] if index < len(names) else ""
        parts.append(_text(x + tile / 2 - 1, y + 13, name[:3], 9, "middle", colour))
        parts.append(_text(x + tile / 2 - 1, y + 26, _pct(value), 9, "middle", colour))
    legend_y = 10 * tile + 12
    for i, colour in enumerate(PALETTE):
        parts.append(f'<rect x="{2 + i * 26}" y="{legend_y}" width="24" height="10" fill="{colour}" stroke="{GRID}"/>')
    parts.append(_text(2, legend_y + 22, f"{low:.0f}%", 9, "start", MUTED))
    parts.append(_text(2 + len(PALETTE) * 26, legend_y + 22, f"{high:.0f}%", 9, "end", MUTED))
    parts.append(_text(2 + len(PALETTE) * 26 + 12, legend_y + 9, "— = 非表示 / hidden (n<10)", 9, "start", MUTED))
    return _svg(width, height, title, desc, "".join(parts), "tile-map")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    """0–100 per axis; ``None`` is drawn at the centre and named in the table."""
    colour: str
    dashed: bool = False


def radar(axes: Sequence[str], series: Sequence[Series], title: str, desc: str, size: int = 300) -> Markup:
    """One polygon per series over the domain axes (0–100 %), with a legend."""
    pad = 70
    centre, radius = size / 2 + pad, size / 2 - 50
    middle = size / 2
    n = len(axes)

    def point(i: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * i / n
        r = radius * max(0.0, min(value, 100)) / 100
        return centre + r * math.cos(angle), middle + 10 + r * math.sin(angle)

    parts = []
    for ring in (25, 50, 75, 100):
        ring_points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, ring) for i in range(n)))
        parts.append(f'<polygon points="{ring_points}" fill="none" stroke="{GRID}" stroke-width="0.7"/>')
    for i, axis in enumerate(axes):
        x, y = point(i, 100)
        parts.append(
            f'<line x1="{centre}" y1="{middle + 10}" x2="{x:.1f}" y2="{y:.1f}" stroke="{GRID}" stroke-width="0.7"/>'
        )
        lx, ly = point(i, 118)
        anchor = "middle" if abs(lx - centre) < 10 else ("start" if lx > centre else "end")
        parts.append(_text(lx, ly + 4, axis, 10, anchor))
    for s in series:
        shape = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, v or 0) for i, v in enumerate(s.values)))
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        opacity = "0.18" if not s.dashed else "0"
        parts.append(
            f'<polygon points="{shape}" fill="{s.colour}" fill-opacity="{opacity}" stroke="{s.colour}" '
            f'stroke-width="2"{dash}/>'
        )
    for k, s in enumerate(series):
        y = size + 6 + k * 14
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        parts.append(f'<line x1="8" y1="{y - 4}" x2="30" y2="{y - 4}" stroke="{s.colour}" stroke-width="2"{dash}/>')
        parts.append(_text(36, y, s.name, 10))
    return _svg(size + 2 * pad, size + 10 + 14 * len(series), title, desc, "".join(parts), "radar")


def histogram(
    labels: Sequence[str],
    values: Sequence[float | None],
    colours: Sequence[str],
    title: str,
    desc: str,
    width: int = 440,
) -> Markup:
    """Vertical bars (shares in %), one per bin, coloured by how the bin meets the guideline."""
    height, bottom, left = 190, 40, 30
    plot_h = height - bottom - 12
    known = [v for v in values if v is not None]
    top_value = max(known + [1.0])
    step = (width - left - 8) / max(len(labels), 1)
    parts = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - 4}" y2="{height - bottom}" stroke="{MUTED}"/>']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = left + i * step + 4
        parts.append(_text(x + (step - 8) / 2, height - bottom + 14, label, 9, "middle"))
        if value is None:
            parts.append(_text(x + (step - 8) / 2, height - bottom - 4, "—", 10, "middle", MUTED))
            continue
        bar_h = plot_h * value / top_value
        y = height - bottom - bar_h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step - 8:.1f}" height="{bar_h:.1f}" fill="{colours[i]}"/>')
        parts.append(_text(x + (step - 8) / 2, y - 3, _pct(value), 9, "middle"))
    return _svg(width, height, title, desc, "".join(parts), "histogram")


_SVG_SIZE = re.compile(r'^<svg ([^>]*?)width="(\d+(?:\.\d+)?)" height="(\d+(?:\.\d+)?)"')
_SVG_TEXT = re.compile(
    r'<text x="(?P<x>[-\d.]+)" y="(?P<y>[-\d.]+)" font-size="(?P<size>\d+)" text-anchor="(?P<anchor>\w+)" '
    r'fill="(?P<fill>#[0-9a-fA-F]+)"(?P<bold> font-weight="bold")?>(?P<text>[^<]*)</text>'
)
BASELINE = 0.936
"""Distance from the top of a ``line-height: 1`` line box to the baseline, in em, for Noto Sans CJK JP."""


def text_as_html(chart: Markup, max_width: float | None = None) -> Markup:
    """A chart of this module for WeasyPrint: its text labels as positioned HTML over a text-free SVG.

    WeasyPrint lays out SVG ``<text>`` one letter at a time (a Pango layout per character), which made
    the charts a fifth of a feedback PDF's time; the same labels as absolutely positioned HTML lines cost
    one layout each. Positions, sizes, colours, weights and anchors are carried over, so the page looks
    the same; the SVG keeps its ``<title>`` and ``<desc>``. A chart wider than ``max_width`` (CSS px) is
    drawn scaled down to it, as ``max-width: 100%`` would scale the SVG in a figure of that width.
    """
    source = str(chart)
    size = _SVG_SIZE.match(source)
    if size is None:
        raise ValueError("not a chart of datahealth.reports.charts")
    scale = 1.0 if max_width is None else min(1.0, max_width / float(size.group(2)))
    width, height = float(size.group(2)) * scale, float(size.group(3)) * scale
    labels = []
    for found in _SVG_TEXT.finditer(source):
        x, y, font = float(found["x"]) * scale, float(found["y"]) * scale, int(found["size"]) * scale
        top = y - BASELINE * font
        anchor = found["anchor"]
        # Every box has a width: WeasyPrint would otherwise measure each label's text twice more to
        # shrink the box to fit (a third of what the labels cost).
        if anchor == "end":
            box = f"left:{x - 2 * width:.2f}px;width:{2 * width:.2f}px;text-align:right"
        elif anchor == "middle":
            box = f"left:{x - width:.2f}px;width:{2 * width:.2f}px;text-align:center"
        else:
            box = f"left:{x:.2f}px;width:{2 * width:.2f}px"
        weight = ";font-weight:bold" if found["bold"] else ""
        labels.append(  # .chart-label (reports-pdf.css): position:absolute; line-height:1; white-space:nowrap
            f'<span class="chart-label" style="top:{top:.2f}px;{box};font-size:{font:.2f}px;'
            f'color:{found["fill"]}{weight}">{found["text"]}</span>'
        )
    svg = _SVG_TEXT.sub("", source)
    svg = _SVG_SIZE.sub(lambda m: f'<svg {m.group(1)}width="{width:.2f}" height="{height:.2f}"', svg, count=1)
    # The text-free SVG as an image, not inline: WeasyPrint would give each of its shapes an HTML box's
    # cascade and computed style; as an image it is parsed by ElementTree and drawn the same way.
    image = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return Markup(  # noqa: S704 - the labels were escaped when the chart was made  # nosec B704
        f'<div class="chart-html" style="position:relative;width:{width:.2f}px;height:{height:.2f}px">'
        f'<img src="data:image/svg+xml;base64,{image}" width="{width:.2f}" height="{height:.2f}" alt=""/>'
        f"{''.join(labels)}</div>"
    )
