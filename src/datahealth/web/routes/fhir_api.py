"""``GET /api/v1/exchange/fhir/$export``: stored data as FHIR R4 NDJSON, streamed (thin shell over fhir_export).

Who may export what:

- ``Authorization: Bearer <token>`` of a consortium: that consortium only (``?consortium=`` of another
  one, or another consortium's participant, answers 404 exactly like one that does not exist);
- a logged-in administrator: any consortium with ``?consortium=``, all without it (audited);
  a logged-in consortium operator: their own consortium;
- a researcher (logged in, or with a read-only token for every consortium), other roles: 404. The
  export is of individuals' records, and researchers read aggregates only (``exchange.access``).

This is a synchronous simplification of FHIR Bulk Data's ``$export`` (no kick-off/polling/manifest):
the response is one NDJSON stream, Patients and Devices before the Observations that refer to them.
``?_type=Observation`` (comma-separated) limits the resource types.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from datahealth.errors import NotAuthenticated, NotFound, Problem, UserError
from datahealth.exchange import access, consortia
from datahealth.exchange.fhir_export import export_resources
from datahealth.exchange.fhir_map import MEDIA_TYPE
from datahealth.exchange.tokens import authenticate
from datahealth.web.context import app_state, audit_event, audit_token_event, current_principal
from datahealth.web.routes.exchange_api import COMMON_ERRORS

router = APIRouter()

RESOURCE_TYPES = ("Patient", "Device", "Observation")
TYPE_LIST = r"^ *(?:(?:Patient|Device|Observation) *(?:, *(?:Patient|Device|Observation) *)*)?$"
"""``_type``: resource types, comma-separated (empty: all); the schema says so, ``_types`` enforces it."""
CHUNK_BYTES = 64 * 1024


def _scope(request: Request, consortium: str | None) -> str | None:
    """The consortium the caller may export (``None``: every consortium); NotFound/NotAuthenticated otherwise."""
    state = app_state(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated(Problem("DH-X301"))
        with state.db() as db:
            found = authenticate(db, token, state.clock())
            own = found.consortium_id
        request.state.api_token_id = found.id  # for the audit of this export and of refusals
        return access.export_scope(access.token_reader(own), consortium)
    principal = current_principal(request)
    if principal is None:
        raise NotAuthenticated(Problem("DH-X301"))
    with state.db() as db:
        scope = consortia.scope_of(db, principal)
    if scope is None:
        raise NotFound()
    return access.export_scope(access.session_reader(principal.role, scope.consortium_id), consortium)


def _types(value: str | None) -> frozenset[str]:
    if not value or not value.strip():
        return frozenset(RESOURCE_TYPES)
    wanted = frozenset(part.strip() for part in value.split(",") if part.strip())
    if not wanted or not wanted <= set(RESOURCE_TYPES):
        raise UserError(Problem("DH-G400", {"field": "_type"}, field="_type"))
    return wanted


@router.get(
    "/api/v1/exchange/fhir/$export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {MEDIA_TYPE: {"schema": {"type": "string"}}}, "description": "FHIR R4 NDJSON"},
        **COMMON_ERRORS,
    },
    tags=["exchange"],
    openapi_extra={"security": [{"ExchangeToken": []}]},  # or a logged-in session (cookie) of a reader
)
def fhir_export(
    request: Request,
    participant: Annotated[str | None, Query(max_length=20, description="参加者ID / participant ID")] = None,
    consortium: Annotated[str | None, Query(max_length=10, description="コンソーシアムID / consortium ID")] = None,
    resource_types: Annotated[
        str | None, Query(alias="_type", pattern=TYPE_LIST, description="Patient,Device,Observation (comma-separated)")
    ] = None,
) -> StreamingResponse:
    """Export stored data as FHIR R4 NDJSON (Patient, Device, Observation) / 保存データを FHIR で出力."""
    scope = _scope(request, consortium)
    types = _types(resource_types)
    state = app_state(request)
    with state.db() as db:  # answer 404 before the stream starts
        export_resources(db, consortium_id=scope, participant_id=participant)
        what = {"consortium": scope or "*", "types": ",".join(sorted(types))}
        token_id: int | None = getattr(request.state, "api_token_id", None)
        if token_id is not None:
            audit_token_event(
                request,
                db,
                token_id,
                "exchange.fhir.export",
                object_type="participant",
                object_id=participant or "*",
                detail=what,
            )
        else:
            audit_event(
                request,
                db,
                "exchange.fhir.export",
                object_type="participant",
                object_id=participant or "*",
                detail=what,
            )

    def stream() -> Iterator[bytes]:
        with state.db() as db:
            chunk: list[str] = []
            size = 0
            for kind, text in export_resources(db, consortium_id=scope, participant_id=participant):
                if kind not in types:
                    continue
                chunk.append(text)
                size += len(text)
                if size >= CHUNK_BYTES:
                    yield ("\n".join(chunk) + "\n").encode()
                    chunk, size = [], 0
            if chunk:
                yield ("\n".join(chunk) + "\n").encode()

    name = "-".join(part for part in ("export", scope or "all", participant) if part)
    headers = {"Content-Disposition": f'attachment; filename="{name}.ndjson"', "Cache-Control": "no-store"}
    return StreamingResponse(stream(), media_type=MEDIA_TYPE, headers=headers)
