"""A trajectory as files: CSV, XLSX, HTML table (the seed's layout: 経過月 down, services across) and an SVG chart.

``published=True`` (the default everywhere outside the analyst's own session) applies ``publish``:
hidden cells read "—". Shares are percentages with one decimal, as in the seed.
"""

from __future__ import annotations

import csv
import io
from html import escape
from pathlib import Path

from markupsafe import Markup
from openpyxl import Workbook

from datahealth.analytics.linked.publish import trajectory_hidden
from datahealth.analytics.linked.trajectory import Trajectory
from datahealth.reports.charts import FONT, GRID, INK, MUTED

HIDDEN = "—"
OFFSET_LABEL = "経過月"
COLOURS = (
    "#0b5cad", "#b3261e", "#2e7d32", "#b26a00", "#6a3d9a", "#00838f", "#ad1457", "#5d4037",
    "#33691e", "#1565c0", "#ef6c00", "#4527a0", "#00695c", "#827717", "#37474f",
)  # fmt: skip


def table(trajectory: Trajectory, *, published: bool = True) -> list[list[str]]:
    """Header row then one row per month: the offset, then the share (or "—") per service."""
    rows = trajectory.rows()
    hidden = trajectory_hidden(trajectory.size, [counts for _o, counts in rows]) if published else frozenset()
    out = [[OFFSET_LABEL, *(s.label for s in trajectory.cohort.services)]]
    for i, (offset, counts) in enumerate(rows):
        cells = [str(offset)]
        for j, count in enumerate(counts):
            if (i, j) in hidden:
                cells.append(HIDDEN)
            else:
                cells.append(f"{100 * count / trajectory.size:.1f}%")
        out.append(cells)
    return out


def cohort_label(trajectory: Trajectory, *, published: bool = True) -> str:
    size = trajectory.size
    shown = HIDDEN if published and size < 10 else f"{size:,}"  # noqa: PLR2004 - the NDB threshold
    return f"対象者数 / cohort: {shown}"


def to_csv(trajectory: Trajectory, *, published: bool = True) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f"# {trajectory.cohort.title or trajectory.cohort.name}"])
    writer.writerow([f"# {cohort_label(trajectory, published=published)}"])
    writer.writerows(table(trajectory, published=published))
    return buffer.getvalue()


def to_xlsx(trajectory: Trajectory, *, published: bool = True) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # noqa: S101 - a new workbook has one sheet
    sheet.title = "trajectory"
    sheet.append([trajectory.cohort.title or trajectory.cohort.name])
    sheet.append([cohort_label(trajectory, published=published)])
    rows = table(trajectory, published=published)
    sheet.append(rows[0])
    for row in rows[1:]:
        values: list[object] = [int(row[0])]
        values += [cell if cell == HIDDEN else round(float(cell.rstrip("%")) / 100, 3) for cell in row[1:]]
        sheet.append(values)
    for line in sheet.iter_rows(min_row=4, min_col=2):
        for cell in line:
            if isinstance(cell.value, float):
                cell.number_format = "0.0%"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def chart(trajectory: Trajectory, *, published: bool = True, width: int = 760, height: int = 420) -> Markup:
    """Lines of share by month, one per service; hidden points are left out (the line breaks)."""
    rows = trajectory.rows()
    hidden = trajectory_hidden(trajectory.size, [c for _o, c in rows]) if published else frozenset()
    offsets = trajectory.cohort.offsets
    left, top, plot_w, plot_h = 48, 28, width - 48 - 190, height - 28 - 40
    span = max(1, len(offsets) - 1)

    def x(i: int) -> float:
        return left + plot_w * i / span

    def y(share: float) -> float:
        return top + plot_h * (1 - share)

    body = []
    for tick in range(0, 101, 20):
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick / 100):.1f}" y2="{y(tick / 100):.1f}" '
                    f'stroke="{GRID}" stroke-width="1"/>')  # fmt: skip
        body.append(_text(left - 6, y(tick / 100) + 4, f"{tick}%", anchor="end", fill=MUTED))
    for i, offset in enumerate(offsets):
        body.append(_text(x(i), top + plot_h + 16, str(offset), anchor="middle", fill=MUTED))
    body.append(_text(left + plot_w / 2, height - 6, f"{OFFSET_LABEL}（月）", anchor="middle"))
    for j, service in enumerate(trajectory.cohort.services):
        colour = COLOURS[j % len(COLOURS)]
        segments: list[list[str]] = [[]]
        for i, (_offset, counts) in enumerate(rows):
            if (i, j) in hidden or trajectory.size == 0:
                segments.append([])
                continue
            segments[-1].append(f"{x(i):.1f},{y(counts[j] / trajectory.size):.1f}")
        for points in segments:
            if len(points) == 1:
                cx, cy = points[0].split(",")
                body.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            elif points:
                body.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        ly = top + 4 + j * 15
        body.append(f'<line x1="{left + plot_w + 14}" x2="{left + plot_w + 32}" y1="{ly}" y2="{ly}" '
                    f'stroke="{colour}" stroke-width="2.5"/>')  # fmt: skip
        body.append(_text(left + plot_w + 38, ly + 4, service.label))
    title = trajectory.cohort.title or trajectory.cohort.name
    desc = f"Share of the cohort using each service in months {offsets[0]} to {offsets[-1]} around the index event"
    return Markup(  # noqa: S704 - every text inserted is escaped
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart trajectory" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="{FONT}">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>{''.join(body)}</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", fill: str = INK) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="{anchor}" fill="{fill}">{escape(text)}</text>'


def to_html(trajectory: Trajectory, *, published: bool = True) -> str:
    rows = table(trajectory, published=published)
    head = "".join(f"<th scope='col'>{escape(cell)}</th>" for cell in rows[0])
    body = "".join(
        "<tr>" + f"<th scope='row'>{escape(row[0])}</th>" + "".join(f"<td>{escape(c)}</td>" for c in row[1:]) + "</tr>"
        for row in rows[1:]
    )
    title = escape(trajectory.cohort.title or trajectory.cohort.name)
    note = "表示は NDB 公表基準（10 未満の秘匿・補完秘匿）を適用済み。" if published else "分析者限り（秘匿処理なし）。"
    return (
        "<!doctype html><html lang='ja'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>body{{font-family:{FONT};}} table{{border-collapse:collapse;font-size:12px}}"
        "td,th{border:1px solid #c9cfd6;padding:2px 6px;text-align:right}</style></head><body>"
        f"<h1>{title}</h1><p>{escape(cohort_label(trajectory, published=published))}（{escape(trajectory.engine)}）</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p>{escape(note)}</p>{chart(trajectory, published=published)}</body></html>"
    )


def write_all(trajectory: Trajectory, out: Path, *, published: bool = True) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = trajectory.cohort.name + ("" if published else "_analyst_only")
    paths = [out / f"{stem}.csv", out / f"{stem}.xlsx", out / f"{stem}.html", out / f"{stem}.svg"]
    paths[0].write_text(to_csv(trajectory, published=published), encoding="utf-8")
    paths[1].write_bytes(to_xlsx(trajectory, published=published))
    paths[2].write_text(to_html(trajectory, published=published), encoding="utf-8")
    paths[3].write_text(str(chart(trajectory, published=published)), encoding="utf-8")
    return paths
