"""Query parameters that select among fixed values: page numbers and allow-listed choices.

Every parameter that picks a sort, filter, page, status or view is checked against an explicit set;
an unknown value is a catalogued 400 (DH-A121 or DH-G400), never passed on to a query.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated

from fastapi import Query

from datahealth.errors import Problem, UserError

MAX_PAGE = 100_000
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number (1 to 100,000)")]
"""A page of a listing; anything else (0, negative, huge) is refused by validation (DH-G400)."""


def one_of(value: str | None, allowed: Collection[str], field: str) -> str | None:
    """``value`` when it is one of ``allowed``; ``None`` when absent or empty; else DH-A121 (400)."""
    if value is None or value == "":
        return None
    if value not in allowed:
        raise UserError(Problem("DH-A121", {"field": field, "value": value[:40]}, field=field))
    return value
