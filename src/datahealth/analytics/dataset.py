"""A survey's hospitals as flat records, each submitted one with its score: what reports aggregate.

One grouped query reads every target hospital with its response status (about 8,000 rows nationally);
the answers of submitted responses are read and scored only when they are new or changed since the
last call (a ``ScoreCache`` keyed by response id and revision), so the web app can rebuild the national
picture after every submission without rescoring everyone. Only submitted responses count: drafts are
a hospital's work in progress and never enter any aggregate.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from datahealth.analytics.mapping import ScoringMap, ensure_valid_map, load_scoring
from datahealth.analytics.scoring import HospitalScore, Scorer
from datahealth.auth.tables import Organisation
from datahealth.errors import NotFound, Problem
from datahealth.institutions import bed_band
from datahealth.survey.model import Answers, SurveyDefinition
from datahealth.survey.service import definition_of
from datahealth.survey.tables import Response, ResponseStatus, Survey, SurveyTarget

_CHUNK = 500


@dataclass(frozen=True)
class HospitalRecord:
    organisation_id: int
    code: str
    name: str
    prefecture_code: int | None
    bed_count: int | None
    founder_type: str | None
    email: str | None
    status: str
    """``submitted``, ``draft`` or ``not_started``."""
    response_id: int | None = None
    submitted_at: datetime | None = None
    answers: Answers | None = None
    """Submitted answers only."""
    score: HospitalScore | None = None
    revision: int | None = None

    @property
    def band(self) -> str | None:
        band = bed_band(self.bed_count)
        return band.key if band else None

    @property
    def submitted(self) -> bool:
        return self.status == ResponseStatus.SUBMITTED


@dataclass
class ScoreCache:
    """Scores of submitted responses by response id, valid for one revision each. Thread-safe."""

    entries: dict[int, tuple[int, Answers, HospitalScore]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class SurveyData:
    survey_id: int
    survey_key: str
    defn: SurveyDefinition
    scoring: ScoringMap
    scorer: Scorer
    records: list[HospitalRecord]

    def submitted(self) -> list[HospitalRecord]:
        return [record for record in self.records if record.score is not None]

    def record_of(self, organisation_id: int) -> HospitalRecord | None:
        return next((r for r in self.records if r.organisation_id == organisation_id), None)


_SCORERS: dict[tuple[str, str], Scorer] = {}


def scorer_for(survey: Survey) -> Scorer:
    """The survey's scorer (map checked against the stored definition). NotFound DH-R201 without a map."""
    scoring = load_scoring(survey.survey_key)
    if scoring is None:
        raise NotFound(Problem("DH-R201"))
    defn = definition_of(survey)
    key = (survey.survey_key, survey.version)
    cached = _SCORERS.get(key)
    if cached is None or cached.defn != defn:
        ensure_valid_map(defn, scoring)
        cached = _SCORERS[key] = Scorer(defn, scoring)
    return cached


def load_survey_data(db: Session, survey: Survey, cache: ScoreCache | None = None) -> SurveyData:
    """Every target hospital of ``survey`` with its status, and the score of each submitted response."""
    scorer = scorer_for(survey)
    cache = cache if cache is not None else ScoreCache()
    rows = db.execute(
        select(
            Organisation.id,
            Organisation.code,
            Organisation.name,
            Organisation.prefecture_code,
            Organisation.bed_count,
            Organisation.founder_type,
            Organisation.email,
            Response.id,
            Response.status,
            Response.revision,
            Response.submitted_at,
        )
        .select_from(SurveyTarget)
        .join(Organisation, Organisation.id == SurveyTarget.organisation_id)
        .outerjoin(
            Response,
            and_(
                Response.survey_id == SurveyTarget.survey_id, Response.organisation_id == SurveyTarget.organisation_id
            ),
        )
        .where(SurveyTarget.survey_id == survey.id)
        .order_by(Organisation.code, Organisation.id)
    ).all()
    with cache.lock:
        wanted = [
            (row[7], row[9])
            for row in rows
            if row[8] == ResponseStatus.SUBMITTED and cache.entries.get(row[7], (None,))[0] != row[9]
        ]
        _fill(db, scorer, cache, wanted)
        records = []
        for org_id, code, name, pref, beds, founder, email, response_id, status, revision, submitted_at in rows:
            entry = cache.entries.get(response_id) if status == ResponseStatus.SUBMITTED else None
            records.append(
                HospitalRecord(
                    org_id,
                    code,
                    name,
                    pref,
                    beds,
                    founder,
                    email,
                    status or "not_started",
                    response_id,
                    submitted_at,
                    entry[1] if entry else None,
                    entry[2] if entry else None,
                    revision,
                )
            )
    return SurveyData(survey.id, survey.survey_key, scorer.defn, scorer.scoring, scorer, records)


def _fill(db: Session, scorer: Scorer, cache: ScoreCache, wanted: list[tuple[int, int]]) -> None:
    revisions = dict(wanted)
    ids = list(revisions)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for response_id, answers in db.execute(select(Response.id, Response.answers).where(Response.id.in_(chunk))):
            stored: Answers = dict(answers or {})
            cache.entries[response_id] = (revisions[response_id], stored, scorer.score(stored))
