"""The web application: ``create_app(settings)`` builds a fresh app (one per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from datahealth import __version__, migrate
from datahealth.clock import Clock, format_jst, system_clock
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory
from datahealth.errors import (
    RETRY_AFTER_SECONDS,
    DatahealthError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    Problem,
    ServiceUnavailable,
    UserError,
)
from datahealth.exchange.ingest_pool import IngestPool
from datahealth.institutions import bed_band, founder_type_label, prefecture_name
from datahealth.startup_checks import check_database, check_settings
from datahealth.web import routes
from datahealth.web.context import (
    AppState,
    StageRedirect,
    app_state,
    audit_event,
    audit_token_event,
    current_principal,
    render,
)
from datahealth.web.direct_routes import add_direct_routes
from datahealth.web.heap import settle_heap
from datahealth.web.methods import allowed_methods
from datahealth.web.security import BodySizeLimit, SecurityHeaders
from datahealth.web.tenancy import ROUTE_GUARDS

WEB_DIR = Path(__file__).parent

NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
"""FastAPI's own OpenTelemetry off, whatever providers a deployment configures: its logs would carry exception
messages (which may quote answers or health values: never logged), and its checks cost every request CPU."""


class SchemaNotReady(RuntimeError):
    """The database is not migrated to this version of the code."""


def _lifespan(settings: Settings, serving: bool) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.web_threads
        state: AppState = _app.state.datahealth
        if settings.ingest_processes:
            state.ingest_pool = IngestPool(settings, settings.ingest_processes)
            await state.ingest_pool.start()
        if serving:
            settle_heap()
        yield
        if state.executor is not None:  # a later start (tests run an app's lifespan again) makes a new one
            executor, state.executor = state.executor, None
            executor.shutdown(wait=False)
        if state.ingest_pool is not None:  # the batches in progress finish first
            pool, state.ingest_pool = state.ingest_pool, None
            await anyio.to_thread.run_sync(pool.shutdown)

    return lifespan


def create_app(settings: Settings, clock: Clock = system_clock, *, serving: bool = False) -> FastAPI:
    """The application. ``serving``: this process runs only this app (``datahealth serve``), so its start-up heap
    can be left out of garbage collection (``web.heap``); tests build many apps in one process and leave it off."""
    check_settings(settings)
    engine = make_engine(settings)
    check_database(engine)
    if not migrate.is_up_to_date(engine):
        raise SchemaNotReady(
            "データベースが最新ではありません。`datahealth db upgrade` を実行してください。 / "
            "The database schema is not up to date: run `datahealth db upgrade`."
        )
    templates = Jinja2Templates(directory=WEB_DIR / "templates")
    # The templates ship with the package: no stat() of every template and macro file on every render.
    templates.env.auto_reload = False
    templates.env.globals.update(
        version=__version__,
        prefecture_name=prefecture_name,
        bed_band=bed_band,
        founder_type_label=founder_type_label,
        format_jst=format_jst,
    )
    app = FastAPI(
        title="datahealth",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(settings, serving),
        telemetry=NO_TELEMETRY,
    )
    app.state.datahealth = AppState(settings, make_session_factory(engine), templates, clock)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    add_direct_routes(app)  # first: matched before the routers
    for router in routes.ROUTERS:
        app.include_router(router, dependencies=[Depends(guard) for guard in ROUTE_GUARDS])
    _install_error_handlers(app)
    return app


def app_from_environment() -> FastAPI:
    """The app built from ``DATAHEALTH_*`` variables: the factory of ``datahealth serve --workers N``."""
    return create_app(Settings(), serving=True)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _redirect(request: Request, location: str) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def _audit_denial(request: Request, exc: DatahealthError) -> None:
    """Record refused access by a logged-in person (another tenant's object, a page of another role)."""
    principal = current_principal(request)
    token_id: int | None = getattr(request.state, "api_token_id", None)
    if principal is None and token_id is not None:  # an API token asking for another tenant's object
        with app_state(request).db() as db:
            audit_token_event(
                request,
                db,
                token_id,
                "access.denied",
                outcome="denied",
                object_type="path",
                object_id=request.url.path[:100],
                detail={"status": exc.status},
            )
        return
    if principal is None:
        return
    with app_state(request).db() as db:
        audit_event(
            request,
            db,
            "access.denied",
            principal=principal,
            outcome="denied",
            object_type="path",
            object_id=request.url.path[:100],
            detail={"status": exc.status},
        )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StageRedirect)
    async def stage_redirect(request: Request, exc: StageRedirect) -> Response:
        return _redirect(request, exc.location)

    @app.exception_handler(DatahealthError)
    async def datahealth_error(request: Request, exc: DatahealthError) -> Response:
        if isinstance(exc, NotFound | Forbidden):
            _audit_denial(request, exc)
        if _wants_json(request):
            return JSONResponse(
                {"error": {"status": exc.status, "code": exc.code, "problems": [p.as_dict() for p in exc.problems]}},
                status_code=exc.status,
            )
        if isinstance(exc, NotAuthenticated):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return _redirect(request, f"/login?next={quote(target, safe='/')}")
        return render(request, "error.html", status_code=exc.status, error=exc)

    async def database_unavailable(request: Request, exc: Exception) -> Response:
        """The database is down or unreachable: 503 with a catalogued message, never a 500 or a hang.

        The request's transaction was rolled back (or never began), so nothing of it was written; a client
        retrying with the same idempotency key is safe. The page is rendered without touching the database.
        """
        if not hasattr(request.state, "principal"):
            request.state.principal = None  # render the page without looking the session up again
        error = ServiceUnavailable(Problem("DH-G503", {"retry_after": RETRY_AFTER_SECONDS}))
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if _wants_json(request):
            return JSONResponse(
                {"error": {"status": 503, "code": error.code, "problems": [p.as_dict() for p in error.problems]}},
                status_code=503,
                headers=headers,
            )
        response = render(request, "error.html", status_code=503, error=error)  # app.js keeps answers, retries
        response.headers.update(headers)
        return response

    for unavailable in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(unavailable, database_unavailable)

    @app.exception_handler(ServiceUnavailable)
    async def service_unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        """DH-G503 from an ingest process (its database was unreachable) or DH-X309 (it ended): 503 + Retry-After."""
        response = await datahealth_error(request, exc)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        error: DatahealthError = NotFound() if exc.status_code == 404 else UserError(Problem("DH-G500"))
        error_status = exc.status_code
        headers = dict(exc.headers or {})
        if error_status == 405:  # every method the path answers to, not only those of the first matching route
            allowed = allowed_methods(app.openapi()["paths"], request.url.path) or [headers.get("Allow", "")]
            headers["Allow"] = ", ".join(allowed)
            error = UserError(Problem("DH-G405", {"method": request.method[:20], "allowed": ", ".join(allowed)}))
        if _wants_json(request):
            return JSONResponse(
                {
                    "error": {
                        "status": error_status,
                        "code": error.code,
                        "problems": [p.as_dict() for p in error.problems],
                    }
                },
                status_code=error_status,
                headers=headers,
            )
        response = render(request, "error.html", status_code=error_status, error=error)
        response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
        error = UserError(Problem("DH-G400", {"field": fields}))
        if _wants_json(request):
            return JSONResponse(
                {"error": {"status": 400, "code": error.code, "problems": [p.as_dict() for p in error.problems]}},
                status_code=400,
            )
        return render(request, "error.html", status_code=400, error=error)
