"""Report services for the web app and the CLI: one call per report, with the survey-wide work cached.

``ReportCache`` lives with one web app (``app.state``) or one CLI run, never in a module global: it
holds each survey's scores by response revision and the peer context built from them, rebuilt only
when a response was submitted, reopened or changed since (or a hospital's band or prefecture moved).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from datahealth.analytics.aggregates import View
from datahealth.analytics.dataset import ScoreCache, SurveyData, load_survey_data
from datahealth.analytics.feedback import FeedbackReport, PeerContext, feedback_report
from datahealth.analytics.history import load_previous
from datahealth.analytics.national import NationalReport, national_report
from datahealth.errors import Conflict, NotFound, Problem
from datahealth.reports.html import renderer
from datahealth.reports.pdf import html_to_pdf
from datahealth.survey.tables import Survey


@dataclass
class ReportCache:
    scores: dict[int, ScoreCache] = field(default_factory=dict)
    contexts: dict[int, tuple[str, PeerContext]] = field(default_factory=dict)
    files: dict[tuple[int, str, str, str], bytes] = field(default_factory=dict)
    nationals: dict[tuple[int, str], tuple[str, NationalReport]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def score_cache(self, survey_id: int) -> ScoreCache:
        with self.lock:
            return self.scores.setdefault(survey_id, ScoreCache())


def fingerprint(*datasets: SurveyData | None) -> str:
    """Changes whenever a submitted response or a hospital's grouping changes."""
    digest = hashlib.sha256()
    for data in datasets:
        if data is None:
            digest.update(b"-")
            continue
        for r in data.submitted():
            digest.update(f"{r.organisation_id}:{r.response_id}:{r.revision}:{r.band}:{r.prefecture_code};".encode())
    return digest.hexdigest()


def as_of(data: SurveyData, default: datetime) -> datetime:
    """When the compared data last changed: the latest submission (so reruns give identical reports)."""
    return max((r.submitted_at for r in data.submitted() if r.submitted_at is not None), default=default)


def load_data(db: Session, survey: Survey, cache: ReportCache) -> tuple[SurveyData, SurveyData | None]:
    data = load_survey_data(db, survey, cache.score_cache(survey.id))
    previous = None
    if data.scoring.previous_survey:
        from datahealth.analytics.history import previous_survey

        found = previous_survey(db, survey, data.scoring)
        previous = load_previous(db, survey, data.scoring, cache.score_cache(found.id)) if found else None
    return data, previous


def peer_context(db: Session, survey: Survey, now: datetime, cache: ReportCache) -> PeerContext:
    data, previous = load_data(db, survey, cache)
    key = fingerprint(data, previous)
    with cache.lock:
        known = cache.contexts.get(survey.id)
        if known is not None and known[0] == key:
            return known[1]
    context = PeerContext(data, previous, as_of(data, now))
    with cache.lock:
        cache.contexts[survey.id] = (key, context)
    return context


def hospital_feedback(
    db: Session, survey: Survey, organisation_id: int, now: datetime, cache: ReportCache
) -> FeedbackReport:
    """The feedback of one hospital: NotFound DH-R201 without a scoring map, Conflict DH-R202 before submission."""
    context = peer_context(db, survey, now, cache)
    report = feedback_report(context, organisation_id)
    if report is None:
        if context.data.record_of(organisation_id) is None:
            raise NotFound()
        raise Conflict(Problem("DH-R202"))
    return report


def national(db: Session, survey: Survey, view: View, now: datetime, cache: ReportCache) -> NationalReport:
    """The national report, rebuilt only when the data changed since the last call."""
    data, previous = load_data(db, survey, cache)
    stamp = fingerprint(data, previous)
    with cache.lock:
        known = cache.nationals.get((survey.id, view))
    if known is not None and known[0] == stamp:
        return known[1]
    report = national_report(data, view, as_of(data, now), previous)
    with cache.lock:
        cache.nationals[(survey.id, view)] = (stamp, report)
    return report


def feedback_pdf(report: FeedbackReport, lang: str = "ja") -> bytes:
    pages = renderer(lang)
    return html_to_pdf(pages.feedback(report), appendix=pages.feedback_appendix(report))


def national_pdf(report: NationalReport, lang: str = "ja") -> bytes:
    return html_to_pdf(renderer(lang).national(report))


def national_file(
    db: Session, survey: Survey, view: View, kind: str, lang: str, now: datetime, cache: ReportCache
) -> bytes:
    """The national PDF or XLSX, made once per state of the data (a PDF takes seconds)."""
    from datahealth.reports.xlsx import national_xlsx

    data, previous = load_data(db, survey, cache)
    key = (survey.id, view, kind, lang)
    stamp = fingerprint(data, previous)
    with cache.lock:
        cached = cache.files.get(key)
    if cached is not None and cached[:64] == stamp.encode():
        return cached[64:]
    report = national(db, survey, view, now, cache)
    content = national_pdf(report, lang) if kind == "pdf" else national_xlsx(report, lang)
    with cache.lock:
        cache.files[key] = stamp.encode() + content
    return content


__all__ = [
    "FeedbackReport",
    "PeerContext",
    "ReportCache",
    "as_of",
    "feedback_pdf",
    "fingerprint",
    "hospital_feedback",
    "load_data",
    "national",
    "national_file",
    "national_pdf",
    "peer_context",
]
