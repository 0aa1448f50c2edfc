"""``datahealth report …``: feedback PDFs (one hospital or all, resumable) and the national report."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sqlalchemy import select
from sqlalchemy.orm import Session

from datahealth.analytics.mapping import load_scoring
from datahealth.analytics.national import parse_view
from datahealth.analytics.study import cli as study_cli
from datahealth.audit.log import record_cli
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction
from datahealth.errors import DatahealthError, Problem, UserError
from datahealth.reports import service
from datahealth.reports.scoring_cli import scoring as scoring_command
from datahealth.survey.tables import Survey, SurveyStatus

app = typer.Typer(help="Feedback and national reports / フィードバック・全国集計", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


def _fail(error: DatahealthError) -> None:
    for problem in error.problems:
        errors.print(
            f"[red]{problem.code}[/red] {problem.message('ja')}\n        {problem.message('en')}", highlight=False
        )
    raise typer.Exit(code=1)


def find_survey(db: Session, wanted: str | None) -> Survey:
    """``--survey``: a database id or a survey key; by default the latest (by period) survey with a scoring map."""
    stmt = select(Survey).where(Survey.status != SurveyStatus.DRAFT).order_by(Survey.opens_on.desc(), Survey.id.desc())
    for survey in db.scalars(stmt):
        if wanted is not None and wanted not in (str(survey.id), survey.survey_key):
            continue
        if load_scoring(survey.survey_key) is not None:
            return survey
    raise UserError(
        Problem("DH-R205", {"detail": wanted or "no survey with a scoring map / 採点設定のある調査がありません"})
    )


SurveyOption = Annotated[
    str | None, typer.Option("--survey", help="Survey id or key (default: the newest with feedback)")
]


@app.command("feedback")
def feedback(
    all_hospitals: Annotated[bool, typer.Option("--all", help="Every hospital that submitted")] = False,
    hospital: Annotated[str | None, typer.Option("--hospital", help="One hospital's institution code")] = None,
    survey: SurveyOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Directory (--all) or file (--hospital)")] = None,
    workers: Annotated[int, typer.Option(help="Parallel processes (--all)")] = max(1, min(os.cpu_count() or 1, 4)),
    force: Annotated[bool, typer.Option(help="Render again even what is up to date")] = False,
    lang: Annotated[str, typer.Option(help="ja or en")] = "ja",
) -> None:
    """Feedback PDFs: --hospital CODE for one, --all for every submitted hospital (resumable)."""
    if all_hospitals == (hospital is not None):
        errors.print("give --all or --hospital CODE / --all または --hospital を指定してください")
        raise typer.Exit(code=2)
    settings = Settings()
    engine = make_engine(settings)
    cache = service.ReportCache()
    try:
        with transaction(make_session_factory(engine)) as db:
            chosen = find_survey(db, survey)
            now = datetime.now(UTC)
            if hospital is not None:
                report = _one(db, chosen, hospital, now, cache)
                target = out or Path(f"feedback-{hospital}.pdf")
                target.write_bytes(service.feedback_pdf(report, lang))
                record_cli(
                    db,
                    "report.feedback.export",
                    now=now,
                    object_type="organisation",
                    object_id=report.hospital.code,
                    detail={"survey": chosen.id, "format": "pdf"},
                )
                console.print(f"written / 出力しました: {target}")
                return
            context = service.peer_context(db, chosen, now, cache)
            stamp = service.fingerprint(context.data, context.previous)
            version = chosen.version
            record_cli(
                db,
                "report.feedback.export",
                now=now,
                object_type="survey",
                object_id=chosen.id,
                detail={"hospitals": "all", "format": "pdf"},
            )
        _all(
            context, out or Path("var/reports") / f"feedback-{chosen.survey_key}", stamp, version, workers, force, lang
        )
    except DatahealthError as error:
        _fail(error)
    finally:
        engine.dispose()


def _one(db: Session, survey: Survey, code: str, now: datetime, cache: service.ReportCache) -> service.FeedbackReport:
    data, _previous = service.load_data(db, survey, cache)
    record = next((r for r in data.records if r.code == code), None)
    if record is None or not record.submitted:
        raise UserError(Problem("DH-R204", {"code": code}))
    return service.hospital_feedback(db, survey, record.organisation_id, now, cache)


def _all(
    context: service.PeerContext, directory: Path, stamp: str, version: str, workers: int, force: bool, lang: str
) -> None:
    from datahealth.reports.batch import render_all

    columns = (
        TextColumn("feedback PDF / フィードバック"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("pdf", total=None)
        result = render_all(
            context,
            directory,
            stamp=stamp,
            version=version,
            workers=workers,
            force=force,
            lang=lang,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"{result.rendered} rendered, {result.skipped} up to date, {result.total} hospitals in {result.seconds:.1f} s "
        f"/ 作成 {result.rendered} 件・既存 {result.skipped} 件: {result.directory}"
    )


@app.command("national")
def national(
    survey: SurveyOption = None,
    view: Annotated[str, typer.Option(help="internal (ministry) or public (suppressed)")] = "internal",
    fmt: Annotated[str, typer.Option("--format", help="pdf, xlsx or both")] = "both",
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory")] = Path("var/reports"),
    lang: Annotated[str, typer.Option(help="ja or en")] = "ja",
) -> None:
    """The national report as PDF and/or XLSX (internal: every count and the follow-up list)."""
    from datahealth.reports.xlsx import national_xlsx

    settings = Settings()
    engine = make_engine(settings)
    try:
        chosen_view = parse_view(view)
        with transaction(make_session_factory(engine)) as db:
            chosen = find_survey(db, survey)
            report = service.national(db, chosen, chosen_view, datetime.now(UTC), service.ReportCache())
            record_cli(
                db,
                "report.national.export",
                now=datetime.now(UTC),
                object_type="survey",
                object_id=chosen.id,
                detail={"view": chosen_view, "format": fmt},
            )
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"national-{chosen.survey_key}-{chosen_view}"
        if fmt in ("pdf", "both"):
            stem.with_suffix(".pdf").write_bytes(service.national_pdf(report, lang))
            console.print(f"written / 出力しました: {stem.with_suffix('.pdf')}")
        if fmt in ("xlsx", "both"):
            stem.with_suffix(".xlsx").write_bytes(national_xlsx(report, lang))
            console.print(f"written / 出力しました: {stem.with_suffix('.xlsx')}")
    except DatahealthError as error:
        _fail(error)
    finally:
        engine.dispose()


# ``datahealth report study`` (study analytics) lives in its own module.
study_cli.register_report(app)
app.command("scoring")(scoring_command)  # 健康スコアリングレポート (analytics/linked)
