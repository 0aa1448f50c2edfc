"""The answers page, shared by the hospital's review and the administrator's response view."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from datahealth.errors import UserError
from datahealth.survey import service
from datahealth.survey.answers import relevant_names, validate_submission
from datahealth.survey.tables import Response, Survey
from datahealth.web.context import app_state, current_principal, language, render
from datahealth.web.forms import answer_label


def render_review(
    request: Request,
    survey: Survey,
    response: Response | None,
    submit_errors: UserError | None = None,
    status_code: int = 200,
    admin_view: bool = False,
    **extra: Any,
) -> HTMLResponse:
    defn = service.definition_of(survey)
    answers = service.stored_answers(response)
    lang = language(request, current_principal(request))
    return render(
        request,
        "admin/response.html" if admin_view else "hospital/review.html",
        status_code=status_code,
        survey=survey,
        defn=defn,
        response=response,
        relevant=relevant_names(defn, answers),
        labels={q.name: answer_label(defn, q, answers.get(q.name), lang) for q in defn.questions()},
        problems=validate_submission(defn, answers),
        submit_errors=submit_errors,
        phase=_phase(request, survey, response),
        admin_view=admin_view,
        **extra,
    )


def _phase(request: Request, survey: Survey, response: Response | None) -> service.Phase:
    """The phase for the hospital whose answers these are (its deadline may have been extended)."""
    state = app_state(request)
    principal = current_principal(request)
    organisation_id = response.organisation_id if response else (principal.organisation_id if principal else None)
    if organisation_id is None:
        return service.phase(survey, state.clock())
    with state.db() as db:
        return service.hospital_phase(db, survey, organisation_id, state.clock())
