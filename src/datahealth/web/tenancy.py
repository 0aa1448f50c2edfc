"""Route-wide tenancy guards that apply to every router (see ``create_app``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from datahealth.errors import NotFound

MAX_OBJECT_ID = 2**31 - 1
"""Object ids are 32-bit integers on PostgreSQL; SQLite stores up to 2^63 - 1."""


async def object_ids_in_range(request: Request) -> None:
    """An integer ``…_id`` path parameter outside the id range names nothing: 404 before any query.

    ``async`` although it awaits nothing: FastAPI runs a plain function dependency in a worker thread, and this
    one runs on every request.

    Without this, a guessed id such as 2^63 reaches the database driver and fails there (a 500 that
    tells a prober something); with it, every out-of-range guess looks like any missing object.
    """
    for name, value in request.path_params.items():
        if not name.endswith("_id"):
            continue
        if isinstance(value, str):  # FastAPI's routes: converted after this check, validated there
            digits = value[1:] if value.startswith(("-", "+")) else value
            if not digits.isdigit():
                continue
            value = int(value)
        if isinstance(value, int) and not 0 <= value <= MAX_OBJECT_ID:  # a Starlette ``:int`` path converts first
            raise NotFound()


ROUTE_GUARDS: list[Callable[[Request], Awaitable[None]]] = [object_ids_in_range]
"""What every route runs before its endpoint: the routers' dependencies, and called directly by the direct
routes (``web.direct_routes``), which skip FastAPI's dependency solving."""
