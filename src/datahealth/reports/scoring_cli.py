"""``datahealth report scoring``: 健康スコアリングレポート per insurer (HTML + PDF), with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datahealth.analytics.linked.cli import console, fail, progress_bar
from datahealth.errors import DatahealthError
from datahealth.reports import scoring_report


def scoring(
    data: Annotated[Path, typer.Option("--data", help="Directory with insurers.parquet and linked/")],
    out: Annotated[Path | None, typer.Option("--out", help="Default: DATA/scoring")] = None,
    all_insurers: Annotated[bool, typer.Option("--all", help="Every 健保組合")] = False,
    insurer: Annotated[list[str] | None, typer.Option("--insurer", help="Insurer number (repeatable)")] = None,
    engine: Annotated[str, typer.Option("--engine", help="duckdb (default) or spark")] = "duckdb",
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write PDFs")] = True,
) -> None:
    """Health scoring reports per insurer / 健康スコアリングレポート."""
    if not all_insurers and not insurer:
        raise typer.BadParameter("give --all or --insurer NUMBER")
    target = out or data / "scoring"
    try:
        with console.status("集計中 / computing"):
            loaded = scoring_report.load(data, engine)  # type: ignore[arg-type]
        chosen = None if all_insurers else list(insurer or [])
        total = len(chosen) if chosen is not None else int((loaded.insurers.insurer_type == "健保組合").sum())
        with progress_bar() as bar:
            task = bar.add_task("reports / レポート", total=total)
            result = scoring_report.write_reports(
                loaded, target, chosen, pdf=pdf, progress=lambda done, _n: bar.update(task, completed=done)
            )
    except DatahealthError as error:
        fail(error)
        return
    console.print(f"{result.insurers} insurers, {len(result.written)} files → {target}")
