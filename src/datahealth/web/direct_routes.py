"""Direct routes: the survey autosave without FastAPI's per-request machinery.

Every hospital autosaves every few seconds in the last hour of the period (issue 4 item 8), and for each request
FastAPI matches the path through the included routers, then solves the route's dependencies and validates its
parameters: a few per cent of the server's CPU per save over HTTP, about a tenth of the application's own in an
in-process profile (docs/benchmarks.md, session 7). The autosave's
path is therefore also registered as a plain Starlette route ahead of the routers: a numeric survey id (the
``:int`` converter) goes straight to the same endpoint, after the same guards the routers run
(``tenancy.ROUTE_GUARDS``). Anything else (a non-numeric id, another method) does not match it and reaches the
FastAPI route as before, so answers, OpenAPI schema and ``Allow`` headers are unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import Response

from datahealth.web.routes import hospital
from datahealth.web.tenancy import ROUTE_GUARDS

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class DirectRoute:
    path: str
    endpoint: Endpoint
    method: str


DIRECT_ROUTES = [DirectRoute("/surveys/{survey_id:int}/s/{section_name}", hospital.autosave, "POST")]


def add_direct_routes(app: FastAPI) -> None:
    """Register the direct routes; call before the routers are included, so they are matched first."""
    for route in DIRECT_ROUTES:
        app.add_route(route.path, _guarded(route.endpoint), methods=[route.method], include_in_schema=False)


def _guarded(endpoint: Endpoint) -> Endpoint:
    async def guarded(request: Request) -> Response:
        for guard in ROUTE_GUARDS:
            await guard(request)
        return await endpoint(request)

    guarded.__name__ = guarded.__qualname__ = f"direct_{endpoint.__name__}"
    return guarded
