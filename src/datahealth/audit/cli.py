"""``datahealth audit verify|export``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from datahealth.audit import log
from datahealth.audit.query import AuditFilter, to_csv
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction

app = typer.Typer(help="Audit log / 監査ログ", no_args_is_help=True)
console = Console()


@app.command("verify")
def verify() -> None:
    """Recompute the hash chain; exit 1 if any event was altered, removed or inserted."""
    engine = make_engine(Settings())
    with transaction(make_session_factory(engine)) as db:
        result = log.verify(db)
    engine.dispose()
    if result.ok:
        console.print(f"OK: {result.events} events, chain intact / 改ざんなし（{result.events} 件）")
        return
    console.print(f"[red]TAMPERED[/red] at event {result.first_bad_seq}: {result.reason} / 改ざんを検出しました")
    raise typer.Exit(code=1)


@app.command("export")
def export(
    output: Annotated[Path, typer.Option("-o", "--output")] = Path("audit-log.csv"),
    day_from: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD (JST)")] = None,
    day_to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD (JST)")] = None,
    action: str = "",
) -> None:
    """Write the audit log (or a filtered part) as CSV."""
    engine = make_engine(Settings())
    f = AuditFilter(
        action=action,
        day_from=date.fromisoformat(day_from) if day_from else None,
        day_to=date.fromisoformat(day_to) if day_to else None,
    )
    with transaction(make_session_factory(engine)) as db:
        output.write_bytes(to_csv(db, f))
    engine.dispose()
    console.print(f"written / 出力しました: {output}")
