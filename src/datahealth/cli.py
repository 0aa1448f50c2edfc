"""Command line: a thin Typer shell over the services (serve, demo, db, survey, hospitals)."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from datahealth import migrate, synth_cli
from datahealth.analytics.linked import cli as linked_cli
from datahealth.analytics.study import cli as study_cli
from datahealth.audit import cli as audit_cli
from datahealth.audit.log import record_cli
from datahealth.backup import cli as backup_cli
from datahealth.clock import jst_date, system_clock
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction
from datahealth.errors import DatahealthError
from datahealth.exchange import cli as exchange_cli
from datahealth.operations import cli as operations_cli
from datahealth.reports import cli as report_cli
from datahealth.survey import io as survey_io
from datahealth.survey.checks import check_definition
from datahealth.survey.model import SurveyDefinition

app = typer.Typer(help="datahealth: surveys and health data exchange / 調査・健康データ交換基盤", no_args_is_help=True)
db_app = typer.Typer(help="Database schema / データベース", no_args_is_help=True)
survey_app = typer.Typer(help="Survey definitions / 調査定義", no_args_is_help=True)
hospitals_app = typer.Typer(help="Target hospitals and their accounts / 対象病院", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(survey_app, name="survey")
app.add_typer(hospitals_app, name="hospitals")
app.add_typer(exchange_cli.app, name="exchange")
app.add_typer(report_cli.app, name="report")
backup_cli.register(app)
app.add_typer(audit_cli.app, name="audit")
app.add_typer(study_cli.app, name="study")
app.add_typer(synth_cli.app, name="synth")
app.add_typer(linked_cli.analyze_app, name="analyze")
operations_cli.register(app)

console = Console()
errors = Console(stderr=True)


def _fail(error: DatahealthError) -> None:
    for problem in error.problems:
        errors.print(
            f"[red]{problem.code}[/red] {problem.message('ja')}\n        {problem.message('en')}", highlight=False
        )
    raise typer.Exit(code=1)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# --- db --------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply schema migrations (Alembic) to the configured database."""
    settings = Settings()
    engine = make_engine(settings)
    migrate.upgrade(engine, revision)
    console.print(
        f"database at revision {migrate.current_revision(engine)}: {engine.url.render_as_string(hide_password=True)}"
    )


# --- serve / demo ----------------------------------------------------------------------------------


def _serve(settings: Settings, workers: int = 1, access_log: bool = True) -> None:
    import uvicorn

    from datahealth.startup_checks import UnsafeConfiguration
    from datahealth.web.app import SchemaNotReady, create_app

    try:
        web = create_app(settings, serving=workers == 1)
    except (SchemaNotReady, UnsafeConfiguration) as exc:
        errors.print(str(exc))
        raise typer.Exit(code=1) from None
    if workers > 1:  # each worker process builds its own app from the same DATAHEALTH_* environment
        # The workers share the cores: polars in each (exchange batches) gets its share of them, not all of
        # them (a 12-record batch costs a fifth less CPU on one thread than on two). POLARS_MAX_THREADS wins.
        os.environ.setdefault("POLARS_MAX_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        uvicorn.run(
            "datahealth.web.app:app_from_environment",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=access_log,
            proxy_headers=True,
        )
        return
    uvicorn.run(
        web, host=settings.host, port=settings.port, log_level="info", access_log=access_log, proxy_headers=True
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (PostgreSQL; SQLite serialises writers anyway)")
    ] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request (off for load tests)")] = True,
) -> None:
    """Serve the web application on the configured database."""
    settings = Settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    _serve(settings.model_copy(update=overrides), workers=workers, access_log=access_log)


@app.command()
def demo(
    hospitals: Annotated[int, typer.Option(help="How many synthetic hospitals")] = 8000,
    reset: Annotated[bool, typer.Option(help="Delete the existing demo database first")] = False,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load the data, do not start the server")] = False,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    seed: int = 2024,
) -> None:
    """Create a demo database (FY2024 survey open today, synthetic hospitals) and serve it."""
    from datahealth.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, demo_logins, enrol_demo_two_factor, has_demo, load_demo
    from datahealth.exchange.demo import exchange_demo_logins, load_exchange_demo
    from datahealth.operations.demo import load_operations_demo
    from datahealth.operations.demo_services import operations_demo_services

    settings = Settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    url = settings.resolved_database_url()
    if reset and url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as db:
        loaded = has_demo(db)
    if loaded:
        console.print("demo data already present (use --reset to start over)")
    else:
        with _progress() as bar, transaction(factory) as db:
            tasks: dict[str, TaskID] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            load_demo(db, hospitals=hospitals, seed=seed, today=jst_date(system_clock()), progress=report)
            load_exchange_demo(db, today=jst_date(system_clock()), seed=seed, progress=report)
            enrol_demo_two_factor(db, settings, system_clock())
            load_operations_demo(db, today=jst_date(system_clock()), now=system_clock())
    engine.dispose()
    table = Table(title="demo logins / デモ用ログイン", show_lines=False)
    table.add_column("role / 役割")
    table.add_column("login ID / ログインID")
    for role, login in [*demo_logins(), *exchange_demo_logins()]:
        table.add_row(role, login)
    console.print(table)
    console.print(f"password / パスワード: [bold]{DEMO_PASSWORD}[/bold]")
    console.print(
        "two-factor login for admin and consortium accounts / 管理者・コンソーシアムの二要素認証: add this key to an "
        f"authenticator app / 認証アプリに次のキーを登録: [bold]{DEMO_TOTP_SECRET}[/bold]\n"
        f"  (or: python -c \"import pyotp; print(pyotp.TOTP('{DEMO_TOTP_SECRET}').now())\")"
    )
    console.print(f"URL: [bold]{settings.public_url()}/[/bold]")
    if not no_serve:
        with operations_demo_services(settings, console) as served:  # local SMTP sink + worker thread
            _serve(served)


# --- survey ----------------------------------------------------------------------------------------


def _definition_from(source: str) -> SurveyDefinition:
    """A bundled survey id (``cyber-fy2024``) or a path to a .xlsx/.json/.yaml definition."""
    from datahealth.survey.definitions import bundled_ids, load_bundled

    if source in bundled_ids():
        return load_bundled(source)
    path = Path(source)
    if not path.exists():
        errors.print(f"not found / 見つかりません: {source} (bundled: {', '.join(bundled_ids())})")
        raise typer.Exit(code=2)
    return survey_io.load_definition(path)


@survey_app.command("validate")
def survey_validate(source: str) -> None:
    """Check a definition (file or bundled id): structure, expressions, references."""
    try:
        defn = _definition_from(source)
    except DatahealthError as error:
        _fail(error)
        return
    problems = check_definition(defn)
    if problems:
        _fail(DatahealthError(*problems))
    console.print(f"OK: {defn.id} {defn.version} — {len(defn.questions())} questions / 設問")


@survey_app.command("export")
def survey_export(
    source: str,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help=".json, .yaml or .xlsx; stdout if omitted")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="json or yaml when writing to stdout")] = "json",
) -> None:
    """Export a definition as JSON, YAML or an XLSForm .xlsx."""
    try:
        defn = _definition_from(source)
        if output is None:
            sys.stdout.write(survey_io.dump_yaml(defn) if fmt == "yaml" else survey_io.dump_json(defn))
            sys.stdout.write("\n")
            return
        survey_io.export_definition(defn, output)
    except DatahealthError as error:
        _fail(error)
    console.print(f"written / 出力しました: {output}")


@survey_app.command("show")
def survey_show(source: str) -> None:
    """List every question with its type, requirement and condition."""
    try:
        defn = _definition_from(source)
    except DatahealthError as error:
        _fail(error)
        return
    table = Table(title=f"{defn.title.ja} ({defn.id} {defn.version})")
    for column in ("code", "name", "type", "required", "relevant (condition)"):
        table.add_column(column)
    for question in defn.questions():
        if question.answerable:
            table.add_row(
                question.display_code,
                question.name,
                question.type.value,
                "yes" if question.required else "",
                question.relevant or "",
            )
    console.print(table)


@survey_app.command("import")
def survey_import(
    source: str,
    opens: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD); default from the definition")] = None,
    closes: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD); default from the definition")] = None,
    open_now: Annotated[bool, typer.Option("--open", help="Open the survey to its targets at once")] = False,
) -> None:
    """Register a definition (file or bundled id) as a survey in the database."""
    from datahealth.survey import service
    from datahealth.survey.tables import SurveyStatus

    settings = Settings()
    engine = make_engine(settings)
    try:
        defn = _definition_from(source)
        with transaction(make_session_factory(engine)) as db:
            survey = service.create_survey(
                db, defn, date.fromisoformat(opens) if opens else None, date.fromisoformat(closes) if closes else None
            )
            service.target_all_hospitals(db, survey)
            if open_now:
                service.set_status(db, survey, SurveyStatus.OPEN)
            survey_id, status = survey.id, survey.status
            record_cli(
                db,
                "survey.create",
                now=system_clock(),
                object_type="survey",
                object_id=survey_id,
                detail={"survey_key": defn.id, "version": defn.version},
            )
    except DatahealthError as error:
        _fail(error)
        return
    console.print(f"survey {survey_id} registered ({status}) / 調査を登録しました")


# --- hospitals -------------------------------------------------------------------------------------


@hospitals_app.command("import")
def hospitals_import(
    csv_path: Path,
    accounts_out: Annotated[Path, typer.Option(help="Where to write new accounts with activation codes")] = Path(
        "accounts.csv"
    ),
) -> None:
    """Import target hospitals from CSV; new accounts and their one-time codes go to --accounts-out."""
    from datahealth.auth.hospital_import import accounts_csv, import_hospitals
    from datahealth.survey import service

    settings = Settings()
    engine = make_engine(settings)
    try:
        with _progress() as bar, transaction(make_session_factory(engine)) as db:
            task = bar.add_task("hospitals / 病院", total=None)
            result = import_hospitals(
                db, csv_path.read_bytes(), progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
            service.target_hospitals_of_active_surveys(db)
            counts = {"created": result.created, "updated": result.updated}
            record_cli(db, "hospitals.import", now=system_clock(), detail=counts)
    except DatahealthError as error:
        _fail(error)
        return
    if result.accounts:
        accounts_out.write_bytes(accounts_csv(result))
        accounts_out.chmod(0o600)
    console.print(
        f"{result.created} created, {result.updated} updated / 新規 {result.created} 件、更新 {result.updated} 件"
    )
    if result.accounts:
        console.print(f"activation codes / 初回登録コード: {accounts_out} (keep it safe / 厳重に保管してください)")


if __name__ == "__main__":
    app()
