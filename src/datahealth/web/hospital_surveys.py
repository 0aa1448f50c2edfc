"""The one rule for which survey a hospital user may open: published (not a draft) and the hospital a target.

Anything else, another hospital's survey or a guessed id included, is 404: the pages never tell whether it exists.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from datahealth.auth.service import Principal
from datahealth.errors import NotFound
from datahealth.survey import service
from datahealth.survey.tables import Survey, SurveyStatus


def visible_survey(db: Session, principal: Principal, survey_id: int) -> Survey:
    """The survey ``survey_id`` if this hospital user may see it; otherwise :class:`NotFound`."""
    survey = db.get(Survey, survey_id)
    if (
        survey is None
        or survey.status == SurveyStatus.DRAFT
        or not service.is_target(db, survey, principal.organisation_id)
    ):
        raise NotFound()
    return survey
