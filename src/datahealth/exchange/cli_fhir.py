"""``datahealth exchange fhir-export``: stored data as FHIR R4 bulk NDJSON, one file per resource type.

Import goes through the normal ``datahealth exchange ingest FILE.ndjson`` (the same pipeline as CSV
and JSON). Exit codes: 0 written, 1 nothing to export (unknown consortium or participant, DH-F103).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from datahealth.audit.log import record_cli
from datahealth.clock import system_clock
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction
from datahealth.errors import DatahealthError
from datahealth.exchange.fhir_export import export_resources

RESOURCE_TYPES = ("Patient", "Device", "Observation")

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def write_files(resources: Iterable[tuple[str, str]], output: Path) -> dict[str, int]:
    """Split ``(type, line)`` pairs into ``<output>/<Type>.ndjson`` (every file written, maybe empty)."""
    output.mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(RESOURCE_TYPES, 0)
    with ExitStack() as stack:
        files: dict[str, IO[str]] = {
            kind: stack.enter_context((output / f"{kind}.ndjson").open("w", encoding="utf-8", newline="\n"))
            for kind in RESOURCE_TYPES
        }
        for kind, text in resources:
            files[kind].write(text + "\n")
            counts[kind] += 1
    return counts


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``datahealth exchange``."""

    @app.command("fhir-export")
    def fhir_export(
        consortium: Annotated[str, typer.Option("--consortium", help="Consortium ID / コンソーシアムID")],
        output: Annotated[
            Path, typer.Option("-o", "--output", help="Directory for Patient/Device/Observation.ndjson / 出力先")
        ],
        participant: Annotated[
            str | None, typer.Option("--participant", help="Only this participant / この参加者のみ")
        ] = None,
    ) -> None:
        """Export stored data as FHIR R4 NDJSON (JP Core, LOINC, UCUM) / 保存データを FHIR R4 NDJSON で出力."""
        engine = make_engine(Settings())
        progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        )
        try:
            with progress, transaction(make_session_factory(engine)) as db:
                task = progress.add_task("records / 記録", total=None)
                resources = export_resources(
                    db,
                    consortium_id=consortium,
                    participant_id=participant,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
                counts = write_files(resources, output)
                record_cli(
                    db,
                    "exchange.fhir.export",
                    now=system_clock(),
                    object_type="participant",
                    object_id=participant or "*",
                    detail={"consortium": consortium, "resources": sum(counts.values())},
                )
        except DatahealthError as error:
            for problem in error.problems:
                errors.print(f"[red]{problem.code}[/red] {problem.message('ja')}\n        {problem.message('en')}")
            raise typer.Exit(code=1) from None
        finally:
            engine.dispose()
        for kind in RESOURCE_TYPES:
            console.print(f"{output / (kind + '.ndjson')}: {counts[kind]} {kind}", highlight=False)
