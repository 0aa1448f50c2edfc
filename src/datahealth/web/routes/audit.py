"""The administrator's audit log view, with filters and CSV export."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from datahealth.audit import log as audit_log
from datahealth.audit.query import OUTCOMES, AuditFilter, page, to_csv
from datahealth.errors import Problem, UserError
from datahealth.web.context import app_state, audit_event, render, require_admin, require_recent_auth
from datahealth.web.params import PageNumber

router = APIRouter(prefix="/admin/audit")
PAGE_SIZE = 100


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(Problem("DH-G400", {"field": field})) from None


def _filter(
    actor: str, action: str, outcome: str, object_type: str, object_id: str, day_from: str | None, day_to: str | None
) -> AuditFilter:
    return AuditFilter(
        actor.strip(),
        action.strip(),
        outcome,
        object_type.strip(),
        object_id.strip(),
        _day(day_from, "from"),
        _day(day_to, "to"),
    ).checked()


@router.get("", response_class=HTMLResponse)
def audit_page(
    request: Request,
    actor: str = "",
    action: str = "",
    outcome: str = "",
    object_type: str = "",
    object_id: str = "",
    day_from: str | None = None,
    day_to: str | None = None,
    page_no: PageNumber = 1,
) -> Response:
    principal = require_admin(request)
    f = _filter(actor, action, outcome, object_type, object_id, day_from, day_to)
    with app_state(request).db() as db:
        events, total = page(db, f, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
        check = audit_log.verify(db)
        audit_event(request, db, "audit.view", principal=principal)
    return render(
        request,
        "admin/audit.html",
        events=events,
        total=total,
        f=f,
        outcomes=OUTCOMES,
        check=check,
        page_no=page_no,
        pages=max(1, -(-total // PAGE_SIZE)),
    )


@router.get(".csv")
def audit_csv(
    request: Request,
    actor: str = "",
    action: str = "",
    outcome: str = "",
    object_type: str = "",
    object_id: str = "",
    day_from: str | None = None,
    day_to: str | None = None,
) -> Response:
    principal = require_admin(request)
    require_recent_auth(request, principal)
    f = _filter(actor, action, outcome, object_type, object_id, day_from, day_to)
    with app_state(request).db() as db:
        content = to_csv(db, f)
        audit_event(request, db, "audit.export", principal=principal, detail={"bytes": len(content)})
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'},
    )
