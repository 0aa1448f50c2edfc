"""JSON API of the exchange hub under ``/api/v1/exchange`` (thin shell over ``exchange.service``).

Every call carries ``Authorization: Bearer <token>`` (a consortium's API token, or a researcher's
read-only token for every consortium). No cookies are read, so there is no CSRF to defend against.
A read-only token for every consortium reads aggregates only (``exchange.access``): batch summaries and
issue counts; its record-level reads (a participant's records, the issue report) answer 404 and a batch's
issue rows are withheld (``issues_withheld``).
Errors use the application's fixed JSON envelope ``{"error": {"status", "code", "problems": [...]}}``.
Objects of another consortium answer 404, exactly like objects that do not exist.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from datahealth.errors import (
    Forbidden,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    Problem,
    UnsupportedMediaType,
    UserError,
)
from datahealth.exchange import access, spec, spec_docs
from datahealth.exchange.ingest_job import Actor, IngestJob
from datahealth.exchange.service import IngestResult, Sender, Upload
from datahealth.exchange.tables import Batch
from datahealth.exchange.tokens import authenticate
from datahealth.web.context import app_state, audit_token_event, client_address


async def _only_known_query_parameters(request: Request) -> None:
    """A misspelt parameter (``?strikt=true``) is an error, not silently ignored."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        known |= {param.alias for param in sub.query_params}
    unknown = sorted(set(request.query_params.keys()) - known)
    if unknown:
        raise UserError(Problem("DH-G400", {"field": ", ".join(unknown)[:100] or "?"}))


router = APIRouter(prefix="/api/v1/exchange", tags=["exchange"], dependencies=[Depends(_only_known_query_parameters)])
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ExchangeToken",
    description="API token of a consortium (`dhx_…`), created on /exchange/tokens / コンソーシアムの API トークン",
)

MAX_ISSUES_IN_RESPONSE = 1000
"""Issues listed in a POST response; every issue is in the batch's issues.csv."""
FILE_SUFFIXES = (".csv", ".json", ".ndjson")
JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/fhir+ndjson")
IDEMPOTENCY_KEY = re.compile(r"^[!-~]{1,100}$")
DAY = re.compile(
    r"^([12][0-9]{3})-?((?:0[13578]|1[02])-?(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-?(?:0[1-9]|[12][0-9]|30)|02-?(?:0[1-9]|1[0-9]|2[0-9]))$"
)
"""yyyyMMdd or yyyy-MM-dd with the days each month has (29 February in any year: see ``_day``)."""
RecordTypeName = Literal["weight", "blood_pressure", "activity", "hba1c", "clinic_blood_pressure"]
if set(get_args(RecordTypeName)) != {record.name for record in spec.RECORDS}:
    raise RuntimeError("RecordTypeName must list exactly the specification's record types")


# --- response models (they are the OpenAPI schema) -----------------------------------------------------


class ProblemOut(BaseModel):
    code: str = Field(examples=["DH-X301"])
    message_ja: str
    message_en: str
    field: str | None = None
    row: int | None = None
    question: str | None = None


class ErrorBody(BaseModel):
    status: int
    code: str
    problems: list[ProblemOut]


class ErrorEnvelope(BaseModel):
    """Every error of the API has this shape."""

    error: ErrorBody


class IssueOut(BaseModel):
    """One problem with one record: where (source + locator), which field and value, which rule, and why."""

    code: str = Field(examples=["DH-X102"])
    severity: Literal["error", "flag", "info"]
    source: str = Field(examples=["activity.csv"])
    locator: str = Field(examples=["line 12", "/activity/3/step"])
    record_type: str
    field: str
    value: str
    rule: str
    message_ja: str
    message_en: str


Counts = dict[str, dict[str, int]]
"""Per record type: received, stored, replaced, unchanged, stale, conflict, rejected, flagged."""


class BatchResult(BaseModel):
    batch_id: str
    status: Literal["accepted", "partial", "rejected"]
    counts: Counts
    issues: list[IssueOut]
    issues_total: int
    issues_truncated: bool = Field(description=f"More than {MAX_ISSUES_IN_RESPONSE} issues: see issues.csv")
    duplicate_of: str | None = Field(
        default=None, description="Set when the Idempotency-Key was used before: the first batch's result"
    )


class BatchSummary(BaseModel):
    batch_id: str
    consortium_id: str
    received_at: datetime
    channel: str
    wire_format: str
    sources: list[str]
    strict: bool
    status: str
    counts: Counts


class BatchList(BaseModel):
    batches: list[BatchSummary]
    total: int
    limit: int
    offset: int


class IssueCountOut(BaseModel):
    """Issues of one kind in a batch: a count, no value, locator or participant."""

    severity: Literal["error", "flag", "info"]
    code: str
    record_type: str
    field: str
    issues: int


class BatchDetail(BatchSummary):
    issues: list[IssueOut]
    issues_total: int
    issues_withheld: bool = Field(
        default=False,
        description="True for a read-only token for every consortium (aggregates only): `issues` is empty "
        "because issue rows carry submitted values and participant IDs; see `issue_summary`",
    )
    issue_summary: list[IssueCountOut] = Field(
        default_factory=list, description="Issues counted per severity, code, record type and field"
    )
    limit: int
    offset: int


class ParticipantRecordsOut(BaseModel):
    consortium_id: str
    participant_id: str
    records: dict[str, list[dict[str, str | None]]] = Field(
        description="Record type → records, values in the specification's text form, plus `flags`"
    )


class RecordsOut(BaseModel):
    participants: list[ParticipantRecordsOut]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorEnvelope, "description": description}


COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Malformed request (DH-G400) / 不正なリクエスト"),
    401: _error("Missing, wrong or revoked token (DH-X301) / トークンが無効"),
    404: _error("No such object in your consortium (DH-G404) / 見つからない"),
    "4XX": _error("Other client errors / その他のクライアントエラー"),
}


# --- authentication ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    token_id: int
    consortium_id: str

    @property
    def scope(self) -> str | None:
        """The consortium this caller reads, ``None`` for every consortium."""
        return self.reader.consortium_id

    @property
    def reader(self) -> access.Reader:
        return access.token_reader(self.consortium_id)


def api_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    if credentials is None:
        raise NotAuthenticated(Problem("DH-X301"))
    state = app_state(request)
    with state.db() as db:
        token = authenticate(db, credentials.credentials, state.clock())
        request.state.api_token_id = token.id  # for the audit of refused requests
        return Caller(token.id, token.consortium_id)


CallerDep = Annotated[Caller, Depends(api_caller)]


# --- POST a batch -------------------------------------------------------------------------------------


def _size_text(limit: int) -> str:
    return f"{limit / (1024 * 1024):.1f} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(Problem("DH-X302", {"maximum": _size_text(limit)}))


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _file_name(raw: str) -> str:
    name = PurePosixPath(raw.replace("\\", "/")).name.strip()
    return name[:100]


PART_SUFFIXES = {"text/csv": ".csv", "application/json": ".json", **dict.fromkeys(NDJSON_TYPES, ".ndjson")}


def _part_name(name: str, content_type: str) -> str:
    """The file name whose suffix says the format; a part declared as CSV/JSON/NDJSON keeps its declared format."""
    if name.lower().endswith(FILE_SUFFIXES):
        return name
    suffix = PART_SUFFIXES.get(content_type.split(";", 1)[0].strip().lower())
    if suffix is None:
        raise UnsupportedMediaType(Problem("DH-X303", {"value": name}, field="files"))
    return name + suffix


async def _uploads(request: Request, body: bytes) -> list[Upload]:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=1000, max_fields=1000)
        except StarletteHTTPException:  # a malformed multipart body: the client's error, catalogued
            raise UserError(Problem("DH-G400", {"field": "multipart/form-data"})) from None
        uploads = []
        for _key, value in form.multi_items():
            if isinstance(value, UploadFile) and value.filename:
                name = _part_name(_file_name(value.filename), value.content_type or "")
                uploads.append(Upload(name=name, data=await value.read()))
        if not uploads:
            raise UserError(Problem("DH-G400", {"field": "files"}))
        return uploads
    if media in JSON_TYPES:
        return [Upload(name="message.json", data=body)]
    if media in NDJSON_TYPES:
        return [Upload(name="fhir.ndjson", data=body)]
    raise UnsupportedMediaType(Problem("DH-X303", {"value": media or "(none)"}))


def _with_http_status(error: UserError) -> UserError:
    """The service's whole-request errors carry their HTTP meaning here (size → 413, format → 415)."""
    if error.code == "DH-X302" and not isinstance(error, PayloadTooLarge):
        return PayloadTooLarge(*error.problems)
    if error.code == "DH-X303" and not isinstance(error, UnsupportedMediaType):
        return UnsupportedMediaType(*error.problems)
    return error


def _result_body(result: IngestResult) -> dict[str, Any]:
    issues = result.issues[:MAX_ISSUES_IN_RESPONSE]
    return {
        "batch_id": result.duplicate_of or result.batch_id,
        "status": result.status,
        "counts": result.counts,
        "issues": [access.issue_dict(issue) for issue in issues],
        "issues_total": len(result.issues),
        "issues_truncated": len(result.issues) > len(issues),
        "duplicate_of": result.duplicate_of,
    }


def _message_schema() -> dict[str, Any]:
    """The JSON message schema with its ``$defs`` inlined (OpenAPI resolves ``#/…`` against itself)."""
    schema = spec_docs.render_schema()
    defs = schema.pop("$defs")
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    schema["properties"] = {
        name: (
            {**prop, "items": defs[prop["items"]["$ref"].rsplit("/", 1)[1]]}
            if "items" in prop
            else defs[prop["$ref"].rsplit("/", 1)[1]]
        )
        for name, prop in schema["properties"].items()
    }
    return schema


POST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "CSV files (one per record type, named after it: activity.csv), JSON messages (.json) or FHIR "
            "NDJSON (.ndjson) as multipart files; or one JSON message (or an array of them) as the body; or "
            "FHIR Observations as NDJSON. Size limit: DATAHEALTH_MAX_UPLOAD_BYTES. See docs/exchange-spec.md."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "string", "format": "binary"},
                            "description": "File names end in .csv (named after the record type), .json or .ndjson",
                        }
                    },
                    "required": ["files"],
                },
                "encoding": {"files": {"contentType": "text/csv, application/json, application/x-ndjson"}},
            },
            "application/json": {
                # Any JSON is received as a batch: records that break the specification are reported in the
                # result (201) with their JSON pointer, not refused as a request. The message format itself is
                # given in the extension below (the same as docs/exchange-spec.schema.json).
                "schema": {
                    "description": "A message {header, <record type>: [...]} or an array of messages",
                },
                "x-exchange-message-schema": {
                    "oneOf": [_message_schema(), {"type": "array", "items": _message_schema()}]
                },
            },
            "application/x-ndjson": {"schema": {"type": "string", "description": "FHIR R4 Observations, one a line"}},
        },
    }
}


@router.post(
    "/batches",
    status_code=201,
    response_model=BatchResult,
    summary="Send a batch / データを送信する",
    openapi_extra=POST_BODY,
    responses={
        200: {"model": BatchResult, "description": "The Idempotency-Key was used before: the first batch's result"},
        403: _error("A read-only token cannot send (DH-X308)"),
        413: _error("Body over the size limit (DH-X302) / 大きすぎる"),
        415: _error("Unsupported content type or file format (DH-X303) / 非対応の形式"),
        **COMMON_ERRORS,
    },
)
async def post_batch(
    request: Request,
    caller: CallerDep,
    strict: Annotated[
        bool, Query(description="Reject the whole batch if any record has an error / 誤りが 1 件でもあれば全体を拒否")
    ] = False,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY.pattern,
            description="Sending again with the same key returns the first result (200) and stores nothing",
        ),
    ] = None,
) -> Response:
    """Validate and store a batch; the result lists every rejected or flagged record (the first 1,000)."""
    if caller.scope is None:
        raise Forbidden(Problem("DH-X308"))
    state = app_state(request)
    try:
        body = await _read_body(request, state.settings.max_upload_bytes)
        uploads = await _uploads(request, body)
    except UserError as error:
        with state.db() as db:
            audit_token_event(
                request,
                db,
                caller.token_id,
                "exchange.batch.ingest",
                outcome="failure",
                object_type="consortium",
                object_id=caller.consortium_id,
                detail={"channel": "api", "error": error.code},
            )
        raise
    job = IngestJob(
        sender=Sender(caller.consortium_id, f"token:{caller.token_id}"),
        uploads=uploads,
        channel="api",
        strict=strict,
        idempotency_key=idempotency_key,
        now=state.clock(),
        who=Actor(f"token:{caller.token_id}", "token", client_address(request)),
    )
    try:
        result = await state.ingest(job)
    except UserError as error:  # audited by the job
        raise _with_http_status(error) from None
    return JSONResponse(_result_body(result), status_code=200 if result.duplicate_of else 201)


def _summary(batch: Batch) -> dict[str, Any]:
    return {
        "batch_id": batch.id,
        "consortium_id": batch.consortium_id,
        "received_at": batch.received_at,
        "channel": batch.channel,
        "wire_format": batch.wire_format,
        "sources": list(batch.sources or []),
        "strict": batch.strict,
        "status": batch.status,
        "counts": dict(batch.counts or {}),
    }


Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip")]
ConsortiumFilter = Annotated[
    str | None,
    Query(
        alias="consortium_id",
        pattern=r"^[A-Z0-9]{1,10}$",
        description="Read-all tokens only: one consortium (other tokens: must be their own or absent)",
    ),
]


def _only(caller: Caller, consortium_id: str | None) -> str | None:
    if consortium_id is not None and caller.scope is not None and consortium_id != caller.scope:
        raise NotFound()
    return consortium_id


@router.get("/batches", response_model=BatchList, summary="My batches / 送信履歴", responses={**COMMON_ERRORS})
def get_batches(
    request: Request, caller: CallerDep, consortium_id: ConsortiumFilter = None, limit: Limit = 50, offset: Offset = 0
) -> BatchList:
    only = _only(caller, consortium_id)
    with app_state(request).db() as db:
        batches, total = access.list_batches(db, caller.reader, limit=limit, offset=offset, only=only)
        audit_token_event(
            request, db, caller.token_id, "exchange.batches.view", object_type="consortium", object_id=only or "*"
        )
        return BatchList(
            batches=[BatchSummary(**_summary(b)) for b in batches], total=total, limit=limit, offset=offset
        )


BatchId = Annotated[str, PathParam(max_length=36, description="batch_id from the POST result")]


@router.get(
    "/batches/{batch_id}",
    response_model=BatchDetail,
    summary="One batch and its issues / 送信結果",
    responses={**COMMON_ERRORS},
)
def get_batch(
    request: Request, caller: CallerDep, batch_id: BatchId, limit: Limit = 1000, offset: Offset = 0
) -> BatchDetail:
    reader = caller.reader
    with app_state(request).db() as db:
        batch = access.get_batch(db, reader, batch_id)
        summary = access.issue_summary(db, reader, batch)
        if reader.records:
            issues, total = access.batch_issues(db, reader, batch, limit=limit, offset=offset)
        else:  # aggregates only: the rows carry values and participant IDs
            issues, total = [], sum(row.issues for row in summary)
        audit_token_event(request, db, caller.token_id, "exchange.batch.view", object_type="batch", object_id=batch.id)
        return BatchDetail(
            **_summary(batch),
            issues=[IssueOut(**access.issue_dict(issue)) for issue in issues],
            issues_total=total,
            issues_withheld=not reader.records,
            issue_summary=[
                IssueCountOut(
                    severity="flag" if row.severity == "flag" else "info" if row.severity == "info" else "error",
                    code=row.code,
                    record_type=row.record_type,
                    field=row.field,
                    issues=row.issues,
                )
                for row in summary
            ],
            limit=limit,
            offset=offset,
        )


@router.get(
    "/batches/{batch_id}/issues.csv",
    response_class=Response,
    summary="The batch's error report (CSV, UTF-8 with BOM) / エラーレポート",
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "One row per issue"},
        **COMMON_ERRORS,
    },
)
def get_issues_csv(request: Request, caller: CallerDep, batch_id: BatchId) -> Response:
    with app_state(request).db() as db:
        batch, content = access.issues_report(db, caller.reader, batch_id)
        audit_token_event(
            request,
            db,
            caller.token_id,
            "exchange.batch.issues_export",
            object_type="batch",
            object_id=batch.id,
            detail={"bytes": len(content)},
        )
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="issues-{batch.id}.csv"'},
    )


def _day(value: str | None, name: str) -> date | None:
    """The day of a ``from``/``to`` bound; 29 February of a common year means 28 February (the month's end)."""
    if value is None:
        return None
    match = DAY.match(value)
    if match is None:
        raise UserError(Problem("DH-G400", {"field": name}))
    year, month_day = int(match[1]), match[2].replace("-", "")
    month, day = int(month_day[:2]), int(month_day[2:])
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


@router.get(
    "/participants/{participant_id}/records",
    response_model=RecordsOut,
    summary="A participant's stored records / 参加者の記録",
    responses={**COMMON_ERRORS},
)
def get_participant_records(
    request: Request,
    caller: CallerDep,
    participant_id: Annotated[str, PathParam(max_length=20, pattern=r"^[A-Za-z0-9_-]+$")],
    record_type: Annotated[
        RecordTypeName | None, Query(alias="type", description="One record type (default: all)")
    ] = None,
    start: Annotated[
        str | None, Query(alias="from", pattern=DAY.pattern, description="yyyyMMdd or yyyy-MM-dd, inclusive")
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", pattern=DAY.pattern, description="yyyyMMdd or yyyy-MM-dd, inclusive")
    ] = None,
    consortium_id: ConsortiumFilter = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Records per type")] = 10_000,
) -> RecordsOut:
    only = _only(caller, consortium_id)
    types = [spec.record_type(record_type)] if record_type else list(spec.RECORDS)
    with app_state(request).db() as db:
        found = access.participant_records(
            db,
            caller.reader,
            participant_id,
            record_types=types,
            start=_day(start, "from"),
            end=_day(end, "to"),
            only=only,
            limit=limit,
        )
        audit_token_event(
            request,
            db,
            caller.token_id,
            "exchange.records.view",
            object_type="participant",
            object_id=participant_id,
            detail={
                "consortia": ",".join(p.consortium_id for p in found),
                "types": record_type or "all",
                "records": sum(len(rows) for p in found for rows in p.records.values()),
            },
        )
    return RecordsOut(
        participants=[
            ParticipantRecordsOut(consortium_id=p.consortium_id, participant_id=p.participant_id, records=p.records)
            for p in found
        ]
    )
