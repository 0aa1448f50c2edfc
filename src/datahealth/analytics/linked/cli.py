"""CLI for linked analytics: ``synth claims``, ``analyze link``, ``analyze trajectory`` (thin shells).

``synth_app`` holds ``claims`` and ``analyze_app`` holds ``link`` and ``trajectory``; the main CLI
registers them (``datahealth synth …`` / ``datahealth analyze …``). ``report scoring`` lives in
``reports/scoring_cli.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from datahealth.analytics.linked import engines, linkage, synth, trajectory, trajectory_output
from datahealth.analytics.linked.cohort import load_cohort
from datahealth.analytics.linked.identity import linkage_secret
from datahealth.analytics.linked.scenarios import SCENARIOS
from datahealth.config import Settings
from datahealth.errors import DatahealthError

synth_app = typer.Typer(help="Synthetic data / 合成データ", no_args_is_help=True)
analyze_app = typer.Typer(help="Linked checkup/claims/care analytics / 連結データ分析", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)

EngineOption = Annotated[str, typer.Option("--engine", help="duckdb (default) or spark (PySpark local mode)")]


def fail(error: DatahealthError) -> None:
    for problem in error.problems:
        errors.print(
            f"[red]{problem.code}[/red] {problem.message('ja')}\n        {problem.message('en')}", highlight=False
        )
    raise typer.Exit(code=1)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


@synth_app.command("claims")
def claims(
    out: Annotated[Path, typer.Option("--out", help="Output directory")],
    persons: Annotated[int, typer.Option("--persons", min=1)] = 10_000,
    seed: Annotated[int, typer.Option("--seed")] = 2018,
    scenario: Annotated[str, typer.Option("--scenario", help="stroke, or none")] = "stroke",
    cohort_fraction: Annotated[
        float | None, typer.Option("--cohort-fraction", min=0.0, max=1.0, help="share of eligible 65+ planted")
    ] = None,
) -> None:
    """Synthetic checkups, medical and care claims with identifiers (Parquet) / 健診・レセプト合成データ."""
    chosen = None if scenario.lower() == "none" else scenario
    if chosen is not None and chosen not in SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {scenario!r}; choose from {sorted(SCENARIOS)} or none")
    with progress_bar() as bar:
        task = bar.add_task("persons / 対象者", total=persons)
        summary = synth.generate(
            out,
            persons,
            seed=seed,
            scenario=chosen,
            cohort_fraction=cohort_fraction,
            progress=lambda done, _total: bar.update(task, completed=done),
        )
    console.print(
        f"{summary.persons:,} persons, {summary.insurers:,} insurers, {summary.checkups:,} checkups, "
        f"{summary.medical_rows:,} medical and {summary.care_rows:,} care claim rows, "
        f"planted cohort {summary.cohort:,} → {out}"
    )


@analyze_app.command("link")
def link(
    data: Annotated[Path, typer.Option("--data", help="Directory with raw/ (from synth claims)")],
    out: Annotated[Path | None, typer.Option("--out", help="Default: DATA/linked")] = None,
) -> None:
    """Pseudonymise and link the sources (HMAC keys) / 匿名化・連結."""
    settings = Settings()
    try:
        with console.status("linking / 連結中") as status:
            report = linkage.link(data, linkage_secret(settings), out, progress=lambda text: status.update(text))
    except DatahealthError as error:
        fail(error)
        return
    table = Table("source", "rows", "key1", "key2", "unmatched", "ambiguous", "invalid", "rate")
    for s in report.sources:
        table.add_row(
            s.source, f"{s.rows:,}", f"{s.by_key1:,}", f"{s.by_key2:,}", f"{s.unmatched:,}",
            f"{s.ambiguous:,}", f"{s.invalid:,}", f"{100 * s.rate:.2f}%",
        )  # fmt: skip
    console.print(f"members / 加入者: {report.members:,}")
    console.print(table)


@analyze_app.command("trajectory")
def trajectory_command(
    data: Annotated[Path, typer.Option("--data", help="Directory with linked/ (or the linked directory itself)")],
    cohort: Annotated[str, typer.Option("--cohort", help="Cohort YAML file or a bundled name (stroke)")] = "stroke",
    engine: EngineOption = "duckdb",
    out: Annotated[Path | None, typer.Option("--out", help="Default: DATA/output")] = None,
    analyst: Annotated[
        bool, typer.Option("--analyst", help="Unsuppressed counts, for the analyst only (not for publication)")
    ] = False,
) -> None:
    """Share of the cohort using each service, months −6…+6 (table and chart) / 前後のサービス利用."""
    linked_dir = data / "linked" if (data / "linked").is_dir() else data
    try:
        definition = load_cohort(cohort)
        tables = engines.open_tables(linked_dir, engine)  # type: ignore[arg-type]
        result = trajectory.run_trajectory(tables, definition)
    except DatahealthError as error:
        fail(error)
        return
    rows = trajectory_output.table(result, published=not analyst)
    shown = Table(*rows[0], title=definition.title or definition.name)
    for row in rows[1:]:
        shown.add_row(*row)
    console.print(trajectory_output.cohort_label(result, published=not analyst))
    console.print(shown)
    target = out or (data / "output")
    for path in trajectory_output.write_all(result, target, published=not analyst):
        console.print(f"wrote {path}")
